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
	r := []rune(src)
	i := 0
	skipSpace := func() {
		for i < len(r) && isSpace(r[i]) {
			i++
		}
	}
	var keys []SortKey
	seen := map[string]bool{}
	for {
		skipSpace()
		pos := i + 1
		desc := false
		if i < len(r) && (r[i] == '-' || r[i] == '+') {
			desc = r[i] == '-'
			i++
		}
		namePos := i + 1
		var name string
		switch {
		case i < len(r) && r[i] == '`':
			var b strings.Builder
			i++
			closed := false
			for i < len(r) {
				c := r[i]
				i++
				if c == '`' {
					if i < len(r) && r[i] == '`' {
						b.WriteRune('`')
						i++
						continue
					}
					closed = true
					break
				}
				b.WriteRune(c)
			}
			if !closed {
				return nil, sortErr(namePos, "unterminated column name (missing '`')")
			}
			name = b.String()
			if name == "" {
				return nil, sortErr(namePos, "empty column name")
			}
		case i < len(r) && isIdentStart(r[i]):
			start := i
			for i < len(r) && isIdentPart(r[i]) {
				i++
			}
			name = string(r[start:i])
		case i >= len(r):
			return nil, sortErr(namePos, "expected a column name")
		default:
			return nil, sortErr(namePos, "expected a column name, found %q (use backticks for names with spaces or symbols)", r[i])
		}
		f, ok := s.Field(name)
		if !ok || f == nil {
			return nil, sortErr(namePos, "unknown column %s", quote(name))
		}
		if f.IsList() {
			return nil, sortErr(namePos, "column %s holds a list and cannot be sorted", quote(name))
		}
		if seen[f.Name] {
			return nil, sortErr(namePos, "column %s appears more than once", quote(name))
		}
		seen[f.Name] = true
		if len(keys) == MaxSortKeys {
			return nil, sortErr(pos, "a sort can have at most %d columns", MaxSortKeys)
		}
		keys = append(keys, SortKey{Field: f, Desc: desc})
		skipSpace()
		if i >= len(r) {
			return keys, nil
		}
		if r[i] != ',' {
			return nil, sortErr(i+1, "expected ',' between columns, found %q", r[i])
		}
		i++
	}
}

// sortErr returns an EINVALID error about the sort.
func sortErr(pos int, format string, args ...any) error {
	return invalid("sort", pos, format, args...)
}
