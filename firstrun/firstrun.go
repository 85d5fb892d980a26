// Package firstrun holds the one-time setup link of an empty instance:
// `coffer serve` makes one when no account exists and prints its URL in
// the terminal; whoever opens it may create the first account (the
// instance's owner). The token is 256 random bits, kept only as a hash in
// the serving process's memory, valid for Lifetime and good for one
// claim: it is never stored, logged or sent anywhere but the terminal.
package firstrun

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
)

// Lifetime is how long a setup link stays valid.
const Lifetime = time.Hour

// TokenPrefix makes a leaked setup token recognizable.
const TokenPrefix = "cfu_"

// ErrInvalid answers every refused token alike: wrong, used, expired or
// missing (the message does not tell which, except that the link printed
// in the terminal is needed).
var ErrInvalid = coffer.Errorf(coffer.ESETUPTOKEN,
	"this setup link is not valid: it works once, for one hour after the server started; restart `coffer serve` on the empty instance for a new one, or create the first account with `coffer user create`")

// Link is the setup link of one serving process.
type Link struct {
	hash    []byte
	expires time.Time
	now     func() time.Time

	mu   sync.Mutex
	used bool
}

// New makes a link valid for Lifetime from now, and returns it with its
// token (to print once; only its hash is kept).
func New() (*Link, string) { return NewAt(time.Now, Lifetime) }

// NewAt is New with a clock and a lifetime, for tests.
func NewAt(now func() time.Time, lifetime time.Duration) (*Link, string) {
	token, hash := auth.NewToken(TokenPrefix)
	return &Link{hash: hash, expires: now().Add(lifetime), now: now}, token
}

// URL returns the setup URL of token under publicURL (no trailing
// slash). The token is in the fragment: browsers never send it to a
// server, so it reaches no access log and no Referer.
func URL(publicURL, token string) string { return publicURL + "/setup#token=" + token }

// Check reports whether token is this link's, unused and unexpired
// (compared in constant time), without using it up.
func (l *Link) Check(token string) error {
	if l == nil || token == "" || len(token) > 200 {
		return ErrInvalid
	}
	ok := subtle.ConstantTimeCompare(auth.HashToken(token), l.hash) == 1
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok || l.used || !l.now().Before(l.expires) {
		return ErrInvalid
	}
	return nil
}

// Claim runs create when token is valid, and uses the token up when
// create succeeds; a failed create (a weak password, say) leaves the link
// usable. Claims are not serialized here: create itself must decide, in
// the transaction that inserts, that no account exists yet, so of two
// concurrent claims one creates the owner and the other gets create's
// conflict (other nodes, or `coffer user create`, may make an account
// too). A claim after a success gets ErrInvalid.
func (l *Link) Claim(token string, create func() error) error {
	if err := l.Check(token); err != nil {
		return err
	}
	if err := create(); err != nil {
		return err
	}
	l.mu.Lock()
	l.used = true
	l.mu.Unlock()
	return nil
}

// Used reports whether the link has been claimed.
func (l *Link) Used() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}
