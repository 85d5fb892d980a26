package identity

import (
	"context"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Attempts at a secret (a password, a second-factor code, a reset token)
// are reserved before the secret is checked: one transaction counts the
// attempt against each of its limits and decides, from the counts it
// has just taken, whether the attempt may go on. The counters are rows of
// the throttle table, updated with INSERT … ON CONFLICT DO UPDATE …
// RETURNING, which holds the row until the transaction ends: N concurrent
// attempts, on one node or on several sharing a PostgreSQL database,
// count as N. After the check a success gives its reservation back
// (release); a failure keeps it.

// limit is one counter that an attempt counts against.
type limit struct {
	key string
	// free failures pass; each further one blocks the key for a doubling
	// delay (1 s, 2 s, …) up to maxDelay. maxDelay 0: no delays.
	free     int
	maxDelay time.Duration
	// lockAt > 0: once lockAt consecutive failures are on record, further
	// attempts are refused without a check until a success or a reset
	// clears the counter. Such counters never expire.
	lockAt int
	// clear: a success clears the counter (it counts consecutive
	// failures); otherwise it gives back the one attempt it reserved.
	clear bool
}

// reserve counts one attempt against every limit in tx. While any limit
// is blocked it returns ETOOMANY with the longest wait, and the caller
// must roll tx back so that nothing is counted. locked says that a
// limit is at its lockout: the caller must refuse the attempt without
// checking the secret (the attempt stays counted).
func (s *Service) reserve(ctx context.Context, tx catalog.Querier, limits []limit) (locked bool, err error) {
	now := s.NowMicros()
	var wait int64
	type over struct {
		key   string
		delay time.Duration
	}
	var block []over
	for _, l := range limits {
		stale := now - throttleWindow.Microseconds()
		if l.lockAt > 0 {
			stale = -1 // never forgets
		}
		var n int
		var until int64
		err := tx.QueryRowContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"throttle AS t (key, failures, last_at, blocked_until) VALUES (?, 1, ?, 0) "+
			"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN t.last_at < ? THEN 1 ELSE t.failures + 1 END, last_at = ? RETURNING failures, blocked_until"),
			l.key, now, stale, now).Scan(&n, &until)
		if err != nil {
			return false, err
		}
		if until > now {
			wait = max(wait, until-now)
		}
		if l.lockAt > 0 && n > l.lockAt {
			locked = true
		}
		if l.maxDelay > 0 && n > l.free {
			delay := l.maxDelay
			if k := n - l.free - 1; k < 40 {
				delay = min(time.Second<<k, l.maxDelay)
			}
			block = append(block, over{l.key, delay})
		}
	}
	if wait > 0 {
		return false, coffer.TooMany(time.Duration(wait) * time.Microsecond)
	}
	for _, b := range block {
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"throttle SET blocked_until = ? WHERE key = ?"), now+b.delay.Microseconds(), b.key); err != nil {
			return false, err
		}
	}
	return locked, nil
}

// reserveAttempt runs reserve in a transaction of its own: the attempt is
// counted (and committed) before its secret is checked.
func (s *Service) reserveAttempt(ctx context.Context, op string, limits ...limit) (locked bool, err error) {
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		locked, err = s.reserve(ctx, tx, limits)
		return err
	})
	return locked, err
}

// release gives back the reservation of an attempt that succeeded:
// counters of consecutive failures are cleared, the others lose the one
// attempt (and their block, when that brings them back within their free
// failures).
func (s *Service) release(ctx context.Context, tx catalog.Querier, limits []limit) error {
	for _, l := range limits {
		if l.clear {
			if err := s.clearThrottle(ctx, tx, l.key); err != nil {
				return err
			}
			continue
		}
		_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"throttle SET failures = failures - 1, "+
			"blocked_until = CASE WHEN failures - 1 <= ? THEN 0 ELSE blocked_until END WHERE key = ? AND failures > 0"), l.free, l.key)
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseAttempt runs release in a transaction of its own.
func (s *Service) releaseAttempt(ctx context.Context, op string, limits ...limit) error {
	return s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error { return s.release(ctx, tx, limits) })
}
