package filter

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// SortKey is one key of a sort: a field, ascending unless Desc.
type SortKey struct {
	Field *Field
	Desc  bool
}

// ParseSort parses a sort such as "-age,name": column names separated by
// commas, each optionally preceded by '-' (descending) or '+' (ascending,
// the default). Names with spaces or other characters go in backticks
// ("-`First name`", a backtick doubled); spaces around names are ignored.
// Columns must be known to s, must not hold lists, and may appear once;
// there are at most MaxSortKeys keys. An empty source gives nil. Errors
// are *coffer.Error with code EINVALID and field "sort".
func ParseSort(src string, s Schema) ([]SortKey, error) {
	if len(src) > MaxLength {
		return nil, sortErr(0, "the sort is too long (more than %d bytes)", MaxLength)
	}
	if !utf8.ValidString(src) {
		return nil, sortErr(0, "the sort is not valid UTF-8 text")
	}
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	if s == nil {
		return nil, coffer.Internal("filter.ParseSort", errors.New("nil schema"))
	}
	p := &sortParser{r: []rune(src), s: s, seen: map[string]bool{}}
	var keys []SortKey
	for {
		p.skipSpace()
		pos := p.i + 1
		desc := p.direction()
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		if len(keys) == MaxSortKeys {
			return nil, sortErr(pos, "a sort can have at most %d columns", MaxSortKeys)
		}
		keys = append(keys, SortKey{Field: f, Desc: desc})
		p.skipSpace()
		if p.i >= len(p.r) {
			return keys, nil
		}
		if p.r[p.i] != ',' {
			return nil, sortErr(p.i+1, "expected ',' between columns, found %q", p.r[p.i])
		}
		p.i++
	}
}

// sortParser reads the keys of a sort from r, at index i. seen holds the
// names of the columns already sorted on.
type sortParser struct {
	r    []rune
	i    int
	s    Schema
	seen map[string]bool
}

// skipSpace skips white space.
func (p *sortParser) skipSpace() {
	for p.i < len(p.r) && isSpace(p.r[p.i]) {
		p.i++
	}
}

// direction reads an optional '-' (descending, reported true) or '+'.
func (p *sortParser) direction() (desc bool) {
	if p.i < len(p.r) && (p.r[p.i] == '-' || p.r[p.i] == '+') {
		desc = p.r[p.i] == '-'
		p.i++
	}
	return desc
}

// field reads a column name and returns its field, which must be known,
// not hold a list, and not be sorted on already.
func (p *sortParser) field() (*Field, error) {
	namePos := p.i + 1
	name, err := p.name()
	if err != nil {
		return nil, err
	}
	f, ok := p.s.Field(name)
	if !ok || f == nil {
		return nil, sortErr(namePos, "unknown column %s", quote(name))
	}
	if f.IsList() || f.Type == coffer.TypeFile {
		return nil, sortErr(namePos, "column %s holds a list and cannot be sorted", quote(name))
	}
	if f.Type.Secret() {
		return nil, sortErr(namePos, "column %s is %s and cannot be sorted", quote(name), secretWhat(f.Type))
	}
	if p.seen[f.Name] {
		return nil, sortErr(namePos, "column %s appears more than once", quote(name))
	}
	p.seen[f.Name] = true
	return f, nil
}

// name reads a column name: an identifier, or any text in backticks.
func (p *sortParser) name() (string, error) {
	namePos := p.i + 1
	switch {
	case p.i < len(p.r) && p.r[p.i] == '`':
		return p.quoted()
	case p.i < len(p.r) && isIdentStart(p.r[p.i]):
		start := p.i
		for p.i < len(p.r) && isIdentPart(p.r[p.i]) {
			p.i++
		}
		return string(p.r[start:p.i]), nil
	case p.i >= len(p.r):
		return "", sortErr(namePos, "expected a column name")
	}
	return "", sortErr(namePos, "expected a column name, found %q (use backticks for names with spaces or symbols)", p.r[p.i])
}

// quoted reads a name in backticks, at least one character long, where a
// doubled backtick stands for one.
func (p *sortParser) quoted() (string, error) {
	namePos := p.i + 1
	var b strings.Builder
	p.i++
	closed := false
	for p.i < len(p.r) {
		c := p.r[p.i]
		p.i++
		if c == '`' {
			if p.i < len(p.r) && p.r[p.i] == '`' {
				b.WriteRune('`')
				p.i++
				continue
			}
			closed = true
			break
		}
		b.WriteRune(c)
	}
	if !closed {
		return "", sortErr(namePos, "unterminated column name (missing '`')")
	}
	if b.Len() == 0 {
		return "", sortErr(namePos, "empty column name")
	}
	return b.String(), nil
}

// sortErr returns an EINVALID error about the sort.
func sortErr(pos int, format string, args ...any) error {
	return invalid("sort", pos, format, args...)
}
