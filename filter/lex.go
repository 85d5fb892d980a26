package filter

import (
	"strings"
	"unicode"
)

// tokKind is the kind of a token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // `name`
	tString
	tNumber
	tVar // @user.id; text is "user.id"
	tTrue
	tFalse
	tNull
	tIn
	tNot
	tIs
	tEq
	tNe
	tGt
	tGe
	tLt
	tLe
	tTilde
	tNotTilde
	tBang
	tAnd
	tOr
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
)

// keywords maps the lowercase keywords to their tokens. Keywords are
// case-insensitive.
var keywords = map[string]tokKind{
	"in": tIn, "not": tNot, "is": tIs, "null": tNull, "true": tTrue, "false": tFalse,
}

// token is a lexical token. text is the name of an identifier or a quoted
// name, the value of a string, the text of a number, the name of a
// variable, or the source of an operator. pos is 1-based, in characters.
type token struct {
	kind tokKind
	text string
	pos  int
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the filter"
	case tIdent, tQuoted:
		return "column " + quote(t.text)
	case tString:
		return "a string"
	case tNumber:
		return "a number"
	case tVar:
		return "@" + t.text
	}
	return "'" + t.text + "'"
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

func isIdentPart(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func isSpace(r rune) bool { return unicode.IsSpace(r) }

// lexer splits a filter into tokens.
type lexer struct {
	r []rune
	i int
}

// lex returns the tokens of src, which is valid UTF-8, ending with tEOF.
func lex(src string) ([]token, error) {
	l := &lexer{r: []rune(src)}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

// peekIs reports whether the character at offset k from the current one is c.
func (l *lexer) peekIs(k int, c rune) bool {
	return l.i+k < len(l.r) && l.r[l.i+k] == c
}

func (l *lexer) op(kind tokKind, n int) (token, error) {
	t := token{kind: kind, text: string(l.r[l.i : l.i+n]), pos: l.i + 1}
	l.i += n
	return t, nil
}

// next lexes the token that starts at the first non-space character.
func (l *lexer) next() (token, error) {
	for l.i < len(l.r) && isSpace(l.r[l.i]) {
		l.i++
	}
	if l.i >= len(l.r) {
		return token{kind: tEOF, pos: len(l.r) + 1}, nil
	}
	c := l.r[l.i]
	if lexPunct, ok := punctuation[c]; ok {
		return lexPunct(l)
	}
	switch {
	case c == '-' || isDigit(c):
		return l.number()
	case isIdentStart(c):
		return l.word(), nil
	}
	if unicode.IsPrint(c) {
		return token{}, filterErr(l.i+1, "unexpected character %q", c)
	}
	return token{}, filterErr(l.i+1, "unexpected character %U", c)
}

// punctuation holds how to lex the token that starts with each
// punctuation character: an operator, a string, a quoted name, a
// variable, or a mistake with its hint.
var punctuation = map[rune]func(*lexer) (token, error){
	'(':  single(tLParen),
	')':  single(tRParen),
	'[':  single(tLBrack),
	']':  single(tRBrack),
	',':  single(tComma),
	'~':  single(tTilde),
	'=':  (*lexer).equals,
	'!':  (*lexer).bang,
	'>':  (*lexer).greater,
	'<':  (*lexer).less,
	'&':  doubled(tAnd, "use '&&' for 'and'"),
	'|':  doubled(tOr, "use '||' for 'or'"),
	'"':  (*lexer).str,
	'`':  (*lexer).quoted,
	'@':  (*lexer).variable,
	'\'': (*lexer).singleQuote,
}

// single lexes a one-character operator of the given kind.
func single(kind tokKind) func(*lexer) (token, error) {
	return func(l *lexer) (token, error) { return l.op(kind, 1) }
}

// doubled lexes a two-character operator made of one character twice
// ("&&", "||"); the character alone is refused with hint.
func doubled(kind tokKind, hint string) func(*lexer) (token, error) {
	return func(l *lexer) (token, error) {
		if l.peekIs(1, l.r[l.i]) {
			return l.op(kind, 2)
		}
		return token{}, filterErr(l.i+1, "%s", hint)
	}
}

// equals lexes "=", refusing "==".
func (l *lexer) equals() (token, error) {
	if l.peekIs(1, '=') {
		return token{}, filterErr(l.i+1, "use '=' instead of '=='")
	}
	return l.op(tEq, 1)
}

// bang lexes "!=", "!~" or "!", refusing "!==".
func (l *lexer) bang() (token, error) {
	switch {
	case l.peekIs(1, '='):
		if l.peekIs(2, '=') {
			return token{}, filterErr(l.i+1, "use '!=' instead of '!=='")
		}
		return l.op(tNe, 2)
	case l.peekIs(1, '~'):
		return l.op(tNotTilde, 2)
	}
	return l.op(tBang, 1)
}

// greater lexes ">=" or ">".
func (l *lexer) greater() (token, error) {
	if l.peekIs(1, '=') {
		return l.op(tGe, 2)
	}
	return l.op(tGt, 1)
}

// less lexes "<=" or "<", refusing "<>".
func (l *lexer) less() (token, error) {
	switch {
	case l.peekIs(1, '='):
		return l.op(tLe, 2)
	case l.peekIs(1, '>'):
		return token{}, filterErr(l.i+1, "use '!=' instead of '<>'")
	}
	return l.op(tLt, 1)
}

// singleQuote refuses a single quote, pointing to the two quotes the
// language has.
func (l *lexer) singleQuote() (token, error) {
	return token{}, filterErr(l.i+1, "strings are written in double quotes (\"…\"); column names with spaces in backticks (`…`)")
}

// word lexes an identifier, or a keyword (case-insensitive, given in
// lower case).
func (l *lexer) word() token {
	pos := l.i + 1
	start := l.i
	for l.i < len(l.r) && isIdentPart(l.r[l.i]) {
		l.i++
	}
	word := string(l.r[start:l.i])
	if k, ok := keywords[strings.ToLower(word)]; ok {
		return token{kind: k, text: strings.ToLower(word), pos: pos}
	}
	return token{kind: tIdent, text: word, pos: pos}
}

// number lexes a number with the syntax of JSON: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (l *lexer) number() (token, error) {
	start := l.i
	pos := l.i + 1
	digits := func() bool {
		n := 0
		for l.i < len(l.r) && isDigit(l.r[l.i]) {
			l.i++
			n++
		}
		return n > 0
	}
	bad := func() (token, error) {
		return token{}, filterErr(pos, "invalid number")
	}
	if l.r[l.i] == '-' {
		l.i++
		if l.i >= len(l.r) || !isDigit(l.r[l.i]) {
			return token{}, filterErr(pos, "expected a number after '-'")
		}
	}
	if l.r[l.i] == '0' {
		l.i++
	} else {
		digits()
	}
	if l.i < len(l.r) && l.r[l.i] == '.' {
		l.i++
		if !digits() {
			return bad()
		}
	}
	if l.i < len(l.r) && (l.r[l.i] == 'e' || l.r[l.i] == 'E') {
		l.i++
		if l.i < len(l.r) && (l.r[l.i] == '+' || l.r[l.i] == '-') {
			l.i++
		}
		if !digits() {
			return bad()
		}
	}
	if l.i < len(l.r) && (isIdentPart(l.r[l.i]) || l.r[l.i] == '.') {
		return bad()
	}
	return token{kind: tNumber, text: string(l.r[start:l.i]), pos: pos}, nil
}

// str lexes a double-quoted string with the escapes \" \\ \/ \n \t \r \uXXXX.
func (l *lexer) str() (token, error) {
	pos := l.i + 1
	l.i++
	var b strings.Builder
	for {
		if l.i >= len(l.r) {
			return token{}, filterErr(pos, "unterminated string")
		}
		c := l.r[l.i]
		switch {
		case c == '"':
			l.i++
			return token{kind: tString, text: b.String(), pos: pos}, nil
		case c == '\\':
			r, err := l.escape()
			if err != nil {
				return token{}, err
			}
			b.WriteRune(r)
		case c < 0x20 || c == 0x7f:
			return token{}, filterErr(l.i+1, "control characters must be escaped in strings (\\n, \\t or \\uXXXX)")
		default:
			b.WriteRune(c)
			l.i++
		}
	}
}

// escape lexes the escape at l.i (a backslash) and returns its character.
func (l *lexer) escape() (rune, error) {
	pos := l.i + 1
	l.i++
	if l.i >= len(l.r) {
		return 0, filterErr(pos, "unterminated string")
	}
	c := l.r[l.i]
	l.i++
	switch c {
	case '"', '\\', '/':
		return c, nil
	case 'n':
		return '\n', nil
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'u':
		r, ok := l.hex4()
		if !ok {
			return 0, filterErr(pos, "expected four hexadecimal digits after \\u")
		}
		switch {
		case r == 0:
			return 0, filterErr(pos, "strings cannot contain the NUL character")
		case 0xD800 <= r && r < 0xDC00:
			if l.peekIs(0, '\\') && l.peekIs(1, 'u') {
				save := l.i
				l.i += 2
				lo, ok := l.hex4()
				if ok && 0xDC00 <= lo && lo < 0xE000 {
					return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), nil
				}
				l.i = save
			}
			return 0, filterErr(pos, "invalid surrogate pair in \\u escape")
		case 0xDC00 <= r && r < 0xE000:
			return 0, filterErr(pos, "invalid surrogate pair in \\u escape")
		}
		return r, nil
	}
	return 0, filterErr(pos, "invalid escape in string; use \\\", \\\\, \\n, \\t, \\r or \\uXXXX")
}

// hex4 reads four hexadecimal digits.
func (l *lexer) hex4() (rune, bool) {
	if l.i+4 > len(l.r) {
		return 0, false
	}
	var r rune
	for _, c := range l.r[l.i : l.i+4] {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | d
	}
	l.i += 4
	return r, true
}

// quoted lexes a backtick-quoted column name; a doubled backtick stands
// for one.
func (l *lexer) quoted() (token, error) {
	pos := l.i + 1
	l.i++
	var b strings.Builder
	for {
		if l.i >= len(l.r) {
			return token{}, filterErr(pos, "unterminated column name (missing '`')")
		}
		c := l.r[l.i]
		l.i++
		switch {
		case c == '`':
			if l.peekIs(0, '`') {
				b.WriteRune('`')
				l.i++
				continue
			}
			if b.Len() == 0 {
				return token{}, filterErr(pos, "empty column name")
			}
			return token{kind: tQuoted, text: b.String(), pos: pos}, nil
		case c < 0x20 || c == 0x7f:
			return token{}, filterErr(l.i, "column names cannot contain control characters")
		default:
			b.WriteRune(c)
		}
	}
}

// variable lexes @user.id, @user.email or @user.groups.
func (l *lexer) variable() (token, error) {
	pos := l.i + 1
	l.i++
	start := l.i
	for l.i < len(l.r) && (isIdentPart(l.r[l.i]) || l.r[l.i] == '.') {
		l.i++
	}
	name := string(l.r[start:l.i])
	switch name {
	case VarUserID, VarUserEmail, VarUserGroups:
		return token{kind: tVar, text: name, pos: pos}, nil
	}
	if name == "" {
		return token{}, filterErr(pos, "expected a variable name after '@' (@user.id, @user.email or @user.groups)")
	}
	return token{}, filterErr(pos, "unknown variable %s; use @user.id, @user.email or @user.groups", quote("@"+name))
}
