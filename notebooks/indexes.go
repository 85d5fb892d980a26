package notebooks

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Declared indexes: indexes over several columns of a table, declared by
// those who may change its schema, so that a filter on the leading
// columns sorted by the next (team = "red", sorted by -age) or counted is
// served by one index. They are stored in the table's row of the
// catalogue (_tables.indexes, catalog.IndexDef) and named in SQL by their
// ids. On PostgreSQL an index is built with CREATE INDEX CONCURRENTLY
// before the catalogue records it, so writers are never blocked; a build
// that fails leaves no index behind. SQLite has one writer: the build
// holds it (about a second per 100,000 rows).

var errIndexNotFound = coffer.Errorf(coffer.ENOTFOUND, "index not found")

// checkIndex resolves the columns of in on tm as the caller sees it (tp
// from schemaPlan, nil for everything): a column hidden from them is a
// column that does not exist.
func checkIndex(tm *catalog.TableMeta, tp *catalog.TablePlan, in coffer.IndexInput) ([]catalog.IndexKey, error) {
	var errs []coffer.FieldError
	if in.Unique {
		errs = append(errs, coffer.FieldError{Field: "unique", Message: "must be false: a unique index would tell a writer that a row they may not see holds the value they write"})
	}
	switch {
	case len(in.Columns) < 2:
		errs = append(errs, coffer.FieldError{Field: "columns", Message: "must list at least 2 columns (each column has an index of its own)"})
	case len(in.Columns) > coffer.MaxIndexColumns:
		errs = append(errs, coffer.FieldError{Field: "columns", Message: fmt.Sprintf("must list at most %d columns", coffer.MaxIndexColumns)})
	}
	var keys []catalog.IndexKey
	seen := map[string]bool{}
	for i, name := range in.Columns {
		field := fmt.Sprintf("columns[%d]", i)
		desc := strings.HasPrefix(name, "-")
		cm, err := columnAs(tp, tm, strings.TrimPrefix(name, "-"))
		switch {
		case err != nil:
			errs = append(errs, coffer.FieldError{Field: field, Message: "is not a column of this table"})
		case cm.Phys == "" || !catalog.Indexable(cm.Column.Type):
			errs = append(errs, coffer.FieldError{Field: field, Message: fmt.Sprintf("is a %s column, which an index cannot hold", cm.Column.Type)})
		case seen[cm.Column.ID]:
			errs = append(errs, coffer.FieldError{Field: field, Message: "is listed twice"})
		default:
			seen[cm.Column.ID] = true
			keys = append(keys, catalog.IndexKey{Column: cm.Column.ID, Desc: desc})
		}
	}
	if len(errs) == 0 {
		var cols []*coffer.Column
		for _, k := range keys {
			cols = append(cols, tm.Column(k.Column).Column)
		}
		if n := catalog.IndexEntryBytes(cols); n > catalog.IndexEntryBudget {
			errs = append(errs, coffer.FieldError{Field: "columns", Message: fmt.Sprintf("could make index entries of %d bytes, over the %d an entry may take: use fewer text columns", n, catalog.IndexEntryBudget)})
		}
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the index is not valid", errs...)
	}
	if len(tm.Indexes) >= coffer.MaxTableIndexes {
		return nil, coffer.Errorf(coffer.EINVALID, "a table has at most %d declared indexes: delete one first", coffer.MaxTableIndexes)
	}
	for _, d := range tm.Indexes {
		if d.SameKeys(catalog.IndexDef{Keys: keys}) {
			return nil, &coffer.Error{Code: coffer.ECONFLICT, Message: "the table has this index already",
				Fields: []coffer.FieldError{{Field: "columns", Message: "are the columns of index " + d.ID}}}
		}
	}
	return keys, nil
}

// indexAs is a declared index as the caller sees it (tp from schemaPlan):
// ok is false when one of its columns is hidden from them.
func indexAs(tm *catalog.TableMeta, tp *catalog.TablePlan, d catalog.IndexDef) (*coffer.TableIndex, bool) {
	out := &coffer.TableIndex{ID: d.ID, Columns: make([]string, 0, len(d.Keys)), CreatedAt: store.FromMicros(d.CreatedAt)}
	for _, k := range d.Keys {
		cm, err := columnAs(tp, tm, k.Column)
		if err != nil || cm.Column.ID != k.Column {
			return nil, false
		}
		name := cm.Column.Name
		if k.Desc {
			name = "-" + name
		}
		out.Columns = append(out.Columns, name)
	}
	return out, true
}

// indexSummary names an index's columns for history: (Team, -Age).
func indexSummary(tm *catalog.TableMeta, d catalog.IndexDef) string {
	var names []string
	for _, k := range d.Keys {
		n := k.Column
		if cm := tm.Column(k.Column); cm != nil {
			n = cm.Column.Name
		}
		if k.Desc {
			n = "-" + n
		}
		names = append(names, n)
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// setIndexes stores the declared indexes of table tableID.
func (s *Service) setIndexes(ctx context.Context, tx *store.WriteTx, prefix, tableID string, defs []catalog.IndexDef) error {
	_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+prefix+"_tables SET indexes = ?, updated_at = ? WHERE id = ?"), catalog.IndexesJSON(defs), s.NowMicros(), tableID)
	return err
}

// concurrentIndexes reports whether declared indexes are built outside
// the write transaction, without blocking writers (PostgreSQL).
func (s *Service) concurrentIndexes() bool { return s.Dialect.Name() == "postgres" }

// CreateIndex declares an index over several columns of a table.
func (s *Service) CreateIndex(ctx context.Context, notebook, table string, in coffer.IndexInput) (*coffer.TableIndex, error) {
	def := catalog.IndexDef{ID: coffer.NewID(coffer.PrefixIndex)}
	var drop func() // drops the index built, when it is not recorded
	if s.concurrentIndexes() {
		var err error
		if drop, err = s.buildIndex(ctx, notebook, table, in, &def); err != nil {
			return nil, err
		}
	}
	built := drop != nil
	var out *coffer.TableIndex
	err := s.schemaChange(ctx, notebook, table, "CreateIndex", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		keys, err := checkIndex(tm, tp, in)
		if err != nil {
			return err
		}
		if built {
			// A column replaced meanwhile (a type change) took the index with it.
			var exists bool
			if err := tx.QueryRowContext(ctx, s.Rebind("SELECT to_regclass(?) IS NOT NULL"), catalog.SQLDeclaredIndex(nc.DB.Prefix, def.ID)).Scan(&exists); err != nil {
				return err
			}
			if !exists || !def.SameKeys(catalog.IndexDef{Keys: keys}) {
				return coffer.Errorf(coffer.ECONFLICT, "the table's columns changed while the index was built: try again")
			}
		}
		def.Keys, def.CreatedAt = keys, s.NowMicros()
		if !built {
			ddl, ok := catalog.DeclaredIndexDDL(s.Dialect, tm.SQL, tm.Table.Columns, def, false)
			if !ok {
				return fmt.Errorf("index %s: a key has no column", def.ID)
			}
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return err
			}
		}
		if err := s.setIndexes(ctx, tx, nc.DB.Prefix, tm.Table.ID, append(append([]catalog.IndexDef(nil), tm.Indexes...), def)); err != nil {
			return err
		}
		rec.Begin(history.KindIndexCreate, tm.Table.ID, fmt.Sprintf("added index %s to table %s", indexSummary(tm, def), tm.Table.Name))
		rec.Inverse = history.MustJSON(history.IndexInverse{Table: tm.Table.ID, Index: history.MustJSON(def)})
		out, _ = indexAs(tm, tp, def)
		return nil
	})
	if err != nil {
		if built {
			drop()
		}
		return nil, err
	}
	return out, nil
}

// buildIndex builds the index in declares, as def (its id set), outside
// any transaction and without blocking writers: CREATE INDEX CONCURRENTLY,
// on a connection without a statement timeout (a build takes as long as
// the table needs). A build that fails leaves an INVALID index, dropped
// here. drop drops the index built, for CreateIndex when it cannot record it.
func (s *Service) buildIndex(ctx context.Context, notebook, table string, in coffer.IndexInput, def *catalog.IndexDef) (drop func(), err error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("CreateIndex", err)
	}
	defer nc.Release()
	tm, tp, err := s.indexTable(ctx, nc, table)
	if err != nil {
		return nil, err
	}
	if def.Keys, err = checkIndex(tm, tp, in); err != nil {
		return nil, err
	}
	ddl, ok := catalog.DeclaredIndexDDL(s.Dialect, tm.SQL, tm.Table.Columns, *def, true)
	if !ok {
		return nil, fmt.Errorf("index %s: a key has no column", def.ID)
	}
	db, name := nc.DB.W, catalog.SQLDeclaredIndex(nc.DB.Prefix, def.ID)
	drop = func() {
		// Whatever the request's context became.
		_, _ = db.ExecContext(context.Background(), "DROP INDEX CONCURRENTLY IF EXISTS "+name)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, s.Wrap("CreateIndex", err)
	}
	defer conn.Close()
	if _, err = conn.ExecContext(ctx, "SET statement_timeout = 0"); err == nil {
		_, err = conn.ExecContext(ctx, ddl)
		if _, rerr := conn.ExecContext(context.Background(), "RESET statement_timeout"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // not back to the pool without its timeout
		}
	}
	if err != nil {
		drop()
		return nil, s.Wrap("CreateIndex", err)
	}
	return drop, nil
}

// FindIndexes lists a table's declared indexes.
func (s *Service) FindIndexes(ctx context.Context, notebook, table string) ([]*coffer.TableIndex, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindIndexes", err)
	}
	defer nc.Release()
	tm, tp, err := s.indexTable(ctx, nc, table)
	if err != nil {
		return nil, s.Wrap("FindIndexes", err)
	}
	out := []*coffer.TableIndex{}
	for _, d := range tm.Indexes {
		if ti, ok := indexAs(tm, tp, d); ok {
			out = append(out, ti)
		}
	}
	return out, nil
}

// DeleteIndex drops a declared index.
func (s *Service) DeleteIndex(ctx context.Context, notebook, table, index string) error {
	return s.schemaChange(ctx, notebook, table, "DeleteIndex", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		i := indexOf(tm, index)
		if i < 0 {
			return errIndexNotFound
		}
		def := tm.Indexes[i]
		if _, ok := indexAs(tm, tp, def); !ok {
			return errIndexNotFound // over a column hidden from the caller
		}
		if err := s.dropIndexSQL(ctx, tx, nc.DB.Prefix, tm, i); err != nil {
			return err
		}
		rec.Begin(history.KindIndexDelete, tm.Table.ID, fmt.Sprintf("deleted index %s of table %s", indexSummary(tm, def), tm.Table.Name))
		rec.Inverse = history.MustJSON(history.IndexInverse{Table: tm.Table.ID, Index: history.MustJSON(def)})
		return nil
	})
}

// indexOf is the position of the declared index id in tm.Indexes, -1 for none.
func indexOf(tm *catalog.TableMeta, id string) int {
	for i, d := range tm.Indexes {
		if d.ID == id {
			return i
		}
	}
	return -1
}

// dropIndexSQL drops the declared index tm.Indexes[i] and records the
// table without it.
func (s *Service) dropIndexSQL(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta, i int) error {
	if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+catalog.SQLDeclaredIndex(prefix, tm.Indexes[i].ID)); err != nil {
		return err
	}
	rest := append(append([]catalog.IndexDef(nil), tm.Indexes[:i]...), tm.Indexes[i+1:]...)
	tm.Indexes = rest // a later drop in the same change sees it gone
	return s.setIndexes(ctx, tx, prefix, tm.Table.ID, rest)
}

// dropIndexesUsing drops the declared indexes that have column colID
// among their keys: a column is deleted, or its storage replaced.
func (s *Service) dropIndexesUsing(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta, colID string) error {
	for i := len(tm.Indexes) - 1; i >= 0; i-- {
		if tm.Indexes[i].Uses(colID) {
			if err := s.dropIndexSQL(ctx, tx, prefix, tm, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeIndexInverse reads the payload of an index action.
func decodeIndexInverse(payload json.RawMessage) (string, catalog.IndexDef, error) {
	var ii history.IndexInverse
	var d catalog.IndexDef
	if err := json.Unmarshal(payload, &ii); err != nil {
		return "", d, err
	}
	err := json.Unmarshal(ii.Index, &d)
	return ii.Table, d, err
}

// indexTable returns table for an index operation by a caller who may
// change its schema, and the caller's plan on it when the caller is below
// admin (nil otherwise): columns hidden from the caller are then unknown
// to the operation, as everywhere.
func (s *Service) indexTable(ctx context.Context, nc *catalog.Conn, table string) (*catalog.TableMeta, *catalog.TablePlan, error) {
	if err := s.mayChangeSchema(ctx, nc, table); err != nil {
		return nil, nil, err
	}
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return nil, nil, err
	}
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return tm, nil, nil
	}
	tp, err := s.PlanWith(ctx, nc.Rights, nc.DB.Prefix, nc.DB.R, tm)
	return tm, tp, err
}
