package filter

import (
	"encoding/json"
	"strings"
)

// Expr is a node of the syntax tree of a filter: *Or, *And, *Not or
// *Compare. Its String method gives canonical source that parses back to
// the same tree.
type Expr interface {
	// Pos returns the 1-based character position where the expression
	// starts in the source.
	Pos() int
	String() string
	expr()
}

// Operand is one side of a comparison: *FieldRef, *Literal, *Var or *List.
type Operand interface {
	Pos() int
	String() string
	operand()
}

// Or is true when any of its terms is (a || b || …). It has two terms or more.
type Or struct {
	Terms []Expr
	P     int
}

// And is true when all of its terms are (a && b && …). It has two terms or more.
type And struct {
	Terms []Expr
	P     int
}

// Not negates X (!X).
type Not struct {
	X Expr
	P int
}

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	OpEq          Op = "="
	OpNe          Op = "!="
	OpGt          Op = ">"
	OpGe          Op = ">="
	OpLt          Op = "<"
	OpLe          Op = "<="
	OpContains    Op = "~"  // contains, ignoring case
	OpNotContains Op = "!~" // does not contain, ignoring case
	OpIn          Op = "in"
	OpNotIn       Op = "not in"
	OpIsNull      Op = "is null"
	OpIsNotNull   Op = "is not null"
)

// Compare is a comparison. Its shapes are:
//
//	field op value      op is = != > >= < <= ~ !~; value is a *Literal or *Var
//	field in list       (and not in); list is a *List or the *Var user.groups
//	value in field      (and not in); value is a *Literal or *Var, field a list column
//	value in @user.groups
//	field is null       (and is not null); Right is nil
type Compare struct {
	Op    Op
	Left  Operand
	Right Operand
	P     int
}

// FieldRef names a column.
type FieldRef struct {
	Name string
	P    int
}

// Literal is a string, a number (json.Number, as written) or a bool.
type Literal struct {
	Value any
	P     int
}

// Variable names.
const (
	VarUserID     = "user.id"
	VarUserEmail  = "user.email"
	VarUserGroups = "user.groups"
)

// Var is a variable: @user.id, @user.email or @user.groups. Name omits the '@'.
type Var struct {
	Name string
	P    int
}

// List is a list literal [v1, v2, …] of *Literal and *Var elements.
type List struct {
	Elems []Operand
	P     int
}

func (e *Or) Pos() int       { return e.P }
func (e *And) Pos() int      { return e.P }
func (e *Not) Pos() int      { return e.P }
func (e *Compare) Pos() int  { return e.P }
func (o *FieldRef) Pos() int { return o.P }
func (o *Literal) Pos() int  { return o.P }
func (o *Var) Pos() int      { return o.P }
func (o *List) Pos() int     { return o.P }

func (*Or) expr()      {}
func (*And) expr()     {}
func (*Not) expr()     {}
func (*Compare) expr() {}

func (*FieldRef) operand() {}
func (*Literal) operand()  {}
func (*Var) operand()      {}
func (*List) operand()     {}

func (e *Or) String() string { return joinTerms(e.Terms, " || ", false) }

func (e *And) String() string { return joinTerms(e.Terms, " && ", true) }

// joinTerms writes terms with sep, in parentheses when needed to keep the
// tree's shape: a nested And or Or, except an And inside an Or.
func joinTerms(terms []Expr, sep string, inAnd bool) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		switch t.(type) {
		case *Or:
			b.WriteString("(" + t.String() + ")")
		case *And:
			if inAnd {
				b.WriteString("(" + t.String() + ")")
			} else {
				b.WriteString(t.String())
			}
		default:
			b.WriteString(t.String())
		}
	}
	return b.String()
}

func (e *Not) String() string {
	switch e.X.(type) {
	case *Not, *Compare:
		// '!' applies to the comparison that follows: !a = 1 is !(a = 1).
		return "!" + e.X.String()
	}
	return "!(" + e.X.String() + ")"
}

func (e *Compare) String() string {
	if e.Right == nil {
		return e.Left.String() + " " + string(e.Op)
	}
	return e.Left.String() + " " + string(e.Op) + " " + e.Right.String()
}

func (o *FieldRef) String() string {
	if isIdent(o.Name) {
		return o.Name
	}
	return "`" + strings.ReplaceAll(o.Name, "`", "``") + "`"
}

// isIdent reports whether s can be written as a bare identifier.
func isIdent(s string) bool {
	if s == "" || keywords[strings.ToLower(s)] != 0 {
		return false
	}
	for i, r := range s {
		if i == 0 && !isIdentStart(r) || !isIdentPart(r) {
			return false
		}
	}
	return true
}

func (o *Literal) String() string {
	switch v := o.Value.(type) {
	case string:
		return quoteString(v)
	case json.Number:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return "?"
}

// quoteString writes s as a string literal of the filter language.
func quoteString(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (o *Var) String() string { return "@" + o.Name }

func (o *List) String() string {
	parts := make([]string, len(o.Elems))
	for i, e := range o.Elems {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// FieldNames lists the field names (or ids) that e compares, in order, once
// per comparison that names them.
func FieldNames(e Expr) []string {
	var out []string
	var walk func(e Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case *Or:
			for _, t := range e.Terms {
				walk(t)
			}
		case *And:
			for _, t := range e.Terms {
				walk(t)
			}
		case *Not:
			walk(e.X)
		case *Compare:
			for _, o := range []Operand{e.Left, e.Right} {
				if f, ok := o.(*FieldRef); ok {
					out = append(out, f.Name)
				}
			}
		}
	}
	walk(e)
	return out
}
