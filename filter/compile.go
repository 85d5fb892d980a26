package filter

import (
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
)

// The SQL of the constants true and false.
const (
	sqlTrue  = "1=1"
	sqlFalse = "1=0"
)

// Compile checks e against the fields of s, with the variables of env, and
// returns a SQL boolean expression and the arguments of its placeholders
// ("?", in order). Values are always arguments, never part of the SQL text.
// The expression is never NULL. A nil e gives "1=1", matching every row.
//
// Errors are *coffer.Error: EINVALID for an unknown column, an operator that
// does not suit a column's type or a value that does not convert;
// EINTERNAL for a Field or Dialect that is not set up properly.
func Compile(e Expr, s Schema, env Env, d Dialect) (sql string, args []any, err error) {
	n, err := check(e, s, env)
	if err != nil {
		return "", nil, err
	}
	c := &compiler{d: d}
	fr, err := c.node(n, false)
	if err != nil {
		return "", nil, err
	}
	return fr.sql, fr.args, nil
}

// frag is compiled SQL with its arguments; k is 1 for the constant true,
// -1 for false and 0 for any other expression.
type frag struct {
	sql  string
	args []any
	k    int
}

var (
	fragTrue  = frag{sql: sqlTrue, k: 1}
	fragFalse = frag{sql: sqlFalse, k: -1}
)

func constFrag(b bool) frag {
	if b {
		return fragTrue
	}
	return fragFalse
}

type compiler struct {
	d Dialect
}

// node compiles n, or its negation when neg is set. Negation is pushed
// down to the leaves (De Morgan), whose negated forms are exact for empty
// fields.
func (c *compiler) node(n node, neg bool) (frag, error) {
	switch n := n.(type) {
	case constNode:
		return constFrag(bool(n) != neg), nil
	case notNode:
		return c.node(n.x, !neg)
	case andNode:
		// !(a && b) = !a || !b
		return c.join(n, neg, !neg)
	case orNode:
		// !(a || b) = !a && !b
		return c.join(n, neg, neg)
	case leaf:
		return c.leaf(n, neg)
	}
	return frag{}, coffer.Internal("filter.Compile", fmt.Errorf("unexpected node %T", n))
}

// join compiles the terms (negated when neg is set) and joins them with
// AND when and is set, or OR, folding constants.
func (c *compiler) join(terms []node, neg, and bool) (frag, error) {
	// absorbing is the constant that decides the result on its own.
	absorbing, sep := -1, " AND "
	if !and {
		absorbing, sep = 1, " OR "
	}
	var parts []frag
	for _, t := range terms {
		f, err := c.node(t, neg)
		if err != nil {
			return frag{}, err
		}
		switch f.k {
		case absorbing:
			return f, nil
		case 0:
			parts = append(parts, f)
		}
	}
	switch len(parts) {
	case 0:
		return constFrag(and), nil
	case 1:
		return parts[0], nil
	}
	var b strings.Builder
	var args []any
	b.WriteByte('(')
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p.sql)
		args = append(args, p.args...)
	}
	b.WriteByte(')')
	return frag{sql: b.String(), args: args}, nil
}

// operand returns the SQL of a field's value, in parentheses unless it is
// a plain column reference.
func operand(sql string) string {
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if !(c == '_' || c == '.' || c == '"' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "(" + sql + ")"
		}
	}
	return sql
}

// notNull returns SQL that is true when x is set and cond holds, and
// isNull SQL that is true when x is empty or cond holds. cond is never
// NULL when x is set, so neither result is ever NULL.
func notNull(x, cond string) string { return "(" + x + " IS NOT NULL AND " + cond + ")" }
func isNull(x, cond string) string  { return "(" + x + " IS NULL OR " + cond + ")" }

// leaf compiles a comparison, or its negation when neg is set.
func (c *compiler) leaf(l leaf, neg bool) (frag, error) {
	if l.kind == lHas {
		sql := "(" + l.f.Contains("?") + ")"
		if neg {
			sql = "NOT " + sql
		}
		return frag{sql: sql, args: l.vals[:1:1]}, nil
	}
	if l.kind == lEmpty {
		sql := "(" + l.f.Empty + ")"
		if neg {
			sql = "NOT " + sql
		}
		return frag{sql: sql}, nil
	}
	x := operand(l.f.SQL)
	switch l.kind {
	case lNull:
		if neg {
			return frag{sql: x + " IS NOT NULL"}, nil
		}
		return frag{sql: x + " IS NULL"}, nil
	case lEq, lLt, lLe, lGt, lGe:
		op, negOp := comparisonOps(l.kind)
		if neg {
			return frag{sql: isNull(x, x+" "+negOp+" ?"), args: l.vals[:1:1]}, nil
		}
		if l.kind == lEq && l.f.Sort != "" && l.f.Key != nil {
			// Equal values have equal keys: key = Key(v) changes nothing
			// but lets an index on the key find the rows. Never NULL.
			k := operand(l.f.Sort)
			return frag{sql: notNull(k, k+" = ? AND "+notNull(x, x+" = ?")), args: []any{l.f.Key(l.vals[0]), l.vals[0]}}, nil
		}
		return frag{sql: notNull(x, x+" "+op+" ?"), args: l.vals[:1:1]}, nil
	case lContains:
		if c.d == nil {
			return frag{}, coffer.Internal("filter.Compile", fmt.Errorf("no dialect for '~'"))
		}
		cond := c.d.ContainsFold(x, "?")
		args := []any{l.needle}
		if neg {
			return frag{sql: isNull(x, "NOT ("+cond+")"), args: args}, nil
		}
		return frag{sql: notNull(x, cond), args: args}, nil
	case lIn:
		ph := strings.Repeat("?, ", len(l.vals))
		ph = ph[:len(ph)-2]
		args := append([]any(nil), l.vals...)
		if neg {
			return frag{sql: isNull(x, x+" NOT IN ("+ph+")"), args: args}, nil
		}
		if l.f.Sort != "" && l.f.Key != nil {
			keys := make([]any, 0, 2*len(l.vals))
			for _, v := range l.vals {
				keys = append(keys, l.f.Key(v))
			}
			k := operand(l.f.Sort)
			return frag{sql: notNull(k, k+" IN ("+ph+") AND "+notNull(x, x+" IN ("+ph+")")), args: append(keys, args...)}, nil
		}
		return frag{sql: notNull(x, x+" IN ("+ph+")"), args: args}, nil
	}
	return frag{}, coffer.Internal("filter.Compile", fmt.Errorf("unexpected comparison %d", l.kind))
}

// comparisonOps returns the SQL operator of a comparison and of its negation.
func comparisonOps(k leafKind) (op, negOp string) {
	switch k {
	case lLt:
		return "<", ">="
	case lLe:
		return "<=", ">"
	case lGt:
		return ">", "<="
	case lGe:
		return ">=", "<"
	}
	return "=", "<>"
}
