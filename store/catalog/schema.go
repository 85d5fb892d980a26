package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/value"
)

// Schema is the loaded catalogue of one notebook: its tables and columns,
// with the SQL names and filter fields derived from them. It is immutable
// once built; a schema change builds a new one.
type Schema struct {
	version int64 // of the catalogue, from _schema_version
	// Settings are the notebook's switches, kept with the version.
	Settings coffer.NotebookSettings
	Tables   []*TableMeta
	ByID     map[string]*TableMeta
	byKey    map[string]*TableMeta // by nameKey
	// gone, in a snapshot's schema, are the ids of its tables and columns
	// that the live notebook no longer has (snapshot.go).
	gone map[string]bool
}

// Version is the catalogue's version the schema was loaded at.
func (sc *Schema) Version() int64 { return sc.version }

// TableMeta is one table of a schema.
type TableMeta struct {
	Schema *Schema // the schema it belongs to
	Table  *coffer.Table
	SQL    string // qualified, quoted SQL name of the user table
	Cols   []*ColMeta
	Names  []string                 // column names in order, shared by records as their field order
	GetSQL string                   // the query reading one record by id with every column
	AllSQL string                   // the query reading every record with every column, by id
	Fields map[string]*filter.Field // filter fields by column name and id
	// Indexes are the indexes its owners declared over several columns
	// (indexes.go).
	Indexes []IndexDef
}

// ColMeta is one column with its SQL mapping.
type ColMeta struct {
	Column   *coffer.Column
	Phys     string // quoted physical column ("" for links and automatic types)
	expr     string // SQL expression of the stored value in queries on alias t ("" for links)
	Junction string // qualified, quoted junction table of a link column
	Key      string // quoted sort-key column ("" for none): see collate.go
	field    *filter.Field
}

// Table finds a table by id or name.
func (sc *Schema) Table(idOrName string) (*TableMeta, error) {
	if tm := sc.ByID[idOrName]; tm != nil {
		return tm, nil
	}
	if tm := sc.byKey[NameKey(idOrName)]; tm != nil {
		return tm, nil
	}
	return nil, coffer.Errorf(coffer.ENOTFOUND, "table not found")
}

// Column finds a column by id or name.
func (tm *TableMeta) Column(idOrName string) *ColMeta {
	for _, cm := range tm.Cols {
		if cm.Column.ID == idOrName {
			return cm
		}
	}
	k := NameKey(idOrName)
	for _, cm := range tm.Cols {
		if NameKey(cm.Column.Name) == k {
			return cm
		}
	}
	return nil
}

// Field implements filter.Schema: user columns by name or id, then the
// system fields id, created_at, created_by, updated_at and updated_by
// unless a column has that name.
func (tm *TableMeta) Field(name string) (*filter.Field, bool) {
	if cm := tm.Column(name); cm != nil {
		return cm.field, true
	}
	f, ok := tm.Fields[name]
	return f, ok
}

// SQLTable is the qualified, quoted name of the SQL table of table tableID.
func SQLTable(prefix, tableID string) string {
	return prefix + `"t_` + strings.TrimPrefix(tableID, coffer.PrefixTable) + `"`
}

// SQLColumn is the quoted name of the SQL column of column colID.
func SQLColumn(colID string) string {
	return `"c_` + strings.TrimPrefix(colID, coffer.PrefixColumn) + `"`
}

// SQLJunction is the qualified, quoted name of the junction table of link
// column colID.
func SQLJunction(prefix, colID string) string {
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
func (s *Catalog) newColMeta(prefix string, c *coffer.Column) *ColMeta {
	cm := &ColMeta{Column: c}
	f := &filter.Field{Name: c.Name, Type: c.Type}
	f.Convert = func(lit any) (any, error) { return value.FromFilter(c, lit) }
	switch {
	case c.Type == coffer.TypeLink:
		cm.Junction = SQLJunction(prefix, c.ID)
		j := cm.Junction
		f.Contains = func(ph string) string {
			return "EXISTS (SELECT 1 FROM " + j + " j WHERE j.src = t.id AND j.dst = " + ph + ")"
		}
		f.Empty = "NOT EXISTS (SELECT 1 FROM " + j + " j WHERE j.src = t.id)"
	case c.Type.Automatic():
		cm.expr = systemExpr[c.Type]
		f.SQL = cm.expr
	default:
		cm.Phys = SQLColumn(c.ID)
		cm.expr = "t." + cm.Phys
		if c.Type == coffer.TypeMultiSelect {
			expr := cm.expr
			f.Contains = func(ph string) string { return s.Dialect.JSONArrayContains(expr, ph) }
			f.Empty = expr + " IS NULL"
		} else {
			f.SQL = cm.expr
		}
	}
	cm.field = f
	return cm
}

// SystemFields are the filter fields every table has.
func SystemFields() map[string]*filter.Field {
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

// LoadSchema reads the catalogue of a notebook.
func (s *Catalog) LoadSchema(ctx context.Context, nbID, prefix string, db Querier) (*Schema, error) {
	q := func(query string) string { return s.Rebind(strings.ReplaceAll(query, "{p}", prefix)) }
	sc := &Schema{ByID: map[string]*TableMeta{}, byKey: map[string]*TableMeta{}}
	var history, accessLog int64
	if err := db.QueryRowContext(ctx, "SELECT version, history, history_days, access_log, history_from FROM "+prefix+"_schema_version").
		Scan(&sc.version, &history, &sc.Settings.HistoryRetentionDays, &accessLog, &sc.Settings.HistoryFrom); err != nil {
		return nil, err
	}
	sc.Settings.History, sc.Settings.AccessLog = history != 0, accessLog != 0
	rows, err := db.QueryContext(ctx, q("SELECT id, name, created_at, updated_at, layout, indexes FROM {p}_tables ORDER BY position, id"))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		t := &coffer.Table{NotebookID: nbID, Columns: []*coffer.Column{}}
		var created, updated int64
		var layout, indexes string
		if err := rows.Scan(&t.ID, &t.Name, &created, &updated, &layout, &indexes); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(layout), &t.Layout); err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s layout: %w", t.ID, err)
		}
		t.CreatedAt, t.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
		tm := &TableMeta{Table: t, SQL: SQLTable(prefix, t.ID), Fields: SystemFields(), Schema: sc}
		if tm.Indexes, err = parseIndexes(indexes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("table %s indexes: %w", t.ID, err)
		}
		sc.Tables = append(sc.Tables, tm)
		sc.ByID[t.ID] = tm
		sc.byKey[NameKey(t.Name)] = tm
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
		c.CreatedAt = store.FromMicros(created)
		tm := sc.ByID[tableID]
		if tm == nil {
			continue
		}
		tm.Table.Columns = append(tm.Table.Columns, &c)
		cm := s.newColMeta(prefix, &c)
		cm.setKey(keys)
		tm.Cols = append(tm.Cols, cm)
		tm.Names = append(tm.Names, c.Name)
	}
	for _, tm := range sc.Tables {
		// The layout names only the columns the table has now.
		tm.Table.Layout = tm.Table.Layout.Only(func(id string) bool { return tm.Table.Column(id) != nil && tm.Table.Column(id).ID == id })
		tm.GetSQL = s.Rebind("SELECT " + s.selectList(tm.Cols) + " FROM " + tm.SQL + " t WHERE t.id = ?")
		tm.AllSQL = "SELECT " + s.selectList(tm.Cols) + " FROM " + tm.SQL + " t ORDER BY t.id"
	}
	return sc, rows.Err()
}

// schemaCache keeps the loaded schema of each open notebook. A generation
// number per notebook makes sure a load that raced with a schema change is
// not kept.
type schemaCache struct {
	mu  sync.Mutex
	m   map[string]*Schema
	gen map[string]uint64
}

func newSchemaCache() *schemaCache {
	return &schemaCache{m: map[string]*Schema{}, gen: map[string]uint64{}}
}

// get returns the schema of a notebook. On a shared database (DB.Shared)
// another node may have changed the schema: a cached one is used only if
// the catalogue's version is still its own. version is that version when
// the caller already read it (with the registry row), or -1: then get
// reads it, one primary-key read of a one-row table.
func (c *schemaCache) get(ctx context.Context, s *Catalog, nbID string, db *store.DB, version int64) (*Schema, error) {
	c.mu.Lock()
	sc, gen := c.m[nbID], c.gen[nbID]
	c.mu.Unlock()
	if sc != nil && db.Shared {
		v := version
		if v < 0 {
			row, err := db.QueryRow(ctx, "SELECT version FROM "+db.Prefix+"_schema_version")
			if err == nil {
				err = row.Scan(&v)
			}
			if err != nil {
				return nil, s.Wrap("loadSchema", err)
			}
		}
		if v != sc.version {
			// Another node may have changed a column's type: statements
			// a backend keeps prepared must be prepared afresh.
			if sc, ok := s.Storage.(interface{ SchemaChanged() }); ok {
				sc.SchemaChanged()
			}
			c.Invalidate(nbID)
			c.mu.Lock()
			gen = c.gen[nbID]
			c.mu.Unlock()
			sc = nil
		}
	}
	if sc != nil {
		return sc, nil
	}
	err := s.ReadTx(ctx, db.R, "loadSchema", func(tx *sql.Tx) error {
		var err error
		sc, err = s.LoadSchema(ctx, nbID, db.Prefix, tx)
		return err
	})
	if err == nil && sc.staleKeys() {
		// A notebook made before sort keys, or keys of other tables.
		if err = s.upgradeSortKeys(ctx, db); err == nil {
			c.Invalidate(nbID)
			c.mu.Lock()
			gen = c.gen[nbID]
			c.mu.Unlock()
			err = s.ReadTx(ctx, db.R, "loadSchema", func(tx *sql.Tx) error {
				var err error
				sc, err = s.LoadSchema(ctx, nbID, db.Prefix, tx)
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

// Invalidate forgets the cached schema of notebook nbID.
func (c *schemaCache) Invalidate(nbID string) {
	c.mu.Lock()
	delete(c.m, nbID)
	c.gen[nbID]++
	c.mu.Unlock()
}

// SchemaTx loads the schema through a write transaction: schema changes
// must see the latest catalogue, not a cached one.
func (s *Catalog) SchemaTx(ctx context.Context, nbID string, db *store.DB, tx *store.WriteTx) (*Schema, error) {
	return s.LoadSchema(ctx, nbID, db.Prefix, tx)
}

// LockSchema takes the catalogue's version row for a schema change, before
// the change reads the catalogue. Where writes run concurrently
// (PostgreSQL) this waits for the record writes in flight, which hold the
// row shared (see currentSchema), and holds back new ones until the change
// commits; so no write can store a value in the form of a schema that a
// concurrent change is replacing.
func (s *Catalog) LockSchema(ctx context.Context, db *store.DB, tx *store.WriteTx) error {
	lock := s.Dialect.LockRows(true)
	if lock == "" {
		return nil
	}
	var v int64
	return tx.QueryRowContext(ctx, "SELECT version FROM "+db.Prefix+"_schema_version"+lock).Scan(&v)
}

// CurrentSchema returns cached if it is still the catalogue's version as
// seen by tx, and the schema loaded through tx otherwise. Writes validate
// against it, so a schema change that committed after the cache was filled
// can never make a write store a value in an outdated form. Where writes
// run concurrently it holds the version row shared until tx ends, so no
// Schema change can commit meanwhile (see lockSchema).
func (s *Catalog) CurrentSchema(ctx context.Context, nbID string, db *store.DB, tx *store.WriteTx, cached *Schema) (*Schema, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM "+db.Prefix+"_schema_version"+s.Dialect.LockRows(false)).Scan(&v); err != nil {
		return nil, err
	}
	if v == cached.version {
		return cached, nil
	}
	s.Schemas.Invalidate(nbID)
	return s.SchemaTx(ctx, nbID, db, tx)
}

// Querier is what *sql.DB and *sql.Tx have in common.
type Querier interface {
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
