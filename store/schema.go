package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/value"
)

// schema is the loaded catalogue of one notebook: its tables and columns,
// with the SQL names and filter fields derived from them. It is immutable
// once built; a schema change builds a new one.
type schema struct {
	version int64 // of the catalogue, from _schema_version
	tables  []*tableMeta
	byID    map[string]*tableMeta
	byKey   map[string]*tableMeta // by nameKey
}

// tableMeta is one table of a schema.
type tableMeta struct {
	sc     *schema // the schema it belongs to
	t      *coffer.Table
	sql    string // qualified, quoted SQL name of the user table
	cols   []*colMeta
	names  []string                 // column names in order, shared by records as their field order
	getSQL string                   // the query reading one record by id with every column
	fields map[string]*filter.Field // filter fields by column name and id
}

// colMeta is one column with its SQL mapping.
type colMeta struct {
	c        *coffer.Column
	phys     string // quoted physical column ("" for links and automatic types)
	expr     string // SQL expression of the stored value in queries on alias t ("" for links)
	junction string // qualified, quoted junction table of a link column
	key      string // quoted sort-key column ("" for none): see collate.go
	field    *filter.Field
}

// table finds a table by id or name.
func (sc *schema) table(idOrName string) (*tableMeta, error) {
	if tm := sc.byID[idOrName]; tm != nil {
		return tm, nil
	}
	if tm := sc.byKey[nameKey(idOrName)]; tm != nil {
		return tm, nil
	}
	return nil, coffer.Errorf(coffer.ENOTFOUND, "table not found")
}

// column finds a column by id or name.
func (tm *tableMeta) column(idOrName string) *colMeta {
	for _, cm := range tm.cols {
		if cm.c.ID == idOrName {
			return cm
		}
	}
	k := nameKey(idOrName)
	for _, cm := range tm.cols {
		if nameKey(cm.c.Name) == k {
			return cm
		}
	}
	return nil
}

// Field implements filter.Schema: user columns by name or id, then the
// system fields id, created_at, created_by, updated_at and updated_by
// unless a column has that name.
func (tm *tableMeta) Field(name string) (*filter.Field, bool) {
	if cm := tm.column(name); cm != nil {
		return cm.field, true
	}
	f, ok := tm.fields[name]
	return f, ok
}

func sqlTable(prefix, tableID string) string {
	return prefix + `"t_` + strings.TrimPrefix(tableID, coffer.PrefixTable) + `"`
}

func sqlColumn(colID string) string {
	return `"c_` + strings.TrimPrefix(colID, coffer.PrefixColumn) + `"`
}

func sqlJunction(prefix, colID string) string {
	return prefix + `"l_` + strings.TrimPrefix(colID, coffer.PrefixColumn) + `"`
}

// systemExpr maps automatic column types to the system columns that hold them.
var systemExpr = map[coffer.ColumnType]string{
	coffer.TypeCreatedAt: "t.created_at",
	coffer.TypeCreatedBy: "t.created_by",
	coffer.TypeUpdatedAt: "t.updated_at",
	coffer.TypeUpdatedBy: "t.updated_by",
}

// newColMeta derives the SQL mapping and filter field of a column.
func (s *Catalog) newColMeta(prefix string, c *coffer.Column) *colMeta {
	cm := &colMeta{c: c}
	f := &filter.Field{Name: c.Name, Type: c.Type}
	f.Convert = func(lit any) (any, error) { return value.FromFilter(c, lit) }
	switch {
	case c.Type == coffer.TypeLink:
		cm.junction = sqlJunction(prefix, c.ID)
		j := cm.junction
		f.Contains = func(ph string) string {
			return "EXISTS (SELECT 1 FROM " + j + " j WHERE j.src = t.id AND j.dst = " + ph + ")"
		}
		f.Empty = "NOT EXISTS (SELECT 1 FROM " + j + " j WHERE j.src = t.id)"
	case c.Type.Automatic():
		cm.expr = systemExpr[c.Type]
		f.SQL = cm.expr
	default:
		cm.phys = sqlColumn(c.ID)
		cm.expr = "t." + cm.phys
		if c.Type == coffer.TypeMultiSelect {
			expr := cm.expr
			f.Contains = func(ph string) string { return s.d.JSONArrayContains(expr, ph) }
			f.Empty = expr + " IS NULL"
		} else {
			f.SQL = cm.expr
		}
	}
	cm.field = f
	return cm
}

// systemFields are the filter fields every table has.
func systemFields() map[string]*filter.Field {
	text := func(lit any) (any, error) {
		s, ok := lit.(string)
		if !ok {
			return nil, fmt.Errorf("expected a string")
		}
		return s, nil
	}
	dt := &coffer.Column{Type: coffer.TypeDateTime}
	when := func(lit any) (any, error) { return value.FromFilter(dt, lit) }
	return map[string]*filter.Field{
		"id":         {Name: "id", Type: coffer.TypeText, SQL: "t.id", Convert: text},
		"created_at": {Name: "created_at", Type: coffer.TypeCreatedAt, SQL: "t.created_at", Convert: when},
		"updated_at": {Name: "updated_at", Type: coffer.TypeUpdatedAt, SQL: "t.updated_at", Convert: when},
		"created_by": {Name: "created_by", Type: coffer.TypeCreatedBy, SQL: "t.created_by", Convert: text},
		"updated_by": {Name: "updated_by", Type: coffer.TypeUpdatedBy, SQL: "t.updated_by", Convert: text},
	}
}

// loadSchema reads the catalogue of a notebook.
func (s *Catalog) loadSchema(ctx context.Context, nbID, prefix string, db querier) (*schema, error) {
	q := func(query string) string { return s.q(strings.ReplaceAll(query, "{p}", prefix)) }
	sc := &schema{byID: map[string]*tableMeta{}, byKey: map[string]*tableMeta{}}
	if err := db.QueryRowContext(ctx, "SELECT version FROM "+prefix+"_schema_version").Scan(&sc.version); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, q("SELECT id, name, created_at, updated_at FROM {p}_tables ORDER BY position, id"))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		t := &coffer.Table{NotebookID: nbID, Columns: []*coffer.Column{}}
		var created, updated int64
		if err := rows.Scan(&t.ID, &t.Name, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
		tm := &tableMeta{t: t, sql: sqlTable(prefix, t.ID), fields: systemFields(), sc: sc}
		sc.tables = append(sc.tables, tm)
		sc.byID[t.ID] = tm
		sc.byKey[nameKey(t.Name)] = tm
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.QueryContext(ctx, q("SELECT id, table_id, name, type, options, created_at, sort_key FROM {p}_columns ORDER BY position, id"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c coffer.Column
		var tableID, opts, keys string
		var created int64
		if err := rows.Scan(&c.ID, &tableID, &c.Name, &c.Type, &opts, &created, &keys); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(opts), &c.Options); err != nil {
			return nil, fmt.Errorf("column %s options: %w", c.ID, err)
		}
		c.CreatedAt = fromMicros(created)
		tm := sc.byID[tableID]
		if tm == nil {
			continue
		}
		tm.t.Columns = append(tm.t.Columns, &c)
		cm := s.newColMeta(prefix, &c)
		cm.setKey(keys)
		tm.cols = append(tm.cols, cm)
		tm.names = append(tm.names, c.Name)
	}
	for _, tm := range sc.tables {
		tm.getSQL = s.q("SELECT " + s.selectList(tm.cols) + " FROM " + tm.sql + " t WHERE t.id = ?")
	}
	return sc, rows.Err()
}

// schemaCache keeps the loaded schema of each open notebook. A generation
// number per notebook makes sure a load that raced with a schema change is
// not kept.
type schemaCache struct {
	mu  sync.Mutex
	m   map[string]*schema
	gen map[string]uint64
}

func newSchemaCache() *schemaCache {
	return &schemaCache{m: map[string]*schema{}, gen: map[string]uint64{}}
}

// get returns the schema of a notebook. On a shared database (DB.Shared)
// another node may have changed the schema: a cached one is used only if
// the catalogue's version is still its own. version is that version when
// the caller already read it (with the registry row), or -1: then get
// reads it, one primary-key read of a one-row table.
func (c *schemaCache) get(ctx context.Context, s *Catalog, nbID string, db *DB, version int64) (*schema, error) {
	c.mu.Lock()
	sc, gen := c.m[nbID], c.gen[nbID]
	c.mu.Unlock()
	if sc != nil && db.Shared {
		v := version
		if v < 0 {
			row, err := db.queryRow(ctx, "SELECT version FROM "+db.Prefix+"_schema_version")
			if err == nil {
				err = row.Scan(&v)
			}
			if err != nil {
				return nil, s.wrap("loadSchema", err)
			}
		}
		if v != sc.version {
			c.invalidate(nbID)
			c.mu.Lock()
			gen = c.gen[nbID]
			c.mu.Unlock()
			sc = nil
		}
	}
	if sc != nil {
		return sc, nil
	}
	err := s.readTx(ctx, db.R, "loadSchema", func(tx *sql.Tx) error {
		var err error
		sc, err = s.loadSchema(ctx, nbID, db.Prefix, tx)
		return err
	})
	if err == nil && sc.staleKeys() {
		// A notebook made before sort keys, or keys of other tables.
		if err = s.upgradeSortKeys(ctx, db); err == nil {
			c.invalidate(nbID)
			c.mu.Lock()
			gen = c.gen[nbID]
			c.mu.Unlock()
			err = s.readTx(ctx, db.R, "loadSchema", func(tx *sql.Tx) error {
				var err error
				sc, err = s.loadSchema(ctx, nbID, db.Prefix, tx)
				return err
			})
		}
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen[nbID] == gen {
		c.m[nbID] = sc
	}
	c.mu.Unlock()
	return sc, nil
}

func (c *schemaCache) invalidate(nbID string) {
	c.mu.Lock()
	delete(c.m, nbID)
	c.gen[nbID]++
	c.mu.Unlock()
}

// schemaTx loads the schema through a write transaction: schema changes
// must see the latest catalogue, not a cached one.
func (s *Catalog) schemaTx(ctx context.Context, nbID string, db *DB, tx *wtx) (*schema, error) {
	return s.loadSchema(ctx, nbID, db.Prefix, tx)
}

// lockSchema takes the catalogue's version row for a schema change, before
// the change reads the catalogue. Where writes run concurrently
// (PostgreSQL) this waits for the record writes in flight, which hold the
// row shared (see currentSchema), and holds back new ones until the change
// commits; so no write can store a value in the form of a schema that a
// concurrent change is replacing.
func (s *Catalog) lockSchema(ctx context.Context, db *DB, tx *wtx) error {
	lock := s.d.LockRows(true)
	if lock == "" {
		return nil
	}
	var v int64
	return tx.QueryRowContext(ctx, "SELECT version FROM "+db.Prefix+"_schema_version"+lock).Scan(&v)
}

// currentSchema returns cached if it is still the catalogue's version as
// seen by tx, and the schema loaded through tx otherwise. Writes validate
// against it, so a schema change that committed after the cache was filled
// can never make a write store a value in an outdated form. Where writes
// run concurrently it holds the version row shared until tx ends, so no
// schema change can commit meanwhile (see lockSchema).
func (s *Catalog) currentSchema(ctx context.Context, nbID string, db *DB, tx *wtx, cached *schema) (*schema, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM "+db.Prefix+"_schema_version"+s.d.LockRows(false)).Scan(&v); err != nil {
		return nil, err
	}
	if v == cached.version {
		return cached, nil
	}
	s.nbs.invalidate(nbID)
	return s.schemaTx(ctx, nbID, db, tx)
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// invalidateAll drops every cached schema.
func (c *schemaCache) invalidateAll() {
	c.mu.Lock()
	for id := range c.m {
		c.gen[id]++
	}
	clear(c.m)
	c.mu.Unlock()
}
