package store

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SharedCacheTTL bounds how long an entry cached from a shared database
// (DB.Shared) lives: a backstop, since every committed change of what the
// caches hold arrives as an invalidation within milliseconds.
const SharedCacheTTL = 30 * time.Second

// Invalidator is implemented by a backend that several processes share
// (PostgreSQL). WatchInvalidations starts listening, in the background and
// until the backend is closed, for the invalidations that writes on any
// node send in their transactions (so one arrives if and only if its write
// commits), and hands each to deliver. It calls up(true) once it listens
// and up(false) as soon as it stops listening (the connection is lost):
// invalidations sent meanwhile are gone, so caches must not serve until
// up(true) again.
type Invalidator interface {
	WatchInvalidations(deliver func(keys []string), up func(bool))
}

// Invalidation keys name what a committed write changed. Each is a kind
// and an id: "session:ID", "apikey:ID", "user:ID", "notebook:ID" (its
// registry row, members, grants, access-scoping views or schema),
// "access:1" (group or organisation memberships: every notebook's access),
// "datakey:ID" (a data key made, re-wrapped, retired or shredded: which key
// is current in its scope). The empty key stands for everything.
const (
	InvalidSession  = "session"
	InvalidAPIKey   = "apikey"
	InvalidUser     = "user"
	InvalidNotebook = "notebook"
	InvalidAccess   = "access"
	InvalidDataKey  = "datakey"
)

// Invalidations is the gate of one process's caches over a database. Where
// the database is this process's own it is always open; where it is
// shared, the caches serve only while the backend listens for
// invalidations, and every cache drops what an invalidation names.
type Invalidations struct {
	shared bool
	up     atomic.Bool
	mu     sync.Mutex
	subs   []func(kind, id string)
}

// NewInvalidations returns the gate of b's caches, listening for
// invalidations when b is shared and can send them; a shared backend that
// cannot keeps its caches closed.
func NewInvalidations(b Backend) *Invalidations {
	v := &Invalidations{shared: b.Instance().Shared}
	if iv, ok := b.(Invalidator); ok && v.shared {
		iv.WatchInvalidations(v.Deliver, v.SetUp)
	}
	return v
}

// Usable reports whether caches may serve entries now (and keep new ones);
// never without a gate.
func (v *Invalidations) Usable() bool { return v != nil && (!v.shared || v.up.Load()) }

// Shared reports whether the database is shared with other processes.
func (v *Invalidations) Shared() bool { return v.shared }

// Subscribe registers fn to drop what each invalidation names; kind "" is
// everything.
func (v *Invalidations) Subscribe(fn func(kind, id string)) {
	v.mu.Lock()
	v.subs = append(v.subs, fn)
	v.mu.Unlock()
}

// Deliver hands invalidation keys to every subscriber.
func (v *Invalidations) Deliver(keys []string) {
	v.mu.Lock()
	subs := v.subs
	v.mu.Unlock()
	for _, k := range keys {
		kind, id, _ := strings.Cut(k, ":")
		for _, fn := range subs {
			fn(kind, id)
		}
	}
}

// SetUp opens the gate (the backend listens) or closes it (it lost its
// connection). Either way every cache is emptied: when closing, so that
// nothing is served that an invalidation lost meanwhile would have
// dropped; when opening, for what was cached while closing raced.
func (v *Invalidations) SetUp(up bool) {
	if !up {
		v.up.Store(false)
	}
	v.Deliver([]string{""})
	if up {
		v.up.Store(true)
	}
}
