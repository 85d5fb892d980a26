package filter

import (
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
)

// The checked form of a filter, shared by Compile and Eval so that both
// give the same errors and the same answers. Negative operators (!=, !~,
// not in, is not null) become a notNode around the positive leaf.
type node interface{}

type (
	andNode   []node
	orNode    []node
	notNode   struct{ x node }
	constNode bool
	leaf      struct {
		kind   leafKind
		f      *Field
		vals   []any  // the values, converted to their storage form
		needle string // the text searched by lContains
	}
)

// leafKind is the kind of a positive comparison.
type leafKind int

const (
	lEq       leafKind = iota // field = vals[0]
	lLt                       // field < vals[0]
	lLe                       // field <= vals[0]
	lGt                       // field > vals[0]
	lGe                       // field >= vals[0]
	lContains                 // field contains needle, ignoring case
	lIn                       // field is one of vals (at least one)
	lNull                     // field is empty
	lHas                      // list field holds vals[0]
	lEmpty                    // list field is empty
)

// checker checks a tree against a schema and resolves the variables.
type checker struct {
	s   Schema
	env Env
}

// check checks e; a nil e matches every row.
func check(e Expr, s Schema, env Env) (node, error) {
	if e == nil {
		return constNode(true), nil
	}
	if s == nil {
		return nil, coffer.Internal("filter.check", fmt.Errorf("nil schema"))
	}
	c := &checker{s: s, env: env}
	return c.expr(e, 0)
}

func (c *checker) expr(e Expr, depth int) (node, error) {
	// Trees built by hand rather than by Parse are bounded too.
	if e == nil {
		return nil, filterErr(0, "missing condition")
	}
	if depth > 2*MaxDepth+2*MaxNodes {
		return nil, filterErr(e.Pos(), "the filter is nested too deeply")
	}
	switch e := e.(type) {
	case *Or:
		n := make(orNode, 0, len(e.Terms))
		for _, t := range e.Terms {
			x, err := c.expr(t, depth+1)
			if err != nil {
				return nil, err
			}
			n = append(n, x)
		}
		return n, nil
	case *And:
		n := make(andNode, 0, len(e.Terms))
		for _, t := range e.Terms {
			x, err := c.expr(t, depth+1)
			if err != nil {
				return nil, err
			}
			n = append(n, x)
		}
		return n, nil
	case *Not:
		if e.X == nil {
			return nil, filterErr(e.P, "expected a condition after '!'")
		}
		x, err := c.expr(e.X, depth+1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case *Compare:
		return c.compare(e)
	}
	return nil, filterErr(e.Pos(), "unexpected expression")
}

// negate returns the negation of n when neg is set.
func negate(n node, neg bool) node {
	if !neg {
		return n
	}
	if k, ok := n.(constNode); ok {
		return !k
	}
	return notNode{n}
}

// field looks up the column of r.
func (c *checker) field(r *FieldRef) (*Field, error) {
	f, ok := c.s.Field(r.Name)
	if !ok || f == nil {
		return nil, filterErr(r.P, "unknown column %s", quote(r.Name))
	}
	if f.Type.Secret() {
		return nil, filterErr(r.P, "column %s is %s and cannot be filtered", quote(r.Name), secretWhat(f.Type))
	}
	if f.IsList() {
		if f.Contains == nil || f.Empty == "" {
			return nil, coffer.Internal("filter.check", fmt.Errorf("list field %q has no Contains or Empty", f.Name))
		}
	} else if f.SQL == "" {
		return nil, coffer.Internal("filter.check", fmt.Errorf("field %q has no SQL", f.Name))
	}
	return f, nil
}

// typeName names a column type for messages.
func typeName(t coffer.ColumnType) string {
	switch t {
	case coffer.TypeNumber:
		return "number"
	case coffer.TypeBoolean:
		return "boolean"
	case coffer.TypeDate:
		return "date"
	case coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		return "date and time"
	case coffer.TypeMultiSelect, coffer.TypeLink:
		return "list"
	}
	return string(t)
}

// aOrAn returns "a" or "an" for the type name.
func aOrAn(s string) string {
	if s != "" && strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
}

// envString returns the text of @user.id or @user.email; "" is no value.
func (c *checker) envString(name string) string {
	switch name {
	case VarUserID:
		return c.env.UserID
	case VarUserEmail:
		return c.env.UserEmail
	}
	return ""
}

// value converts a scalar operand (a literal or @user.id/@user.email) for
// f. ok is false when the operand is a variable without a usable value:
// the comparison then matches nothing. A literal that does not convert is
// an error.
func (c *checker) value(f *Field, o Operand) (v any, ok bool, err error) {
	switch o := o.(type) {
	case *Literal:
		v, err := convert(f, o.Value)
		if err != nil {
			return nil, false, filterErr(o.P, "column %s: %s", quote(f.Name), errMessage(err))
		}
		if v == nil {
			return nil, false, filterErr(o.P, "column %s: the value is empty; use 'is null' to find empty values", quote(f.Name))
		}
		return v, true, nil
	case *Var:
		s := c.envString(o.Name)
		if s == "" {
			return nil, false, nil
		}
		v, err := convert(f, s)
		if err != nil || v == nil {
			return nil, false, nil
		}
		return v, true, nil
	}
	return nil, false, filterErr(o.Pos(), "expected a value")
}

// compare checks one comparison.
func (c *checker) compare(x *Compare) (node, error) {
	if x.Left == nil {
		return nil, filterErr(x.P, "missing operand")
	}
	if r, ok := x.Left.(*FieldRef); ok {
		f, err := c.field(r)
		if err != nil {
			return nil, err
		}
		if f.IsList() {
			return c.listField(f, x)
		}
		return c.scalarField(f, x)
	}
	return c.valueIn(x)
}

// listField checks a comparison of a list column: only is [not] null.
func (c *checker) listField(f *Field, x *Compare) (node, error) {
	switch x.Op {
	case OpIsNull:
		return leaf{kind: lEmpty, f: f}, nil
	case OpIsNotNull:
		return notNode{leaf{kind: lEmpty, f: f}}, nil
	}
	name := (&FieldRef{Name: f.Name}).String()
	return nil, filterErr(x.P, "column %s holds a list: write \"value\" in %s, \"value\" not in %s or %s is null",
		quote(f.Name), name, name, name)
}

// scalarField checks a comparison whose left side is a scalar column.
func (c *checker) scalarField(f *Field, x *Compare) (node, error) {
	if _, isVar := x.Right.(*Var); isVar && !textLike(f.Type) {
		return nil, filterErr(x.Right.Pos(), "column %s is %s and cannot be compared with %s",
			quote(f.Name), aOrAn(typeName(f.Type)), x.Right.String())
	}
	switch x.Op {
	case OpIsNull, OpIsNotNull:
		return negate(leaf{kind: lNull, f: f}, x.Op == OpIsNotNull), nil
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
		return c.comparison(f, x)
	case OpContains, OpNotContains:
		return c.contains(f, x)
	case OpIn, OpNotIn:
		return c.in(f, x)
	}
	return nil, filterErr(x.P, "unknown operator %s", quote(string(x.Op)))
}

// comparisonKinds holds the leaf of each comparison operator: != is the
// negation of =.
var comparisonKinds = map[Op]leafKind{
	OpEq: lEq,
	OpNe: lEq,
	OpLt: lLt,
	OpLe: lLe,
	OpGt: lGt,
	OpGe: lGe,
}

// comparison checks column = value, and the other comparison operators,
// which need an ordered column. A variable without a usable value
// matches nothing.
func (c *checker) comparison(f *Field, x *Compare) (node, error) {
	kind := comparisonKinds[x.Op]
	if kind != lEq && !ordered(f.Type) {
		return nil, filterErr(x.P, "column %s is %s and cannot be compared with '%s'%s",
			quote(f.Name), aOrAn(typeName(f.Type)), x.Op, boolHint(f.Type))
	}
	if x.Right == nil {
		return nil, filterErr(x.P, "expected a value after '%s'", x.Op)
	}
	v, ok, err := c.value(f, x.Right)
	if err != nil {
		return nil, err
	}
	if !ok {
		return negate(constNode(false), x.Op == OpNe), nil
	}
	return negate(leaf{kind: kind, f: f, vals: []any{v}}, x.Op == OpNe), nil
}

// contains checks column ~ "text" and column !~ "text" on a text column;
// the needle is a string literal or @user.id/@user.email (an empty
// variable matches nothing).
func (c *checker) contains(f *Field, x *Compare) (node, error) {
	if !textLike(f.Type) {
		return nil, filterErr(x.P, "column %s is %s: '%s' only works on text columns",
			quote(f.Name), aOrAn(typeName(f.Type)), x.Op)
	}
	var needle string
	switch r := x.Right.(type) {
	case *Literal:
		s, ok := r.Value.(string)
		if !ok {
			return nil, filterErr(r.P, "expected a string after '%s'", x.Op)
		}
		needle = s
	case *Var:
		needle = c.envString(r.Name)
		if needle == "" {
			return negate(constNode(false), x.Op == OpNotContains), nil
		}
	default:
		return nil, filterErr(x.P, "expected a string after '%s'", x.Op)
	}
	return negate(leaf{kind: lContains, f: f, needle: needle}, x.Op == OpNotContains), nil
}

// in checks column in [...] and column in @user.groups (and their
// negations) on a column other than a boolean. When no value is usable
// the comparison matches nothing.
func (c *checker) in(f *Field, x *Compare) (node, error) {
	if f.Type == coffer.TypeBoolean {
		return nil, filterErr(x.P, "column %s is a boolean: use '=' or '!='", quote(f.Name))
	}
	var vals []any
	switch r := x.Right.(type) {
	case *List:
		var err error
		if vals, err = c.listValues(f, r); err != nil {
			return nil, err
		}
	case *Var:
		if r.Name != VarUserGroups {
			return nil, filterErr(r.P, "expected a list [...] or @user.groups after '%s'", x.Op)
		}
		vals = c.groupValues(f)
	default:
		return nil, filterErr(x.P, "expected a list [...] or @user.groups after '%s'", x.Op)
	}
	if len(vals) == 0 {
		return negate(constNode(false), x.Op == OpNotIn), nil
	}
	return negate(leaf{kind: lIn, f: f, vals: vals}, x.Op == OpNotIn), nil
}

// listValues converts the values of a list [...] for f, leaving out
// variables without a usable value. A literal that does not convert, or
// a variable compared with a column that is not text, is an error.
func (c *checker) listValues(f *Field, r *List) ([]any, error) {
	if len(r.Elems) > MaxList {
		return nil, tooComplex(r.P, "a list can hold at most %d values", MaxList)
	}
	var vals []any
	for _, el := range r.Elems {
		if _, isVar := el.(*Var); isVar && !textLike(f.Type) {
			return nil, filterErr(el.Pos(), "column %s is %s and cannot be compared with %s",
				quote(f.Name), aOrAn(typeName(f.Type)), el.String())
		}
		v, ok, err := c.value(f, el)
		if err != nil {
			return nil, err
		}
		if ok {
			vals = append(vals, v)
		}
	}
	return vals, nil
}

// groupValues converts the user's groups for f, leaving out those that
// are empty or do not convert.
func (c *checker) groupValues(f *Field) []any {
	var vals []any
	for _, g := range c.env.UserGroups {
		if g == "" {
			continue
		}
		if v, err := convert(f, g); err == nil && v != nil {
			vals = append(vals, v)
		}
	}
	return vals
}

// boolHint suggests the operators of booleans.
func boolHint(t coffer.ColumnType) string {
	if t == coffer.TypeBoolean {
		return "; use '=' or '!='"
	}
	return ""
}

// valueIn checks value [not] in column and value [not] in @user.groups.
func (c *checker) valueIn(x *Compare) (node, error) {
	if x.Op != OpIn && x.Op != OpNotIn {
		return nil, filterErr(x.P, "a comparison starts with the column: write column %s value", x.Op)
	}
	neg := x.Op == OpNotIn
	switch r := x.Right.(type) {
	case *Var:
		if r.Name != VarUserGroups {
			return nil, filterErr(r.P, "expected a column or @user.groups after '%s'", x.Op)
		}
		var s string
		switch l := x.Left.(type) {
		case *Literal:
			str, ok := l.Value.(string)
			if !ok {
				return nil, filterErr(l.P, "@user.groups holds group names: compare it with a string")
			}
			s = str
		case *Var:
			if l.Name == VarUserGroups {
				return nil, filterErr(l.P, "expected a value before '%s'", x.Op)
			}
			s = c.envString(l.Name)
		default:
			return nil, filterErr(x.P, "expected a value before '%s'", x.Op)
		}
		found := false
		for _, g := range c.env.UserGroups {
			if s != "" && g == s {
				found = true
				break
			}
		}
		return negate(constNode(found), neg), nil
	case *FieldRef:
		f, err := c.field(r)
		if err != nil {
			return nil, err
		}
		if !f.IsList() {
			name := r.String()
			return nil, filterErr(r.P, "column %s is not a list: write %s = value or %s in [...]", quote(f.Name), name, name)
		}
		switch l := x.Left.(type) {
		case *Literal, *Var:
			if v, ok := l.(*Var); ok && v.Name == VarUserGroups {
				return nil, filterErr(l.Pos(), "expected a value before '%s'", x.Op)
			}
		default:
			return nil, filterErr(x.P, "expected a value before '%s'", x.Op)
		}
		v, ok, err := c.value(f, x.Left)
		if err != nil {
			return nil, err
		}
		if !ok {
			return negate(constNode(false), neg), nil
		}
		return negate(leaf{kind: lHas, f: f, vals: []any{v}}, neg), nil
	}
	return nil, filterErr(x.P, "expected a column or @user.groups after '%s'", x.Op)
}

// secretWhat says what a secret column is, for messages.
func secretWhat(t coffer.ColumnType) string {
	if t == coffer.TypePassword {
		return "a password column"
	}
	return "encrypted"
}
