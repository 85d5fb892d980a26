package notebooks

// The transaction around a write of records, and reads that must see the latest schema.

import (
	"context"
	"database/sql"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// singleError turns the failure of a single-record operation into an error.
func singleError(oe *catalog.OpError) error {
	switch oe.Code {
	case coffer.ENOTFOUND:
		return catalog.ErrRecordNotFound
	case coffer.EVERSION, coffer.EFORBIDDEN:
		return &coffer.Error{Code: oe.Code, Message: oe.Fields[0].Message}
	}
	return &coffer.Error{Code: oe.Code, Message: "the record is not valid", Fields: oe.Fields}
}

// recordWrite opens the notebook and table and runs fn in a write
// transaction. fn returns the changes it made (record, op and version of
// each), which become the write's live events: sent inside the
// transaction on a backend that notifies, published after the commit
// otherwise.
func (s *Service) recordWrite(ctx context.Context, notebook, table, op string, rows int, fn func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error)) error {
	return s.recordWriteLocked(ctx, notebook, table, op, rows, false, fn)
}

// recordWriteLocked is recordWrite; with exclusive, the write first takes
// the notebook's catalogue version row exclusively (where rows lock:
// PostgreSQL), as schema changes do, so that such writes of one notebook
// run one at a time: file uploads, which check the notebook's total.
func (s *Service) recordWriteLocked(ctx context.Context, notebook, table, op string, rows int, exclusive bool, fn func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error)) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer nc.Release()
	// Inside a nested write (a whole-notebook restore) the table may be
	// one the enclosing transaction created: checked in it below.
	if !store.InWriteTx(ctx, nc.DB) {
		if tm, err := nc.Schema.Table(table); err != nil {
			return err
		} else if _, err := s.Plan(ctx, nc, nc.DB.R, tm); err != nil {
			return err
		}
	}
	defer s.Storage.Wrote(notebook, rows)
	var evs []live.Event
	err = s.Write(ctx, nc.DB, op, func(tx *store.WriteTx) error {
		if lock := s.Dialect.LockRows(true); exclusive && lock != "" {
			var v int64
			if err := tx.QueryRowContext(ctx, "SELECT version FROM "+nc.DB.Prefix+"_schema_version"+lock).Scan(&v); err != nil {
				return err
			}
		}
		sc, err := s.CurrentSchema(ctx, notebook, nc.DB, tx, nc.Schema)
		if err != nil {
			return err
		}
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		tp, err := s.Plan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		rec := &history.Recorder{}
		changes, err := fn(tx, sc, tm, tp, c.UserID, rec)
		if err != nil {
			return err
		}
		if _, err := s.record(ctx, tx, nc.DB, sc, rec); err != nil {
			return err
		}
		changes = lastPerRecord(changes)
		for i := range changes {
			changes[i].Notebook, changes[i].Table = nc.Notebook.ID, tm.Table.ID
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
	s.al.watch.wrote(ctx, evs)
	return nil
}

// readFresh runs a read with the cached schema on the readers. If that
// fails in a way a concurrent schema change can cause (a column or table
// that no longer exists), it runs the read again inside a read transaction
// with the schema loaded from that transaction's own snapshot, where the
// Schema and the data always agree.
func (s *Service) readFresh(ctx context.Context, nc *catalog.Conn, read func(sc *catalog.Schema, q catalog.Querier) error) error {
	err := read(nc.Schema, nc.DB.R)
	if err == nil || coffer.ErrorCode(err) != coffer.EINTERNAL {
		return err
	}
	s.Schemas.Invalidate(nc.Notebook.ID)
	return s.ReadTx(ctx, nc.DB.R, "read", func(tx *sql.Tx) error {
		// Where schema changes run concurrently with reads (PostgreSQL),
		// hold the catalogue's version row shared: a schema change takes
		// it exclusively first, so none can commit between loading the
		// schema and reading the data.
		if lock := s.Dialect.LockRows(false); lock != "" {
			var v int64
			if err := tx.QueryRowContext(ctx, "SELECT version FROM "+nc.DB.Prefix+"_schema_version"+lock).Scan(&v); err != nil {
				return err
			}
		}
		sc, err := s.LoadSchema(ctx, nc.Notebook.ID, nc.DB.Prefix, tx)
		if err != nil {
			return err
		}
		return read(sc, tx)
	})
}
