package notebooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// NoHistory, when set, stops recording actions: for benchmarks that
// measure what recording costs, never for serving.
var NoHistory atomic.Bool

// record writes the action rec collected, in the write's transaction, as
// the notebook's history switch says, and returns its sequence number.
func (s *Service) record(ctx context.Context, tx *store.WriteTx, db *store.DB, sc *catalog.Schema, rec *history.Recorder) (int64, error) {
	if NoHistory.Load() {
		return 0, nil
	}
	return history.Write(ctx, s.Core, tx, db.Prefix, rec, sc.Settings.History)
}

// rawCells reads the cells of the columns that as assigns in record id,
// unmasked, for history; nil when the record does not exist.
func (s *Service) rawCells(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, id string, as []catalog.Assignment) (*coffer.Record, error) {
	if NoHistory.Load() {
		return nil, nil
	}
	cols := make([]*catalog.ColMeta, 0, len(as))
	for _, a := range as {
		cols = append(cols, a.Col)
	}
	r, err := catalog.ScanRecord(tx.QueryRowContext(ctx, s.CellsSQL(tm, cols), id), cols, nil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// rawRecord reads a record with every column, unmasked, for history; nil
// when it does not exist.
func (s *Service) rawRecord(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, id string) (*coffer.Record, error) {
	r, err := catalog.ScanRecord(tx.QueryRowContext(ctx, tm.GetSQL, id), tm.Cols, tm.Names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// recordCreate records a new record and the values it was created with.
func recordCreate(rec *history.Recorder, tm *catalog.TableMeta, id string, now int64, by string, as []catalog.Assignment) {
	if rec.Kind == "" {
		rec.Begin(history.KindRecordCreate, tm.Table.ID, fmt.Sprintf("created a record in %s", tm.Table.Name))
	}
	rec.Created(tm.Table.ID, id, history.RecordMeta{CreatedAt: now, CreatedBy: by})
	for _, a := range as {
		if !a.Col.Column.Type.Automatic() {
			rec.Cell(tm.Table.ID, id, a.Col.Column.ID, nil, value.ToJSON(a.Col.Column, a.Value))
		}
	}
}

// recordUpdate records the cells an update changed, from the record as it
// was before.
func recordUpdate(rec *history.Recorder, tm *catalog.TableMeta, id string, before *coffer.Record, as []catalog.Assignment) {
	if rec.Kind == "" {
		names := make([]string, 0, len(as))
		for _, a := range as {
			names = append(names, a.Col.Column.Name)
		}
		rec.Begin(history.KindRecordUpdate, tm.Table.ID, fmt.Sprintf("changed %s of a record in %s", listNames(names), tm.Table.Name))
	}
	for _, a := range as {
		if a.Col.Column.Type.Automatic() {
			continue
		}
		var old any
		if before != nil {
			old = before.Fields[a.Col.Column.Name]
		}
		rec.Cell(tm.Table.ID, id, a.Col.Column.ID, old, value.ToJSON(a.Col.Column, a.Value))
	}
}

// recordDelete records a record about to be deleted: its existence, every
// value, and the links to it from other records, which the delete removes.
func (s *Service) recordDelete(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, tm *catalog.TableMeta, before *coffer.Record) error {
	if NoHistory.Load() {
		return nil
	}
	if rec.Kind == "" {
		rec.Begin(history.KindRecordDelete, tm.Table.ID, fmt.Sprintf("deleted a record in %s", tm.Table.Name))
	}
	for _, cm := range tm.Cols {
		if !cm.Column.Type.Automatic() {
			rec.Cell(tm.Table.ID, before.ID, cm.Column.ID, before.Fields[cm.Column.Name], nil)
		}
	}
	rec.Deleted(tm.Table.ID, before.ID, history.RecordMeta{CreatedAt: before.CreatedAt.UnixMicro(), CreatedBy: before.CreatedBy})
	return s.recordIncomingLinks(ctx, tx, rec, tm, before.ID)
}

// recordIncomingLinks records the link cells of other records that point
// at record id of tm, as they lose that link when it is deleted.
func (s *Service) recordIncomingLinks(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, tm *catalog.TableMeta, id string) error {
	for _, src := range tm.Schema.Tables {
		for _, cm := range src.Cols {
			if cm.Junction == "" || cm.Column.Options.Table != tm.Table.ID {
				continue
			}
			srcs, err := catalog.Strings(tx.QueryContext(ctx, s.Rebind("SELECT src FROM "+cm.Junction+" WHERE dst = ? AND src <> ?"), id, id))
			if err != nil {
				return err
			}
			for _, x := range srcs {
				r, err := s.rawRecord(ctx, tx, src, x)
				if err != nil || r == nil {
					return err
				}
				old, _ := r.Fields[cm.Column.Name].([]string)
				now := slices.DeleteFunc(slices.Clone(old), func(d string) bool { return d == id })
				var nv any
				if len(now) > 0 {
					nv = now
				}
				rec.Cell(src.Table.ID, x, cm.Column.ID, old, nv)
			}
		}
	}
	return nil
}

// listNames joins up to three names for a summary.
func listNames(names []string) string {
	switch {
	case len(names) == 0:
		return "nothing"
	case len(names) > 3:
		return fmt.Sprintf("%s, %s and %d more", names[0], names[1], len(names)-2)
	}
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " and "
		default:
			out += ", "
		}
		out += n
	}
	return out
}

// eachRecord calls fn with every record of tm, unmasked.
func (s *Service) eachRecord(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, fn func(r *coffer.Record)) error {
	rows, err := tx.QueryContext(ctx, tm.AllSQL)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := catalog.ScanRecord(rows, tm.Cols, tm.Names)
		if err != nil {
			return err
		}
		fn(r)
	}
	return rows.Err()
}

// recordTableDelete records a table about to be dropped: its definition
// and views, and every record with its values, so that it can come back.
func (s *Service) recordTableDelete(ctx context.Context, tx *store.WriteTx, nc *catalog.Conn, tm *catalog.TableMeta, rec *history.Recorder) error {
	views, err := s.rawViews(ctx, tx, nc.DB.Prefix, tm)
	if err != nil {
		return err
	}
	rec.Begin(history.KindTableDelete, tm.Table.ID, fmt.Sprintf("deleted table %s", tm.Table.Name))
	rec.Inverse = history.MustJSON(history.TableInverse{Table: tm.Table, Views: views})
	return s.eachRecord(ctx, tx, tm, func(r *coffer.Record) {
		for _, cm := range tm.Cols {
			if !cm.Column.Type.Automatic() {
				rec.Cell(tm.Table.ID, r.ID, cm.Column.ID, r.Fields[cm.Column.Name], nil)
			}
		}
		rec.Deleted(tm.Table.ID, r.ID, history.RecordMeta{CreatedAt: r.CreatedAt.UnixMicro(), CreatedBy: r.CreatedBy})
	})
}

// recordColumnDelete records a column about to be dropped: its definition
// and position, and every value it holds.
func (s *Service) recordColumnDelete(ctx context.Context, tx *store.WriteTx, nc *catalog.Conn, tm *catalog.TableMeta, cm *catalog.ColMeta, rec *history.Recorder) error {
	var pos int
	if err := tx.QueryRowContext(ctx, s.Rebind("SELECT position FROM "+nc.DB.Prefix+"_columns WHERE id = ?"), cm.Column.ID).Scan(&pos); err != nil {
		return err
	}
	rec.Begin(history.KindColumnDelete, tm.Table.ID, fmt.Sprintf("deleted column %s of table %s", cm.Column.Name, tm.Table.Name))
	rec.Inverse = history.MustJSON(history.ColumnInverse{Column: cm.Column, Position: pos})
	if cm.Column.Type.Automatic() {
		return nil
	}
	return s.eachRecord(ctx, tx, tm, func(r *coffer.Record) {
		rec.Cell(tm.Table.ID, r.ID, cm.Column.ID, r.Fields[cm.Column.Name], nil)
	})
}

// rawViews lists the views of tm as stored.
func (s *Service) rawViews(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta) ([]*coffer.View, error) {
	ids, err := catalog.Strings(tx.QueryContext(ctx, s.Rebind("SELECT id FROM "+prefix+"_views WHERE table_id = ? ORDER BY id"), tm.Table.ID))
	if err != nil {
		return nil, err
	}
	views := make([]*coffer.View, 0, len(ids))
	for _, id := range ids {
		v, err := s.FindViewRaw(ctx, tx, prefix, tm, id)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}
