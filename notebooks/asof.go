package notebooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// Time travel (coffer.TimeTravelService): a record or a table as it was at
// a past moment, rebuilt from the current rows and the history (see
// history/asof.go), in today's columns. A value from before a change of
// its column's type is shown converted as that change converted the
// column (empty where it would not convert); columns deleted since are
// not shown, columns created since are empty.
//
// The access rules of now apply to the past state: a record is shown when
// one of the caller's conditions that gives the history capability holds
// on it as it was, a cell when one that gives read on its column holds
// there; columns hidden from the caller now stay hidden, and links to
// records the caller may not see now are left out. Filters and sorts are
// evaluated in Go (filter.Eval, the reference evaluator with the
// semantics of the SQL) on the past state as the caller sees it.

// pastRow is one record as it was at a past moment.
type pastRow struct {
	id        string
	vals      map[string]any // storage form by column id (today's columns, automatic ones excluded)
	created   int64
	createdBy string
	version   int64
	updated   int64
	updatedBy string
	changed   bool   // some cell of it changed after the moment
	conds     []bool // the plan's conditions that hold on it (nil for a full plan)
}

// timeTravel is one reconstruction: the table, the caller's plan on it,
// the moment and the changes of column types since.
type timeTravel struct {
	s       *Service
	q       history.Querier
	prefix  string
	tm      *catalog.TableMeta
	tp      *catalog.TablePlan
	env     filter.Env
	point   history.Point    // with the retypes since
	readers map[string][]int // conditions that give read, by column id
	history []int            // conditions that give the history capability
}

// newTimeTravel resolves the moment at and prepares the reconstruction of
// tm at it, for a caller who has the history capability on the table.
func (s *Service) newTimeTravel(ctx context.Context, q history.Querier, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, at *coffer.AsOf, field string) (*timeTravel, error) {
	if !tp.Decision.Can(access.CapHistory) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "you may not see the history of this table")
	}
	if at == nil {
		return nil, coffer.Invalid("the moment is missing", coffer.FieldError{Field: field, Message: "is required"})
	}
	point, err := history.Resolve(ctx, s.Core, q, tp.Prefix, tm.Table.ID, at, sc.Settings, field)
	if err != nil {
		return nil, err
	}
	tt := &timeTravel{s: s, q: q, prefix: tp.Prefix, tm: tm, tp: tp, env: tp.Rights.Subj.Env(), point: point}
	if !tp.Full() {
		tt.readers = map[string][]int{}
		for _, cm := range tm.Cols {
			tt.readers[cm.Column.ID] = tp.Decision.Readers(cm.Column.ID)
		}
		tt.history = tp.Decision.With(access.CapHistory)
	}
	return tt, nil
}

// build rebuilds one record from its state now (nil: it does not exist
// now) and the first change of each of its cells after the moment; nil
// when it did not exist then.
func (tt *timeTravel) build(id string, cur *coffer.Record, cells history.Cells) *pastRow {
	r := &pastRow{id: id, vals: make(map[string]any, len(tt.tm.Cols)), changed: len(cells) > 0}
	if f, ok := cells[""]; ok {
		var meta history.RecordMeta
		if f.Old == nil || json.Unmarshal([]byte(*f.Old), &meta) != nil {
			return nil
		}
		r.created, r.createdBy = meta.CreatedAt, meta.CreatedBy
	} else if cur == nil {
		return nil
	} else {
		r.created, r.createdBy = cur.CreatedAt.UnixMicro(), cur.CreatedBy
	}
	r.version, r.updated, r.updatedBy = 1, r.created, r.createdBy
	if cur != nil && !r.changed {
		r.version, r.updated, r.updatedBy = cur.Version, cur.UpdatedAt.UnixMicro(), cur.UpdatedBy
	}
	for _, cm := range tt.tm.Cols {
		c := cm.Column
		if c.Type.Automatic() {
			continue
		}
		var v any
		if f, ok := cells[c.ID]; ok {
			v = tt.forward(c.ID, f)
		} else if cur != nil {
			v = cur.Fields[c.Name]
		}
		if v == nil {
			continue
		}
		if st, err := value.FromJSON(c, v); err == nil && st != nil {
			r.vals[c.ID] = st
		}
	}
	if !tt.tp.Full() {
		r.conds = tt.conds(r)
	}
	return r
}

// forward decodes the value a cell had before change f and converts it
// through the changes of its column's type from f on: the value in the
// form of today's column (nil when empty or not convertible).
func (tt *timeTravel) forward(colID string, f history.First) any {
	if f.Old == nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(*f.Old))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	// A list of strings (choices, linked ids) as []string; a list of
	// objects (a file cell's files) stays as it is.
	if l, ok := v.([]any); ok && !slices.ContainsFunc(l, func(x any) bool { _, str := x.(string); return !str }) {
		s := make([]string, 0, len(l))
		for _, x := range l {
			if str, ok := x.(string); ok {
				s = append(s, str)
			}
		}
		v = s
	}
	for _, rt := range tt.point.Retypes {
		if rt.Seq < f.Seq || rt.From.ID != colID || v == nil {
			continue
		}
		if rt.From.Type == rt.To.Type && optionsEqual(rt.From.Options, rt.To.Options) {
			continue
		}
		st, err := value.FromJSON(rt.From, v)
		if err == nil {
			st, err = value.Convert(rt.From, rt.To, st)
		}
		if err != nil {
			return nil
		}
		v = value.ToJSON(rt.To, st)
	}
	return v
}

// conds evaluates the caller's conditions on a past row (unmasked).
func (tt *timeTravel) conds(r *pastRow) []bool {
	sch := pastSchema{base: tt.tm, tm: tt.tm}
	out := make([]bool, len(tt.tp.Decision.Conds))
	for i, c := range tt.tp.Decision.Conds {
		if c.Expr == nil {
			out[i] = true
			continue
		}
		ok, err := filter.Eval(c.Expr, sch, tt.env, tt.rowFunc(r, false))
		out[i] = err == nil && ok
	}
	return out
}

// visible reports whether the caller may see a past row in history.
func (tt *timeTravel) visible(r *pastRow) bool {
	return r.conds == nil || catalog.AnyOf(r.conds, tt.history)
}

// readable reports whether the caller may read a cell of a past row.
func (tt *timeTravel) readable(r *pastRow, colID string) bool {
	return r.conds == nil || catalog.AnyOf(r.conds, tt.readers[colID])
}

// rowFunc returns the values of a past row for filter.Eval, by the names
// pastSchema gives fields; masked (for the caller's own filters), a cell
// they may not read is empty.
func (tt *timeTravel) rowFunc(r *pastRow, masked bool) func(string) any {
	return func(name string) any {
		switch name {
		case "id":
			return r.id
		case "created_at":
			return r.created
		case "created_by":
			return r.createdBy
		case "updated_at":
			return r.updated
		case "updated_by":
			return r.updatedBy
		}
		id, ok := strings.CutPrefix(name, "col:")
		cm := tt.tm.Column(id)
		if !ok || cm == nil || (masked && !tt.readable(r, id)) {
			return nil
		}
		v := tt.stored(r, cm.Column)
		if cm.Column.Type == coffer.TypeMultiSelect && v != nil {
			return value.ToJSON(cm.Column, v) // a list, as filters see lists
		}
		return v
	}
}

// stored returns the storage value of column c in a past row.
func (tt *timeTravel) stored(r *pastRow, c *coffer.Column) any {
	switch c.Type {
	case coffer.TypeCreatedAt:
		return r.created
	case coffer.TypeCreatedBy:
		return r.createdBy
	case coffer.TypeUpdatedAt:
		return r.updated
	case coffer.TypeUpdatedBy:
		return r.updatedBy
	}
	return r.vals[c.ID]
}

// record returns a past row as the caller sees it, with the columns cols.
func (tt *timeTravel) record(r *pastRow, cols []*catalog.ColMeta, names []string) *coffer.Record {
	out := &coffer.Record{ID: r.id, Version: r.version, CreatedAt: store.FromMicros(r.created), CreatedBy: r.createdBy,
		UpdatedAt: store.FromMicros(r.updated), UpdatedBy: r.updatedBy, Fields: make(map[string]any, len(cols)), Order: names}
	for _, cm := range cols {
		var v any
		if tt.readable(r, cm.Column.ID) {
			v = value.ToJSON(cm.Column, tt.stored(r, cm.Column))
		}
		out.Fields[cm.Column.Name] = v
	}
	return out
}

// pastSchema is a filter.Schema that names fields for rowFunc: a user
// column "col:<id>", a system field by its name. base gives the fields
// (the caller's view of the table, or the table itself for conditions);
// visible, when set, says which columns base shows.
type pastSchema struct {
	base    filter.Schema
	tm      *catalog.TableMeta
	visible func(name string) bool
}

// Field implements filter.Schema.
func (ps pastSchema) Field(name string) (*filter.Field, bool) {
	f, ok := ps.base.Field(name)
	if !ok {
		return nil, false
	}
	g := *f
	if cm := ps.tm.Column(name); cm != nil && (ps.visible == nil || ps.visible(name)) {
		g.Name = "col:" + cm.Column.ID
	}
	return &g, true
}

// readRecordAt rebuilds one record at the moment; nil when it did not
// exist then.
func (tt *timeTravel) readRecordAt(ctx context.Context, id string) (*pastRow, *coffer.Record, error) {
	cur, err := catalog.ScanRecord(tt.q.QueryRowContext(ctx, tt.tm.GetSQL, id), tt.tm.Cols, tt.tm.Names)
	if err == sql.ErrNoRows {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cells, err := history.RecordChanges(ctx, tt.s.Core, tt.q, tt.prefix, tt.tm.Table.ID, id, tt.point.Seq)
	if err != nil {
		return nil, nil, err
	}
	r := tt.build(id, cur, cells)
	if r != nil && r.changed {
		if err := tt.revisions(ctx, []*pastRow{r}); err != nil {
			return nil, nil, err
		}
	}
	return r, cur, nil
}

// SetAsOfLimit bounds the records a table rebuilt at a past moment may
// hold (0: coffer.MaxAsOfRows); for tests.
func (s *Service) SetAsOfLimit(n int) { s.asOfRows.Store(int64(n)) }

func (s *Service) asOfLimit() int {
	if n := s.asOfRows.Load(); n > 0 {
		return int(n)
	}
	return coffer.MaxAsOfRows
}

// readTableAt rebuilds every record of the table that existed at the
// moment, by id, and returns the records of now by id too. It refuses
// (EASOFTOOLARGE) to consider more than asOfLimit records: those of now
// and those changed since (deleted since, among others).
func (tt *timeTravel) readTableAt(ctx context.Context) (map[string]*pastRow, map[string]*coffer.Record, error) {
	limit := tt.s.asOfLimit()
	cur := map[string]*coffer.Record{}
	rows, err := tt.q.QueryContext(ctx, tt.tm.AllSQL)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		r, err := catalog.ScanRecord(rows, tt.tm.Cols, tt.tm.Names)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		if cur[r.ID] = r; len(cur) > limit {
			rows.Close()
			return nil, nil, history.TooLarge(limit)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	changes, err := history.TableChanges(ctx, tt.s.Core, tt.q, tt.prefix, tt.tm.Table.ID, tt.point.Seq, limit)
	if err != nil {
		return nil, nil, err
	}
	past := make(map[string]*pastRow, len(cur))
	var changed []*pastRow
	add := func(id string) {
		if r := tt.build(id, cur[id], changes[id]); r != nil {
			past[id] = r
			if r.changed {
				changed = append(changed, r)
			}
		}
	}
	for id := range cur {
		add(id)
	}
	n := len(cur)
	for id := range changes {
		if cur[id] == nil {
			if n++; n > limit {
				return nil, nil, history.TooLarge(limit)
			}
			add(id)
		}
	}
	return past, cur, tt.revisions(ctx, changed)
}

// revisions sets the version and last change of past rows that changed
// since the moment from the history up to it: the number of actions that
// touched the record, and the last of them.
func (tt *timeTravel) revisions(ctx context.Context, rs []*pastRow) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	revs, err := history.Revisions(ctx, tt.s.Core, tt.q, tt.prefix, tt.tm.Table.ID, ids, tt.point.Seq)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if rev, ok := revs[r.id]; ok {
			r.version, r.updated, r.updatedBy = max(rev.Count, 1), rev.At, rev.Actor
		}
	}
	return nil
}

// asOfRead runs fn on one snapshot of the notebook: the schema (the
// cached one while it is current), the table, the caller's plan.
func (s *Service) asOfRead(ctx context.Context, op, notebook, table string, fn func(nc *catalog.Conn, tx *sql.Tx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan) error) error {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer nc.Release()
	release, err := s.readSlot(ctx, nc)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer release()
	tx, err := nc.DB.R.BeginTx(ctx, &sql.TxOptions{Isolation: nc.DB.SnapshotIsolation})
	if err != nil {
		return s.Wrap(op, err)
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM "+nc.DB.Prefix+"_schema_version"+s.Dialect.LockRows(false)).Scan(&v); err != nil {
		return s.Wrap(op, err)
	}
	sc := nc.Schema
	if v != sc.Version() {
		s.Schemas.Invalidate(nc.Notebook.ID)
		if sc, err = s.LoadSchema(ctx, nc.Notebook.ID, nc.DB.Prefix, tx); err != nil {
			return s.Wrap(op, err)
		}
	}
	tm, err := sc.Table(table)
	if err != nil {
		return err
	}
	tp, err := s.Plan(ctx, nc, tx, tm)
	if err != nil {
		return s.WrapNotFound(op, err)
	}
	return s.WrapNotFound(op, fn(nc, tx, sc, tm, tp))
}

// FindRecordAsOf returns a record as it was at a past moment.
func (s *Service) FindRecordAsOf(ctx context.Context, notebook, table, id string, at *coffer.AsOf) (*coffer.Record, error) {
	var out *coffer.Record
	err := s.asOfRead(ctx, "FindRecordAsOf", notebook, table, func(nc *catalog.Conn, tx *sql.Tx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan) error {
		tt, err := s.newTimeTravel(ctx, tx, sc, tm, tp, at, "as_of")
		if err != nil {
			return err
		}
		if !coffer.ValidID(coffer.PrefixRecord, id) {
			return catalog.ErrRecordNotFound
		}
		r, _, err := tt.readRecordAt(ctx, id)
		if err != nil {
			return err
		}
		if r == nil || !tt.visible(r) {
			return catalog.ErrRecordNotFound
		}
		out = tt.record(r, tp.Cols, tp.Names)
		if err := s.FilterLinks(ctx, tx, tp, []*coffer.Record{out}); err != nil {
			return err
		}
		if err := openRecords(ctx, tm, []*coffer.Record{out}); err != nil {
			return err
		}
		s.noteRead(ctx, nc, tm.Table.ID, out)
		return nil
	})
	return out, err
}
