package store

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
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/value"
)

// prepareFields validates the fields of a write. Field names in errors are
// prefixed with prefix (e.g. "operations[3].fields."). A column hidden from
// the caller in every row is, to them, not a column of the table.
func prepareFields(tp *tablePlan, fields map[string]any, prefix string) ([]assignment, []coffer.FieldError) {
	var out []assignment
	var errs []coffer.FieldError
	seen := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[key]
		cm := tp.visible(key)
		if cm == nil {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: "is not a column of this table"})
			continue
		}
		if seen[cm.c.ID] {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: "is given twice (by name and by id)"})
			continue
		}
		seen[cm.c.ID] = true
		v, err := value.FromJSON(cm.c, raw)
		if err != nil {
			errs = append(errs, coffer.FieldError{Field: prefix + key, Message: err.Error()})
			continue
		}
		out = append(out, assignment{cm, v})
	}
	return out, errs
}

// setColumns returns the ids of the columns a (validated) write sets.
func setColumns(tm *tableMeta, fields map[string]any) []string {
	out := make([]string, 0, len(fields))
	for key := range fields {
		if cm := tm.column(key); cm != nil && !slices.Contains(out, cm.c.ID) {
			out = append(out, cm.c.ID)
		}
	}
	slices.Sort(out)
	return out
}

// writeLinks replaces the links of record id for each link assignment,
// checking that every target exists.
// Targets the caller cannot see (through tp's access) count as missing:
// a link never confirms that a hidden record exists.
func (s *nbSvc) writeLinks(ctx context.Context, tx *wtx, sc *schema, tp *tablePlan, id string, as []assignment, prefix string, isNew bool) ([]coffer.FieldError, error) {
	var errs []coffer.FieldError
	for _, a := range as {
		if a.cm.junction == "" {
			continue
		}
		ids, _ := a.v.([]string)
		if len(ids) > 0 {
			target := sc.byID[a.cm.c.Options.Table]
			if target == nil {
				return nil, fmt.Errorf("link column %s: target table missing", a.cm.c.ID)
			}
			var found map[string]bool
			var err error
			if tp.full() {
				found, err = s.existingIDs(ctx, tx, target, ids)
			} else {
				found, err = s.visibleIDs(ctx, tx, tp.acc, tp.prefix, target, ids)
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
				errs = append(errs, coffer.FieldError{Field: prefix + a.cm.c.Name,
					Message: fmt.Sprintf("links to records that do not exist in table %q: %s", target.t.Name, strings.Join(missing, ", "))})
				continue
			}
		}
		if !isNew {
			if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+a.cm.junction+" WHERE src = ?"), id); err != nil {
				return nil, err
			}
		}
		for pos, dst := range ids {
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO "+a.cm.junction+" (src, dst, pos) VALUES (?, ?, ?)"), id, dst, pos); err != nil {
				return nil, err
			}
		}
	}
	return errs, nil
}

// existingIDs returns which of ids are records of tm.
func (s *nbSvc) existingIDs(ctx context.Context, q querier, tm *tableMeta, ids []string) (map[string]bool, error) {
	args := make([]any, len(ids))
	for i, x := range ids {
		args[i] = x
	}
	rows, err := q.QueryContext(ctx, s.q("SELECT id FROM "+tm.sql+" WHERE id IN ("+placeholders(len(ids))+")"), args...)
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
func (s *nbSvc) createTx(ctx context.Context, tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string, fields map[string]any, prefix string) (*coffer.Record, *opError, error) {
	as, errs := prepareFields(tp, fields, prefix)
	if len(errs) > 0 {
		return nil, &opError{coffer.EINVALID, errs}, nil
	}
	// The conditions that let the caller create this record: the create
	// capability and write on every column it sets; one of them must match
	// the new record (checked once it is written).
	var allowed []int
	if !tp.full() {
		creators := tp.dec.With(access.CapCreate)
		if len(creators) == 0 {
			return nil, denied(prefix, "you may not create records in this table"), nil
		}
		writers := map[int]bool{}
		for _, i := range tp.dec.Writers(writeColumns(as)) {
			writers[i] = true
		}
		for _, i := range creators {
			if writers[i] {
				allowed = append(allowed, i)
			}
		}
		if len(allowed) == 0 {
			return nil, denied(prefix, "you may not set the columns %s when creating a record", deniedFor(tp, as, creators)), nil
		}
	}
	id := coffer.NewID(coffer.PrefixRecord)
	now := s.now()
	cols := []string{"id", "version", "created_at", "created_by", "updated_at", "updated_by"}
	args := []any{id, 1, now, by, now, by}
	for _, a := range as {
		if a.cm.phys != "" {
			cols = append(cols, a.cm.phys)
			args = append(args, a.v)
		}
		if a.cm.key != "" {
			cols = append(cols, a.cm.key)
			args = append(args, keyOf(a.v))
		}
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO "+tm.sql+" ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(args))+")"), args...); err != nil {
		return nil, nil, err
	}
	errs, err := s.writeLinks(ctx, tx, sc, tp, id, as, prefix, true)
	if err != nil {
		return nil, nil, err
	}
	if len(errs) > 0 {
		return nil, &opError{coffer.EINVALID, errs}, nil
	}
	if !tp.full() {
		_, vals, err := s.condsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, nil, err
		}
		if !anyOf(vals, allowed) {
			return nil, denied(prefix, "the new record would be outside the rows you may create"), nil
		}
		r, err := s.findPlanned(ctx, nil, tx, tp, id)
		return r, nil, err
	}
	r := &coffer.Record{ID: id, Version: 1, CreatedAt: fromMicros(now), CreatedBy: by, UpdatedAt: fromMicros(now), UpdatedBy: by,
		Fields: make(map[string]any, len(tm.cols)), Order: tm.names}
	stored := make(map[*colMeta]any, len(as))
	for _, a := range as {
		stored[a.cm] = a.v
	}
	for _, cm := range tm.cols {
		v := stored[cm]
		switch cm.c.Type {
		case coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
			v = now
		case coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
			v = by
		}
		r.Fields[cm.c.Name] = value.ToJSON(cm.c, v)
	}
	return r, nil, nil
}

// updateTx changes the given fields of one record.
func (s *nbSvc) updateTx(ctx context.Context, tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by, id string, fields map[string]any, version int64, prefix string) (*opError, error) {
	as, errs := prepareFields(tp, fields, prefix)
	if len(errs) > 0 {
		return &opError{coffer.EINVALID, errs}, nil
	}
	if len(as) == 0 {
		// A write that changes nothing would still make a new version.
		field := "fields"
		if prefix != "" {
			field = strings.TrimSuffix(prefix, ".")
		}
		return &opError{coffer.EINVALID, []coffer.FieldError{{Field: field, Message: "must name at least one column to change"}}}, nil
	}
	notFound := &opError{coffer.ENOTFOUND, []coffer.FieldError{{Field: strings.TrimSuffix(prefix, "fields.") + "id", Message: "record not found"}}}
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return notFound, nil
	}
	// The conditions that let the caller make this change: write on every
	// changed column and a match on the record before; one of the same
	// must still match after.
	var before []int
	if !tp.full() {
		found, vals, err := s.condsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !found || !anyOf(vals, allConds(tp)) {
			return notFound, nil
		}
		if before = keep(vals, tp.dec.Writers(writeColumns(as))); len(before) == 0 {
			return denied(strings.TrimSuffix(prefix, "fields."), "you may not change %s of this record", describeCols(as)), nil
		}
	}
	sets := []string{"version = version + 1", "updated_at = ?", "updated_by = ?"}
	args := []any{s.now(), by}
	for _, a := range as {
		if a.cm.phys != "" {
			sets = append(sets, a.cm.phys+" = ?")
			args = append(args, a.v)
		}
		if a.cm.key != "" {
			sets = append(sets, a.cm.key+" = ?")
			args = append(args, keyOf(a.v))
		}
	}
	where := " WHERE id = ?"
	args = append(args, id)
	if version > 0 {
		where += " AND version = ?"
		args = append(args, version)
	}
	res, err := tx.ExecContext(ctx, s.q("UPDATE "+tm.sql+" SET "+strings.Join(sets, ", ")+where), args...)
	if err != nil {
		return nil, err
	}
	if oe, err := s.checkAffected(ctx, tx, tm, res, id, version, prefix); oe != nil || err != nil {
		return oe, err
	}
	errs, err = s.writeLinks(ctx, tx, sc, tp, id, as, prefix, false)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return &opError{coffer.EINVALID, errs}, nil
	}
	if !tp.full() {
		_, vals, err := s.condsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !anyOf(vals, before) {
			return denied(strings.TrimSuffix(prefix, "fields."), "the change would move the record out of the rows you may edit"), nil
		}
	}
	return nil, nil
}

// checkAffected tells a missing record from a version conflict when an
// UPDATE or DELETE matched no row.
func (s *nbSvc) checkAffected(ctx context.Context, tx *wtx, tm *tableMeta, res sql.Result, id string, version int64, prefix string) (*opError, error) {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return nil, err
	}
	field := strings.TrimSuffix(prefix, "fields.") + "id"
	var current int64
	err = tx.QueryRowContext(ctx, s.q("SELECT version FROM "+tm.sql+" WHERE id = ?"), id).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return &opError{coffer.ENOTFOUND, []coffer.FieldError{{Field: field, Message: "record not found"}}}, nil
	}
	if err != nil {
		return nil, err
	}
	return &opError{coffer.EVERSION, []coffer.FieldError{{Field: strings.TrimSuffix(prefix, "fields.") + "version",
		Message: fmt.Sprintf("the record has changed: expected version %d, it is now %d", version, current)}}}, nil
}

// deleteTx deletes one record.
func (s *nbSvc) deleteTx(ctx context.Context, tx *wtx, tm *tableMeta, tp *tablePlan, id string, version int64, prefix string) (*opError, error) {
	notFound := &opError{coffer.ENOTFOUND, []coffer.FieldError{{Field: prefix + "id", Message: "record not found"}}}
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return notFound, nil
	}
	if !tp.full() {
		found, vals, err := s.condsOn(ctx, tx, tp, id)
		if err != nil {
			return nil, err
		}
		if !found || !anyOf(vals, allConds(tp)) {
			return notFound, nil
		}
		if !anyOf(vals, tp.dec.With(access.CapDelete)) {
			return denied(prefix, "you may not delete this record"), nil
		}
	}
	where, args := " WHERE id = ?", []any{id}
	if version > 0 {
		where += " AND version = ?"
		args = append(args, version)
	}
	res, err := tx.ExecContext(ctx, s.q("DELETE FROM "+tm.sql+where), args...)
	if err != nil {
		return nil, err
	}
	return s.checkAffected(ctx, tx, tm, res, id, version, prefix+"fields.")
}

// singleError turns the failure of a single-record operation into an error.
func singleError(oe *opError) error {
	switch oe.code {
	case coffer.ENOTFOUND:
		return errRecordNotFound
	case coffer.EVERSION, coffer.EFORBIDDEN:
		return &coffer.Error{Code: oe.code, Message: oe.fields[0].Message}
	}
	return &coffer.Error{Code: oe.code, Message: "the record is not valid", Fields: oe.fields}
}

// recordWrite opens the notebook and table and runs fn in a write
// transaction. fn returns the changes it made (record, op and version of
// each), which become the write's live events: sent inside the
// transaction on a backend that notifies, published after the commit
// otherwise.
func (s *nbSvc) recordWrite(ctx context.Context, notebook, table, op string, rows int, fn func(tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string) ([]live.Event, error)) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return s.wrap(op, err)
	}
	defer nc.release()
	if tm, err := nc.schema.table(table); err != nil {
		return err
	} else if _, err := s.plan(ctx, nc, nc.db.R, tm); err != nil {
		return err
	}
	defer s.b.Wrote(notebook, rows)
	var evs []live.Event
	err = s.write(ctx, nc.db, op, func(tx *wtx) error {
		sc, err := s.currentSchema(ctx, notebook, nc.db, tx, nc.schema)
		if err != nil {
			return err
		}
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		tp, err := s.plan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		changes, err := fn(tx, sc, tm, tp, c.UserID)
		if err != nil {
			return err
		}
		changes = lastPerRecord(changes)
		for i := range changes {
			changes[i].Notebook, changes[i].Table = nc.nb.ID, tm.t.ID
		}
		if err := s.emit(ctx, tx, changes); err != nil {
			return err
		}
		evs = changes
		return nil
	})
	if err != nil {
		return err
	}
	s.published(evs)
	return nil
}

// readFresh runs a read with the cached schema on the readers. If that
// fails in a way a concurrent schema change can cause (a column or table
// that no longer exists), it runs the read again inside a read transaction
// with the schema loaded from that transaction's own snapshot, where the
// schema and the data always agree.
func (s *nbSvc) readFresh(ctx context.Context, nc *nbConn, read func(sc *schema, q querier) error) error {
	err := read(nc.schema, nc.db.R)
	if err == nil || coffer.ErrorCode(err) != coffer.EINTERNAL {
		return err
	}
	s.nbs.invalidate(nc.nb.ID)
	return s.readTx(ctx, nc.db.R, "read", func(tx *sql.Tx) error {
		// Where schema changes run concurrently with reads (PostgreSQL),
		// hold the catalogue's version row shared: a schema change takes
		// it exclusively first, so none can commit between loading the
		// schema and reading the data.
		if lock := s.d.LockRows(false); lock != "" {
			var v int64
			if err := tx.QueryRowContext(ctx, "SELECT version FROM "+nc.db.Prefix+"_schema_version"+lock).Scan(&v); err != nil {
				return err
			}
		}
		sc, err := s.loadSchema(ctx, nc.nb.ID, nc.db.Prefix, tx)
		if err != nil {
			return err
		}
		return read(sc, tx)
	})
}

// CreateRecord validates and inserts a record.
func (s *nbSvc) CreateRecord(ctx context.Context, notebook, table string, fields map[string]any) (*coffer.Record, error) {
	var out *coffer.Record
	err := s.recordWrite(ctx, notebook, table, "CreateRecord", 1, func(tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string) ([]live.Event, error) {
		r, oe, err := s.createTx(ctx, tx, sc, tm, tp, by, fields, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		out = r
		return []live.Event{{Record: r.ID, Op: live.OpCreate, Version: r.Version}}, nil
	})
	return out, err
}

// FindRecord returns one record.
func (s *nbSvc) FindRecord(ctx context.Context, notebook, table, id string) (*coffer.Record, error) {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return nil, s.wrap("FindRecord", err)
	}
	defer nc.release()
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, errRecordNotFound
	}
	var r *coffer.Record
	err = s.readFresh(ctx, nc, func(sc *schema, q querier) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		tp, err := s.plan(ctx, nc, q, tm)
		if err != nil {
			return err
		}
		if !tp.full() {
			r, err = s.findPlanned(ctx, nc, q, tp, id)
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return err
			}
			return s.wrap("FindRecord", err)
		}
		query := tm.getSQL
		var row *sql.Row
		if q == nc.db.R {
			if row, err = nc.db.queryRow(ctx, query, id); err != nil {
				return s.wrap("FindRecord", err)
			}
		} else {
			row = q.QueryRowContext(ctx, query, id)
		}
		r, err = scanRecord(row, tm.cols, tm.names)
		if errors.Is(err, sql.ErrNoRows) {
			return errRecordNotFound
		}
		return s.wrap("FindRecord", err)
	})
	return r, err
}

// UpdateRecord changes the given fields of a record.
func (s *nbSvc) UpdateRecord(ctx context.Context, notebook, table, id string, fields map[string]any, version int64) (*coffer.Record, error) {
	var out *coffer.Record
	err := s.recordWrite(ctx, notebook, table, "UpdateRecord", 1, func(tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string) ([]live.Event, error) {
		oe, err := s.updateTx(ctx, tx, sc, tm, tp, by, id, fields, version, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		if out, err = s.readAs(ctx, tx, tm, tp, id); err != nil {
			return nil, err
		}
		return []live.Event{{Record: id, Op: live.OpUpdate, Version: out.Version, Cols: setColumns(tm, fields)}}, nil
	})
	return out, err
}

// DeleteRecord deletes a record.
func (s *nbSvc) DeleteRecord(ctx context.Context, notebook, table, id string, version int64) error {
	return s.recordWrite(ctx, notebook, table, "DeleteRecord", 1, func(tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string) ([]live.Event, error) {
		oe, err := s.deleteTx(ctx, tx, tm, tp, id, version, "")
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, singleError(oe)
		}
		return []live.Event{{Record: id, Op: live.OpDelete}}, nil
	})
}

// deletedLater reports whether an operation of ops after the i-th deletes
// the record the i-th names.
func deletedLater(ops []coffer.BatchOp, i int) bool {
	for _, op := range ops[i+1:] {
		if op.Op == coffer.OpDelete && op.ID == ops[i].ID {
			return true
		}
	}
	return false
}

// maxBatchErrors bounds the problems one failed batch reports.
const maxBatchErrors = 100

// Batch applies operations in one transaction: all or nothing.
func (s *nbSvc) Batch(ctx context.Context, notebook, table string, ops []coffer.BatchOp) (*coffer.BatchResult, error) {
	if len(ops) == 0 {
		return nil, coffer.Invalid("the batch is empty", coffer.FieldError{Field: "operations", Message: "must hold 1 to 1000 operations"})
	}
	if len(ops) > coffer.MaxBatch {
		return nil, &coffer.Error{Code: coffer.ETOOLARGE, Message: fmt.Sprintf("a batch holds at most %d operations", coffer.MaxBatch),
			Fields: []coffer.FieldError{{Field: "operations", Message: fmt.Sprintf("must hold 1 to %d operations", coffer.MaxBatch)}}}
	}
	out := &coffer.BatchResult{Results: make([]*coffer.Record, len(ops))}
	err := s.recordWrite(ctx, notebook, table, "Batch", len(ops), func(tx *wtx, sc *schema, tm *tableMeta, tp *tablePlan, by string) ([]live.Event, error) {
		var all []coffer.FieldError
		code := ""
		rank := map[string]int{coffer.EFORBIDDEN: 4, coffer.EINVALID: 3, coffer.ENOTFOUND: 2, coffer.EVERSION: 1}
		ids := make([]string, len(ops))
		for i, op := range ops {
			prefix := fmt.Sprintf("operations[%d].", i)
			var oe *opError
			var err error
			switch op.Op {
			case coffer.OpCreate:
				var r *coffer.Record
				if r, oe, err = s.createTx(ctx, tx, sc, tm, tp, by, op.Fields, prefix+"fields."); r != nil {
					ids[i] = r.ID
					out.Results[i] = r // no operation of the batch can name a record it creates
				}
			case coffer.OpUpdate:
				ids[i] = op.ID
				oe, err = s.updateTx(ctx, tx, sc, tm, tp, by, op.ID, op.Fields, op.Version, prefix+"fields.")
				if err == nil && oe == nil && code == "" {
					// The result is the record as this operation left it,
					// before any later operation of the batch.
					out.Results[i], err = s.readAs(ctx, tx, tm, tp, op.ID)
				}
			case coffer.OpDelete:
				ids[i] = op.ID
				if len(op.Fields) > 0 {
					oe = &opError{coffer.EINVALID, []coffer.FieldError{{Field: prefix + "fields", Message: "must be empty for a delete"}}}
				} else {
					oe, err = s.deleteTx(ctx, tx, tm, tp, op.ID, op.Version, prefix)
				}
			default:
				oe = &opError{coffer.EINVALID, []coffer.FieldError{{Field: prefix + "op", Message: "must be create, update or delete"}}}
			}
			if err != nil {
				return nil, err
			}
			if oe != nil {
				if rank[oe.code] > rank[code] {
					code = oe.code
				}
				for _, fe := range oe.fields {
					if len(all) < maxBatchErrors {
						all = append(all, fe)
					}
				}
			}
		}
		if code != "" {
			msg := map[string]string{
				coffer.EFORBIDDEN: "some operations are not allowed to you; nothing was written",
				coffer.EINVALID:   "some operations are not valid; nothing was written",
				coffer.ENOTFOUND:  "some records were not found; nothing was written",
				coffer.EVERSION:   "some records have changed; nothing was written",
			}[code]
			return nil, &coffer.Error{Code: code, Message: msg, Fields: all}
		}
		evs := make([]live.Event, 0, len(ops))
		for i, op := range ops {
			if op.Op == coffer.OpDelete {
				out.Results[i] = &coffer.Record{ID: ids[i]}
				evs = append(evs, live.Event{Record: ids[i], Op: live.OpDelete})
				continue
			}
			if op.Op == coffer.OpCreate {
				evs = append(evs, live.Event{Record: ids[i], Op: live.OpCreate, Version: out.Results[i].Version})
				continue
			}
			if deletedLater(ops, i) {
				continue // its delete event tells what happened
			}
			evs = append(evs, live.Event{Record: ids[i], Op: live.OpUpdate, Version: out.Results[i].Version, Cols: setColumns(tm, op.Fields)})
		}
		return evs, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
