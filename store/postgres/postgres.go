// Package postgres is Coffer's scale-out storage backend: one PostgreSQL
// database holds the instance's tables in one schema and each notebook in
// a schema of its own, all reached through one connection pool (pgx, via
// database/sql).
//
// A notebook's schema never refers to another schema, so schema-based
// sharding can place each notebook on its own machine.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

//go:embed migrations
var migrations embed.FS

// Options tune the backend; zero values take the defaults.
type Options struct {
	// Schema is the schema of the instance's tables (default "coffer").
	Schema string
	// NotebookSchemaPrefix starts the name of every notebook's schema,
	// followed by the notebook id's random part (default "nb_"). Tests set
	// it so that the schemas of one test store can be found and dropped.
	NotebookSchemaPrefix string
	// MaxConns bounds the pool's connections, all of which are kept open
	// once made (default DefaultMaxConns). Mind the server's
	// max_connections: every node has a pool of its own.
	MaxConns int
	// StatementTimeout bounds every statement of every connection
	// (default 30 s). A statement_timeout given in the URL, as a parameter
	// or in "options", wins.
	StatementTimeout time.Duration
	// Logger receives the live-update listener's warnings (none when nil).
	Logger *slog.Logger
	// Tracer, when set, sees every statement of the backend's connections
	// (for tests and tools that count round trips).
	Tracer pgx.QueryTracer
}

// DefaultMaxConns bounds each node's pool unless Options say otherwise.
const DefaultMaxConns = 20

// StatementCacheCapacity bounds the statements each connection keeps
// prepared (least recently used ones are deallocated): a node's hot queries
// fit, and the server's memory for them stays bounded with many notebooks
// (each has queries of its own). A statement_cache_capacity in the URL wins.
const StatementCacheCapacity = 128

// DefaultStatementTimeout bounds each statement unless the URL or Options say otherwise.
const DefaultStatementTimeout = 30 * time.Second

// Backend is the PostgreSQL implementation of store.Backend.
type Backend struct {
	opts    Options
	pool    *sql.DB
	migrate *sql.DB // one connection, for migrations under an advisory lock
	d       dialect
	inst    *store.DB

	mu sync.Mutex
	// nbs holds the store.DB of each notebook seen to exist and be
	// migrated by this process; all share the pool.
	nbs map[string]*store.DB
	// growth counts written rows per notebook, to refresh the planner's
	// statistics each time they double (autovacuum may lag behind a bulk load).
	growth map[string]*growth

	stmts *statements // keeps the pool's prepared statements in step with the schema

	cfg        *pgx.ConnConfig // for the live-update listener's own connection
	listenCtx  context.Context
	stopListen context.CancelFunc
	listeners  sync.WaitGroup
	invPID     atomic.Uint32 // server process of the invalidation listener (invalidate.go)
	invRetry   atomic.Int64  // extra wait before it reconnects, for tests
	invPaused  atomic.Bool   // its heartbeat paused, for tests
}

var _ store.Backend = (*Backend)(nil)

// maxIdent is PostgreSQL's longest identifier, in bytes.
const maxIdent = 63

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string), creates the instance schema if needed and migrates it.
func Open(ctx context.Context, url string, opts Options) (*Backend, error) {
	if opts.Schema == "" {
		opts.Schema = "coffer"
	}
	if opts.NotebookSchemaPrefix == "" {
		opts.NotebookSchemaPrefix = "nb_"
	}
	if !validIdent(opts.Schema) || len(opts.Schema) > maxIdent {
		return nil, fmt.Errorf("postgres: schema %q must be 1 to %d characters of [a-z0-9_], not starting with a digit", opts.Schema, maxIdent)
	}
	if !validIdent(opts.NotebookSchemaPrefix) || len(opts.NotebookSchemaPrefix)+26 > maxIdent {
		return nil, fmt.Errorf("postgres: notebook schema prefix %q must be 1 to %d characters of [a-z0-9_], not starting with a digit", opts.NotebookSchemaPrefix, maxIdent-26)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Each query is prepared once per connection and then only bound and
	// executed, its results in binary: the server no longer parses and
	// plans it at every request. statements.go keeps the prepared
	// statements in step with schema changes.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	if !strings.Contains(url, "statement_cache_capacity") {
		cfg.StatementCacheCapacity = StatementCacheCapacity
	}
	setStatementTimeout(cfg, opts.StatementTimeout)
	st := &statements{next: opts.Tracer}
	cfg.Tracer = st
	pool := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(st.afterConnect), stdlib.OptionResetSession(st.resetSession))
	// Idle connections are kept up to the bound: database/sql keeps two by
	// default, and a pool that closes and reopens connections under load
	// pays a server process start for each.
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	pool.SetMaxOpenConns(opts.MaxConns)
	pool.SetMaxIdleConns(opts.MaxConns)
	mig := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(st.afterConnect), stdlib.OptionResetSession(st.resetSession))
	mig.SetMaxOpenConns(1)
	mig.SetMaxIdleConns(1)
	b := &Backend{opts: opts, pool: pool, migrate: mig, nbs: map[string]*store.DB{}, cfg: cfg, stmts: st}
	fail := func(err error) (*Backend, error) {
		pool.Close()
		mig.Close()
		return nil, err
	}
	if err := pool.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("postgres: connect: %w", err))
	}
	if b.d.fold, err = foldCollation(ctx, pool); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	prefix := quoteIdent(opts.Schema) + "."
	if err := b.migrateSchema(ctx, opts.Schema, "migrations/instance", true); err != nil {
		return fail(err)
	}
	// Several coffer nodes may share the database: no cache may be trusted
	// without asking it (store.DB.Shared).
	b.inst = &store.DB{R: pool, W: pool, Prefix: prefix, NoPrepare: true, Shared: true, SnapshotIsolation: sql.LevelRepeatableRead, Readers: opts.MaxConns}
	return b, nil
}

// setStatementTimeout makes every connection of cfg run with a
// statement_timeout, unless the connection string sets one itself (as a
// parameter, which pgx sends as a run-time parameter, or with -c in options).
// TLS is left as the connection string asks (sslmode, sslrootcert, …):
// pgx applies it.
func setStatementTimeout(cfg *pgx.ConnConfig, d time.Duration) {
	if _, ok := cfg.RuntimeParams["statement_timeout"]; ok || strings.Contains(cfg.RuntimeParams["options"], "statement_timeout") {
		return
	}
	if d <= 0 {
		d = DefaultStatementTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(d.Milliseconds(), 10)
}

// foldCollation picks the collation under which lower() folds case with
// Unicode rules, for the filter language's "~": text columns use "C" so
// that they sort bytewise, and lower() folds only ASCII under "C".
func foldCollation(ctx context.Context, db *sql.DB) (string, error) {
	var builtin, icu bool
	var ctype string
	err := db.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'pg_c_utf8'),
		EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'),
		(SELECT datctype FROM pg_database WHERE datname = current_database())`).Scan(&builtin, &icu, &ctype)
	if err != nil {
		return "", fmt.Errorf("read collations: %w", err)
	}
	switch {
	case builtin: // PostgreSQL 17 and later: Unicode simple case mapping
		return `"pg_c_utf8"`, nil
	case ctype != "C" && ctype != "POSIX":
		return `"default"`, nil
	case icu:
		return `"und-x-icu"`, nil
	}
	// Only ASCII letters fold; the database offers nothing better.
	return `"default"`, nil
}

// migrateSchema creates schema (when create is set, only if it does not
// exist) and applies the migrations of dir to it. Migrations run on one
// connection holding an advisory lock, so nodes starting together do not
// apply the same migration twice.
func (b *Backend) migrateSchema(ctx context.Context, schema, dir string, ifNotExists bool) error {
	conn := b.migrate
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('coffer migrations ' || $1))", schema); err != nil {
		return fmt.Errorf("postgres: lock migrations: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('coffer migrations ' || $1))", schema)
	create := "CREATE SCHEMA "
	if ifNotExists {
		create += "IF NOT EXISTS "
	}
	if _, err := conn.ExecContext(ctx, create+quoteIdent(schema)); err != nil {
		return b.d.MapError(err)
	}
	// A migration may change tables the pool has statements for.
	defer b.stmts.changed()
	return store.Migrate(ctx, b.d, conn, quoteIdent(schema)+".", migrations, dir)
}

// SchemaChanged tells the backend that a notebook's schema changed, as
// noticed from its version (another node may have changed it): the pool's
// connections prepare their statements afresh.
func (b *Backend) SchemaChanged() { b.stmts.changed() }

// Dialect returns the PostgreSQL dialect.
func (b *Backend) Dialect() store.Dialect { return b.d }

// Instance returns the instance database.
func (b *Backend) Instance() *store.DB { return b.inst }

// Pool returns the connection pool (for tests and tools).
func (b *Backend) Pool() *sql.DB { return b.pool }

// NotebookSchema returns the schema name of a notebook, or ENOTFOUND for
// an id that Coffer cannot have made.
func (b *Backend) NotebookSchema(id string) (string, error) {
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return "", coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	return b.opts.NotebookSchemaPrefix + strings.TrimPrefix(id, coffer.PrefixNotebook), nil
}

// Notebook returns the database of an existing notebook, migrating it the
// first time this process sees it. Every notebook shares the pool, so
// release has nothing to close.
func (b *Backend) Notebook(ctx context.Context, id string) (*store.DB, func(), error) {
	schema, err := b.NotebookSchema(id)
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	db := b.nbs[id]
	b.mu.Unlock()
	if db != nil {
		return db, func() {}, nil
	}
	var exists bool
	if err := b.pool.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return nil, nil, b.d.MapError(err)
	}
	if !exists {
		return nil, nil, coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	if err := b.migrateSchema(ctx, schema, "migrations/notebook", true); err != nil {
		return nil, nil, err
	}
	if err := b.ensureInvalidateTrigger(ctx, schema, id); err != nil {
		return nil, nil, err
	}
	db = &store.DB{R: b.pool, W: b.pool, Prefix: quoteIdent(schema) + ".", NoPrepare: true, Shared: true, SnapshotIsolation: sql.LevelRepeatableRead, Readers: b.opts.MaxConns}
	b.mu.Lock()
	if prev := b.nbs[id]; prev != nil {
		db = prev
	} else {
		b.nbs[id] = db
	}
	b.mu.Unlock()
	return db, func() {}, nil
}

// CreateNotebook creates and migrates the schema of a new notebook.
func (b *Backend) CreateNotebook(ctx context.Context, id string) error {
	schema, err := b.NotebookSchema(id)
	if err != nil {
		return err
	}
	if err := b.migrateSchema(ctx, schema, "migrations/notebook", false); err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			return coffer.Errorf(coffer.ECONFLICT, "notebook storage already exists")
		}
		// Leave nothing half made behind.
		_, _ = b.pool.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+quoteIdent(schema)+" CASCADE")
		return err
	}
	return b.ensureInvalidateTrigger(ctx, schema, id)
}

// DropNotebook drops the schema of a notebook with everything in it.
// Requests still using it finish first: dropping waits for their locks.
func (b *Backend) DropNotebook(ctx context.Context, id string) error {
	schema, err := b.NotebookSchema(id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.nbs, id)
	b.mu.Unlock()
	_, err = b.pool.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(schema)+" CASCADE")
	return err
}

// Wrote counts a notebook's written rows and, each time they double (from
// 1,000 on), refreshes the planner's statistics of its tables in the
// background: autovacuum gets there too, but can lag behind a bulk load,
// and a sorted list then sorts instead of walking its index.
func (b *Backend) Wrote(notebookID string, rows int) {
	schema, err := b.NotebookSchema(notebookID)
	if err != nil {
		return
	}
	b.mu.Lock()
	g := b.growth[notebookID]
	if g == nil {
		g = &growth{analyzeAt: 1000}
		if b.growth == nil {
			b.growth = map[string]*growth{}
		}
		b.growth[notebookID] = g
	}
	g.written += int64(rows)
	due := g.written >= g.analyzeAt
	if due {
		g.analyzeAt = 2 * g.written
	}
	b.mu.Unlock()
	if due {
		go b.analyze(schema)
	}
}

// growth counts the rows written to a notebook by this process.
type growth struct {
	written, analyzeAt int64
}

// analyze refreshes the planner's statistics of a notebook's tables. An
// error only means they stay as they were (autovacuum catches up later).
func (b *Backend) analyze(schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := b.pool.QueryContext(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
	if err != nil {
		return
	}
	var tables []string
	for rows.Next() {
		var t string
		if rows.Scan(&t) == nil {
			tables = append(tables, t)
		}
	}
	rows.Close()
	for _, t := range tables {
		if _, err := b.pool.ExecContext(ctx, "ANALYZE "+quoteIdent(schema)+"."+quoteIdent(t)); err != nil {
			return
		}
	}
}

// Ping checks that the database answers.
func (b *Backend) Ping(ctx context.Context) error { return b.pool.PingContext(ctx) }

// Close closes the connection pools.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.nbs = map[string]*store.DB{}
	if b.stopListen != nil {
		b.stopListen()
	}
	b.mu.Unlock()
	b.listeners.Wait()
	return errors.Join(b.pool.Close(), b.migrate.Close())
}

// validIdent reports whether s is a lower-case identifier that needs no
// quoting: [a-z_][a-z0-9_]*.
func validIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// quoteIdent quotes an identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// dialect is the PostgreSQL dialect.
type dialect struct {
	fold string // quoted collation under which lower() folds Unicode
}

func (dialect) Name() string { return "postgres" }

// Rebind turns each "?" placeholder into $1, $2, … Question marks inside
// string literals, quoted identifiers and comments are left alone.
func (dialect) Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the quoted text; a doubled quote is an escaped one and
			// is copied as the close and reopen of the literal.
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+4])
			i += j + 3
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (dialect) ColumnType(t coffer.ColumnType) string {
	switch t {
	case coffer.TypeNumber, coffer.TypeDateTime:
		return "BIGINT"
	case coffer.TypeBoolean:
		return "BOOLEAN"
	case coffer.TypeLink, coffer.TypeCreatedAt, coffer.TypeCreatedBy, coffer.TypeUpdatedAt, coffer.TypeUpdatedBy:
		return ""
	default:
		// Bytewise comparison and order, as SQLite's BINARY collation.
		return `TEXT COLLATE "C"`
	}
}

func (dialect) KeyType() string { return "BYTEA" }

func (d dialect) ContainsFold(expr, ph string) string {
	return "strpos(lower((" + expr + ") COLLATE " + d.fold + "), lower((" + ph + ") COLLATE " + d.fold + ")) > 0"
}

func (dialect) JSONArrayContains(expr, ph string) string {
	// "@>" rather than jsonb's "?" operator, which Rebind would take for a placeholder.
	// Never NULL, as the filter language needs: an empty cell holds nothing.
	return "COALESCE((" + expr + ")::jsonb @> jsonb_build_array((" + ph + ")::text), FALSE)"
}

func (dialect) LinkArray(j, src string) string {
	return "(SELECT json_agg(dst ORDER BY pos)::text FROM " + j + " WHERE src = " + src + ")"
}

// NullsOrder makes NULLs sort as on SQLite, as the smallest values.
func (dialect) NullsOrder(desc bool) string {
	if desc {
		return " NULLS LAST"
	}
	return " NULLS FIRST"
}

func (dialect) LockRows(exclusive bool) string {
	if exclusive {
		return " FOR UPDATE"
	}
	return " FOR SHARE"
}

// MapError maps errors by SQLSTATE, never by message text. A connection
// lost mid-statement (a cancelled request's: pgx closes a connection whose
// context ends during a query, and database/sql then answers
// driver.ErrBadConn) is unavailability too.
func (dialect) MapError(err error) error {
	if errors.Is(err, driver.ErrBadConn) || pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the request was cancelled or the database connection was lost, try again", Err: err}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "0A000": // feature_not_supported: "cached plan must not change result type"
		// A statement prepared before another node changed a column's
		// type; it is prepared afresh at the next try (statements.go).
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the table changed during the request, try again", Err: err}
	case "23505", // unique_violation
		"42P06": // duplicate_schema
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "already exists", Err: err}
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout)
		"57P01", // admin_shutdown
		"53300": // too_many_connections
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the database is busy, try again", Err: err}
	case "22021", // character_not_in_repertoire: invalid UTF-8 or NUL in a bound value
		"22P05": // untranslatable_character
		return &coffer.Error{Code: coffer.EINVALID, Message: "text must be valid UTF-8 without NUL characters", Err: err}
	case "53100": // disk_full
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the disk is full", Err: err}
	}
	return err
}
