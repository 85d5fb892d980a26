package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// dataVersion tells whether a database's data may have changed between two
// moments: started counts the COMMITs begun on its writer, ended those
// that returned (whatever their outcome). Both only grow, ended never
// passes started, and each is moved by Core.Write, through which every
// write transaction on a notebook's writer goes (migrations run before the
// database is handed out; the planner statistics that the backend's upkeep
// writes change no row).
type dataVersion struct {
	started, ended atomic.Uint64
}

// committing runs commit, the COMMIT of a write transaction, between the
// two moves of db's data version.
func (db *DB) committing(commit func() error) error {
	db.version.started.Add(1)
	defer db.version.ended.Add(1)
	return commit()
}

// stableVersion returns db's data version and true when no COMMIT is in
// progress: a read transaction whose first statement runs after this call,
// and after which versionUnchanged(v) still holds, read exactly the data
// committed at version v.
//
// Proof sketch: ended is read before started; since ended ≤ started at every
// moment and both only grow, ended = started = v at the first read, so
// every COMMIT counted had returned (its data visible to any snapshot taken
// later) and none was in progress. versionUnchanged(v) afterwards means
// that no COMMIT began since, so the snapshot taken in between holds those
// commits and nothing else.
func (db *DB) stableVersion() (v uint64, ok bool) {
	e := db.version.ended.Load()
	s := db.version.started.Load()
	return s, s == e
}

// versionUnchanged reports whether no COMMIT has begun on db since
// stableVersion returned v.
func (db *DB) versionUnchanged(v uint64) bool { return db.version.started.Load() == v }

// countCacheMax bounds the totals a database keeps; a full cache starts
// afresh.
const countCacheMax = 1000

// countCache holds the totals of count queries at one data version: a
// total is valid for exactly that version, so entries of an older version
// are dropped as soon as one of a newer version is stored.
type countCache struct {
	mu      sync.Mutex
	version uint64
	m       map[[sha256.Size]byte]int64
	hits    atomic.Int64 // totals served from the cache
	runs    atomic.Int64 // count queries run by Total
}

// countKey identifies a count query at a data version: a hash of the
// version, the query text and its arguments, each with its type and length
// so that no two different queries encode alike. ok is false when an
// argument has a type it does not know how to encode (the count is then
// not cached).
func countKey(version uint64, query string, args []any) (key [sha256.Size]byte, ok bool) {
	h := sha256.New()
	var b [9]byte
	put := func(tag byte, n uint64) {
		b[0] = tag
		binary.BigEndian.PutUint64(b[1:], n)
		h.Write(b[:])
	}
	put('v', version)
	put('q', uint64(len(query)))
	h.Write([]byte(query))
	put('n', uint64(len(args)))
	for _, a := range args {
		switch a := a.(type) {
		case nil:
			put('0', 0)
		case string:
			put('s', uint64(len(a)))
			h.Write([]byte(a))
		case []byte:
			put('b', uint64(len(a)))
			h.Write(a)
		case int64:
			put('i', uint64(a))
		case int:
			put('i', uint64(int64(a)))
		case float64:
			put('f', math.Float64bits(a))
		case bool:
			n := uint64(0)
			if a {
				n = 1
			}
			put('t', n)
		case time.Time:
			// As a driver binds it: the instant and its zone's name and offset.
			name, off := a.Zone()
			put('T', uint64(a.UnixNano()))
			put('z', uint64(int64(off)))
			put('Z', uint64(len(name)))
			h.Write([]byte(name))
		default:
			return key, false
		}
	}
	h.Sum(key[:0])
	return key, true
}

// cachedCount returns the total stored under key, which must have been
// made (countKey) with version v.
func (db *DB) cachedCount(v uint64, key [sha256.Size]byte) (int64, bool) {
	c := &db.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != v {
		return 0, false
	}
	n, ok := c.m[key]
	return n, ok
}

// storeCount keeps total under key (made with version v). The caller must
// have counted in a snapshot of version v: stableVersion gave v before the
// snapshot was taken, and versionUnchanged(v) held after.
func (db *DB) storeCount(v uint64, key [sha256.Size]byte, total int64) {
	c := &db.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case v < c.version:
		return // a newer version is cached already
	case v > c.version || c.m == nil || len(c.m) >= countCacheMax:
		c.version, c.m = v, map[[sha256.Size]byte]int64{}
	}
	c.m[key] = total
}

// CountStats returns how many totals Total served from db's cache and how
// many count queries it ran.
func (db *DB) CountStats() (hits, runs int64) {
	return db.counts.hits.Load(), db.counts.runs.Load()
}

// CountStamp is the data version a read transaction started after: see
// DB.CountStamp.
type CountStamp struct {
	v  uint64
	ok bool
}

// CountStamp must be called just before a read transaction whose first
// statement will take its snapshot, and passed to Total in that
// transaction. On a database that other processes change too (Shared), or
// while a COMMIT is in progress, it disables the cache for that
// transaction.
func (db *DB) CountStamp() CountStamp {
	if db.Shared {
		return CountStamp{}
	}
	v, ok := db.stableVersion()
	return CountStamp{v: v, ok: ok}
}

// Total returns the result of query (a "SELECT count(*) …" with args) in
// tx, a read transaction begun after st was taken that has already read
// (so that its snapshot is taken). The total comes from db's cache when
// the same query with the same arguments was counted at the same data
// version, and the data version has not moved since st: the snapshot is
// then that version's, so the cached total is tx's own. Otherwise the
// query runs in tx, and its total is cached when the version still has
// not moved. A zero st never uses the cache.
func (db *DB) Total(ctx context.Context, tx *sql.Tx, st CountStamp, query string, args []any) (int64, error) {
	var key [sha256.Size]byte
	use := st.ok
	if use {
		key, use = countKey(st.v, query, args)
	}
	if use {
		if n, ok := db.cachedCount(st.v, key); ok && db.versionUnchanged(st.v) {
			db.counts.hits.Add(1)
			return n, nil
		}
	}
	db.counts.runs.Add(1)
	var n int64
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	if use && db.versionUnchanged(st.v) {
		db.storeCount(st.v, key, n)
	}
	return n, nil
}
