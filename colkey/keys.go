package colkey

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// HeaderName is the request header that carries column passwords, one
// column per header line: "<column id>:<password>".
const HeaderName = "X-Coffer-Column-Key"

// MaxHeaderKeys bounds the column passwords one request may carry.
const MaxHeaderKeys = 16

// ParseHeader reads the values of X-Coffer-Column-Key into passwords by
// column id. A malformed value is EINVALID (without echoing it).
func ParseHeader(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	if len(values) > MaxHeaderKeys {
		return nil, coffer.Errorf(coffer.EINVALID, "at most %d %s headers", MaxHeaderKeys, HeaderName)
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		id, pw, ok := strings.Cut(v, ":")
		id = strings.TrimSpace(id)
		if !ok || !coffer.ValidID(coffer.PrefixColumn, id) || pw == "" {
			return nil, coffer.Errorf(coffer.EINVALID, "%s must be <column id>:<password>", HeaderName)
		}
		out[id] = pw
	}
	return out, nil
}

// DefaultUnlockTTL is how long an unlock keeps a column's key: a fixed
// time from the unlock, not extended by use.
const DefaultUnlockTTL = 5 * time.Minute

// Unlocks keeps the keys of columns that sessions unlocked, in memory, for
// a fixed time. Keys never leave the process; a restart locks everything.
type Unlocks struct {
	TTL time.Duration
	Now func() time.Time

	mu sync.Mutex
	m  map[unlockKey]unlockEntry
}

type unlockKey struct{ holder, notebook, column string }

type unlockEntry struct {
	key     *Key
	expires time.Time
}

// NewUnlocks returns an empty cache with the default time to live.
func NewUnlocks() *Unlocks {
	return &Unlocks{TTL: DefaultUnlockTTL, Now: time.Now, m: map[unlockKey]unlockEntry{}}
}

// maxUnlocks bounds the entries kept; the oldest are dropped beyond it.
const maxUnlocks = 100_000

// Put keeps k for holder (a session) and the column until the TTL passes;
// it returns that moment.
func (u *Unlocks) Put(holder, notebook, column string, k *Key) time.Time {
	now := u.Now()
	exp := now.Add(u.TTL)
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.m) >= maxUnlocks {
		for key, e := range u.m {
			if !e.expires.After(now) || len(u.m) >= maxUnlocks {
				delete(u.m, key)
			}
		}
	}
	u.m[unlockKey{holder, notebook, column}] = unlockEntry{key: k, expires: exp}
	return exp
}

// Get returns the key holder unlocked for the column, nil when none is
// kept or it expired.
func (u *Unlocks) Get(holder, notebook, column string) *Key {
	if u == nil || holder == "" {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := unlockKey{holder, notebook, column}
	e, ok := u.m[k]
	if !ok {
		return nil
	}
	if !e.expires.After(u.Now()) {
		delete(u.m, k)
		return nil
	}
	return e.key
}

// Lock forgets holder's key of the column; it reports whether one was kept.
func (u *Unlocks) Lock(holder, notebook, column string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := unlockKey{holder, notebook, column}
	_, ok := u.m[k]
	delete(u.m, k)
	return ok
}

// Forget drops every session's key of a column (its password changed).
func (u *Unlocks) Forget(notebook, column string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for k := range u.m {
		if k.notebook == notebook && k.column == column {
			delete(u.m, k)
		}
	}
}

// Holder names who an unlock belongs to: the caller's session, or their
// API key; "" for neither.
func Holder(c *coffer.Caller) string {
	switch {
	case c == nil:
		return ""
	case c.SessionID != "":
		return "s:" + c.SessionID
	case c.APIKeyID != "":
		return "k:" + c.APIKeyID
	}
	return ""
}

// Request is what one request brings to open encrypted columns: the
// passwords of its X-Coffer-Column-Key headers and its caller's unlocks.
// Keys derived from header passwords are kept for the request's life.
type Request struct {
	passwords map[string]string // by column id
	unlocks   *Unlocks

	mu      sync.Mutex
	derived map[string]*Key // by column id
}

type requestKey struct{}

// WithRequest returns ctx carrying the column passwords of a request
// (by column id) and the unlock cache.
func WithRequest(ctx context.Context, passwords map[string]string, u *Unlocks) context.Context {
	return context.WithValue(ctx, requestKey{}, &Request{passwords: passwords, unlocks: u})
}

// UnlocksFrom returns the unlock cache ctx carries, or nil.
func UnlocksFrom(ctx context.Context) *Unlocks {
	if r, _ := ctx.Value(requestKey{}).(*Request); r != nil {
		return r.unlocks
	}
	return nil
}

// For returns the key of column c of notebook that ctx carries: from a
// header password (checked: a wrong one is EKEY), else from the caller's
// unlock while it matches the column's current password. It returns nil
// when ctx carries none.
func For(ctx context.Context, notebook string, c *coffer.Column) (*Key, error) {
	r, _ := ctx.Value(requestKey{}).(*Request)
	if r == nil || c == nil || c.Options.Encryption == nil {
		return nil, nil
	}
	if pw, ok := r.passwords[c.ID]; ok {
		r.mu.Lock()
		k := r.derived[c.ID]
		r.mu.Unlock()
		if k != nil && k.Matches(c.Options.Encryption) {
			return k, nil
		}
		k, err := Derive(ctx, c.Options.Encryption, pw)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.derived == nil {
			r.derived = map[string]*Key{}
		}
		r.derived[c.ID] = k
		r.mu.Unlock()
		return k, nil
	}
	if k := r.unlocks.Get(Holder(coffer.CallerFrom(ctx)), notebook, c.ID); k != nil && k.Matches(c.Options.Encryption) {
		return k, nil
	}
	return nil, nil
}
