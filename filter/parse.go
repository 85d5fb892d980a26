package filter

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Parse parses a filter. It checks the syntax only; Compile and Eval check
// the filter against the fields of a table. An empty or all-whitespace
// source gives (nil, nil), which matches every row. Errors are
// *coffer.Error with code EINVALID and name the position of the problem.
func Parse(src string) (Expr, error) {
	if len(src) > MaxLength {
		return nil, tooComplex(0, "the filter is too long (more than %d bytes)", MaxLength)
	}
	if !utf8.ValidString(src) {
		return nil, filterErr(0, "the filter is not valid UTF-8 text")
	}
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, filterErr(t.pos, "unmatched ')'")
		}
		return nil, filterErr(t.pos, "expected '&&', '||' or the end of the filter, found %s", t.describe())
	}
	return e, nil
}

// parser is a recursive-descent parser over the tokens of a filter.
type parser struct {
	toks  []token
	i     int
	depth int // nesting of parentheses and '!'
	nodes int // comparisons, logical operators and list elements
	terms int // comparisons
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prev returns the token before the current one.
func (p *parser) prev() token {
	if p.i == 0 {
		return token{kind: tEOF}
	}
	return p.toks[p.i-1]
}

// node counts one node of the tree.
func (p *parser) node(pos int) error {
	p.nodes++
	if p.nodes > MaxNodes {
		return tooComplex(pos, "the filter is too complex (more than %d terms)", MaxNodes)
	}
	return nil
}

// enter counts one level of nesting.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return tooComplex(pos, "the filter is nested too deeply (more than %d levels)", MaxDepth)
	}
	return nil
}

// or parses: and { "||" and }.
func (p *parser) or() (Expr, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.peek().kind == tOr {
		t := p.next()
		if err := p.node(t.pos); err != nil {
			return nil, err
		}
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &Or{Terms: terms, P: first.Pos()}, nil
}

// and parses: unary { "&&" unary }.
func (p *parser) and() (Expr, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.peek().kind == tAnd {
		t := p.next()
		if err := p.node(t.pos); err != nil {
			return nil, err
		}
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &And{Terms: terms, P: first.Pos()}, nil
}

// unary parses: "!" unary | "(" or ")" | comparison.
func (p *parser) unary() (Expr, error) {
	switch t := p.peek(); t.kind {
	case tBang:
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		if err := p.node(t.pos); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		p.depth--
		return &Not{X: x, P: t.pos}, nil
	case tLParen:
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, filterErr(c.pos, "expected ')' to close the '(' at position %d, found %s", t.pos, c.describe())
		}
		p.depth--
		return e, nil
	}
	return p.comparison()
}

// comparison parses one comparison.
func (p *parser) comparison() (Expr, error) {
	t := p.next()
	var left Operand
	switch t.kind {
	case tIdent, tQuoted:
		left = &FieldRef{Name: t.text, P: t.pos}
	case tString, tNumber, tTrue, tFalse:
		left = literal(t)
	case tVar:
		if t.text == VarUserGroups {
			return nil, filterErr(t.pos, "@user.groups is a list: write \"value\" in @user.groups or column in @user.groups")
		}
		left = &Var{Name: t.text, P: t.pos}
	case tNull:
		return nil, filterErr(t.pos, "null can only be used in 'is null' and 'is not null'")
	case tLBrack:
		return nil, filterErr(t.pos, "a list can only follow 'in' or 'not in'")
	case tEOF:
		if prev := p.prev(); prev.kind != tEOF {
			return nil, filterErr(t.pos, "expected a condition after '%s'", prev.text)
		}
		return nil, filterErr(t.pos, "expected a condition")
	default:
		return nil, filterErr(t.pos, "expected a condition, found %s", t.describe())
	}
	if err := p.node(t.pos); err != nil {
		return nil, err
	}
	p.terms++
	if p.terms > MaxTerms {
		return nil, tooComplex(t.pos, "the filter has too many comparisons (more than %d)", MaxTerms)
	}
	if f, ok := left.(*FieldRef); ok {
		return p.fieldComparison(f)
	}
	return p.valueComparison(left)
}

// literal returns the literal of a string, number or boolean token.
func literal(t token) *Literal {
	switch t.kind {
	case tString:
		return &Literal{Value: t.text, P: t.pos}
	case tNumber:
		return &Literal{Value: json.Number(t.text), P: t.pos}
	}
	return &Literal{Value: t.kind == tTrue, P: t.pos}
}

// fieldComparison parses the rest of a comparison that starts with a column.
func (p *parser) fieldComparison(f *FieldRef) (Expr, error) {
	t := p.next()
	c := &Compare{Left: f, P: f.P}
	switch t.kind {
	case tEq, tNe, tGt, tGe, tLt, tLe, tTilde, tNotTilde:
		c.Op = Op(t.text)
		v, err := p.value(t)
		if err != nil {
			return nil, err
		}
		if t.kind == tTilde || t.kind == tNotTilde {
			if lit, ok := v.(*Literal); ok {
				if _, ok := lit.Value.(string); !ok {
					return nil, filterErr(lit.P, "expected a string after '%s'", t.text)
				}
			}
		}
		c.Right = v
		return c, nil
	case tNot:
		if n := p.next(); n.kind != tIn {
			return nil, filterErr(n.pos, "expected 'in' after 'not', found %s", n.describe())
		}
		c.Op = OpNotIn
	case tIn:
		c.Op = OpIn
	case tIs:
		c.Op = OpIsNull
		n := p.next()
		if n.kind == tNot {
			c.Op = OpIsNotNull
			n = p.next()
		}
		if n.kind != tNull {
			return nil, filterErr(n.pos, "expected 'null' after '%s', found %s", c.Op[:len(c.Op)-len(" null")], n.describe())
		}
		return c, nil
	case tEOF:
		return nil, filterErr(t.pos, "expected an operator after column %s", quote(f.Name))
	default:
		return nil, filterErr(t.pos, "expected an operator after column %s, found %s", quote(f.Name), t.describe())
	}
	// column in [...] or column in @user.groups
	n := p.peek()
	switch {
	case n.kind == tLBrack:
		l, err := p.list()
		if err != nil {
			return nil, err
		}
		c.Right = l
	case n.kind == tVar && n.text == VarUserGroups:
		p.next()
		c.Right = &Var{Name: n.text, P: n.pos}
	default:
		return nil, filterErr(n.pos, "expected a list [...] or @user.groups after '%s', found %s", c.Op, n.describe())
	}
	return c, nil
}

// value parses the value after the comparison operator op.
func (p *parser) value(op token) (Operand, error) {
	t := p.next()
	switch t.kind {
	case tString, tNumber, tTrue, tFalse:
		return literal(t), nil
	case tVar:
		if t.text == VarUserGroups {
			return nil, filterErr(t.pos, "@user.groups is a list: use 'in @user.groups'")
		}
		return &Var{Name: t.text, P: t.pos}, nil
	case tNull:
		switch op.kind {
		case tEq:
			return nil, filterErr(t.pos, "use 'is null' instead of '= null'")
		case tNe:
			return nil, filterErr(t.pos, "use 'is not null' instead of '!= null'")
		}
		return nil, filterErr(t.pos, "null can only be used in 'is null' and 'is not null'")
	case tIdent, tQuoted:
		return nil, filterErr(t.pos, "a column can only be compared with a value, not with another column")
	case tLBrack:
		return nil, filterErr(t.pos, "use 'in' to compare with a list")
	case tEOF:
		return nil, filterErr(t.pos, "expected a value after '%s'", op.text)
	}
	return nil, filterErr(t.pos, "expected a value after '%s', found %s", op.text, t.describe())
}

// list parses a list literal [v1, v2, …].
func (p *parser) list() (*List, error) {
	open := p.next()
	l := &List{P: open.pos, Elems: []Operand{}}
	if p.peek().kind == tRBrack {
		p.next()
		return l, nil
	}
	for {
		t := p.next()
		switch t.kind {
		case tString, tNumber, tTrue, tFalse:
			l.Elems = append(l.Elems, literal(t))
		case tVar:
			if t.text == VarUserGroups {
				return nil, filterErr(t.pos, "@user.groups cannot be an element of a list")
			}
			l.Elems = append(l.Elems, &Var{Name: t.text, P: t.pos})
		case tNull:
			return nil, filterErr(t.pos, "a list cannot hold null; use 'is null'")
		case tEOF:
			return nil, filterErr(t.pos, "expected a value and ']' to close the list at position %d", open.pos)
		default:
			return nil, filterErr(t.pos, "expected a value in the list, found %s", t.describe())
		}
		if len(l.Elems) > MaxList {
			return nil, tooComplex(t.pos, "a list can hold at most %d values", MaxList)
		}
		if err := p.node(t.pos); err != nil {
			return nil, err
		}
		switch s := p.next(); s.kind {
		case tComma:
		case tRBrack:
			return l, nil
		case tEOF:
			return nil, filterErr(s.pos, "expected ']' to close the list at position %d", open.pos)
		default:
			return nil, filterErr(s.pos, "expected ',' or ']' in the list, found %s", s.describe())
		}
	}
}

// valueComparison parses the rest of a comparison that starts with a
// value: value [not] in column, value [not] in @user.groups.
func (p *parser) valueComparison(left Operand) (Expr, error) {
	c := &Compare{Left: left, Op: OpIn, P: left.Pos()}
	t := p.next()
	switch t.kind {
	case tIn:
	case tNot:
		if n := p.next(); n.kind != tIn {
			return nil, filterErr(n.pos, "expected 'in' after 'not', found %s", n.describe())
		}
		c.Op = OpNotIn
	case tEq, tNe, tGt, tGe, tLt, tLe, tTilde, tNotTilde:
		return nil, filterErr(left.Pos(), "a comparison starts with the column: write column %s value", t.text)
	case tEOF:
		return nil, filterErr(t.pos, "expected 'in' or 'not in' after the value")
	default:
		return nil, filterErr(t.pos, "expected 'in' or 'not in' after the value, found %s", t.describe())
	}
	n := p.next()
	switch {
	case n.kind == tIdent || n.kind == tQuoted:
		c.Right = &FieldRef{Name: n.text, P: n.pos}
	case n.kind == tVar && n.text == VarUserGroups:
		c.Right = &Var{Name: n.text, P: n.pos}
	case n.kind == tLBrack:
		return nil, filterErr(n.pos, "a list can only follow a column: write column in [...]")
	default:
		return nil, filterErr(n.pos, "expected a column or @user.groups after '%s', found %s", c.Op, n.describe())
	}
	return c, nil
}
