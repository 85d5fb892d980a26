package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/value"
)

// MaxColumns bounds the columns of one table.
const MaxColumns = 500

// schemaChange runs fn in a write transaction on a notebook with its latest
// schema, then drops the cached schema so the next request sees the change.
// table names the existing table the change is about ("" to create one):
// a table the caller cannot see answers ENOTFOUND like a missing one.
func (s *nbSvc) schemaChange(ctx context.Context, notebook, table, op string, fn func(tx *wtx, nc *nbConn, sc *schema) error) error {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return s.wrap(op, err)
	}
	defer nc.release()
	if err := s.mayChangeSchema(ctx, nc, table); err != nil {
		return err
	}
	err = s.write(ctx, nc.db, op, func(tx *wtx) error {
		if err := s.lockSchema(ctx, nc.db, tx); err != nil {
			return err
		}
		sc, err := s.schemaTx(ctx, notebook, nc.db, tx)
		if err != nil {
			return err
		}
		if err := fn(tx, nc, sc); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+nc.db.Prefix+"_schema_version SET version = version + 1")
		return err
	})
	s.nbs.invalidate(notebook)
	return err
}

// checkColumn validates a column definition against the schema; tm is the
// table being changed (nil while it is being created, with newTable naming it).
func (s *nbSvc) checkColumn(i int, in *coffer.ColumnInput, sc *schema, newTableID, newTableName string) []coffer.FieldError {
	field := func(f string) string {
		if i < 0 {
			return f
		}
		return fmt.Sprintf("columns[%d].%s", i, f)
	}
	var errs []coffer.FieldError
	if n, fe := checkName(field("name"), in.Name); fe != nil {
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
		case newTableID != "" && (in.Options.Table == newTableID || nameKey(in.Options.Table) == nameKey(newTableName)):
			in.Options.Table = newTableID
		default:
			target, err := sc.table(in.Options.Table)
			if err != nil {
				errs = append(errs, coffer.FieldError{Field: field("options.table"), Message: "must name a table of this notebook"})
			} else {
				in.Options.Table = target.t.ID
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
func (s *nbSvc) addColumnSQL(ctx context.Context, tx *wtx, prefix, tableID string, c *coffer.Column, inCreate bool) ([]string, error) {
	stmts := columnDDL(s.d, prefix, tableID, c, inCreate)
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
func columnDDL(d Dialect, prefix, tableID string, c *coffer.Column, inCreate bool) []string {
	var stmts []string
	tbl := sqlTable(prefix, tableID)
	switch {
	case c.Type == coffer.TypeLink:
		stmts = append(stmts,
			"CREATE TABLE "+sqlJunction(prefix, c.ID)+" (src "+d.ColumnType(coffer.TypeText)+" NOT NULL REFERENCES "+tbl+" (id) ON DELETE CASCADE, "+
				"dst "+d.ColumnType(coffer.TypeText)+" NOT NULL REFERENCES "+sqlTable(prefix, c.Options.Table)+" (id) ON DELETE CASCADE, "+
				"pos "+d.ColumnType(coffer.TypeNumber)+" NOT NULL, PRIMARY KEY (src, dst))",
			"CREATE INDEX "+strings.Replace(unqualifiedIndex(c.ID), `"i_`, `"j_`, 1)+" ON "+sqlJunction(prefix, c.ID)+" (dst)")
	case c.Type.Automatic():
	default:
		if !inCreate {
			stmts = append(stmts, "ALTER TABLE "+tbl+" ADD COLUMN "+sqlColumn(c.ID)+" "+d.ColumnType(c.Type))
			if k := keyColumnDDL(d, c); k != "" {
				stmts = append(stmts, "ALTER TABLE "+tbl+" ADD COLUMN "+k)
			}
		}
		if indexable(c.Type) {
			// NULLs first, as lists order them ascending (and last descending, walking the index backwards).
			// On the sort key of a keyed text column (lists order by it), else on the value.
			stmts = append(stmts, "CREATE INDEX "+unqualifiedIndex(c.ID)+" ON "+tbl+" ("+indexedColumn(c)+d.NullsOrder(false)+", id)")
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
func TableDDL(d Dialect, prefix string, t *coffer.Table) (table, links []string) {
	// Ids take the dialect's text type, which compares and orders them
	// bytewise as every text column.
	ts, text := d.ColumnType(coffer.TypeDateTime), d.ColumnType(coffer.TypeText)
	ddl := "CREATE TABLE " + sqlTable(prefix, t.ID) + " (id " + text + " PRIMARY KEY, version " + ts + " NOT NULL, created_at " + ts +
		" NOT NULL, created_by " + text + " NOT NULL, updated_at " + ts + " NOT NULL, updated_by " + text + " NOT NULL"
	for _, c := range t.Columns {
		if typ := d.ColumnType(c.Type); typ != "" {
			ddl += ", " + sqlColumn(c.ID) + " " + typ
		}
		if k := keyColumnDDL(d, c); k != "" {
			ddl += ", " + k
		}
	}
	ddl += ")"
	table = append(table, ddl)
	short := strings.TrimPrefix(t.ID, coffer.PrefixTable)
	for _, col := range []string{"created_at", "updated_at"} {
		table = append(table, "CREATE INDEX \"s_"+short+"_"+col+"\" ON "+sqlTable(prefix, t.ID)+" ("+col+", id)")
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

func (s *nbSvc) insertColumnRow(ctx context.Context, tx *wtx, prefix, tableID string, c *coffer.Column, pos int) error {
	opts, err := json.Marshal(c.Options)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q("INSERT INTO "+prefix+"_columns (id, table_id, name, name_key, type, options, position, created_at, sort_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		c.ID, tableID, c.Name, nameKey(c.Name), string(c.Type), string(opts), pos, c.CreatedAt.UnixMicro(), keyFormat(c))
	return err
}

// CreateTable creates a table with its columns.
func (s *nbSvc) CreateTable(ctx context.Context, notebook string, in coffer.TableInput) (*coffer.Table, error) {
	var out *coffer.Table
	err := s.schemaChange(ctx, notebook, "", "CreateTable", func(tx *wtx, nc *nbConn, sc *schema) error {
		var errs []coffer.FieldError
		name, fe := checkName("name", in.Name)
		if fe != nil {
			errs = append(errs, *fe)
		} else if _, err := sc.table(name); err == nil {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a table with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another table"}}}
		}
		if len(in.Columns) > MaxColumns {
			errs = append(errs, coffer.FieldError{Field: "columns", Message: fmt.Sprintf("must have at most %d columns", MaxColumns)})
			return coffer.Invalid("the table is not valid", errs...)
		}
		now := s.now()
		t := &coffer.Table{ID: coffer.NewID(coffer.PrefixTable), NotebookID: notebook, Name: name, Columns: []*coffer.Column{},
			CreatedAt: fromMicros(now), UpdatedAt: fromMicros(now)}
		seen := map[string]bool{}
		for i := range in.Columns {
			ci := in.Columns[i]
			errs = append(errs, s.checkColumn(i, &ci, sc, t.ID, name)...)
			if ci.Name != "" {
				if seen[nameKey(ci.Name)] {
					errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("columns[%d].name", i), Message: "is used by another column of the table"})
				}
				seen[nameKey(ci.Name)] = true
			}
			t.Columns = append(t.Columns, &coffer.Column{ID: coffer.NewID(coffer.PrefixColumn), Name: ci.Name, Type: ci.Type, Options: ci.Options, CreatedAt: fromMicros(now)})
		}
		if len(errs) > 0 {
			return coffer.Invalid("the table is not valid", errs...)
		}
		p := nc.db.Prefix
		var pos int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) + 1 FROM "+p+"_tables").Scan(&pos); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO "+p+"_tables (id, name, name_key, position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
			t.ID, t.Name, nameKey(t.Name), pos, now, now); err != nil {
			return err
		}
		tableDDL, linkDDL := TableDDL(s.d, p, t)
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
		out = t
		return nil
	})
	return out, err
}

// FindTables lists the tables of a notebook.
func (s *nbSvc) FindTables(ctx context.Context, notebook string) ([]*coffer.Table, error) {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return nil, s.wrap("FindTables", err)
	}
	defer nc.release()
	out := make([]*coffer.Table, 0, len(nc.schema.tables))
	for _, tm := range nc.schema.tables {
		t, err := s.tableAs(ctx, nc, tm)
		switch {
		case err == nil:
			out = append(out, t)
		case coffer.ErrorCode(err) != coffer.ENOTFOUND:
			return nil, s.wrap("FindTables", err)
		}
	}
	return out, nil
}

// tableAs returns a table as the caller sees it: ENOTFOUND when they may
// see no row of it, and without the columns hidden from them in every row.
func (s *nbSvc) tableAs(ctx context.Context, nc *nbConn, tm *tableMeta) (*coffer.Table, error) {
	tp, err := s.plan(ctx, nc, nc.db.R, tm)
	if err != nil {
		return nil, err
	}
	if tp.full() {
		return tm.t, nil
	}
	t := *tm.t
	t.Columns = make([]*coffer.Column, len(tp.cols))
	for i, cm := range tp.cols {
		t.Columns[i] = cm.c
	}
	return &t, nil
}

// mayChangeSchema refuses changes to tables and columns without the
// schema right: owners and admins have it everywhere; a grant gives it on
// its own table, or on every table (and the right to create tables) when
// it covers the whole notebook. A table the caller cannot see answers
// ENOTFOUND, whatever their rights elsewhere.
func (s *nbSvc) mayChangeSchema(ctx context.Context, nc *nbConn, table string) error {
	if nc.acc.atLeast(access.RoleAdmin) {
		return nil
	}
	refuse := coffer.Errorf(coffer.EFORBIDDEN, "changing tables and columns needs the schema right in this notebook (owners and admins have it)")
	if table == "" {
		for _, g := range nc.acc.grants {
			if g.TableID == "" && slices.Contains(g.Capabilities, access.CapSchema) {
				return nil
			}
		}
		return refuse
	}
	tm, err := nc.schema.table(table)
	if err != nil {
		return err
	}
	tp, err := s.plan(ctx, nc, nc.db.R, tm)
	if err != nil {
		return err
	}
	if !tp.dec.Can(access.CapSchema) {
		return refuse
	}
	return nil
}

// FindTable returns one table.
func (s *nbSvc) FindTable(ctx context.Context, notebook, table string) (*coffer.Table, error) {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return nil, s.wrap("FindTable", err)
	}
	defer nc.release()
	tm, err := nc.schema.table(table)
	if err != nil {
		return nil, err
	}
	t, err := s.tableAs(ctx, nc, tm)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, err
	}
	return t, s.wrap("FindTable", err)
}

// UpdateTable renames a table.
func (s *nbSvc) UpdateTable(ctx context.Context, notebook, table string, upd coffer.TableUpdate) (*coffer.Table, error) {
	var out *coffer.Table
	err := s.schemaChange(ctx, notebook, table, "UpdateTable", func(tx *wtx, nc *nbConn, sc *schema) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		out = tm.t
		if upd.Name == nil {
			return nil
		}
		name, fe := checkName("name", *upd.Name)
		if fe != nil {
			return coffer.Invalid("the table is not valid", *fe)
		}
		if other, err := sc.table(name); err == nil && other != tm {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a table with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another table"}}}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, s.q("UPDATE "+nc.db.Prefix+"_tables SET name = ?, name_key = ?, updated_at = ? WHERE id = ?"),
			name, nameKey(name), now, tm.t.ID); err != nil {
			return err
		}
		t := *tm.t
		t.Name, t.UpdatedAt = name, fromMicros(now)
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
func (s *nbSvc) tableOut(ctx context.Context, notebook string, t *coffer.Table) (*coffer.Table, error) {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return nil, s.wrap("UpdateTable", err)
	}
	defer nc.release()
	tm, err := nc.schema.table(t.ID)
	if err != nil {
		return nil, err
	}
	seen, err := s.tableAs(ctx, nc, tm)
	if err != nil {
		return nil, s.wrapNotFound("UpdateTable", err)
	}
	out := *t
	out.Columns = seen.Columns
	return &out, nil
}

// DeleteTable deletes a table, its records, its views and its link junctions.
func (s *nbSvc) DeleteTable(ctx context.Context, notebook, table string) error {
	return s.schemaChange(ctx, notebook, table, "DeleteTable", func(tx *wtx, nc *nbConn, sc *schema) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		if !nc.acc.atLeast(access.RoleAdmin) {
			// Its views go with it: one that scopes a grant changes only
			// by those who may manage grants.
			refs, err := s.accessRefsOf(ctx, tx, nc.db.Prefix, nc.nb.ID, tm)
			if err != nil {
				return err
			}
			for id := range refs.views {
				if _, err := s.findViewRaw(ctx, tx, nc.db.Prefix, tm, id); err == nil {
					return errScopingView
				}
			}
		}
		for _, other := range sc.tables {
			if other == tm {
				continue
			}
			for _, cm := range other.cols {
				if cm.c.Type == coffer.TypeLink && cm.c.Options.Table == tm.t.ID {
					return coffer.Errorf(coffer.ECONFLICT, "column %q of table %q links to this table: delete that column first", cm.c.Name, other.t.Name)
				}
			}
		}
		p := nc.db.Prefix
		for _, cm := range tm.cols {
			if cm.junction != "" {
				if _, err := tx.ExecContext(ctx, "DROP TABLE "+cm.junction); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+tm.sql); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q("DELETE FROM "+p+"_tables WHERE id = ?"), tm.t.ID)
		return err
	})
}

// CreateColumn adds a column to a table.
func (s *nbSvc) CreateColumn(ctx context.Context, notebook, table string, in coffer.ColumnInput) (*coffer.Column, error) {
	var out *coffer.Column
	err := s.schemaChange(ctx, notebook, table, "CreateColumn", func(tx *wtx, nc *nbConn, sc *schema) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		if errs := s.checkColumn(-1, &in, sc, "", ""); len(errs) > 0 {
			return coffer.Invalid("the column is not valid", errs...)
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		if err := s.checkLinkTarget(ctx, nc, tx, sc, tp, &in); err != nil {
			return err
		}
		if err := s.guardAccessRefs(ctx, nc, tx, tm, nil, in.Name); err != nil {
			return err
		}
		if tm.column(in.Name) != nil {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a column with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another column of the table"}}}
		}
		if len(tm.cols) >= MaxColumns {
			return coffer.Errorf(coffer.EINVALID, "a table has at most %d columns", MaxColumns)
		}
		c := &coffer.Column{ID: coffer.NewID(coffer.PrefixColumn), Name: in.Name, Type: in.Type, Options: in.Options, CreatedAt: fromMicros(s.now())}
		var pos int
		if err := tx.QueryRowContext(ctx, s.q("SELECT COALESCE(MAX(position), 0) + 1 FROM "+nc.db.Prefix+"_columns WHERE table_id = ?"), tm.t.ID).Scan(&pos); err != nil {
			return err
		}
		if err := s.insertColumnRow(ctx, tx, nc.db.Prefix, tm.t.ID, c, pos); err != nil {
			return err
		}
		if _, err := s.addColumnSQL(ctx, tx, nc.db.Prefix, tm.t.ID, c, false); err != nil {
			return err
		}
		out = c
		return s.touchTable(ctx, tx, nc.db.Prefix, tm.t.ID)
	})
	return out, err
}

func (s *nbSvc) touchTable(ctx context.Context, tx *wtx, prefix, tableID string) error {
	_, err := tx.ExecContext(ctx, s.q("UPDATE "+prefix+"_tables SET updated_at = ? WHERE id = ?"), s.now(), tableID)
	return err
}

// dropColumnSQL removes the storage of a column.
func (s *nbSvc) dropColumnSQL(ctx context.Context, tx *wtx, prefix string, tm *tableMeta, cm *colMeta) error {
	var stmts []string
	switch {
	case cm.junction != "":
		stmts = []string{"DROP TABLE " + cm.junction}
	case cm.phys != "":
		if indexable(cm.c.Type) {
			stmts = append(stmts, "DROP INDEX IF EXISTS "+sqlIndex(prefix, cm.c.ID))
		}
		if cm.key != "" {
			stmts = append(stmts, "ALTER TABLE "+tm.sql+" DROP COLUMN "+cm.key)
		}
		stmts = append(stmts, "ALTER TABLE "+tm.sql+" DROP COLUMN "+cm.phys)
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// DeleteColumn deletes a column and its values.
func (s *nbSvc) DeleteColumn(ctx context.Context, notebook, table, column string) error {
	return s.schemaChange(ctx, notebook, table, "DeleteColumn", func(tx *wtx, nc *nbConn, sc *schema) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		cm, err := columnAs(tp, tm, column)
		if err != nil {
			return err
		}
		if err := s.guardAccessRefs(ctx, nc, tx, tm, cm, ""); err != nil {
			return err
		}
		if err := s.dropColumnSQL(ctx, tx, nc.db.Prefix, tm, cm); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+nc.db.Prefix+"_columns WHERE id = ?"), cm.c.ID); err != nil {
			return err
		}
		return s.touchTable(ctx, tx, nc.db.Prefix, tm.t.ID)
	})
}

// MaxConversionErrors bounds the per-record problems a failed type change reports.
const MaxConversionErrors = 100

// UpdateColumn renames a column or changes its type or options, converting
// every value in the same transaction.
func (s *nbSvc) UpdateColumn(ctx context.Context, notebook, table, column string, upd coffer.ColumnUpdate) (*coffer.Column, error) {
	var out *coffer.Column
	err := s.schemaChange(ctx, notebook, table, "UpdateColumn", func(tx *wtx, nc *nbConn, sc *schema) error {
		tm, err := sc.table(table)
		if err != nil {
			return err
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		cm, err := columnAs(tp, tm, column)
		if err != nil {
			return err
		}
		old := cm.c
		in := coffer.ColumnInput{Name: old.Name, Type: old.Type, Options: old.Options}
		if upd.Name != nil {
			in.Name = *upd.Name
		}
		if upd.Type != nil {
			in.Type = *upd.Type
			if upd.Options == nil && in.Type != old.Type {
				in.Options = coffer.ColumnOptions{}
				if isSelect(in.Type) && isSelect(old.Type) {
					in.Options.Choices = old.Options.Choices
				}
				if value.Collatable(in.Type) && value.Collatable(old.Type) {
					in.Options.Collation = old.Options.Collation
				}
			}
		}
		if upd.Options != nil {
			in.Options = *upd.Options
		}
		if errs := s.checkColumn(-1, &in, sc, "", ""); len(errs) > 0 {
			return coffer.Invalid("the column is not valid", errs...)
		}
		if other := tm.column(in.Name); other != nil && other != cm {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a column with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another column of the table"}}}
		}
		next := &coffer.Column{ID: old.ID, Name: in.Name, Type: in.Type, Options: in.Options, CreatedAt: old.CreatedAt}
		if next.Name != old.Name || next.Type != old.Type || !optionsEqual(next.Options, old.Options) {
			if err := s.guardAccessRefs(ctx, nc, tx, tm, cm, next.Name); err != nil {
				return err
			}
		}
		if err := s.checkLinkTarget(ctx, nc, tx, sc, tp, &in); err != nil {
			return err
		}
		if err := s.convertColumn(ctx, tx, nc.db.Prefix, tm, cm, next, tp); err != nil {
			return err
		}
		opts, err := json.Marshal(next.Options)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE "+nc.db.Prefix+"_columns SET name = ?, name_key = ?, type = ?, options = ?, sort_key = ? WHERE id = ?"),
			next.Name, nameKey(next.Name), string(next.Type), string(opts), keyFormat(next), next.ID); err != nil {
			return err
		}
		if err := s.touchTable(ctx, tx, nc.db.Prefix, tm.t.ID); err != nil {
			return err
		}
		out = next
		if upd.DryRun {
			return errDryRun
		}
		return nil
	})
	if err == errDryRun {
		return out, nil
	}
	return out, err
}

var errDryRun = &coffer.Error{Code: "dry_run"}

func isSelect(t coffer.ColumnType) bool {
	return t == coffer.TypeSingleSelect || t == coffer.TypeMultiSelect
}

// convertColumn changes the stored values of cm to the type and options of
// next. When any value cannot be converted it returns ECONVERSION naming
// the records, and the caller's transaction is rolled back. tp is the
// caller's view of the table (nil: they see everything): the report names
// and counts only the cells they may read; when only cells they may not
// read fail, the change is refused with ECONVERSIONBLOCKED, which names
// and counts nothing.
func (s *nbSvc) convertColumn(ctx context.Context, tx *wtx, prefix string, tm *tableMeta, cm *colMeta, next *coffer.Column, tp *tablePlan) error {
	old := cm.c
	if old.Type == next.Type && optionsEqual(old.Options, next.Options) {
		return nil
	}
	readable, err := s.readableCells(ctx, tx, tp, cm)
	if err != nil {
		return err
	}
	if old.Type == coffer.TypeLink || next.Type == coffer.TypeLink {
		if old.Type != next.Type {
			return coffer.Invalid("link columns cannot be converted to or from other types",
				coffer.FieldError{Field: "type", Message: "cannot change a link column's type, or make another column a link"})
		}
		if next.Options.Table != old.Options.Table {
			return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.table", Message: "cannot change the table a link column points to"})
		}
		if old.Options.Multiple && !next.Options.Multiple {
			rows, err := tx.QueryContext(ctx, "SELECT src, dst FROM "+cm.junction+" WHERE src IN (SELECT src FROM "+cm.junction+" GROUP BY src HAVING count(*) > 1) ORDER BY src, dst")
			if err != nil {
				return err
			}
			links := map[string][]string{}
			var srcs, dsts []string
			for rows.Next() {
				var src, dst string
				if err := rows.Scan(&src, &dst); err != nil {
					rows.Close()
					return err
				}
				if len(links[src]) == 0 {
					srcs = append(srcs, src)
				}
				links[src] = append(links[src], dst)
				dsts = append(dsts, dst)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			// What the caller sees of a link cell: only the linked records
			// they may see.
			seen := func(string) bool { return true }
			if tp != nil {
				vis, err := s.visibleIDs(ctx, tx, tp.acc, tp.prefix, tm.sc.byID[old.Options.Table], dsts)
				if err != nil {
					return err
				}
				seen = func(id string) bool { return vis[id] }
			}
			var fields []coffer.FieldError
			hidden := false
			for _, src := range srcs {
				n := 0
				for _, dst := range links[src] {
					if seen(dst) {
						n++
					}
				}
				if readable != nil && !readable[src] || n < 2 {
					hidden = true
					continue
				}
				if len(fields) < MaxConversionErrors {
					fields = append(fields, coffer.FieldError{Field: "records." + src, Message: "links to more than one record"})
				}
			}
			if len(fields) > 0 {
				return &coffer.Error{Code: coffer.ECONVERSION, Message: "some records link to several records; the column cannot hold only one", Fields: fields}
			}
			if hidden {
				return errConversionBlocked(next.Type)
			}
		}
		return nil
	}
	if old.Type.Automatic() || next.Type.Automatic() {
		if old.Type != next.Type {
			return coffer.Invalid("automatic columns cannot be converted to or from other types",
				coffer.FieldError{Field: "type", Message: "cannot convert to or from an automatic type"})
		}
		return nil
	}
	// Read and convert every value before changing anything.
	type change struct {
		id string
		v  any
	}
	var changes []change
	var fields []coffer.FieldError
	failed, hiddenFailed := 0, false
	rows, err := tx.QueryContext(ctx, "SELECT id, "+cm.phys+" FROM "+tm.sql+" WHERE "+cm.phys+" IS NOT NULL ORDER BY id")
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var v any
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return err
		}
		nv, err := value.Convert(old, next, v)
		if err != nil && readable != nil && !readable[id] {
			hiddenFailed = true
			continue
		}
		if err != nil {
			failed++
			if len(fields) < MaxConversionErrors {
				fields = append(fields, coffer.FieldError{Field: "records." + id, Message: err.Error()})
			}
			continue
		}
		changes = append(changes, change{id, nv})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if failed > 0 {
		return &coffer.Error{Code: coffer.ECONVERSION,
			Message: fmt.Sprintf("%d value(s) cannot be converted to %s; nothing was changed", failed, next.Type), Fields: fields}
	}
	if hiddenFailed {
		return errConversionBlocked(next.Type)
	}
	if s.d.ColumnType(old.Type) != s.d.ColumnType(next.Type) || indexable(old.Type) != indexable(next.Type) || (cm.key != "") != Keyed(next) {
		// A new physical type: replace the column, then write the converted values.
		if err := s.dropColumnSQL(ctx, tx, prefix, tm, cm); err != nil {
			return err
		}
		if _, err := s.addColumnSQL(ctx, tx, prefix, tm.t.ID, next, false); err != nil {
			return err
		}
	}
	set := cm.phys + " = ?"
	if Keyed(next) {
		set += ", " + sqlKey(next.ID) + " = ?"
	}
	stmt, err := tx.PrepareContext(ctx, s.q("UPDATE "+tm.sql+" SET "+set+" WHERE id = ?"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, ch := range changes {
		args := []any{ch.v, ch.id}
		if Keyed(next) {
			args = []any{ch.v, keyOf(ch.v), ch.id}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// errConversionBlocked refuses a type change that fails only on cells the
// caller may not read: it neither names nor counts them.
func errConversionBlocked(t coffer.ColumnType) error {
	return coffer.Errorf(coffer.ECONVERSIONBLOCKED, "some values you cannot see cannot be converted to %s; nothing was changed (someone who sees the whole column can make this change)", t)
}

// readableCells returns the ids of the records in which the caller (tp;
// nil: everything) may read the column cm, or nil when they read it in
// every record.
func (s *nbSvc) readableCells(ctx context.Context, tx *wtx, tp *tablePlan, cm *colMeta) (map[string]bool, error) {
	if tp == nil || tp.full() {
		return nil, nil
	}
	where := tp.row()
	if m := tp.p.Readable(cm.c.ID); m != "" {
		where += " AND " + m
	}
	rows, err := tx.QueryContext(ctx, s.q("SELECT t.id FROM "+tp.from+" WHERE "+where), tp.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func optionsEqual(a, b coffer.ColumnOptions) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// schemaPlan is the caller's view of tm during a schema change: nil for
// those who may manage grants (owners and admins), who see everything.
func (s *nbSvc) schemaPlan(ctx context.Context, nc *nbConn, tx *wtx, tm *tableMeta) (*tablePlan, error) {
	if nc.acc.atLeast(access.RoleAdmin) {
		return nil, nil
	}
	return s.planWith(ctx, nc.acc, nc.db.Prefix, tx, tm)
}

var errColumnNotFound = coffer.Errorf(coffer.ENOTFOUND, "column not found")

// columnAs finds a column of tm as the caller sees it (tp from
// schemaPlan): one hidden from them in every row answers exactly as a
// column that does not exist.
func columnAs(tp *tablePlan, tm *tableMeta, column string) (*colMeta, error) {
	var cm *colMeta
	if tp == nil {
		cm = tm.column(column)
	} else {
		cm = tp.visible(column)
	}
	if cm == nil {
		return nil, errColumnNotFound
	}
	return cm, nil
}

// guardAccessRefs refuses, to a caller who may not manage grants, a schema
// change that would change what the notebook's access rules mean: changing
// or deleting the column cm (nil for none) when a grant's row condition or
// a view that scopes a grant refers to it, or giving a column the name
// newName ("" for none) that such a rule refers to. Rules name columns,
// so a rename could point a rule at another column: the right to change
// what defines access is the right to grant it.
func (s *nbSvc) guardAccessRefs(ctx context.Context, nc *nbConn, tx *wtx, tm *tableMeta, cm *colMeta, newName string) error {
	if nc.acc.atLeast(access.RoleAdmin) {
		return nil
	}
	refs, err := s.accessRefsOf(ctx, tx, nc.db.Prefix, nc.nb.ID, tm)
	if err != nil {
		return err
	}
	if cm != nil && (refs.cols[cm.c.ID] || refs.names[nameKey(cm.c.Name)]) {
		return coffer.Errorf(coffer.EFORBIDDEN, "the column %q is used by the notebook's access rules (a grant's row condition, or a view that scopes a grant): only the notebook's owners and admins may change or delete it", cm.c.Name)
	}
	if newName != "" && (cm == nil || nameKey(newName) != nameKey(cm.c.Name)) && refs.names[nameKey(newName)] {
		return coffer.Errorf(coffer.EFORBIDDEN, "the name %q is used by the notebook's access rules (a grant's row condition, or a view that scopes a grant): only the notebook's owners and admins may give it to a column", newName)
	}
	return nil
}

// checkLinkTarget refuses, to a caller who does not see it, a link to a
// table: a table they cannot see answers as one that does not exist.
func (s *nbSvc) checkLinkTarget(ctx context.Context, nc *nbConn, tx *wtx, sc *schema, tp *tablePlan, in *coffer.ColumnInput) error {
	if tp == nil || in.Type != coffer.TypeLink {
		return nil
	}
	target := sc.byID[in.Options.Table]
	if target != nil {
		if _, err := s.planWith(ctx, nc.acc, nc.db.Prefix, tx, target); err == nil {
			return nil
		} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
	}
	return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.table", Message: "must name a table of this notebook"})
}
