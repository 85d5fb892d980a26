package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// MaxColumns bounds the columns of one table.
const MaxColumns = 500

// schemaChange runs fn in a write transaction on a notebook with its latest
// Schema, then drops the cached schema so the next request sees the change.
// table names the existing table the change is about ("" to create one):
// a table the caller cannot see answers ENOTFOUND like a missing one.
func (s *Service) schemaChange(ctx context.Context, notebook, table, op string, fn func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error) error {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer nc.Release()
	if err := s.mayChangeSchema(ctx, nc, table); err != nil {
		return err
	}
	err = s.Write(ctx, nc.DB, op, func(tx *store.WriteTx) error {
		if err := s.LockSchema(ctx, nc.DB, tx); err != nil {
			return err
		}
		sc, err := s.SchemaTx(ctx, notebook, nc.DB, tx)
		if err != nil {
			return err
		}
		rec := &history.Recorder{}
		if err := fn(tx, nc, sc, rec); err != nil {
			return err
		}
		if _, err := s.record(ctx, tx, nc.DB, sc, rec); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+nc.DB.Prefix+"_schema_version SET version = version + 1")
		return err
	})
	s.Schemas.Invalidate(notebook)
	return err
}

// checkColumn validates a column definition against the schema; tm is the
// table being changed (nil while it is being created, with newTable naming it).
func (s *Service) checkColumn(i int, in *coffer.ColumnInput, sc *catalog.Schema, newTableID, newTableName string) []coffer.FieldError {
	field := func(f string) string {
		if i < 0 {
			return f
		}
		return fmt.Sprintf("columns[%d].%s", i, f)
	}
	var errs []coffer.FieldError
	if n, fe := catalog.CheckName(field("name"), in.Name); fe != nil {
		errs = append(errs, *fe)
	} else {
		in.Name = n
	}
	if !in.Type.Valid() {
		errs = append(errs, coffer.FieldError{Field: field("type"), Message: "must be one of " + typeList()})
		return errs
	}
	for _, fe := range value.CheckOptions(in.Type, &in.Options) {
		fe.Field = field(fe.Field)
		errs = append(errs, fe)
	}
	if in.Type == coffer.TypeLink && in.Options.Table != "" {
		switch {
		case newTableID != "" && (in.Options.Table == newTableID || catalog.NameKey(in.Options.Table) == catalog.NameKey(newTableName)):
			in.Options.Table = newTableID
		default:
			target, err := sc.Table(in.Options.Table)
			if err != nil {
				errs = append(errs, coffer.FieldError{Field: field("options.table"), Message: "must name a table of this notebook"})
			} else {
				in.Options.Table = target.Table.ID
			}
		}
	}
	return errs
}

func typeList() string {
	var names []string
	for _, t := range coffer.ColumnTypes {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// addColumnSQL creates the storage of a column on table tableID: a
// physical column (plus an index) or a junction table for links.
func (s *Service) addColumnSQL(ctx context.Context, tx *store.WriteTx, prefix, tableID string, c *coffer.Column, inCreate bool) ([]string, error) {
	stmts := columnDDL(s.Dialect, prefix, tableID, c, inCreate)
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return nil, err
		}
	}
	return stmts, nil
}

// columnDDL returns the statements creating the storage of a column on
// table tableID: a physical column (unless inCreate: then CREATE TABLE has
// it) plus an index, or a junction table for links.
func columnDDL(d store.Dialect, prefix, tableID string, c *coffer.Column, inCreate bool) []string {
	var stmts []string
	tbl := catalog.SQLTable(prefix, tableID)
	switch {
	case c.Type == coffer.TypeLink:
		stmts = append(stmts,
			"CREATE TABLE "+catalog.SQLJunction(prefix, c.ID)+" (src "+d.ColumnType(coffer.TypeText)+" NOT NULL REFERENCES "+tbl+" (id) ON DELETE CASCADE, "+
				"dst "+d.ColumnType(coffer.TypeText)+" NOT NULL REFERENCES "+catalog.SQLTable(prefix, c.Options.Table)+" (id) ON DELETE CASCADE, "+
				"pos "+d.ColumnType(coffer.TypeNumber)+" NOT NULL, PRIMARY KEY (src, dst))",
			"CREATE INDEX "+strings.Replace(catalog.UnqualifiedIndex(c.ID), `"i_`, `"j_`, 1)+" ON "+catalog.SQLJunction(prefix, c.ID)+" (dst)")
	case c.Type.Automatic():
	default:
		if !inCreate {
			stmts = append(stmts, "ALTER TABLE "+tbl+" ADD COLUMN "+catalog.SQLColumn(c.ID)+" "+d.ColumnType(c.Type))
			if k := catalog.KeyColumnDDL(d, c); k != "" {
				stmts = append(stmts, "ALTER TABLE "+tbl+" ADD COLUMN "+k)
			}
		}
		if catalog.Indexable(c.Type) {
			// NULLs first, as lists order them ascending (and last descending, walking the index backwards).
			// On the sort key of a keyed text column (lists order by it), else on the value.
			stmts = append(stmts, "CREATE INDEX "+catalog.UnqualifiedIndex(c.ID)+" ON "+tbl+" ("+catalog.IndexedColumn(c)+d.NullsOrder(false)+", id)")
		}
	}
	return stmts
}

// TableDDL returns the statements that create the storage of table t with
// its columns t.Columns, in dialect d, in the database whose table names
// prefix qualifies: in table, the table with its system columns, physical
// columns and indexes; in links, the junction tables of its link columns,
// which refer to their target tables and so must run once those exist.
// CreateTable runs both; a copy between backends runs every table's table
// statements before any links.
func TableDDL(d store.Dialect, prefix string, t *coffer.Table) (table, links []string) {
	// Ids take the dialect's text type, which compares and orders them
	// bytewise as every text column.
	ts, text := d.ColumnType(coffer.TypeDateTime), d.ColumnType(coffer.TypeText)
	ddl := "CREATE TABLE " + catalog.SQLTable(prefix, t.ID) + " (id " + text + " PRIMARY KEY, version " + ts + " NOT NULL, created_at " + ts +
		" NOT NULL, created_by " + text + " NOT NULL, updated_at " + ts + " NOT NULL, updated_by " + text + " NOT NULL"
	for _, c := range t.Columns {
		if typ := d.ColumnType(c.Type); typ != "" {
			ddl += ", " + catalog.SQLColumn(c.ID) + " " + typ
		}
		if k := catalog.KeyColumnDDL(d, c); k != "" {
			ddl += ", " + k
		}
	}
	ddl += ")"
	table = append(table, ddl)
	short := strings.TrimPrefix(t.ID, coffer.PrefixTable)
	for _, col := range []string{"created_at", "updated_at"} {
		table = append(table, "CREATE INDEX \"s_"+short+"_"+col+"\" ON "+catalog.SQLTable(prefix, t.ID)+" ("+col+", id)")
	}
	for _, c := range t.Columns {
		if c.Type == coffer.TypeLink {
			links = append(links, columnDDL(d, prefix, t.ID, c, true)...)
		} else {
			table = append(table, columnDDL(d, prefix, t.ID, c, true)...)
		}
	}
	return table, links
}

func (s *Service) insertColumnRow(ctx context.Context, tx *store.WriteTx, prefix, tableID string, c *coffer.Column, pos int) error {
	opts, err := json.Marshal(c.Options)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+prefix+"_columns (id, table_id, name, name_key, type, options, position, created_at, sort_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		c.ID, tableID, c.Name, catalog.NameKey(c.Name), string(c.Type), string(opts), pos, c.CreatedAt.UnixMicro(), catalog.KeyFormat(c))
	return err
}

// CreateTable creates a table with its columns.
func (s *Service) CreateTable(ctx context.Context, notebook string, in coffer.TableInput) (*coffer.Table, error) {
	in.Columns = slices.Clone(in.Columns)
	for i := range in.Columns {
		if err := s.prepareEncryption(ctx, notebook, "", &in.Columns[i], fmt.Sprintf("columns[%d].", i)); err != nil {
			return nil, err
		}
	}
	var out *coffer.Table
	err := s.schemaChange(ctx, notebook, "", "CreateTable", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		var errs []coffer.FieldError
		name, fe := catalog.CheckName("name", in.Name)
		if fe != nil {
			errs = append(errs, *fe)
		} else if _, err := sc.Table(name); err == nil {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a table with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another table"}}}
		}
		if len(in.Columns) > MaxColumns {
			errs = append(errs, coffer.FieldError{Field: "columns", Message: fmt.Sprintf("must have at most %d columns", MaxColumns)})
			return coffer.Invalid("the table is not valid", errs...)
		}
		now := s.NowMicros()
		t := &coffer.Table{ID: coffer.NewID(coffer.PrefixTable), NotebookID: notebook, Name: name, Columns: []*coffer.Column{},
			CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
		seen := map[string]bool{}
		for i := range in.Columns {
			ci := in.Columns[i]
			errs = append(errs, s.checkColumn(i, &ci, sc, t.ID, name)...)
			if ci.Name != "" {
				if seen[catalog.NameKey(ci.Name)] {
					errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("columns[%d].name", i), Message: "is used by another column of the table"})
				}
				seen[catalog.NameKey(ci.Name)] = true
			}
			t.Columns = append(t.Columns, &coffer.Column{ID: coffer.NewID(coffer.PrefixColumn), Name: ci.Name, Type: ci.Type, Options: ci.Options, CreatedAt: store.FromMicros(now)})
		}
		if len(errs) > 0 {
			return coffer.Invalid("the table is not valid", errs...)
		}
		p := nc.DB.Prefix
		var pos int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) + 1 FROM "+p+"_tables").Scan(&pos); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+p+"_tables (id, name, name_key, position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
			t.ID, t.Name, catalog.NameKey(t.Name), pos, now, now); err != nil {
			return err
		}
		tableDDL, linkDDL := TableDDL(s.Dialect, p, t)
		for _, st := range append(tableDDL, linkDDL...) {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return err
			}
		}
		for i, c := range t.Columns {
			if err := s.insertColumnRow(ctx, tx, p, t.ID, c, i+1); err != nil {
				return err
			}
		}
		rec.Begin(history.KindTableCreate, t.ID, fmt.Sprintf("created table %s", t.Name))
		rec.Inverse = history.MustJSON(history.TableInverse{Table: t})
		out = t
		return nil
	})
	return out, err
}

// FindTables lists the tables of a notebook.
func (s *Service) FindTables(ctx context.Context, notebook string) ([]*coffer.Table, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindTables", err)
	}
	defer nc.Release()
	out := make([]*coffer.Table, 0, len(nc.Schema.Tables))
	for _, tm := range nc.Schema.Tables {
		t, err := s.tableAs(ctx, nc, tm)
		switch {
		case err == nil:
			out = append(out, t)
		case coffer.ErrorCode(err) != coffer.ENOTFOUND:
			return nil, s.Wrap("FindTables", err)
		}
	}
	return out, nil
}

// tableAs returns a table as the caller sees it: ENOTFOUND when they may
// see no row of it, and without the columns hidden from them in every row.
func (s *Service) tableAs(ctx context.Context, nc *catalog.Conn, tm *catalog.TableMeta) (*coffer.Table, error) {
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return nil, err
	}
	if tp.Full() {
		return tm.Table, nil
	}
	t := *tm.Table
	t.Columns = make([]*coffer.Column, len(tp.Cols))
	for i, cm := range tp.Cols {
		t.Columns[i] = cm.Column
	}
	t.Layout = layoutAs(t.Layout, tp.Cols)
	return &t, nil
}

// mayChangeSchema refuses changes to tables and columns without the
// schema right: owners and admins have it everywhere; a grant gives it on
// its own table, or on every table (and the right to create tables) when
// it covers the whole notebook. A table the caller cannot see answers
// ENOTFOUND, whatever their rights elsewhere.
func (s *Service) mayChangeSchema(ctx context.Context, nc *catalog.Conn, table string) error {
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return nil
	}
	refuse := coffer.Errorf(coffer.EFORBIDDEN, "changing tables and columns needs the schema right in this notebook (owners and admins have it)")
	if table == "" {
		for _, g := range nc.Rights.Grants {
			if g.TableID == "" && slices.Contains(g.Capabilities, access.CapSchema) {
				return nil
			}
		}
		return refuse
	}
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return err
	}
	if !tp.Decision.Can(access.CapSchema) {
		return refuse
	}
	return nil
}

// FindTable returns one table.
func (s *Service) FindTable(ctx context.Context, notebook, table string) (*coffer.Table, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindTable", err)
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return nil, err
	}
	t, err := s.tableAs(ctx, nc, tm)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, err
	}
	return t, s.Wrap("FindTable", err)
}

// UpdateTable renames a table or sets its layout.
func (s *Service) UpdateTable(ctx context.Context, notebook, table string, upd coffer.TableUpdate) (*coffer.Table, error) {
	var out *coffer.Table
	err := s.schemaChange(ctx, notebook, table, "UpdateTable", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		out = tm.Table
		if upd.Name == nil && upd.Layout == nil {
			return nil
		}
		t := *tm.Table
		var did []string
		if upd.Name != nil {
			name, fe := catalog.CheckName("name", *upd.Name)
			if fe != nil {
				return coffer.Invalid("the table is not valid", *fe)
			}
			if other, err := sc.Table(name); err == nil && other != tm {
				return &coffer.Error{Code: coffer.ECONFLICT, Message: "a table with this name already exists",
					Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another table"}}}
			}
			t.Name = name
			did = append(did, fmt.Sprintf("renamed table %s to %s", tm.Table.Name, name))
		}
		if upd.Layout != nil {
			tp, err := s.schemaPlan(ctx, nc, tx, tm)
			if err != nil {
				return err
			}
			if t.Layout, err = checkLayout(tp, tm, *upd.Layout); err != nil {
				return err
			}
			did = append(did, fmt.Sprintf("changed the layout of table %s", t.Name))
		}
		layout, err := json.Marshal(t.Layout)
		if err != nil {
			return err
		}
		now := s.NowMicros()
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+nc.DB.Prefix+"_tables SET name = ?, name_key = ?, layout = ?, updated_at = ? WHERE id = ?"),
			t.Name, catalog.NameKey(t.Name), string(layout), now, tm.Table.ID); err != nil {
			return err
		}
		t.UpdatedAt = store.FromMicros(now)
		rec.Begin(history.KindTableUpdate, t.ID, strings.Join(did, "; "))
		rec.Inverse = history.MustJSON(history.TableInverse{Table: tm.Table, Next: &t})
		out = &t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.tableOut(ctx, notebook, out)
}

// tableOut returns t, as just changed, without the columns hidden from
// the caller.
func (s *Service) tableOut(ctx context.Context, notebook string, t *coffer.Table) (*coffer.Table, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("UpdateTable", err)
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(t.ID)
	if err != nil {
		return nil, err
	}
	seen, err := s.tableAs(ctx, nc, tm)
	if err != nil {
		return nil, s.WrapNotFound("UpdateTable", err)
	}
	out := *t
	out.Columns, out.Layout = seen.Columns, seen.Layout
	return &out, nil
}

// DeleteTable deletes a table, its records, its views and its link junctions.
func (s *Service) DeleteTable(ctx context.Context, notebook, table string) error {
	return s.schemaChange(ctx, notebook, table, "DeleteTable", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		if !nc.Rights.AtLeast(access.RoleAdmin) {
			// Its views go with it: one that scopes a grant changes only
			// by those who may manage grants.
			refs, err := s.AccessRefsOf(ctx, tx, nc.DB.Prefix, nc.Notebook.ID, tm)
			if err != nil {
				return err
			}
			for id := range refs.Views {
				if _, err := s.FindViewRaw(ctx, tx, nc.DB.Prefix, tm, id); err == nil {
					return errScopingView
				}
			}
		}
		for _, other := range sc.Tables {
			if other == tm {
				continue
			}
			for _, cm := range other.Cols {
				if cm.Column.Type == coffer.TypeLink && cm.Column.Options.Table == tm.Table.ID {
					return coffer.Errorf(coffer.ECONFLICT, "column %q of table %q links to this table: delete that column first", cm.Column.Name, other.Table.Name)
				}
			}
		}
		if err := s.recordTableDelete(ctx, tx, nc, tm, rec); err != nil {
			return err
		}
		p := nc.DB.Prefix
		for _, cm := range tm.Cols {
			if cm.Junction != "" {
				if _, err := tx.ExecContext(ctx, "DROP TABLE "+cm.Junction); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+tm.SQL); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+p+"_tables WHERE id = ?"), tm.Table.ID)
		return err
	})
}
