package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
)

// tablePlan is what the caller may do on one table, compiled for the
// queries of one request: the access engine's decision and SQL plan, the
// FROM source that adds the conditions' columns, and the filter schema
// that shows the caller's view of each column.
type tablePlan struct {
	dec    *access.Decision
	p      *access.Plan
	tm     *tableMeta
	from   string     // "<table> t", or a subquery aliased t
	args   []any      // of from
	get    string     // the query reading one record by id (id last), rebound
	cols   []*colMeta // the columns the caller may read somewhere
	names  []string   // their names, the field order of records
	acc    *nbAccess  // the access it was compiled for, and the notebook's
	prefix string     // table prefix: for the plans of linked tables
	// masked fields by column id; nil for a full plan.
	fields map[string]*filter.Field
	// partialLinks are link columns whose target the caller sees in part.
	partialLinks map[string]bool
}

// full reports whether the caller sees and may change everything.
func (tp *tablePlan) full() bool { return tp.dec.Full }

// planCache holds the compiled plans of one nbAccess, by table.
type planCache struct {
	mu sync.Mutex
	m  map[*tableMeta]*tablePlan
}

var errTableNotFound = coffer.Errorf(coffer.ENOTFOUND, "table not found")

// plan compiles (or returns the compiled) plan of the caller on tm. A table
// the caller may see no row of answers ENOTFOUND, like a missing one.
func (s *Catalog) plan(ctx context.Context, nc *nbConn, q querier, tm *tableMeta) (*tablePlan, error) {
	return s.planWith(ctx, nc.acc, nc.db.Prefix, q, tm)
}

// planWith is plan for the access a to a notebook whose tables are
// qualified by prefix.
func (s *Catalog) planWith(ctx context.Context, a *nbAccess, prefix string, q querier, tm *tableMeta) (*tablePlan, error) {
	if a == nil {
		return nil, errTableNotFound
	}
	a.plans.mu.Lock()
	tp, ok := a.plans.m[tm]
	a.plans.mu.Unlock()
	if !ok {
		var err error
		if tp, err = s.compilePlan(ctx, prefix, q, a, tm); err != nil {
			return nil, err
		}
		a.plans.mu.Lock()
		if a.plans.m == nil {
			a.plans.m = map[*tableMeta]*tablePlan{}
		}
		a.plans.m[tm] = tp
		a.plans.mu.Unlock()
	}
	if !tp.dec.Visible() {
		return nil, errTableNotFound
	}
	return tp, nil
}

func (s *Catalog) compilePlan(ctx context.Context, prefix string, q querier, a *nbAccess, tm *tableMeta) (*tablePlan, error) {
	cols := make([]string, len(tm.cols))
	for i, cm := range tm.cols {
		cols[i] = cm.c.ID
	}
	// The views that grants of this table are scoped to (a view deleted
	// since gives its grants nothing).
	views := map[string]*coffer.View{}
	for _, g := range a.grants {
		if g.ViewID == "" || g.TableID != tm.t.ID {
			continue
		}
		v, err := s.findViewRaw(ctx, q, prefix, tm, g.ViewID)
		switch {
		case err == nil:
			views[v.ID] = v
		case coffer.ErrorCode(err) != coffer.ENOTFOUND:
			return nil, err
		}
	}
	t := access.Table{ID: tm.t.ID, Columns: cols, View: func(id string) (*coffer.View, bool) {
		v, ok := views[id]
		return v, ok
	}}
	dec := access.Decide(a.subj, a.grants, t)
	p := access.Compile(dec, tm, a.subj.Env(), s.d, "t")
	tp := &tablePlan{dec: dec, p: p, tm: tm, from: tm.sql + " t", acc: a, prefix: prefix}
	if dec.Full {
		tp.cols, tp.names = tm.cols, tm.names
		return tp, nil
	}
	defer func() {
		tp.names = columnNames(tp.cols)
		tp.get = s.q("SELECT " + s.selectPlanned(tp, tp.cols) + " FROM " + tp.from + " WHERE " + tp.row() + " AND t.id = ?")
	}()
	if p.Select != "" {
		tp.from = "(SELECT t.*" + p.Select + " FROM " + tm.sql + " t) t"
		tp.args = p.Args
	}
	tp.fields = map[string]*filter.Field{}
	tp.partialLinks = map[string]bool{}
	for _, cm := range tm.cols {
		if cm.junction != "" && !allRowsVisible(a, tm.sc.byID[cm.c.Options.Table]) {
			// Links to a table the caller sees in part: the stored links
			// include hidden records, so filtering on them would reveal
			// those links. Refused (the values shown are filtered).
			tp.partialLinks[cm.c.ID] = true
		}
		// A column no condition gives read on is hidden in every row: left
		// out. One that some condition gives read on is shown, NULL where
		// that condition does not hold (everywhere, when it can never hold
		// for this caller).
		if !dec.Filterable(cm.c.ID) {
			continue
		}
		tp.cols = append(tp.cols, cm)
		m := p.Readable(cm.c.ID)
		if m == "" {
			tp.fields[cm.c.ID] = cm.field
			continue
		}
		f := *cm.field
		switch {
		case m == "1=0" && cm.field.IsList():
			f.Contains = func(string) string { return "1=0" }
			f.Empty = "1=1"
		case m == "1=0":
			f.SQL = "NULL"
			maskSort(&f, m)
		case cm.field.IsList():
			contains, empty := cm.field.Contains, cm.field.Empty
			f.Contains = func(ph string) string { return "(" + m + " AND " + contains(ph) + ")" }
			f.Empty = "(NOT " + m + " OR " + empty + ")"
		default:
			f.SQL = "CASE WHEN " + m + " THEN " + cm.field.SQL + " END"
			maskSort(&f, m) // a hidden cell sorts as NULL
		}
		tp.fields[cm.c.ID] = &f
	}
	return tp, nil
}

// row is the row predicate (no arguments of its own).
func (tp *tablePlan) row() string { return tp.p.Row }

// schema returns the filter schema of the caller's view of the table:
// masked cells are NULL, and columns hidden in every row do not exist.
func (tp *tablePlan) schema() *planSchema { return &planSchema{tp: tp} }

// planSchema is a filter.Schema over the caller's view of a table.
type planSchema struct {
	tp      *tablePlan
	partial []string // link columns to a table the caller sees in part
}

// Field implements filter.Schema. A column hidden from the caller in every
// row is, to them, a column that does not exist: by name or by id it is
// unknown (and its name, should it be a system field's, names that field),
// so filters, sorts and views answer exactly as for any unknown column.
func (ps *planSchema) Field(name string) (*filter.Field, bool) {
	tm := ps.tp.tm
	cm := tm.column(name)
	if cm == nil {
		return tm.Field(name) // system fields: visible with the row
	}
	if ps.tp.full() {
		return cm.field, true
	}
	if f, ok := ps.tp.fields[cm.c.ID]; ok {
		if ps.tp.partialLinks[cm.c.ID] {
			ps.partial = append(ps.partial, cm.c.Name)
		}
		return f, true
	}
	f, ok := tm.fields[name] // system fields only
	return f, ok
}

// check refuses a query that named link columns whose linked table the
// caller sees in part: filtering on them would reveal hidden links.
func (ps *planSchema) check(what string) error {
	if len(ps.partial) > 0 {
		return coffer.Errorf(coffer.EFORBIDDEN, "the %s uses the link column %q, whose linked table you see only in part: it cannot be used to filter or sort", what, ps.partial[0])
	}
	return nil
}

// visible returns the column of tm named (by name or id) idOrName if the
// caller may read it in some row, nil otherwise: a column hidden from
// them in every row is, to them, a column that does not exist.
func (tp *tablePlan) visible(idOrName string) *colMeta {
	cm := tp.tm.column(idOrName)
	if cm == nil || tp.full() {
		return cm
	}
	if _, ok := tp.fields[cm.c.ID]; !ok {
		return nil
	}
	return cm
}

// selectPlanned is the SELECT list of a record as the caller sees it: every
// column they may read somewhere, masked, automatic types included (they
// too may be hidden).
func (s *Catalog) selectPlanned(tp *tablePlan, cols []*colMeta) string {
	if tp.full() {
		return s.selectList(cols)
	}
	var b strings.Builder
	b.WriteString(systemCols)
	for _, cm := range cols {
		expr := cm.expr
		if cm.junction != "" {
			expr = s.d.LinkArray(cm.junction, "t.id")
		}
		b.WriteString(", " + tp.p.Mask(cm.c.ID, expr))
	}
	return b.String()
}

// scanPlanned reads a row of selectPlanned.
func scanPlanned(tp *tablePlan, row interface{ Scan(...any) error }, cols []*colMeta, order []string, extra ...any) (*coffer.Record, error) {
	if tp.full() {
		return scanRecord(row, cols, order, extra...)
	}
	return scanRecordAuto(row, cols, order, extra...)
}

// findPlanned reads one record as the caller sees it; a record outside
// their rows answers ENOTFOUND, exactly like a missing one.
func (s *Catalog) findPlanned(ctx context.Context, nc *nbConn, q querier, tp *tablePlan, id string) (*coffer.Record, error) {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, errRecordNotFound
	}
	args := append(append(make([]any, 0, len(tp.args)+1), tp.args...), id)
	var row *sql.Row
	if nc != nil && q == nc.db.R {
		// The query's text depends on the shape of the grants only (values
		// are arguments): prepared once, like the owner's.
		var err error
		if row, err = nc.db.queryRow(ctx, tp.get, args...); err != nil {
			return nil, err
		}
	} else {
		row = q.QueryRowContext(ctx, tp.get, args...)
	}
	r, err := scanPlanned(tp, row, tp.cols, tp.names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errRecordNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, s.filterLinks(ctx, q, tp, []*coffer.Record{r})
}

// condsOn evaluates every condition of the plan on one stored record: found
// is false when the record does not exist.
func (s *Catalog) condsOn(ctx context.Context, q querier, tp *tablePlan, id string) (found bool, vals []bool, err error) {
	n := len(tp.dec.Conds)
	sel := make([]string, 0, n+1)
	var args []any
	sel = append(sel, "t.id")
	for i := 0; i < n; i++ {
		c, a := tp.p.Cond(i)
		sel = append(sel, "CASE WHEN "+c+" THEN 1 ELSE 0 END")
		args = append(args, a...)
	}
	args = append(args, id)
	dest := make([]any, n+1)
	var got string
	ints := make([]int64, n)
	dest[0] = &got
	for i := range ints {
		dest[i+1] = &ints[i]
	}
	err = q.QueryRowContext(ctx, s.q("SELECT "+strings.Join(sel, ", ")+" FROM "+tp.tm.sql+" t WHERE t.id = ?"), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	vals = make([]bool, n)
	for i, v := range ints {
		vals[i] = v != 0
	}
	return true, vals, nil
}

// anyOf reports whether one of the conditions idx holds in vals.
func anyOf(vals []bool, idx []int) bool {
	for _, i := range idx {
		if vals[i] {
			return true
		}
	}
	return false
}

// keep returns the conditions of idx that hold in vals.
func keep(vals []bool, idx []int) []int {
	var out []int
	for _, i := range idx {
		if vals[i] {
			out = append(out, i)
		}
	}
	return out
}

// writeColumns returns the ids of the columns a write sets.
func writeColumns(as []assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.cm.c.ID
	}
	return out
}

// allConds is every condition of the plan: a row is visible when one holds.
func allConds(tp *tablePlan) []int {
	out := make([]int, len(tp.dec.Conds))
	for i := range out {
		out[i] = i
	}
	return out
}

// denied is the refusal of one operation of a write (field names the
// operation in a batch).
func denied(prefix, format string, args ...any) *opError {
	field := strings.TrimSuffix(prefix, ".")
	if field == "" {
		field = "record"
	}
	return &opError{coffer.EFORBIDDEN, []coffer.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// deniedFor names the columns of as that none of the conditions idx lets
// the caller write.
func deniedFor(tp *tablePlan, as []assignment, idx []int) string {
	var names []string
	for _, a := range as {
		ok := false
		for _, i := range idx {
			if tp.dec.Conds[i].Right(a.cm.c.ID) == access.Write {
				ok = true
				break
			}
		}
		if !ok {
			names = append(names, fmt.Sprintf("%q", a.cm.c.Name))
		}
	}
	if len(names) == 0 {
		return "you set together"
	}
	return strings.Join(names, ", ")
}

// describeCols names the columns of a write for a message.
func describeCols(as []assignment) string {
	if len(as) == 0 {
		return "anything"
	}
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = fmt.Sprintf("%q", a.cm.c.Name)
	}
	return "the columns " + strings.Join(names, ", ")
}

// readAs reads a record after a write: in full for a full plan, else as
// the caller sees it.
func (s *Catalog) readAs(ctx context.Context, q querier, tm *tableMeta, tp *tablePlan, id string) (*coffer.Record, error) {
	if tp.full() {
		return s.readRecord(ctx, q, tm, id)
	}
	return s.findPlanned(ctx, nil, q, tp, id)
}

// wrapNotFound wraps err for op, keeping ENOTFOUND as it is.
func (s *Catalog) wrapNotFound(op string, err error) error {
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return err
	}
	return s.wrap(op, err)
}

// visibleIDs returns which of ids are records of tm the caller may see.
func (s *Catalog) visibleIDs(ctx context.Context, q querier, a *nbAccess, prefix string, tm *tableMeta, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	tp, err := s.planWith(ctx, a, prefix, q, tm)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return out, nil // no row of it is visible
	}
	if err != nil {
		return nil, err
	}
	args := append([]any(nil), tp.args...)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, s.q("SELECT t.id FROM "+tp.from+" WHERE "+tp.row()+" AND t.id IN ("+placeholders(len(ids))+")"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// filterLinks removes, from records read through a restricted plan, the
// links to records of other tables the caller may not see: an id of a
// hidden record never reaches them.
func (s *Catalog) filterLinks(ctx context.Context, q querier, tp *tablePlan, recs []*coffer.Record) error {
	if tp.full() || len(recs) == 0 {
		return nil
	}
	for _, cm := range tp.cols {
		if cm.junction == "" {
			continue
		}
		target := tp.tm.sc.byID[cm.c.Options.Table]
		if target == nil {
			continue
		}
		if ttp, err := s.planWith(ctx, tp.acc, tp.prefix, q, target); err == nil && ttp.dec.AllRows() {
			continue // every record of the target is visible
		}
		var ids []string
		seen := map[string]bool{}
		for _, r := range recs {
			links, _ := r.Fields[cm.c.Name].([]string)
			for _, id := range links {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		visible, err := s.visibleIDs(ctx, q, tp.acc, tp.prefix, target, ids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			links, ok := r.Fields[cm.c.Name].([]string)
			if !ok {
				continue
			}
			kept := links[:0:0]
			for _, id := range links {
				if visible[id] {
					kept = append(kept, id)
				}
			}
			if len(kept) == 0 {
				r.Fields[cm.c.Name] = nil
			} else {
				r.Fields[cm.c.Name] = kept
			}
		}
	}
	return nil
}

// allRowsVisible reports whether the access a sees every row of tm (a role,
// or a grant without a row condition): then links to it hide nothing. A
// view-scoped grant counts as a condition.
func allRowsVisible(a *nbAccess, tm *tableMeta) bool {
	if tm == nil {
		return true
	}
	return access.Decide(a.subj, a.grants, access.Table{ID: tm.t.ID, View: func(string) (*coffer.View, bool) { return nil, false }}).AllRows()
}
