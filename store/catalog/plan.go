package catalog

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

// TablePlan is what the caller may do on one table, compiled for the
// queries of one request: the access engine's decision and SQL plan, the
// FROM source that adds the conditions' columns, and the filter schema
// that shows the caller's view of each column.
type TablePlan struct {
	Decision *access.Decision
	Plan     *access.Plan
	Table    *TableMeta
	From     string     // "<table> t", or a subquery aliased t
	Args     []any      // of from
	get      string     // the query reading one record by id (id last), rebound
	Cols     []*ColMeta // the columns the caller may read somewhere
	Names    []string   // their names, the field order of records
	Rights   *Rights    // the access it was compiled for, and the notebook's
	Prefix   string     // table prefix: for the plans of linked tables
	// masked fields by column id; nil for a full plan.
	Fields map[string]*filter.Field
	// partialLinks are link columns whose target the caller sees in part.
	partialLinks map[string]bool
}

// Full reports whether the caller sees and may change everything.
func (tp *TablePlan) Full() bool { return tp.Decision.Full }

// planCache holds the compiled plans of one nbAccess, by table.
type planCache struct {
	mu sync.Mutex
	m  map[*TableMeta]*TablePlan
}

var errTableNotFound = coffer.Errorf(coffer.ENOTFOUND, "table not found")

// Plan compiles (or returns the compiled) plan of the caller on tm. A table
// the caller may see no row of answers ENOTFOUND, like a missing one.
func (s *Catalog) Plan(ctx context.Context, nc *Conn, q Querier, tm *TableMeta) (*TablePlan, error) {
	return s.PlanWith(ctx, nc.Rights, nc.DB.Prefix, q, tm)
}

// PlanWith is plan for the access a to a notebook whose tables are
// qualified by prefix.
func (s *Catalog) PlanWith(ctx context.Context, a *Rights, prefix string, q Querier, tm *TableMeta) (*TablePlan, error) {
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
			a.plans.m = map[*TableMeta]*TablePlan{}
		}
		a.plans.m[tm] = tp
		a.plans.mu.Unlock()
	}
	if !tp.Decision.Visible() {
		return nil, errTableNotFound
	}
	return tp, nil
}

func (s *Catalog) compilePlan(ctx context.Context, prefix string, q Querier, a *Rights, tm *TableMeta) (*TablePlan, error) {
	cols := make([]string, len(tm.Cols))
	for i, cm := range tm.Cols {
		cols[i] = cm.Column.ID
	}
	views, err := s.grantViews(ctx, prefix, q, a, tm)
	if err != nil {
		return nil, err
	}
	t := access.Table{ID: tm.Table.ID, Columns: cols, View: func(id string) (*coffer.View, bool) {
		v, ok := views[id]
		return v, ok
	}}
	dec := access.Decide(a.Subj, a.Grants, t)
	hideGone(dec, tm) // snapshot.go
	p := access.Compile(dec, tm, a.Subj.Env(), s.Dialect, "t")
	tp := &TablePlan{Decision: dec, Plan: p, Table: tm, From: tm.SQL + " t", Rights: a, Prefix: prefix}
	if dec.Full {
		tp.Cols, tp.Names = tm.Cols, tm.Names
		return tp, nil
	}
	defer func() {
		tp.Names = ColumnNames(tp.Cols)
		tp.get = s.Rebind("SELECT " + s.SelectPlanned(tp, tp.Cols) + " FROM " + tp.From + " WHERE " + tp.Row() + " AND t.id = ?")
	}()
	if p.Select != "" {
		tp.From = "(SELECT t.*" + p.Select + " FROM " + tm.SQL + " t) t"
		tp.Args = p.Args
	}
	tp.Fields = map[string]*filter.Field{}
	tp.partialLinks = map[string]bool{}
	for _, cm := range tm.Cols {
		if cm.Junction != "" && !allRowsVisible(a, tm.Schema.ByID[cm.Column.Options.Table]) {
			// Links to a table the caller sees in part: the stored links
			// include hidden records, so filtering on them would reveal
			// those links. Refused (the values shown are filtered).
			tp.partialLinks[cm.Column.ID] = true
		}
		// A column no condition gives read on is hidden in every row: left
		// out. One that some condition gives read on is shown, NULL where
		// that condition does not hold (everywhere, when it can never hold
		// for this caller).
		if !dec.Filterable(cm.Column.ID) {
			continue
		}
		tp.Cols = append(tp.Cols, cm)
		m := p.Readable(cm.Column.ID)
		if m == "" {
			tp.Fields[cm.Column.ID] = cm.field
			continue
		}
		tp.Fields[cm.Column.ID] = maskedField(cm.field, m)
	}
	return tp, nil
}

// grantViews reads the views that the caller's grants on table tm are
// scoped to (a view deleted since gives its grants nothing).
func (s *Catalog) grantViews(ctx context.Context, prefix string, q Querier, a *Rights, tm *TableMeta) (map[string]*coffer.View, error) {
	views := map[string]*coffer.View{}
	for _, g := range a.Grants {
		if g.ViewID == "" || g.TableID != tm.Table.ID {
			continue
		}
		v, err := s.FindViewRaw(ctx, q, prefix, tm, g.ViewID)
		switch {
		case err == nil:
			views[v.ID] = v
		case coffer.ErrorCode(err) != coffer.ENOTFOUND:
			return nil, err
		}
	}
	return views, nil
}

// maskedField is the field of a column shown where m holds and masked
// elsewhere (m "1=0": masked everywhere): a masked cell is NULL, and sorts
// as NULL.
func maskedField(field *filter.Field, m string) *filter.Field {
	f := *field
	switch {
	case m == "1=0" && field.IsList():
		f.Contains = func(string) string { return "1=0" }
		f.Empty = "1=1"
	case m == "1=0":
		f.SQL = "NULL"
		maskSort(&f, m)
	case field.IsList():
		contains, empty := field.Contains, field.Empty
		f.Contains = func(ph string) string { return "(" + m + " AND " + contains(ph) + ")" }
		f.Empty = "(NOT " + m + " OR " + empty + ")"
	default:
		f.SQL = "CASE WHEN " + m + " THEN " + field.SQL + " END"
		maskSort(&f, m) // a hidden cell sorts as NULL
	}
	return &f
}

// Row is the row predicate (no arguments of its own).
func (tp *TablePlan) Row() string { return tp.Plan.Row }

// Schema returns the filter schema of the caller's view of the table:
// masked cells are NULL, and columns hidden in every row do not exist.
func (tp *TablePlan) Schema() *planSchema { return &planSchema{tp: tp} }

// planSchema is a filter.Schema over the caller's view of a table.
type planSchema struct {
	tp      *TablePlan
	partial []string // link columns to a table the caller sees in part
}

// Field implements filter.Schema. A column hidden from the caller in every
// row is, to them, a column that does not exist: by name or by id it is
// unknown (and its name, should it be a system field's, names that field),
// so filters, sorts and views answer exactly as for any unknown column.
func (ps *planSchema) Field(name string) (*filter.Field, bool) {
	tm := ps.tp.Table
	cm := tm.Column(name)
	if cm == nil {
		return tm.Field(name) // system fields: visible with the row
	}
	if ps.tp.Full() {
		return cm.field, true
	}
	if f, ok := ps.tp.Fields[cm.Column.ID]; ok {
		if ps.tp.partialLinks[cm.Column.ID] {
			ps.partial = append(ps.partial, cm.Column.Name)
		}
		return f, true
	}
	f, ok := tm.Fields[name] // system fields only
	return f, ok
}

// Check refuses a query that named link columns whose linked table the
// caller sees in part: filtering on them would reveal hidden links.
func (ps *planSchema) Check(what string) error {
	if len(ps.partial) > 0 {
		return coffer.Errorf(coffer.EFORBIDDEN, "the %s uses the link column %q, whose linked table you see only in part: it cannot be used to filter or sort", what, ps.partial[0])
	}
	return nil
}

// Visible returns the column of tm named (by name or id) idOrName if the
// caller may read it in some row, nil otherwise: a column hidden from
// them in every row is, to them, a column that does not exist.
func (tp *TablePlan) Visible(idOrName string) *ColMeta {
	cm := tp.Table.Column(idOrName)
	if cm == nil || tp.Full() {
		return cm
	}
	if _, ok := tp.Fields[cm.Column.ID]; !ok {
		return nil
	}
	return cm
}

// SelectPlanned is the SELECT list of a record as the caller sees it: every
// column they may read somewhere, masked, automatic types included (they
// too may be hidden).
func (s *Catalog) SelectPlanned(tp *TablePlan, cols []*ColMeta) string {
	if tp.Full() {
		return s.selectList(cols)
	}
	var b strings.Builder
	b.WriteString(systemCols)
	for _, cm := range cols {
		expr := cm.expr
		if cm.Junction != "" {
			expr = s.Dialect.LinkArray(cm.Junction, "t.id")
		}
		b.WriteString(", " + tp.Plan.Mask(cm.Column.ID, expr))
	}
	return b.String()
}

// ScanPlanned reads a row of selectPlanned.
func ScanPlanned(tp *TablePlan, row interface{ Scan(...any) error }, cols []*ColMeta, order []string, extra ...any) (*coffer.Record, error) {
	if tp.Full() {
		return ScanRecord(row, cols, order, extra...)
	}
	return scanRecordAuto(row, cols, order, extra...)
}

// FindPlanned reads one record as the caller sees it; a record outside
// their rows answers ENOTFOUND, exactly like a missing one.
func (s *Catalog) FindPlanned(ctx context.Context, nc *Conn, q Querier, tp *TablePlan, id string) (*coffer.Record, error) {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, ErrRecordNotFound
	}
	args := append(append(make([]any, 0, len(tp.Args)+1), tp.Args...), id)
	var row *sql.Row
	if nc != nil && q == nc.DB.R {
		// The query's text depends on the shape of the grants only (values
		// are arguments): prepared once, like the owner's.
		var err error
		if row, err = nc.DB.QueryRow(ctx, tp.get, args...); err != nil {
			return nil, err
		}
	} else {
		row = q.QueryRowContext(ctx, tp.get, args...)
	}
	r, err := ScanPlanned(tp, row, tp.Cols, tp.Names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrRecordNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, s.FilterLinks(ctx, q, tp, []*coffer.Record{r})
}

// CondsOn evaluates every condition of the plan on one stored record: found
// is false when the record does not exist.
func (s *Catalog) CondsOn(ctx context.Context, q Querier, tp *TablePlan, id string) (found bool, vals []bool, err error) {
	n := len(tp.Decision.Conds)
	sel := make([]string, 0, n+1)
	var args []any
	sel = append(sel, "t.id")
	for i := 0; i < n; i++ {
		c, a := tp.Plan.Cond(i)
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
	err = q.QueryRowContext(ctx, s.Rebind("SELECT "+strings.Join(sel, ", ")+" FROM "+tp.Table.SQL+" t WHERE t.id = ?"), args...).Scan(dest...)
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

// AnyOf reports whether one of the conditions idx holds in vals.
func AnyOf(vals []bool, idx []int) bool {
	for _, i := range idx {
		if vals[i] {
			return true
		}
	}
	return false
}

// Keep returns the conditions of idx that hold in vals.
func Keep(vals []bool, idx []int) []int {
	var out []int
	for _, i := range idx {
		if vals[i] {
			out = append(out, i)
		}
	}
	return out
}

// WriteColumns returns the ids of the columns a write sets.
func WriteColumns(as []Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Col.Column.ID
	}
	return out
}

// AllConds is every condition of the plan: a row is visible when one holds.
func AllConds(tp *TablePlan) []int {
	out := make([]int, len(tp.Decision.Conds))
	for i := range out {
		out[i] = i
	}
	return out
}

// Denied is the refusal of one operation of a write (field names the
// operation in a batch).
func Denied(prefix, format string, args ...any) *OpError {
	field := strings.TrimSuffix(prefix, ".")
	if field == "" {
		field = "record"
	}
	return &OpError{coffer.EFORBIDDEN, []coffer.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// DeniedFor names the columns of as that none of the conditions idx lets
// the caller write.
func DeniedFor(tp *TablePlan, as []Assignment, idx []int) string {
	var names []string
	for _, a := range as {
		ok := false
		for _, i := range idx {
			if tp.Decision.Conds[i].Right(a.Col.Column.ID) == access.Write {
				ok = true
				break
			}
		}
		if !ok {
			names = append(names, fmt.Sprintf("%q", a.Col.Column.Name))
		}
	}
	if len(names) == 0 {
		return "you set together"
	}
	return strings.Join(names, ", ")
}

// DescribeCols names the columns of a write for a message.
func DescribeCols(as []Assignment) string {
	if len(as) == 0 {
		return "anything"
	}
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = fmt.Sprintf("%q", a.Col.Column.Name)
	}
	return "the columns " + strings.Join(names, ", ")
}

// ReadAs reads a record after a write: in full for a full plan, else as
// the caller sees it.
func (s *Catalog) ReadAs(ctx context.Context, q Querier, tm *TableMeta, tp *TablePlan, id string) (*coffer.Record, error) {
	if tp.Full() {
		return s.readRecord(ctx, q, tm, id)
	}
	return s.FindPlanned(ctx, nil, q, tp, id)
}

// WrapNotFound wraps err for op, keeping ENOTFOUND as it is.
func (s *Catalog) WrapNotFound(op string, err error) error {
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return err
	}
	return s.Wrap(op, err)
}

// VisibleIDs returns which of ids are records of tm the caller may see.
func (s *Catalog) VisibleIDs(ctx context.Context, q Querier, a *Rights, prefix string, tm *TableMeta, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	tp, err := s.PlanWith(ctx, a, prefix, q, tm)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return out, nil // no row of it is visible
	}
	if err != nil {
		return nil, err
	}
	args := append([]any(nil), tp.Args...)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT t.id FROM "+tp.From+" WHERE "+tp.Row()+" AND t.id IN ("+Placeholders(len(ids))+")"), args...)
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

// FilterLinks removes, from records read through a restricted plan, the
// links to records of other tables the caller may not see: an id of a
// hidden record never reaches them.
func (s *Catalog) FilterLinks(ctx context.Context, q Querier, tp *TablePlan, recs []*coffer.Record) error {
	if tp.Full() || len(recs) == 0 {
		return nil
	}
	for _, cm := range tp.Cols {
		if cm.Junction == "" {
			continue
		}
		target := tp.Table.Schema.ByID[cm.Column.Options.Table]
		if target == nil {
			continue
		}
		if ttp, err := s.PlanWith(ctx, tp.Rights, tp.Prefix, q, target); err == nil && ttp.Decision.AllRows() {
			continue // every record of the target is visible
		}
		var ids []string
		seen := map[string]bool{}
		for _, r := range recs {
			links, _ := r.Fields[cm.Column.Name].([]string)
			for _, id := range links {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		visible, err := s.VisibleIDs(ctx, q, tp.Rights, tp.Prefix, target, ids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			links, ok := r.Fields[cm.Column.Name].([]string)
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
				r.Fields[cm.Column.Name] = nil
			} else {
				r.Fields[cm.Column.Name] = kept
			}
		}
	}
	return nil
}

// allRowsVisible reports whether the access a sees every row of tm (a role,
// or a grant without a row condition): then links to it hide nothing. A
// view-scoped grant counts as a condition.
func allRowsVisible(a *Rights, tm *TableMeta) bool {
	if tm == nil {
		return true
	}
	return access.Decide(a.Subj, a.Grants, access.Table{ID: tm.Table.ID, View: func(string) (*coffer.View, bool) { return nil, false }}).AllRows()
}
