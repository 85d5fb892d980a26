package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// ErrNotEmpty is returned (wrapped) when the destination already holds data.
var ErrNotEmpty = errors.New("the destination is not empty")

// maxParams bounds the bound parameters of one multi-row INSERT.
const maxParams = 900

// readTx begins a read transaction that sees one snapshot of db.
func readTx(ctx context.Context, d store.Dialect, db *store.DB) (*sql.Tx, error) {
	var opts *sql.TxOptions
	if d.Name() == "postgres" {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return db.R.BeginTx(ctx, opts)
}

// Copy copies everything in src into dst, which must be empty (else an
// error wrapping ErrNotEmpty). It only reads src.
//
// Each notebook is copied in one transaction on the destination, after
// its storage was created by dst.CreateNotebook; the instance database
// (accounts, sessions, notebook registry) is copied last, in one
// transaction, from the same snapshot that listed the notebooks. So the
// destination never has a registered notebook without its data. When the
// copy fails, the notebooks already copied are dropped again, leaving the
// destination empty so that the copy can simply be run again.
func Copy(ctx context.Context, src, dst store.Backend) (err error) {
	if err := checkEmpty(ctx, dst); err != nil {
		return err
	}
	sd := src.Dialect()
	sinst := src.Instance()
	stx, err := readTx(ctx, sd, sinst)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	defer stx.Rollback()
	ids, err := notebookIDs(ctx, stx, sinst.Prefix)
	if err != nil {
		return fmt.Errorf("read source notebooks: %w", err)
	}
	var created []string
	defer func() {
		if err != nil {
			for _, id := range created {
				_ = dst.DropNotebook(context.WithoutCancel(ctx), id)
			}
		}
	}()
	for _, id := range ids {
		if err := dst.CreateNotebook(ctx, id); err != nil {
			if coffer.ErrorCode(err) == coffer.ECONFLICT {
				return fmt.Errorf("%w: storage of notebook %s already exists", ErrNotEmpty, id)
			}
			return fmt.Errorf("notebook %s: create storage: %w", id, err)
		}
		created = append(created, id)
		if err := copyNotebook(ctx, src, dst, id); err != nil {
			return fmt.Errorf("notebook %s: %w", id, err)
		}
	}
	dinst := dst.Instance()
	dtx, err := dinst.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	defer dtx.Rollback()
	if err := copyInstance(ctx, stx, sinst.Prefix, dtx, dst.Dialect(), dinst.Prefix, nil); err != nil {
		return err
	}
	if err := dtx.Commit(); err != nil {
		return fmt.Errorf("instance: commit: %w", err)
	}
	return nil
}

// copyInstance copies the instance tables but those named in skip.
func copyInstance(ctx context.Context, q querier, sp string, dtx *sql.Tx, dd store.Dialect, dp string, skip []string) error {
	for i := range instanceTables {
		t := &instanceTables[i]
		if slices.Contains(skip, t.name) {
			continue
		}
		if _, err := copyTable(ctx, q, sp, dtx, dd, dp, t); err != nil {
			return fmt.Errorf("instance: %s: %w", t.name, err)
		}
	}
	return nil
}

// CopyInstance copies the instance database src (dialect sd) into dst
// (dialect dd), freshly migrated and empty, but for the tables named in
// skip (a backup leaves out "data_keys": keys live only in the keyring).
// The source is read in one snapshot, the destination written in one
// transaction. Unlike Copy it copies no notebook.
func CopyInstance(ctx context.Context, sd store.Dialect, src *store.DB, dd store.Dialect, dst *store.DB, skip ...string) error {
	stx, err := readTx(ctx, sd, src)
	if err != nil {
		return err
	}
	defer stx.Rollback()
	dtx, err := dst.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer dtx.Rollback()
	if err := copyInstance(ctx, stx, src.Prefix, dtx, dd, dst.Prefix, skip); err != nil {
		return err
	}
	return dtx.Commit()
}

// checkEmpty refuses a destination whose instance holds any row.
func checkEmpty(ctx context.Context, dst store.Backend) error {
	return InstanceEmpty(ctx, dst.Instance())
}

// InstanceEmpty returns an error wrapping ErrNotEmpty, saying what it
// holds, when any instance table of inst but those named in skip has a row.
func InstanceEmpty(ctx context.Context, inst *store.DB, skip ...string) error {
	var counts []string
	for _, t := range instanceTables {
		if slices.Contains(skip, t.name) {
			continue
		}
		var n int64
		if err := inst.R.QueryRowContext(ctx, "SELECT count(*) FROM "+inst.Prefix+quote(t.name)).Scan(&n); err != nil {
			return fmt.Errorf("read destination: %w", err)
		}
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, t.name))
		}
	}
	if len(counts) > 0 {
		return fmt.Errorf("%w: it holds %s; migrate copies only into an empty destination", ErrNotEmpty, strings.Join(counts, ", "))
	}
	return nil
}

func notebookIDs(ctx context.Context, q querier, prefix string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT id FROM "+prefix+"notebooks ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// copyNotebook copies the catalogue and data of one notebook into its
// freshly created (and migrated) storage on dst, in one transaction.
func copyNotebook(ctx context.Context, src, dst store.Backend, id string) error {
	sdb, srelease, err := src.Notebook(ctx, id)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer srelease()
	ddb, drelease, err := dst.Notebook(ctx, id)
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	defer drelease()
	return CopyNotebook(ctx, src.Dialect(), sdb, dst.Dialect(), ddb)
}

// CopyNotebook copies the catalogue and data of one notebook database
// (src, of dialect sd) into another (dst, of dialect dd), which must be
// freshly created and migrated, holding no table and no row. The source
// is read in one snapshot (a repeatable-read, read-only transaction on
// PostgreSQL; a read transaction in WAL mode on SQLite), so the copy is
// the notebook at one moment, whatever writers do meanwhile; the
// destination is written in one transaction, so it holds all of it or
// nothing. Any two dialects work: backups use it to turn a PostgreSQL
// notebook into a SQLite image and an image into a live notebook.
func CopyNotebook(ctx context.Context, sd store.Dialect, sdb *store.DB, dd store.Dialect, ddb *store.DB) error {
	stx, err := readTx(ctx, sd, sdb)
	if err != nil {
		return err
	}
	defer stx.Rollback()
	dtx, err := ddb.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer dtx.Rollback()
	nd, err := readCatalogue(ctx, stx, sd, sdb.Prefix)
	if err != nil {
		return fmt.Errorf("read catalogue: %w", err)
	}
	// The migrations made the version row; the source's replaces it.
	if _, err := dtx.ExecContext(ctx, "DELETE FROM "+ddb.Prefix+"_schema_version"); err != nil {
		return err
	}
	for i := range catalogueTables {
		t := &catalogueTables[i]
		if _, err := copyTable(ctx, stx, sdb.Prefix, dtx, dd, ddb.Prefix, t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if dd.Name() == "postgres" {
		// Copied sequence numbers leave the identity behind: move it on.
		if _, err := dtx.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+ddb.Prefix+"_actions', 'seq'), COALESCE((SELECT max(seq) FROM "+ddb.Prefix+"_actions), 0) + 1, false)"); err != nil {
			return fmt.Errorf("history sequence: %w", err)
		}
		if _, err := dtx.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+ddb.Prefix+"_access_log', 'seq'), COALESCE((SELECT max(seq) FROM "+ddb.Prefix+"_access_log), 0) + 1, false)"); err != nil {
			return fmt.Errorf("access record sequence: %w", err)
		}
	}
	var links []string
	for _, t := range nd.tables {
		tableDDL, linkDDL := notebooks.TableDDL(dd, ddb.Prefix, t)
		for _, st := range tableDDL {
			if _, err := dtx.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("create table %s: %w", t.ID, err)
			}
		}
		links = append(links, linkDDL...)
	}
	for _, st := range links {
		if _, err := dtx.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("create link table: %w", err)
		}
	}
	for i := range nd.user {
		t := &nd.user[i]
		if _, err := copyTable(ctx, stx, sdb.Prefix, dtx, dd, ddb.Prefix, t); err != nil {
			return fmt.Errorf("%s: %w", t.label, err)
		}
	}
	// Sort keys are derived from the values: computed anew on the
	// destination (the source may not have them yet), not copied.
	if err := catalog.FillSortKeys(ctx, dtx, dd, ddb.Prefix, nd.tables); err != nil {
		return err
	}
	// Declared indexes over several columns (their keys may hold sort keys).
	for _, t := range nd.tables {
		for _, def := range nd.indexes[t.ID] {
			ddl, ok := catalog.DeclaredIndexDDL(dd, catalog.SQLTable(ddb.Prefix, t.ID), t.Columns, def, false)
			if !ok {
				return fmt.Errorf("table %s: index %s names a column it does not have", t.ID, def.ID)
			}
			if _, err := dtx.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("create index %s: %w", def.ID, err)
			}
		}
	}
	if err := dtx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if dd.Name() == "sqlite" {
		// Fresh statistics for the query planner (PostgreSQL's autovacuum
		// makes its own). Only an optimisation: an error changes nothing.
		_, _ = ddb.W.ExecContext(ctx, "ANALYZE")
	}
	return nil
}

// copyTable copies every row of t from q (prefix sp) into tx (dialect d,
// prefix dp) with multi-row INSERTs, and returns how many it copied. The
// rows are read on this goroutine while another inserts the batches
// already read, so the wait on one database overlaps the work on the other.
func copyTable(ctx context.Context, q querier, sp string, tx *sql.Tx, d store.Dialect, dp string, t *table) (n int64, err error) {
	rows, err := q.QueryContext(ctx, t.selectSQL(sp))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quote(c.name)
	}
	head := "INSERT INTO " + dp + quote(t.name) + " (" + strings.Join(names, ", ") + ") VALUES "
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	batch := max(1, maxParams/len(t.cols))
	type chunk struct {
		args []any
		rows int
	}
	chunks := make(chan chunk, 2)
	done := make(chan error, 1)
	var failed atomic.Bool
	go func(chunks <-chan chunk) {
		var werr error
		for c := range chunks {
			if werr != nil {
				continue
			}
			query := head + strings.TrimSuffix(strings.Repeat(tuple+", ", c.rows), ", ")
			if _, err := tx.ExecContext(ctx, d.Rebind(query), c.args...); err != nil {
				werr = d.MapError(err)
				failed.Store(true)
			}
		}
		done <- werr
	}(chunks)
	open := true
	defer func() {
		if open {
			close(chunks)
			<-done
		}
	}()
	args := make([]any, 0, batch*len(t.cols))
	pending := 0
	h := t.holders()
	for rows.Next() {
		if err := rows.Scan(h...); err != nil {
			return n, err
		}
		for _, x := range h {
			args = append(args, value(x))
		}
		pending++
		n++
		if pending == batch {
			if failed.Load() {
				break
			}
			chunks <- chunk{args, pending}
			args, pending = make([]any, 0, batch*len(t.cols)), 0
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	if pending > 0 {
		chunks <- chunk{args, pending}
	}
	close(chunks)
	open = false
	return n, <-done
}
