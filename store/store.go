// Package store is Coffer's storage core, written once for every backend
// on database/sql. A Backend supplies the databases (one for the instance,
// one per notebook) and a Dialect the few SQL differences; the two dialects
// live in store/sqlite and store/postgres. The core holds what every
// service needs and nothing domain-specific: the database handles, group
// commit and transactions (Core.Write, Core.Tx, Core.ReadTx), error
// wrapping (Core.Wrap), placeholders (Core.Rebind), the statement and TTL
// caches, each database's data version and count cache (DB.Total), the injectable clock (Core.Now) and the notifier of a shared
// backend.
//
// The services are built on it: identity, notebooks and sharing at the
// repository's root, on the shared catalogue of store/catalog; store/all
// wires them into one value.
//
// Each service method runs in one transaction. Values are always bound
// parameters; identifiers in SQL are only ids that Coffer generated.
package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/live"
)

// Dialect hides the SQL differences between backends. Queries are written
// with "?" placeholders and passed through Rebind.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Rebind turns "?" placeholders into the backend's own.
	Rebind(query string) string
	// ColumnType returns the SQL type that stores values of t ("" for types
	// with no physical column: links and automatic types).
	ColumnType(t coffer.ColumnType) string
	// KeyType is the SQL type of sort-key columns: bytes compared bytewise.
	KeyType() string
	// ContainsFold is SQL true when text expr contains the text bound to ph,
	// ignoring case.
	ContainsFold(expr, ph string) string
	// JSONArrayContains is SQL true when the JSON array text expr holds the
	// string bound to ph.
	JSONArrayContains(expr, ph string) string
	// LinkArray is a scalar subquery giving the JSON array (text) of the dst
	// ids of junction table j whose src is srcExpr, ordered by pos; NULL when none.
	LinkArray(j, srcExpr string) string
	// NullsOrder returns the clause placing NULLs first in ascending and last
	// in descending order ("" when that is the backend's default).
	NullsOrder(desc bool) string
	// LockRows returns the clause a SELECT ends with to lock the rows it
	// reads until its transaction ends: shared, or exclusive when exclusive
	// is set ("" on a backend whose writes are serialized anyway).
	LockRows(exclusive bool) string
	// MapError turns a driver error into a *coffer.Error when it has a
	// meaning for users (unique violation → ECONFLICT, busy → EUNAVAILABLE);
	// otherwise it returns err unchanged.
	MapError(err error) error
}

// DB is one logical database: the instance's or a notebook's. On SQLite, R
// is a pool of readers and W a single writer connection; on PostgreSQL
// both are the same pool. A DB must not be copied after first use. Prefix qualifies table names ("" on SQLite, the
// quoted schema and a dot on PostgreSQL).
//
// Every write transaction on W goes through Core.Write, which moves the
// database's data version around its COMMIT: the totals cached by version
// (DB.CountStamp, DB.Total) rely on it, so nothing may write rows through
// W directly.
type DB struct {
	R, W   *sql.DB
	Prefix string
	// GroupCommit makes concurrent writes share commits (for a backend
	// whose writer is a single connection, where each commit is an fsync).
	GroupCommit bool
	// NoPrepare runs every query unprepared: for a pool shared by many
	// DBs whose driver caches statements itself (PostgreSQL), where
	// statements prepared per DB would pile up on the server and outlive
	// the schema they were prepared for.
	NoPrepare bool
	// SnapshotIsolation is the isolation level under which a read of several
	// statements (a page and its total) sees one snapshot: the default on
	// SQLite (a read transaction is a snapshot in WAL mode), repeatable read
	// on PostgreSQL (whose default, read committed, is not).
	SnapshotIsolation sql.IsolationLevel
	// Shared marks a database that other processes (other coffer nodes)
	// change too: nothing read from it may be served from this process's
	// memory unchecked. The session and notebook registry caches then serve
	// only while the backend hears the invalidations that committed writes
	// send (Core.Caches); without them, the registry row and the notebook's
	// schema and access versions are read at every request.
	Shared bool
	// Readers is the number of read connections of R (0: unknown, taken as
	// 2): one caller's lists hold at most half of them at once.
	Readers int

	stmts    sync.Map             // query → *sql.Stmt prepared on R
	nstmts   atomic.Int64         // entries of stmts
	wstmts   map[string]*sql.Stmt // query → *sql.Stmt prepared on W, used by group leaders only
	wpending map[string]bool      // queries to prepare on W after the current transaction
	commits  committer
	version  dataVersion // moved around every COMMIT on W (countcache.go)
	counts   countCache  // totals by data version (countcache.go)
}

// Backend opens the databases of one Coffer instance.
type Backend interface {
	Dialect() Dialect
	// Instance returns the instance database (users, sessions, notebook registry).
	Instance() *DB
	// Notebook opens (or reuses) the database of an existing notebook; the
	// caller must call release when done.
	Notebook(ctx context.Context, id string) (db *DB, release func(), err error)
	// CreateNotebook creates and migrates the storage of a new notebook.
	CreateNotebook(ctx context.Context, id string) error
	// DropNotebook removes the storage of a notebook.
	DropNotebook(ctx context.Context, id string) error
	// Wrote tells the backend that rows records of a notebook were written,
	// so it can keep the query planner's statistics fresh.
	Wrote(notebookID string, rows int)
	// Ping checks that the backend answers, for readiness probes.
	Ping(ctx context.Context) error
	Close() error
}

// Execer runs a statement in a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Notifier is implemented by a backend shared by several processes
// (PostgreSQL): events of record writes travel through the database, so
// that every node's subscribers receive them.
type Notifier interface {
	// Notify queues evs in the write's transaction tx: they are delivered
	// to the listeners of every node if, and only if, tx commits.
	Notify(ctx context.Context, tx Execer, evs []live.Event) error
	// Listen starts delivering every node's committed events to publish,
	// until the backend is closed. When events may have been lost (the
	// listening connection dropped and came back), it calls lost. It
	// returns once listening has started, or with ctx's error.
	Listen(ctx context.Context, publish func([]live.Event), lost func()) error
}

// Core is the storage core the services share: the backend, its dialect,
// the instance database and the clock.
type Core struct {
	Storage Backend
	Dialect Dialect
	Inst    *DB
	Now     func() time.Time // injectable clock
	// Caches gates the services' in-process caches: always open on a
	// database of this process's own, open on a shared one only while
	// invalidations are heard.
	Caches *Invalidations
}

// Ping checks that storage answers.
func (s *Core) Ping(ctx context.Context) error { return s.Storage.Ping(ctx) }

// NowMicros returns the current time in microseconds, the unit of every stored timestamp.
func (s *Core) NowMicros() int64 { return s.Now().UnixMicro() }

// FromMicros turns a stored timestamp (microseconds since the epoch) into
// a UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// tx runs fn in a transaction on db and commits when fn returns nil.
func (s *Core) Tx(ctx context.Context, db *sql.DB, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return s.Wrap(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return s.Wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.Wrap(op, err)
	}
	return nil
}

// Wrap turns driver errors into coffer errors: known ones get their code,
// the rest become EINTERNAL with the cause kept for logs.
func (s *Core) Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *coffer.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the request was cancelled or timed out", Op: op, Err: err}
	}
	mapped := s.Dialect.MapError(err)
	if ce, ok := mapped.(*coffer.Error); ok {
		if ce.Op == "" {
			ce.Op = op
		}
		return ce
	}
	return coffer.Internal(op, err)
}

// Rebind rebinds a query for the dialect.
func (s *Core) Rebind(query string) string { return s.Dialect.Rebind(query) }

// Caller returns the caller of ctx or EUNAUTHORIZED.
func Caller(ctx context.Context) (*coffer.Caller, error) {
	c := coffer.CallerFrom(ctx)
	if c == nil || c.UserID == "" {
		return nil, coffer.Errorf(coffer.EUNAUTHORIZED, "authentication required")
	}
	return c, nil
}

// ReadTx runs fn in a read-only transaction.
func (s *Core) ReadTx(ctx context.Context, db *sql.DB, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer tx.Rollback()
	return s.Wrap(op, fn(tx))
}

// work below the service interfaces.
func (s *Core) Backend() Backend { return s.Storage }

// NewCore returns the core on b, with the real clock.
func NewCore(b Backend) *Core {
	return &Core{
		Storage: b,
		Dialect: b.Dialect(),
		Inst:    b.Instance(),
		Now:     func() time.Time { return time.Now().UTC() },
		Caches:  NewInvalidations(b),
	}
}
