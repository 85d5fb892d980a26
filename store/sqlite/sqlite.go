// Package sqlite is Coffer's embedded storage backend: one SQLite database
// for the instance (coffer.db) and one per notebook (notebooks/<id>.db),
// through the pure-Go driver modernc.org/sqlite.
//
// Every database runs in WAL mode with foreign keys on and
// synchronous=FULL, so an acknowledged commit survives a crash of the
// process or of the machine. Each database has one writer connection
// (writes are serialized in Go rather than retried on SQLITE_BUSY), a
// small pool of read-only readers, and a maintenance connection that
// checkpoints the WAL in the background, off the writer (maintain.go).
// Notebook databases are opened on demand and kept in a bounded pool.
package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

//go:embed migrations
var migrations embed.FS

func init() {
	// coffer_fold folds case for the filter language's "~" operator, with
	// Unicode rules (SQLite's own lower() folds ASCII only).
	sqlite.MustRegisterDeterministicScalarFunction("coffer_fold", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			case nil:
				return nil, nil
			default:
				return strings.ToLower(fmt.Sprint(v)), nil
			}
		})
}

// Options tune the backend; zero values take the defaults.
type Options struct {
	// MaxOpenNotebooks bounds the notebook databases kept open (default 64).
	MaxOpenNotebooks int
	// Readers is the number of reader connections per database (default
	// 2×GOMAXPROCS, at least 4).
	Readers int
	// Synchronous is the SQLite synchronous setting: "FULL" (default) or
	// "NORMAL" (only for benchmarks measuring its cost: it may lose the last
	// commits on power loss).
	Synchronous string
}

// Backend is the SQLite implementation of store.Backend.
type Backend struct {
	dir   string
	opts  Options
	inst  *store.DB
	instM *maintainer

	mu      sync.Mutex
	open    map[string]*handle
	dropped map[string]bool // dropped while in use, files not yet removed
	lru     *list.List      // of *handle, most recently used at the front
	close   bool

	tightened []string // paths whose modes Open tightened

	hook   atomic.Pointer[hookRef] // set by SetWALHook (walhook.go)
	stamps sync.Map                // notebook id → fileStamp after this process last changed the file (walhook.go)
}

type handle struct {
	written   atomic.Int64 // rows written since the notebook was opened
	analyzeAt atomic.Int64 // written rows at which to refresh the planner's statistics
	id        string
	db        *store.DB
	m         *maintainer
	refs      int
	elem      *list.Element
	doomed    bool // dropped while in use: closed by the last release
}

var _ store.Backend = (*Backend)(nil)

// Open opens (creating if needed) the data directory dir and migrates the
// instance database.
func Open(ctx context.Context, dir string, opts Options) (*Backend, error) {
	if opts.MaxOpenNotebooks <= 0 {
		opts.MaxOpenNotebooks = 64
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "":
		opts.Synchronous = "FULL"
	case "FULL", "NORMAL":
		opts.Synchronous = strings.ToUpper(opts.Synchronous)
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL")
	}
	if err := os.MkdirAll(filepath.Join(dir, "notebooks"), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	tightened, err := tightenModes(dir)
	if err != nil {
		return nil, err
	}
	// SQLite creates a database file 0644 (less the umask); its WAL and
	// shared-memory files take the database file's mode. Created here
	// first, 0600, all three are 0600 whatever the umask.
	instPath := filepath.Join(dir, "coffer.db")
	f, err := os.OpenFile(instPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create coffer.db: %w", err)
	}
	f.Close()
	b := &Backend{dir: dir, opts: opts, open: map[string]*handle{}, dropped: map[string]bool{}, lru: list.New(), tightened: tightened}
	inst, m, err := b.openDB(instPath)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, dialect{}, inst.W, "", migrations, "migrations/instance"); err != nil {
		closeDB(inst, m)
		return nil, err
	}
	b.inst, b.instM = inst, m
	return b, nil
}

// openDB opens one database file with its writer and reader pools, and
// its maintainer (maintain.go), which checkpoints the WAL off the writer.
func (b *Backend) openDB(path string) (*store.DB, *maintainer, error) {
	return b.openNotebookDB(path, "")
}

// openNotebookDB is openDB for notebook id ("": the instance database).
// With a WAL hook set (walhook.go), a notebook's writer never
// checkpoints: only its maintainer does, after the hook has read the
// frames a checkpoint may copy.
func (b *Backend) openNotebookDB(path, id string) (*store.DB, *maintainer, error) {
	hook := b.walHook(id) // set now: the writer never checkpoints
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	pragmas := "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=analysis_limit(" + analysisLimit + ")&_pragma=temp_store(2)" +
		"&_pragma=synchronous(" + b.opts.Synchronous + ")"
	autocheckpoint := writerCheckpointFrames
	if hook != nil {
		autocheckpoint = 0
	}
	w, err := sql.Open("sqlite", base+pragmas+"&_txlock=immediate"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(autocheckpoint)+")")
	if err != nil {
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer creates the file and switches it to WAL before readers open it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	r, err := sql.Open("sqlite", base+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	r.SetMaxOpenConns(b.opts.Readers)
	r.SetMaxIdleConns(b.opts.Readers)
	r.SetConnMaxIdleTime(0)
	m, err := newMaintainer(base+pragmas, w, shipping{cell: &b.hook, stamps: &b.stamps, id: id, path: path, armed: hook != nil})
	if err != nil {
		r.Close()
		w.Close()
		return nil, nil, err
	}
	db := &store.DB{R: r, W: w, GroupCommit: true, Readers: b.opts.Readers}
	db.OnCommit(m.committed)
	return db, m, nil
}

// closeDB stops a database's maintainer and closes its connections.
func closeDB(db *store.DB, m *maintainer) error {
	err := errors.Join(m.close(), db.R.Close(), db.W.Close())
	m.afterClose() // walhook.go
	return err
}

// tightenModes makes every file under dir 0600 and every folder 0700
// (dir included), and returns the paths (relative to dir) it changed.
// Symbolic links are neither followed nor changed.
func tightenModes(dir string) ([]string, error) {
	var changed []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() == want {
			return nil
		}
		if err := os.Chmod(path, want); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		changed = append(changed, rel)
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("data directory %s: make files 0600 and folders 0700: %w", dir, err)
	}
	return changed, nil
}

// Tightened returns the paths under the data directory, relative to it,
// whose modes Open tightened to 0600 (files) or 0700 (folders).
func (b *Backend) Tightened() []string { return append([]string(nil), b.tightened...) }

// Dialect returns the SQLite dialect.
func (b *Backend) Dialect() store.Dialect { return dialect{} }

// Instance returns the instance database.
func (b *Backend) Instance() *store.DB { return b.inst }

// Dir returns the data directory.
func (b *Backend) Dir() string { return b.dir }

func (b *Backend) notebookPath(id string) (string, error) {
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return "", coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	return filepath.Join(b.dir, "notebooks", id+".db"), nil
}

// Notebook opens the database of an existing notebook, or reuses an open one.
func (b *Backend) Notebook(ctx context.Context, id string) (*store.DB, func(), error) {
	h, release, err := b.acquire(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return h.db, release, nil
}

// acquire opens the database of an existing notebook, or reuses an open
// one, and holds it open until release.
func (b *Backend) acquire(ctx context.Context, id string) (*handle, func(), error) {
	path, err := b.notebookPath(id)
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.close {
		return nil, nil, coffer.Errorf(coffer.EUNAVAILABLE, "storage is closed")
	}
	h := b.open[id]
	if h == nil {
		if b.dropped[id] {
			return nil, nil, coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
		}
		if _, err := os.Stat(path); err != nil {
			if os.IsNotExist(err) {
				return nil, nil, coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
			}
			return nil, nil, err
		}
		db, m, err := b.openNotebookDB(path, id)
		if err != nil {
			return nil, nil, err
		}
		if err := store.Migrate(ctx, dialect{}, db.W, "", migrations, "migrations/notebook"); err != nil {
			closeDB(db, m)
			return nil, nil, err
		}
		h = &handle{id: id, db: db, m: m}
		h.elem = b.lru.PushFront(h)
		b.open[id] = h
	} else {
		b.lru.MoveToFront(h.elem)
	}
	h.refs++
	b.evictLocked() // after refs++, so the handle being returned is never closed
	var once sync.Once
	release := func() { once.Do(func() { b.releaseHandle(h) }) }
	return h, release, nil
}

// releaseHandle gives back a reference taken on an open handle: a
// notebook dropped while in use is closed and deleted by the last one.
func (b *Backend) releaseHandle(h *handle) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h.refs--
	if h.doomed && h.refs == 0 {
		closeDB(h.db, h.m)
		if path, err := b.notebookPath(h.id); err == nil {
			removeFiles(path)
		}
		delete(b.dropped, h.id)
	}
	b.evictLocked()
}

// evictLocked closes the least recently used idle notebooks above the bound.
func (b *Backend) evictLocked() {
	for e := b.lru.Back(); e != nil && len(b.open) > b.opts.MaxOpenNotebooks; {
		prev := e.Prev()
		h := e.Value.(*handle)
		if h.refs == 0 {
			b.lru.Remove(e)
			delete(b.open, h.id)
			closeDB(h.db, h.m)
		}
		e = prev
	}
}

// OpenNotebooks returns how many notebook databases are open (for tests and metrics).
func (b *Backend) OpenNotebooks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.open)
}

// CreateNotebook creates the database file of a new notebook and migrates it.
func (b *Backend) CreateNotebook(ctx context.Context, id string) error {
	path, err := b.notebookPath(id)
	if err != nil {
		return err
	}
	// Create the file (never over an existing one), then open it through
	// the pool, which migrates it.
	b.mu.Lock()
	b.resetWAL(id)
	b.mu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if os.IsExist(err) {
		return coffer.Errorf(coffer.ECONFLICT, "notebook storage already exists")
	}
	if err != nil {
		return err
	}
	f.Close()
	_, release, err := b.Notebook(ctx, id)
	if err != nil {
		removeFiles(path)
		return err
	}
	release()
	return nil
}

// DropNotebook closes and deletes the database files of a notebook. A
// notebook still in use by requests is closed and deleted when the last
// one releases it; it cannot be opened again meanwhile.
func (b *Backend) DropNotebook(ctx context.Context, id string) error {
	path, err := b.notebookPath(id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetWAL(id)
	if h := b.open[id]; h != nil {
		b.lru.Remove(h.elem)
		delete(b.open, id)
		if h.refs > 0 {
			h.doomed = true
			b.dropped[id] = true
			return nil
		}
		closeDB(h.db, h.m)
	}
	return removeFiles(path)
}

// removeFiles deletes a database file with its WAL and shared-memory files.
func removeFiles(path string) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Wrote counts written rows and refreshes the query planner's statistics
// in the background each time a notebook's written rows double (from 1,000
// on), so filtered and sorted lists keep choosing the right index as a
// table grows. ANALYZE reads at most analysis_limit rows per index (set
// when the connection opens) but in user tables of up to statsFullRows
// rows, analyzed in full with samples (stats.go), so its cost stays
// bounded at any size;
// doubling keeps its total cost proportional to the rows written. The
// refresh analyzes one index at a time (maintainer.refreshStats), so
// writes wait at most for one index's piece, not for the whole ANALYZE.
func (b *Backend) Wrote(notebookID string, rows int) {
	b.mu.Lock()
	h := b.open[notebookID]
	b.mu.Unlock()
	if h == nil {
		return
	}
	n := h.written.Add(int64(rows))
	next := h.analyzeAt.Load()
	if next == 0 {
		h.analyzeAt.CompareAndSwap(0, 1000)
		next = h.analyzeAt.Load()
	}
	if n < next || !h.analyzeAt.CompareAndSwap(next, 2*n) {
		return
	}
	h.m.refreshStats()
}

// Ping checks the instance database.
func (b *Backend) Ping(ctx context.Context) error { return b.inst.R.PingContext(ctx) }

// Close closes every database. Closing again does nothing.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.close {
		return nil
	}
	b.close = true
	var errs []error
	for id, h := range b.open {
		errs = append(errs, closeDB(h.db, h.m))
		delete(b.open, id)
	}
	b.lru.Init()
	if b.inst != nil {
		errs = append(errs, closeDB(b.inst, b.instM))
	}
	return errors.Join(errs...)
}

// dialect is the SQLite dialect.
type dialect struct{}

func (dialect) Name() string           { return "sqlite" }
func (dialect) Rebind(q string) string { return q }

func (dialect) ColumnType(t coffer.ColumnType) string {
	switch t {
	case coffer.TypeNumber, coffer.TypeBoolean, coffer.TypeDateTime:
		return "INTEGER"
	case coffer.TypeLink, coffer.TypeCreatedAt, coffer.TypeCreatedBy, coffer.TypeUpdatedAt, coffer.TypeUpdatedBy:
		return ""
	default:
		return "TEXT"
	}
}

func (dialect) KeyType() string { return "BLOB" }

func (dialect) ContainsFold(expr, ph string) string {
	return "instr(coffer_fold(" + expr + "), coffer_fold(" + ph + ")) > 0"
}

func (dialect) JSONArrayContains(expr, ph string) string {
	return "EXISTS (SELECT 1 FROM json_each(" + expr + ") WHERE json_each.value = " + ph + ")"
}

func (dialect) LinkArray(j, src string) string {
	return "(SELECT json_group_array(dst) FROM (SELECT dst FROM " + j + " WHERE src = " + src + " ORDER BY pos))"
}

func (dialect) NullsOrder(desc bool) string { return "" }

// LockRows is empty: each database has one writer, so writes never interleave.
func (dialect) LockRows(exclusive bool) string { return "" }

func (dialect) MapError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "already exists", Err: err}
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the database is busy, try again", Err: err}
	case sqlite3.SQLITE_FULL:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the disk is full", Err: err}
	}
	return err
}
