package notebooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// Restoring records and tables from a snapshot. The snapshot's rows are
// read under the caller's rights of today (snapshot.go): a row they may
// not see there is, to them, not in the snapshot, and a cell they may not
// read there is left as it is now. The live table is written through the
// paths of ordinary writes (recreateTx, updateTx, deleteTx), so through
// the access engine again (the row before and after, every changed
// cell), as one action of the notebook's history (kind revert, so undo
// takes it back) in one transaction. Tables and columns are matched by
// id; a column that did not exist then, changed type since or is set
// automatically is left as it is, and so is an encrypted column whose key
// changed since (named in the result's Kept). Secret values come back as
// they were stored (sealed, hashed), never through a plaintext.

// snapRow is one row of a snapshot's table as the caller may restore it.
type snapRow struct {
	rec      *coffer.Record // every column, unmasked, by name
	readable map[string]bool
	full     bool
}

func (r *snapRow) canRead(colID string) bool { return r.full || r.readable[colID] }

// snapTable is a snapshot's table: its rows the caller sees (visible) and
// the ids of every row it has (all).
type snapTable struct {
	tm      *catalog.TableMeta
	cols    []*catalog.ColMeta // the columns the caller may read somewhere
	visible map[string]*snapRow
	all     map[string]bool
	kept    map[string]bool // encrypted columns left as today (sameKey)
}

// liveTableID resolves a table named as today (id or name) to its id, so
// that a table renamed since is found in the snapshot by id; a name
// today's notebook does not have is returned as it is (a table deleted
// since, named as it was).
func (s *Service) liveTableID(ctx context.Context, notebook, table string) string {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return table
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return table
	}
	if _, err := s.Plan(ctx, nc, nc.DB.R, tm); err != nil {
		return table // not visible today: named only as in the snapshot
	}
	return tm.Table.ID
}

// readSnapTable reads table of notebook in the snapshot open under bctx:
// the rows of ids, or every row when ids is nil.
func (s *Service) readSnapTable(bctx context.Context, notebook, table string, ids []string) (*snapTable, error) {
	nc, err := s.OpenNotebook(bctx, notebook)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return nil, err
	}
	tp, err := s.Plan(bctx, nc, nc.DB.R, tm)
	if err != nil {
		return nil, err
	}
	st := &snapTable{tm: tm, cols: tp.Cols, visible: map[string]*snapRow{}, all: map[string]bool{}}
	var recs []*coffer.Record
	if ids == nil {
		rows, err := nc.DB.R.QueryContext(bctx, tm.AllSQL)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := catalog.ScanRecord(rows, tm.Cols, tm.Names)
			if err != nil {
				rows.Close()
				return nil, err
			}
			recs = append(recs, r)
			if len(recs) > s.asOfLimit() {
				rows.Close()
				return nil, coffer.Errorf(coffer.EASOFTOOLARGE, "the table has more than %d records: restore chosen records", s.asOfLimit())
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	} else {
		for _, id := range ids {
			if !coffer.ValidID(coffer.PrefixRecord, id) {
				continue
			}
			r, err := catalog.ScanRecord(nc.DB.R.QueryRowContext(bctx, tm.GetSQL, id), tm.Cols, tm.Names)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
	}
	all := catalog.AllConds(tp)
	for _, r := range recs {
		st.all[r.ID] = true
		row := &snapRow{rec: r, full: tp.Full()}
		if !row.full {
			found, vals, err := s.CondsOn(bctx, nc.DB.R, tp, r.ID)
			if err != nil {
				return nil, err
			}
			if !found || !catalog.AnyOf(vals, all) {
				continue
			}
			row.readable = map[string]bool{}
			for _, cm := range tp.Cols {
				if catalog.AnyOf(vals, tp.Decision.Readers(cm.Column.ID)) {
					row.readable[cm.Column.ID] = true
				}
			}
		}
		st.visible[r.ID] = row
	}
	return st, nil
}

// restorable reports whether live column cm takes values from snapshot
// column old. Secret columns take the snapshot's stored value as it is
// (sealed, or a password's hash), never a plaintext: a password column
// always (a hash carries its own salt), an encrypted column when its key
// (salt and check value) is the same today as then.
func restorable(cm, old *catalog.ColMeta) bool {
	return old != nil && old.Column.Type == cm.Column.Type && !cm.Column.Type.Automatic() && sameKey(cm.Column, old.Column)
}

// sameKey reports whether an encrypted column's key is the same today
// (now) as in the snapshot (then); true for other columns.
func sameKey(now, then *coffer.Column) bool {
	if now.Type != coffer.TypeEncrypted {
		return true
	}
	a, b := now.Options.Encryption, then.Options.Encryption
	return a != nil && b != nil && *a == *b
}

// sameCell reports whether a snapshot's value v equals today's cur; a
// password's hash is compared itself (both read as {"set":true}).
func sameCell(v, cur any) bool {
	if a, ok := v.(value.PasswordHash); ok {
		b, ok := cur.(value.PasswordHash)
		return ok && a.Hash() == b.Hash()
	}
	return sameJSON(v, cur)
}

// snapFields returns the fields that set a live record (now; nil when it
// does not exist) to its snapshot row: the cells of the columns the
// caller sees now that differ and that they could read in the snapshot.
// Links to records that do not exist now are left out, and all links
// when withLinks is false.
func (s *Service) snapFields(ctx context.Context, tx *store.WriteTx, tp *catalog.TablePlan, st *snapTable, row *snapRow, now *coffer.Record, withLinks bool) (map[string]any, error) {
	fields := map[string]any{}
	for _, cm := range tp.Cols {
		old := st.tm.Column(cm.Column.ID)
		if !restorable(cm, old) || !row.canRead(cm.Column.ID) || (cm.Junction != "" && !withLinks) {
			if old != nil && old.Column.Type == cm.Column.Type && !sameKey(cm.Column, old.Column) && row.canRead(cm.Column.ID) {
				if st.kept == nil {
					st.kept = map[string]bool{}
				}
				st.kept[cm.Column.ID] = true
			}
			continue
		}
		v := row.rec.Fields[old.Column.Name]
		if ids, ok := v.([]string); ok && cm.Junction != "" {
			kept, err := s.existingLinks(ctx, tx, tp.Table, cm.Column, ids)
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
			cur = now.Fields[cm.Column.Name]
		}
		if !sameCell(v, cur) {
			fields[cm.Column.ID] = v
		}
	}
	return fields, nil
}

// restoreRun is one restore of records or a table in progress, inside the
// live notebook's write transaction.
type restoreRun struct {
	s       *Service
	ctx     context.Context
	tx      *store.WriteTx
	sc      *catalog.Schema
	tm      *catalog.TableMeta
	tp      *catalog.TablePlan
	by      string
	rec     *history.Recorder
	st      *snapTable
	res     *coffer.Restored
	evs     []live.Event
	preview bool
	job     *restoreJob
}

// visibleNow reports whether the caller sees live record id.
func (r *restoreRun) visibleNow(id string) (bool, error) {
	if r.tp.Full() {
		return true, nil
	}
	found, vals, err := r.s.CondsOn(r.ctx, r.tx, r.tp, id)
	return found && catalog.AnyOf(vals, catalog.AllConds(r.tp)), err
}

// bringBack recreates record id from its snapshot row.
func (r *restoreRun) bringBack(id string, withLinks bool) error {
	row := r.st.visible[id]
	fields, err := r.s.snapFields(r.ctx, r.tx, r.tp, r.st, row, nil, withLinks)
	if err != nil {
		return err
	}
	meta := history.RecordMeta{CreatedAt: row.rec.CreatedAt.UnixMicro(), CreatedBy: row.rec.CreatedBy}
	if oe, err := r.s.recreateTx(r.ctx, r.tx, r.rec, r.sc, r.tm, r.tp, r.by, id, meta, fields, "records["+id+"]."); oe != nil || err != nil {
		return errOr(oe, err)
	}
	r.res.Created = append(r.res.Created, id)
	r.evs = append(r.evs, live.Event{Record: id, Op: live.OpCreate, Version: 1})
	return nil
}

// setBack updates live record id to its snapshot row; it reports
// whether anything changed.
func (r *restoreRun) setBack(id string) (bool, error) {
	now, err := r.s.rawRecord(r.ctx, r.tx, r.tm, id)
	if err != nil || now == nil {
		return false, err
	}
	fields, err := r.s.snapFields(r.ctx, r.tx, r.tp, r.st, r.st.visible[id], now, true)
	if err != nil || len(fields) == 0 {
		return false, err
	}
	if oe, err := r.s.updateTx(r.ctx, r.tx, r.rec, r.sc, r.tm, r.tp, r.by, id, fields, 0, "records["+id+"].fields."); oe != nil || err != nil {
		return false, errOr(oe, err)
	}
	v, err := r.s.versionOf(r.ctx, r.tx, r.tm, id)
	if err != nil {
		return false, err
	}
	r.evs = append(r.evs, live.Event{Record: id, Op: live.OpUpdate, Version: v, Cols: setColumns(r.tm, fields)})
	return true, nil
}

// exists reports whether live record id exists (seen or not).
func (r *restoreRun) exists(id string) (bool, error) {
	found, err := r.s.existingIDs(r.ctx, r.tx, r.tm, []string{id})
	return found[id], err
}

// records upserts the chosen records from the snapshot.
func (r *restoreRun) records(ids []string) error {
	for i, id := range ids {
		if r.st.visible[id] == nil {
			return &coffer.Error{Code: coffer.ENOTFOUND, Message: "a record is not in the snapshot", Fields: []coffer.FieldError{{Field: fmt.Sprintf("records[%d]", i), Message: "is not a record of the table in this snapshot"}}}
		}
		ok, err := r.exists(id)
		if err != nil {
			return err
		}
		if !ok {
			if err := r.bringBack(id, true); err != nil {
				return err
			}
			r.job.step()
			continue
		}
		if seen, err := r.visibleNow(id); err != nil || !seen {
			if err == nil {
				err = catalog.ErrRecordNotFound
			}
			return err
		}
		changed, err := r.setBack(id)
		if err != nil {
			return err
		}
		if changed {
			r.res.Updated = append(r.res.Updated, id)
		}
		r.job.step()
	}
	return nil
}

// table sets the whole table back to the snapshot: records not in it now
// come back (links set after), records that were not in the snapshot at
// all and that the caller sees now are deleted, and every record both
// have gets back the cells that differ.
func (r *restoreRun) table() error {
	var cur []string
	if err := r.s.eachRecord(r.ctx, r.tx, r.tm, func(rec *coffer.Record) { cur = append(cur, rec.ID) }); err != nil {
		return err
	}
	now := map[string]bool{}
	for _, id := range cur {
		now[id] = true
	}
	ids := slices.Sorted(maps.Keys(r.st.visible))
	for _, id := range ids {
		if !now[id] {
			if err := r.bringBack(id, false); err != nil {
				return err
			}
		}
	}
	for _, id := range cur {
		if r.st.all[id] {
			continue
		}
		seen, err := r.visibleNow(id)
		if err != nil {
			return err
		}
		if !seen {
			continue
		}
		if oe, err := r.s.deleteTx(r.ctx, r.tx, r.rec, r.tm, r.tp, id, 0, "records["+id+"]."); oe != nil || err != nil {
			return errOr(oe, err)
		}
		r.res.Deleted = append(r.res.Deleted, id)
		r.evs = append(r.evs, live.Event{Record: id, Op: live.OpDelete})
		r.job.step()
	}
	for _, id := range ids {
		if now[id] {
			if seen, err := r.visibleNow(id); err != nil || !seen {
				if err != nil {
					return err
				}
				continue
			}
		}
		changed, err := r.setBack(id)
		if err != nil {
			return err
		}
		if changed && now[id] {
			r.res.Updated = append(r.res.Updated, id)
		}
		r.job.step()
	}
	return nil
}

// errPreview rolls a preview's transaction back once it has computed
// what would change.
var errPreview = errors.New("preview")

// restoreInTable runs fn (records or table) on the live table in one
// write, recorded as one action; a preview rolls it back.
func (s *Service) restoreInTable(ctx context.Context, notebook string, st *snapTable, preview bool, job *restoreJob, summary string, fn func(r *restoreRun) error) (*coffer.Restored, error) {
	res := &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}}
	err := s.recordWrite(ctx, notebook, st.tm.Table.ID, "Restore", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		r := &restoreRun{s: s, ctx: ctx, tx: tx, sc: sc, tm: tm, tp: tp, by: by, rec: rec, st: st, res: res, preview: preview, job: job}
		rec.Begin(history.KindRevert, tm.Table.ID, summary)
		if err := fn(r); err != nil {
			return nil, err
		}
		if preview {
			return nil, errPreview
		}
		var err error
		if res.Seq, err = s.writeRevert(ctx, tx, tp, sc, rec); err != nil {
			return nil, err
		}
		return r.evs, nil
	})
	if errors.Is(err, errPreview) {
		res.Kept = slices.Sorted(maps.Keys(st.kept))
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	s.Storage.Wrote(notebook, len(res.Created)+len(res.Updated)+len(res.Deleted))
	res.Kept = slices.Sorted(maps.Keys(st.kept))
	return res, nil
}
