package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// Revert (coffer.TimeTravelService): cells, records or a table set back to
// their state at a past moment (see asof.go), as one new action of kind
// revert. Only the cells that differ are written, so later changes to
// other cells stay. Every write goes through the paths of ordinary writes
// (updateTx, deleteTx, recreateTx) and so through the access engine. A
// revert needs the history capability too: it writes values the caller
// reads from the past. Cells the caller may not read at that moment (or
// now) are left as they are.

// recreateTx inserts a record with a given id and creation metadata: a
// record that a revert (or a restore) brings back. It passes the access
// engine as createTx does: the create capability, write on every column it
// sets, and a match on the new record.
func (s *Service) recreateTx(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by, id string, meta history.RecordMeta, fields map[string]any, prefix string) (*catalog.OpError, error) {
	as, errs := prepareFields(tp, fields, prefix)
	if len(errs) > 0 {
		return &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	var allowed []int
	if !tp.Full() {
		creators := tp.Decision.With(access.CapCreate)
		if len(creators) == 0 {
			return catalog.Denied(prefix, "you may not create records in this table"), nil
		}
		allowed = slices.DeleteFunc(tp.Decision.Writers(catalog.WriteColumns(as)), func(i int) bool { return !slices.Contains(creators, i) })
		if len(allowed) == 0 {
			return catalog.Denied(prefix, "you may not set the columns %s when creating a record", catalog.DeniedFor(tp, as, creators)), nil
		}
	}
	if err := s.filesKept(ctx, tx, tp.Prefix, as); err != nil {
		return nil, err
	}
	now := s.NowMicros()
	cols := []string{"id", "version", "created_at", "created_by", "updated_at", "updated_by"}
	args := []any{id, 1, meta.CreatedAt, meta.CreatedBy, now, by}
	for _, a := range as {
		if a.Col.Phys != "" {
			cols = append(cols, a.Col.Phys)
			args = append(args, a.Value)
		}
		if a.Col.Key != "" {
			cols = append(cols, a.Col.Key)
			args = append(args, catalog.KeyOf(a.Value))
		}
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+tm.SQL+" ("+strings.Join(cols, ", ")+") VALUES ("+catalog.Placeholders(len(args))+")"), args...); err != nil {
		return nil, err
	}
	if errs, err := s.writeLinks(ctx, tx, sc, tp, id, as, prefix, true); err != nil || len(errs) > 0 {
		if err != nil {
			return nil, err
		}
		return &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	rec.Created(tm.Table.ID, id, meta)
	for _, a := range as {
		rec.Cell(tm.Table.ID, id, a.Col.Column.ID, nil, value.ToJSON(a.Col.Column, a.Value))
	}
	if !tp.Full() {
		_, vals, err := s.CondsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !catalog.AnyOf(vals, allowed) {
			return catalog.Denied(prefix, "the record would be outside the rows you may create"), nil
		}
	}
	return nil, nil
}

// revertColumns resolves the columns a revert names (every column the
// caller may read when none); explicit reports that they were named.
func revertColumns(tp *catalog.TablePlan, names []string) (cols []*catalog.ColMeta, err error) {
	if len(names) == 0 {
		for _, cm := range tp.Cols {
			if !cm.Column.Type.Automatic() {
				cols = append(cols, cm)
			}
		}
		return cols, nil
	}
	var errs []coffer.FieldError
	for i, n := range names {
		cm := tp.Visible(n)
		switch {
		case cm == nil:
			errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("columns[%d]", i), Message: "is not a column of this table"})
		case cm.Column.Type.Automatic():
			errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("columns[%d]", i), Message: "is set automatically and cannot be reverted"})
		case !slices.Contains(cols, cm):
			cols = append(cols, cm)
		}
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the columns are not valid", errs...)
	}
	return cols, nil
}

// revertFields returns the fields that set a record (now, nil when it
// does not exist) back to the past row: the cells of cols that differ and
// that the caller could read then. Links to records that no longer exist
// are left out.
func (s *Service) revertFields(ctx context.Context, tx *store.WriteTx, tt *timeTravel, past *pastRow, cols []*catalog.ColMeta, now *coffer.Record) (map[string]any, error) {
	fields := map[string]any{}
	for _, cm := range cols {
		c := cm.Column
		if !tt.readable(past, c.ID) {
			continue
		}
		v := value.ToJSON(c, past.vals[c.ID])
		if ids, ok := v.([]string); ok && cm.Junction != "" {
			kept, err := s.existingLinks(ctx, tx, tt.tm, c, ids)
			if err != nil {
				return nil, err
			}
			v = nil
			if len(kept) > 0 {
				v = kept
			}
		}
		var cur any
		if now != nil {
			cur = now.Fields[c.Name]
		}
		if !sameJSON(v, cur) {
			fields[c.ID] = v
		}
	}
	return fields, nil
}

// existingLinks keeps the ids of link column c that are records now.
func (s *Service) existingLinks(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, c *coffer.Column, ids []string) ([]string, error) {
	target := tm.Schema.ByID[c.Options.Table]
	if target == nil {
		return nil, nil
	}
	found, err := s.existingIDs(ctx, tx, target, ids)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !found[id] }), nil
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// writeRevert writes the revert's action now (so that its sequence number
// can be answered) and stops rec, so that recordWrite writes nothing more.
func (s *Service) writeRevert(ctx context.Context, tx *store.WriteTx, tp *catalog.TablePlan, sc *catalog.Schema, rec *history.Recorder) (int64, error) {
	defer rec.Off()
	if NoHistory.Load() {
		return 0, nil
	}
	return history.Write(ctx, s.Core, tx, tp.Prefix, rec, sc.Settings.History)
}

// opError turns the failure of one write of a revert into an error.
func opError(oe *catalog.OpError) error {
	if oe.Code == coffer.ENOTFOUND {
		return catalog.ErrRecordNotFound
	}
	return &coffer.Error{Code: oe.Code, Message: "the revert cannot be written: " + oe.Fields[0].Message, Fields: oe.Fields}
}

// versionOf reads a record's version after a write.
func (s *Service) versionOf(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, id string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, s.Rebind("SELECT version FROM "+tm.SQL+" WHERE id = ?"), id).Scan(&v)
	return v, err
}

// describe names the moment of a revert for its summary.
func (tt *timeTravel) describe() string {
	if tt.point.At == 0 {
		return "before the first action"
	}
	return fmt.Sprintf("action %d (%s)", tt.point.Seq, store.FromMicros(tt.point.At).Format("2006-01-02 15:04:05Z"))
}

// RevertRecord sets cells of a record back to a past moment.
func (s *Service) RevertRecord(ctx context.Context, notebook, table, id string, in coffer.RevertInput) (*coffer.RevertResult, error) {
	res := &coffer.RevertResult{Updated: []string{}, Restored: []string{}, Deleted: []string{}}
	err := s.recordWrite(ctx, notebook, table, "RevertRecord", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		tt, err := s.newTimeTravel(ctx, tx, sc, tm, tp, in.To, "to")
		if err != nil {
			return nil, err
		}
		cols, err := revertColumns(tp, in.Columns)
		if err != nil {
			return nil, err
		}
		if !coffer.ValidID(coffer.PrefixRecord, id) {
			return nil, catalog.ErrRecordNotFound
		}
		past, cur, err := tt.readRecordAt(ctx, id)
		if err != nil {
			return nil, err
		}
		if past != nil && !tt.visible(past) {
			return nil, catalog.ErrRecordNotFound // its past is hidden from the caller
		}
		rec.Begin(history.KindRevert, tm.Table.ID, fmt.Sprintf("reverted a record of %s to %s", tm.Table.Name, tt.describe()))
		ev, err := s.revertOne(ctx, tx, tt, sc, by, rec, id, past, cur, cols, len(in.Columns) > 0, res)
		if err != nil {
			return nil, err
		}
		if res.Seq, err = s.writeRevert(ctx, tx, tp, sc, rec); err != nil {
			return nil, err
		}
		return ev, nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// revertOne sets one record back to its past row (nil: it did not exist
// then) from its state now (nil: it does not exist now).
func (s *Service) revertOne(ctx context.Context, tx *store.WriteTx, tt *timeTravel, sc *catalog.Schema, by string, rec *history.Recorder, id string, past *pastRow, cur *coffer.Record, cols []*catalog.ColMeta, explicit bool, res *coffer.RevertResult) ([]live.Event, error) {
	tm, tp := tt.tm, tt.tp
	switch {
	case past == nil && cur == nil:
		return nil, catalog.ErrRecordNotFound
	case past == nil:
		if explicit {
			return nil, coffer.Invalid("the record did not exist at that moment", coffer.FieldError{Field: "to", Message: "is before the record was created: revert the whole record (no columns) to delete it"})
		}
		if oe, err := s.deleteTx(ctx, tx, rec, tm, tp, id, 0, ""); oe != nil || err != nil {
			return nil, errOr(oe, err)
		}
		res.Deleted = append(res.Deleted, id)
		return []live.Event{{Record: id, Op: live.OpDelete}}, nil
	case cur == nil:
		fields, err := s.revertFields(ctx, tx, tt, past, cols, nil)
		if err != nil {
			return nil, err
		}
		meta := history.RecordMeta{CreatedAt: past.created, CreatedBy: past.createdBy}
		if oe, err := s.recreateTx(ctx, tx, rec, sc, tm, tp, by, id, meta, fields, ""); oe != nil || err != nil {
			return nil, errOr(oe, err)
		}
		res.Restored = append(res.Restored, id)
		return []live.Event{{Record: id, Op: live.OpCreate, Version: 1}}, nil
	}
	fields, err := s.revertFields(ctx, tx, tt, past, cols, cur)
	if err != nil || len(fields) == 0 {
		return nil, err
	}
	if oe, err := s.updateTx(ctx, tx, rec, sc, tm, tp, by, id, fields, 0, ""); oe != nil || err != nil {
		return nil, errOr(oe, err)
	}
	v, err := s.versionOf(ctx, tx, tm, id)
	if err != nil {
		return nil, err
	}
	res.Updated = append(res.Updated, id)
	return []live.Event{{Record: id, Op: live.OpUpdate, Version: v, Cols: setColumns(tm, fields)}}, nil
}

func errOr(oe *catalog.OpError, err error) error {
	if err != nil {
		return err
	}
	return opError(oe)
}

// RevertTable sets a table back to a past moment: records deleted since
// come back first (without their links, which may point at each other),
// then records created since are deleted, then every record the caller
// may see gets the cells back that differ (links included). With columns,
// only those cells are set back and no record comes or goes. Records the
// caller may not see (then, for those that come back or change; now, for
// those deleted or changed) are left as they are.
func (s *Service) RevertTable(ctx context.Context, notebook, table string, in coffer.RevertInput) (*coffer.RevertResult, error) {
	res := &coffer.RevertResult{Updated: []string{}, Restored: []string{}, Deleted: []string{}}
	err := s.recordWrite(ctx, notebook, table, "RevertTable", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		tt, err := s.newTimeTravel(ctx, tx, sc, tm, tp, in.To, "to")
		if err != nil {
			return nil, err
		}
		cols, err := revertColumns(tp, in.Columns)
		if err != nil {
			return nil, err
		}
		past, cur, err := tt.readTableAt(ctx)
		if err != nil {
			return nil, err
		}
		rec.Begin(history.KindRevert, tm.Table.ID, fmt.Sprintf("reverted table %s to %s", tm.Table.Name, tt.describe()))
		rv := &tableRevert{s: s, tx: tx, tt: tt, sc: sc, by: by, rec: rec, cols: cols, res: res, past: past, cur: cur}
		if len(in.Columns) == 0 {
			if err := rv.comeAndGo(ctx); err != nil {
				return nil, err
			}
		}
		if err := rv.updates(ctx); err != nil {
			return nil, err
		}
		if res.Seq, err = s.writeRevert(ctx, tx, tp, sc, rec); err != nil {
			return nil, err
		}
		return rv.evs, nil
	})
	if err != nil {
		return nil, err
	}
	s.Storage.Wrote(notebook, len(res.Updated)+len(res.Restored)+len(res.Deleted)) // for its statistics, as batches count
	return res, nil
}

// tableRevert is one table revert in progress.
type tableRevert struct {
	s    *Service
	tx   *store.WriteTx
	tt   *timeTravel
	sc   *catalog.Schema
	by   string
	rec  *history.Recorder
	cols []*catalog.ColMeta
	res  *coffer.RevertResult
	past map[string]*pastRow
	cur  map[string]*coffer.Record
	evs  []live.Event
}

// visibleNow reports whether the caller sees a record as it is now.
func (rv *tableRevert) visibleNow(r *coffer.Record) bool {
	if rv.tt.tp.Full() {
		return true
	}
	now := rv.tt.build(r.ID, r, nil)
	return now != nil && catalog.AnyOf(now.conds, catalog.AllConds(rv.tt.tp))
}

// comeAndGo brings back the records deleted since the moment (without
// links) and deletes those created since.
func (rv *tableRevert) comeAndGo(ctx context.Context) error {
	s, tt := rv.s, rv.tt
	var noLinks []*catalog.ColMeta
	for _, cm := range rv.cols {
		if cm.Junction == "" {
			noLinks = append(noLinks, cm)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(rv.past)) {
		p := rv.past[id]
		if rv.cur[id] != nil || !tt.visible(p) {
			continue
		}
		fields, err := s.revertFields(ctx, rv.tx, tt, p, noLinks, nil)
		if err != nil {
			return err
		}
		meta := history.RecordMeta{CreatedAt: p.created, CreatedBy: p.createdBy}
		if oe, err := s.recreateTx(ctx, rv.tx, rv.rec, rv.sc, tt.tm, tt.tp, rv.by, id, meta, fields, "records["+id+"]."); oe != nil || err != nil {
			return errOr(oe, err)
		}
		rv.res.Restored = append(rv.res.Restored, id)
		rv.evs = append(rv.evs, live.Event{Record: id, Op: live.OpCreate, Version: 1})
	}
	for _, id := range slices.Sorted(maps.Keys(rv.cur)) {
		if rv.past[id] != nil || !rv.visibleNow(rv.cur[id]) {
			continue
		}
		if oe, err := s.deleteTx(ctx, rv.tx, rv.rec, tt.tm, tt.tp, id, 0, "records["+id+"]."); oe != nil || err != nil {
			return errOr(oe, err)
		}
		rv.res.Deleted = append(rv.res.Deleted, id)
		rv.evs = append(rv.evs, live.Event{Record: id, Op: live.OpDelete})
	}
	return nil
}

// updates sets back the cells that differ of every record that existed
// at the moment and exists now.
func (rv *tableRevert) updates(ctx context.Context) error {
	s, tt := rv.s, rv.tt
	reread := len(rv.res.Restored)+len(rv.res.Deleted) > 0 // links may have moved
	for _, id := range slices.Sorted(maps.Keys(rv.past)) {
		p, now := rv.past[id], rv.cur[id]
		if !tt.visible(p) || (now == nil && !slices.Contains(rv.res.Restored, id)) {
			continue
		}
		if now != nil && !rv.visibleNow(now) {
			continue
		}
		if reread {
			var err error
			if now, err = s.rawRecord(ctx, rv.tx, tt.tm, id); err != nil || now == nil {
				return err
			}
		}
		fields, err := s.revertFields(ctx, rv.tx, tt, p, rv.cols, now)
		if err != nil || len(fields) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		if oe, err := s.updateTx(ctx, rv.tx, rv.rec, rv.sc, tt.tm, tt.tp, rv.by, id, fields, 0, "records["+id+"].fields."); oe != nil || err != nil {
			return errOr(oe, err)
		}
		v, err := s.versionOf(ctx, rv.tx, tt.tm, id)
		if err != nil {
			return err
		}
		if !slices.Contains(rv.res.Restored, id) {
			rv.res.Updated = append(rv.res.Updated, id)
		}
		rv.evs = append(rv.evs, live.Event{Record: id, Op: live.OpUpdate, Version: v, Cols: setColumns(tt.tm, fields)})
	}
	return nil
}
