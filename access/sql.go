package access

import (
	"strconv"
	"strings"

	"github.com/cofferhq/coffer/filter"
)

// Plan is a Decision compiled to SQL for one table.
//
// A query over the table reads it through a subquery that adds one boolean
// column per condition the plan needs:
//
//	SELECT … FROM (SELECT t.* <Select> FROM <table> t) t WHERE <Row> AND …
//
// Select carries the arguments of the conditions (Args, in order); Row and
// the column masks refer only to those columns, so they add no arguments
// and can be placed anywhere in the outer query. Databases flatten such a
// subquery, so indexes on the table still serve the outer WHERE and ORDER BY.
type Plan struct {
	Full   bool   // every row and cell: no subquery needed
	Select string // ", (cond) AS g0, …"; empty when no condition is needed
	Args   []any
	Row    string // the row predicate, e.g. "(t.g0 OR t.g1)", or "1=1"
	conds  []compiled
	masks  map[string]string
	alias  string
}

type compiled struct {
	sql  string
	args []any
	k    int // 1: matches every row, -1: none, 0: depends on the row
}

// Compile compiles a Decision for the table whose fields sch gives (field
// SQL must refer to the table as alias), with the subject's variables env.
// A condition that no longer compiles (a grant made stale by a schema
// change, e.g. a column deleted since) matches no row: access fails closed.
func Compile(d *Decision, sch filter.Schema, env filter.Env, dia filter.Dialect, alias string) *Plan {
	p := &Plan{Full: d.Full, Row: "1=1", masks: map[string]string{}, alias: alias}
	if d.Full {
		return p
	}
	if len(d.Conds) == 0 {
		p.Row = "1=0"
		return p
	}
	p.conds = make([]compiled, len(d.Conds))
	for i, c := range d.Conds {
		if c.Expr == nil {
			p.conds[i] = compiled{sql: "1=1", k: 1}
			continue
		}
		sql, args, err := filter.Compile(c.Expr, sch, env, dia)
		switch {
		case err != nil:
			p.conds[i] = compiled{sql: "1=0", k: -1}
		case sql == "1=1":
			p.conds[i] = compiled{sql: sql, k: 1}
		case sql == "1=0":
			p.conds[i] = compiled{sql: sql, k: -1}
		default:
			p.conds[i] = compiled{sql: sql, args: args}
		}
	}
	need := map[int]bool{}
	all := make([]int, len(d.Conds))
	for i := range all {
		all[i] = i
	}
	p.Row = p.or(all, need)
	for _, col := range d.cols {
		readers := d.Readers(col)
		switch {
		case len(readers) == len(d.Conds):
			p.masks[col] = "" // readable wherever the row is visible
		default:
			m := p.or(readers, need)
			if m == "1=1" {
				m = ""
			}
			p.masks[col] = m
		}
	}
	var sb strings.Builder
	for i := range p.conds {
		if need[i] {
			sb.WriteString(", (" + p.conds[i].sql + ") AS g" + strconv.Itoa(i))
			p.Args = append(p.Args, p.conds[i].args...)
		}
	}
	p.Select = sb.String()
	return p
}

// or returns the SQL that is true when one of the conditions idx holds,
// in terms of the g columns, and marks those it uses in need.
func (p *Plan) or(idx []int, need map[int]bool) string {
	for _, i := range idx {
		if p.conds[i].k == 1 {
			return "1=1"
		}
	}
	var terms []string
	for _, i := range idx {
		if p.conds[i].k == -1 {
			continue
		}
		need[i] = true
		terms = append(terms, p.alias+".g"+strconv.Itoa(i))
	}
	switch len(terms) {
	case 0:
		return "1=0"
	case 1:
		return terms[0]
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

// Readable returns the SQL condition under which a column's cell is
// readable in a visible row: "" when always, "1=0" when never.
func (p *Plan) Readable(col string) string {
	if p.Full {
		return ""
	}
	m, ok := p.masks[col]
	if !ok {
		return "1=0"
	}
	return m
}

// Mask returns expr as the caller sees it: the value, or NULL where the
// cell is not readable.
func (p *Plan) Mask(col, expr string) string {
	switch m := p.Readable(col); m {
	case "":
		return expr
	case "1=0":
		return "NULL"
	default:
		return "CASE WHEN " + m + " THEN " + expr + " END"
	}
}

// Cond returns the SQL of condition i on the table itself (alias as given
// to Compile), with its arguments: for checking a row before and after a
// write.
func (p *Plan) Cond(i int) (string, []any) {
	if p.Full {
		return "1=1", nil
	}
	return p.conds[i].sql, p.conds[i].args
}
