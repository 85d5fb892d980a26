package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// cacheTTL bounds how long a change made by another process (for example
// the CLI) to a cached row goes unseen. Changes made through this Store
// drop the entry at once. Where several nodes share the database
// (DB.Shared) the caches live longer (SharedCacheTTL) and are emptied by
// the invalidations every committed change sends (see Invalidations): a
// session ended on one node ends on every node within milliseconds, and
// while a node does not hear invalidations its caches are off.
const cacheTTL = time.Second

// cacheMax bounds the entries of one cache; a full cache starts afresh.
const cacheMax = 10000

// TTLCache is a small in-process cache for rows read on every request
// (sessions, the notebook registry).
type TTLCache[K comparable, V any] struct {
	mu  sync.RWMutex
	m   map[K]ttlEntry[V]
	ttl time.Duration
	gen uint64 // moves on at every Drop
}

type ttlEntry[V any] struct {
	v  V
	at time.Time
}

// NewTTLCache returns an empty cache.
func NewTTLCache[K comparable, V any]() *TTLCache[K, V] {
	return &TTLCache[K, V]{m: map[K]ttlEntry[V]{}, ttl: cacheTTL}
}

// NewSharedTTLCache returns an empty cache for rows of db: entries live
// SharedCacheTTL where db is shared (invalidations drop them sooner),
// cacheTTL otherwise.
func NewSharedTTLCache[K comparable, V any](db *DB) *TTLCache[K, V] {
	c := NewTTLCache[K, V]()
	if db != nil && db.Shared {
		c.ttl = SharedCacheTTL
	}
	return c
}

// Get returns the entry of k when it is younger than the cache's TTL at now.
func (c *TTLCache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) > c.ttl || now.Before(e.at) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v under k, read at now; a full cache starts afresh.
func (c *TTLCache[K, V]) Put(k K, v V, now time.Time) {
	c.mu.Lock()
	if len(c.m) >= cacheMax {
		c.m = map[K]ttlEntry[V]{}
	}
	c.m[k] = ttlEntry[V]{v, now}
	c.mu.Unlock()
}

// Gen returns the cache's generation, to be read before loading what
// PutIf will store.
func (c *TTLCache[K, V]) Gen() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// PutIf is Put unless something was dropped since the cache was at
// generation gen: a row loaded while an invalidation of it arrived may be
// the old one, and is not kept.
func (c *TTLCache[K, V]) PutIf(k K, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) >= cacheMax {
			c.m = map[K]ttlEntry[V]{}
		}
		c.m[k] = ttlEntry[V]{v, now}
	}
	c.mu.Unlock()
}

// Drop removes the entries for which match is true.
func (c *TTLCache[K, V]) Drop(match func(K, V) bool) {
	c.mu.Lock()
	c.gen++
	for k, e := range c.m {
		if match(k, e.v) {
			delete(c.m, k)
		}
	}
	c.mu.Unlock()
}

// QueryRow runs a query that returns one row on db's readers, through a
// prepared statement unless db.NoPrepare is set.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	if db.NoPrepare {
		return db.R.QueryRowContext(ctx, query, args...), nil
	}
	st, err := db.stmt(ctx, query)
	if errors.Is(err, errStmtCacheFull) {
		return db.R.QueryRowContext(ctx, query, args...), nil
	}
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// stmt returns a prepared statement for query on db's readers, prepared once
// per database: SQLite parses a query once instead of at every request.
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	if db.nstmts.Load() >= maxReaderStmts {
		// Full (queries shaped by many different grants): prepare no more;
		// the caller's query runs unprepared.
		return nil, errStmtCacheFull
	}
	st, err := db.R.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	db.nstmts.Add(1)
	return st, nil
}

// maxReaderStmts bounds the statements prepared on one database's readers.
const maxReaderStmts = 2000

var errStmtCacheFull = errors.New("statement cache full")
