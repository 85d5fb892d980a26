package notebooks

import (
	"context"
	"database/sql"
	"errors"
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

// prepareFields validates the fields of a write. Field names in errors are
// prefixed with prefix (e.g. "operations[3].fields."). A column hidden from
// the caller in every row is, to them, not a column of the table.
func prepareFields(tp *catalog.TablePlan, fields map[string]any, prefix string) ([]catalog.Assignment, []coffer.FieldError) {
	var out []catalog.Assignment
	var errs []coffer.FieldError
	seen := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[key]
		cm := tp.Visible(key)
		if cm == nil {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: "is not a column of this table"})
			continue
		}
		if seen[cm.Column.ID] {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: "is given twice (by name and by id)"})
			continue
		}
		seen[cm.Column.ID] = true
		v, err := value.FromJSON(cm.Column, raw)
		if err != nil {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: err.Error()})
			continue
		}
		out = append(out, catalog.Assignment{Col: cm, Value: v})
	}
	return out, errs
}

// refuseFiles refuses a write through the record API that names a file
// column the caller can see: files come only by upload (UploadFile) and
// leave by DeleteFile. Undo, revert and restore write file cells back
// through updateTx and recreateTx, which take them.
func refuseFiles(tp *catalog.TablePlan, fields map[string]any, prefix string) *catalog.OpError {
	var errs []coffer.FieldError
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if cm := tp.Visible(key); cm != nil && cm.Column.Type == coffer.TypeFile {
			errs = append(errs, coffer.FieldError{Field: prefix + key,
				Message: "holds files: upload them with POST …/records/{record}/files/{column} and remove them with DELETE /api/v1/files/{id}"})
		}
	}
	if len(errs) > 0 {
		return &catalog.OpError{Code: coffer.EINVALID, Fields: errs}
	}
	return nil
}

// setColumns returns the ids of the columns a (validated) write sets.
func setColumns(tm *catalog.TableMeta, fields map[string]any) []string {
	out := make([]string, 0, len(fields))
	for key := range fields {
		if cm := tm.Column(key); cm != nil && !slices.Contains(out, cm.Column.ID) {
			out = append(out, cm.Column.ID)
		}
	}
	slices.Sort(out)
	return out
}

// writeLinks replaces the links of record id for each link assignment,
// checking that every target exists.
// Targets the caller cannot see (through tp's access) count as missing:
// a link never confirms that a hidden record exists.
func (s *Service) writeLinks(ctx context.Context, tx *store.WriteTx, sc *catalog.Schema, tp *catalog.TablePlan, id string, as []catalog.Assignment, prefix string, isNew bool) ([]coffer.FieldError, error) {
	var errs []coffer.FieldError
	for _, a := range as {
		if a.Col.Junction == "" {
			continue
		}
		ids, _ := a.Value.([]string)
		if len(ids) > 0 {
			target := sc.ByID[a.Col.Column.Options.Table]
			if target == nil {
				return nil, fmt.Errorf("link column %s: target table missing", a.Col.Column.ID)
			}
			var found map[string]bool
			var err error
			if tp.Full() {
				found, err = s.existingIDs(ctx, tx, target, ids)
			} else {
				found, err = s.VisibleIDs(ctx, tx, tp.Rights, tp.Prefix, target, ids)
			}
			if err != nil {
				return nil, err
			}
			var missing []string
			for _, x := range ids {
				if !found[x] {
					missing = append(missing, x)
				}
			}
			if len(missing) > 0 {
				errs = append(errs, coffer.FieldError{Field: prefix + a.Col.Column.Name,
					Message: fmt.Sprintf("links to records that do not exist in table %q: %s", target.Table.Name, strings.Join(missing, ", "))})
				continue
			}
		}
		if !isNew {
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+a.Col.Junction+" WHERE src = ?"), id); err != nil {
				return nil, err
			}
		}
		for pos, dst := range ids {
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+a.Col.Junction+" (src, dst, pos) VALUES (?, ?, ?)"), id, dst, pos); err != nil {
				return nil, err
			}
		}
	}
	return errs, nil
}

// existingIDs returns which of ids are records of tm.
func (s *Service) existingIDs(ctx context.Context, q catalog.Querier, tm *catalog.TableMeta, ids []string) (map[string]bool, error) {
	args := make([]any, len(ids))
	for i, x := range ids {
		args[i] = x
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT id FROM "+tm.SQL+" WHERE id IN ("+catalog.Placeholders(len(ids))+")"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			return nil, err
		}
		found[x] = true
	}
	return found, rows.Err()
}

// createTx inserts one record and returns it, built from the values it
// wrote (no read back).
func (s *Service) createTx(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, fields map[string]any, prefix string) (*coffer.Record, *catalog.OpError, error) {
	as, errs := prepareFields(tp, fields, prefix)
	if len(errs) > 0 {
		return nil, &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	// The conditions that let the caller create this record: the create
	// capability and write on every column it sets; one of them must match
	// the new record (checked once it is written).
	var allowed []int
	if !tp.Full() {
		creators := tp.Decision.With(access.CapCreate)
		if len(creators) == 0 {
			return nil, catalog.Denied(prefix, "you may not create records in this table"), nil
		}
		writers := map[int]bool{}
		for _, i := range tp.Decision.Writers(catalog.WriteColumns(as)) {
			writers[i] = true
		}
		for _, i := range creators {
			if writers[i] {
				allowed = append(allowed, i)
			}
		}
		if len(allowed) == 0 {
			return nil, catalog.Denied(prefix, "you may not set the columns %s when creating a record", catalog.DeniedFor(tp, as, creators)), nil
		}
	}
	id := coffer.NewID(coffer.PrefixRecord)
	if err := sealAssignments(ctx, tm, id, as); err != nil {
		return nil, nil, err
	}
	now := s.NowMicros()
	cols := []string{"id", "version", "created_at", "created_by", "updated_at", "updated_by"}
	args := []any{id, 1, now, by, now, by}
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
		return nil, nil, err
	}
	errs, err := s.writeLinks(ctx, tx, sc, tp, id, as, prefix, true)
	if err != nil {
		return nil, nil, err
	}
	if len(errs) > 0 {
		return nil, &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	recordCreate(rec, tm, id, now, by, as)
	if !tp.Full() {
		_, vals, err := s.CondsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, nil, err
		}
		if !catalog.AnyOf(vals, allowed) {
			return nil, catalog.Denied(prefix, "the new record would be outside the rows you may create"), nil
		}
		r, err := s.FindPlanned(ctx, nil, tx, tp, id)
		return r, nil, err
	}
	r := &coffer.Record{ID: id, Version: 1, CreatedAt: store.FromMicros(now), CreatedBy: by, UpdatedAt: store.FromMicros(now), UpdatedBy: by,
		Fields: make(map[string]any, len(tm.Cols)), Order: tm.Names}
	stored := make(map[*catalog.ColMeta]any, len(as))
	for _, a := range as {
		stored[a.Col] = a.Value
	}
	for _, cm := range tm.Cols {
		v := stored[cm]
		switch cm.Column.Type {
		case coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
			v = now
		case coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
			v = by
		}
		r.Fields[cm.Column.Name] = value.ToJSON(cm.Column, v)
	}
	return r, nil, nil
}

// updateTx changes the given fields of one record.
func (s *Service) updateTx(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by, id string, fields map[string]any, version int64, prefix string) (*catalog.OpError, error) {
	as, errs := prepareFields(tp, fields, prefix)
	if len(errs) > 0 {
		return &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	if len(as) == 0 {
		// A write that changes nothing would still make a new version.
		field := "fields"
		if prefix != "" {
			field = strings.TrimSuffix(prefix, ".")
		}
		return &catalog.OpError{Code: coffer.EINVALID, Fields: []coffer.FieldError{{Field: field, Message: "must name at least one column to change"}}}, nil
	}
	return s.updateAssignTx(ctx, tx, rec, sc, tm, tp, by, id, as, version, prefix)
}

// updateAssignTx writes validated assignments to one record: updateTx's
// write, also used by file uploads and deletions to set a file cell.
func (s *Service) updateAssignTx(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by, id string, as []catalog.Assignment, version int64, prefix string) (*catalog.OpError, error) {
	notFound := &catalog.OpError{Code: coffer.ENOTFOUND, Fields: []coffer.FieldError{{Field: strings.TrimSuffix(prefix, "fields.") + "id", Message: "record not found"}}}
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return notFound, nil
	}
	// The conditions that let the caller make this change: write on every
	// changed column and a match on the record before; one of the same
	// must still match after.
	var allowed []int
	if !tp.Full() {
		found, vals, err := s.CondsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !found || !catalog.AnyOf(vals, catalog.AllConds(tp)) {
			return notFound, nil
		}
		if allowed = catalog.Keep(vals, tp.Decision.Writers(catalog.WriteColumns(as))); len(allowed) == 0 {
			return catalog.Denied(strings.TrimSuffix(prefix, "fields."), "you may not change %s of this record", catalog.DescribeCols(as)), nil
		}
	}
	if err := sealAssignments(ctx, tm, id, as); err != nil {
		return nil, err
	}
	if err := s.filesKept(ctx, tx, tp.Prefix, as); err != nil {
		return nil, err
	}
	before, err := s.rawCells(ctx, tx, tm, id, as)
	if err != nil {
		return nil, err
	}
	sets := []string{"version = version + 1", "updated_at = ?", "updated_by = ?"}
	args := []any{s.NowMicros(), by}
	for _, a := range as {
		if a.Col.Phys != "" {
			sets = append(sets, a.Col.Phys+" = ?")
			args = append(args, a.Value)
		}
		if a.Col.Key != "" {
			sets = append(sets, a.Col.Key+" = ?")
			args = append(args, catalog.KeyOf(a.Value))
		}
	}
	where := " WHERE id = ?"
	args = append(args, id)
	if version > 0 {
		where += " AND version = ?"
		args = append(args, version)
	}
	res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+tm.SQL+" SET "+strings.Join(sets, ", ")+where), args...)
	if err != nil {
		return nil, err
	}
	if oe, err := s.checkAffected(ctx, tx, tm, res, id, version, prefix); oe != nil || err != nil {
		return oe, err
	}
	errs, err := s.writeLinks(ctx, tx, sc, tp, id, as, prefix, false)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return &catalog.OpError{Code: coffer.EINVALID, Fields: errs}, nil
	}
	recordUpdate(rec, tm, id, before, as)
	if !tp.Full() {
		_, vals, err := s.CondsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !catalog.AnyOf(vals, allowed) {
			return catalog.Denied(strings.TrimSuffix(prefix, "fields."), "the change would move the record out of the rows you may edit"), nil
		}
	}
	return nil, nil
}

// checkAffected tells a missing record from a version conflict when an
// UPDATE or DELETE matched no row.
func (s *Service) checkAffected(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, res sql.Result, id string, version int64, prefix string) (*catalog.OpError, error) {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return nil, err
	}
	field := strings.TrimSuffix(prefix, "fields.") + "id"
	var current int64
	err = tx.QueryRowContext(ctx, s.Rebind("SELECT version FROM "+tm.SQL+" WHERE id = ?"), id).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return &catalog.OpError{Code: coffer.ENOTFOUND, Fields: []coffer.FieldError{{Field: field, Message: "record not found"}}}, nil
	}
	if err != nil {
		return nil, err
	}
	return &catalog.OpError{Code: coffer.EVERSION, Fields: []coffer.FieldError{{Field: strings.TrimSuffix(prefix, "fields.") + "version",
		Message: fmt.Sprintf("the record has changed: expected version %d, it is now %d", version, current)}}}, nil
}

// deleteTx deletes one record.
func (s *Service) deleteTx(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, tm *catalog.TableMeta, tp *catalog.TablePlan, id string, version int64, prefix string) (*catalog.OpError, error) {
	notFound := &catalog.OpError{Code: coffer.ENOTFOUND, Fields: []coffer.FieldError{{Field: prefix + "id", Message: "record not found"}}}
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return notFound, nil
	}
	if !tp.Full() {
		found, vals, err := s.CondsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !found || !catalog.AnyOf(vals, catalog.AllConds(tp)) {
			return notFound, nil
		}
		if !catalog.AnyOf(vals, tp.Decision.With(access.CapDelete)) {
			return catalog.Denied(prefix, "you may not delete this record"), nil
		}
	}
	before, err := s.rawRecord(ctx, tx, tm, id)
	if err != nil {
		return nil, err
	}
	if before != nil {
		if err := s.recordDelete(ctx, tx, rec, tm, before); err != nil {
			return nil, err
		}
	}
	where, args := " WHERE id = ?", []any{id}
	if version > 0 {
		where += " AND version = ?"
		args = append(args, version)
	}
	res, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+tm.SQL+where), args...)
	if err != nil {
		return nil, err
	}
	return s.checkAffected(ctx, tx, tm, res, id, version, prefix+"fields.")
}

// CreateRecord validates and inserts a record.
func (s *Service) CreateRecord(ctx context.Context, notebook, table string, fields map[string]any) (*coffer.Record, error) {
	var out *coffer.Record
	err := s.recordWrite(ctx, notebook, table, "CreateRecord", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		if oe := refuseFiles(tp, fields, ""); oe != nil {
			return nil, singleError(oe)
		}
		r, oe, err := s.createTx(ctx, tx, rec, sc, tm, tp, by, fields, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		if err := openRecords(ctx, tm, []*coffer.Record{r}); err != nil {
			return nil, err
		}
		out = r
		return []live.Event{{Record: r.ID, Op: live.OpCreate, Version: r.Version}}, nil
	})
	return out, err
}

// FindRecord returns one record.
func (s *Service) FindRecord(ctx context.Context, notebook, table, id string) (*coffer.Record, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindRecord", err)
	}
	defer nc.Release()
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, catalog.ErrRecordNotFound
	}
	var r *coffer.Record
	var rtm *catalog.TableMeta
	err = s.readFresh(ctx, nc, func(sc *catalog.Schema, q catalog.Querier) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		rtm = tm
		tp, err := s.Plan(ctx, nc, q, tm)
		if err != nil {
			return err
		}
		if !tp.Full() {
			r, err = s.FindPlanned(ctx, nc, q, tp, id)
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return err
			}
			return s.Wrap("FindRecord", err)
		}
		query := tm.GetSQL
		var row *sql.Row
		if q == nc.DB.R {
			if row, err = nc.DB.QueryRow(ctx, query, id); err != nil {
				return s.Wrap("FindRecord", err)
			}
		} else {
			row = q.QueryRowContext(ctx, query, id)
		}
		r, err = catalog.ScanRecord(row, tm.Cols, tm.Names)
		if errors.Is(err, sql.ErrNoRows) {
			return catalog.ErrRecordNotFound
		}
		return s.Wrap("FindRecord", err)
	})
	if err == nil {
		err = openRecords(ctx, rtm, []*coffer.Record{r})
	}
	if err != nil {
		return nil, err
	}
	s.noteRead(ctx, nc, table, r)
	return r, nil
}

// UpdateRecord changes the given fields of a record.
func (s *Service) UpdateRecord(ctx context.Context, notebook, table, id string, fields map[string]any, version int64) (*coffer.Record, error) {
	var out *coffer.Record
	err := s.recordWrite(ctx, notebook, table, "UpdateRecord", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		if oe := refuseFiles(tp, fields, ""); oe != nil {
			return nil, singleError(oe)
		}
		oe, err := s.updateTx(ctx, tx, rec, sc, tm, tp, by, id, fields, version, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		if out, err = s.ReadAs(ctx, tx, tm, tp, id); err != nil {
			return nil, err
		}
		if err := openRecords(ctx, tm, []*coffer.Record{out}); err != nil {
			return nil, err
		}
		return []live.Event{{Record: id, Op: live.OpUpdate, Version: out.Version, Cols: setColumns(tm, fields)}}, nil
	})
	return out, err
}

// DeleteRecord deletes a record.
func (s *Service) DeleteRecord(ctx context.Context, notebook, table, id string, version int64) error {
	return s.recordWrite(ctx, notebook, table, "DeleteRecord", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		oe, err := s.deleteTx(ctx, tx, rec, tm, tp, id, version, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		return []live.Event{{Record: id, Op: live.OpDelete}}, nil
	})
}
