package location

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/blob"
)

// LockMargin is what New adds to a store's lock period, and Sweep to the
// end of an object's lock, so that clocks that disagree do not make Sweep
// try to delete an object whose lock the store still holds.
const LockMargin = 24 * time.Hour

// Locker is implemented by stores that may write objects that cannot be
// deleted for a while (blob/s3 with lock=compliance or governance).
type Locker interface {
	// ObjectLock returns how long after it is written an object of this
	// store cannot be deleted: 0 when objects are not locked.
	ObjectLock() time.Duration
	// LockedUntil returns when the lock of the object under key ends
	// (the zero time: it has none).
	LockedUntil(ctx context.Context, key string) (time.Time, error)
	// ExtendLock makes the lock of the object under key end at until
	// (never earlier than it did).
	ExtendLock(ctx context.Context, key string, until time.Time) error
}

// ErrLocked is the cause (errors.Is) of the EFORBIDDEN error Sweep returns
// on a Locked location whose LockFor is 0: nothing there may ever be
// deleted by Coffer (the store's own lifecycle rules must expire objects).
var ErrLocked = errors.New("location: objects in this location cannot be deleted")

// Relock keeps the live objects of a Locked location locked: every object
// under prefix that live claims and whose lock ends before now+minLeft
// gets its lock extended to now plus the store's lock period (or to
// now+minLeft, when later). It returns how many it extended. An object
// written once and referenced for longer than the lock period (a file
// blob that never changes) thus stays protected. Objects written within
// the lock period minus minLeft are not asked about (their lock, which is
// never shortened, lasts long enough). On a location that is not Locked,
// or whose store is not a Locker, it does nothing. Called daily with
// minLeft half the lock period, each object is extended about once every
// half period.
func Relock(ctx context.Context, l Location, prefix string, live func(key string) bool, minLeft time.Duration) (extended int, err error) {
	lk, ok := l.Store.(Locker)
	if !l.Locked || !ok || lk.ObjectLock() <= 0 {
		return 0, nil
	}
	if err := blob.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	period := lk.ObjectLock()
	now := time.Now()
	need := now.Add(minLeft)
	var todo []string
	err = l.Store.List(ctx, prefix, func(in blob.Info) error {
		if live(in.Key) && in.Modified.Add(period).Before(need) {
			todo = append(todo, in.Key)
		}
		return nil
	})
	if err != nil {
		return 0, fail("Relock", l, err)
	}
	until := now.Add(max(period, minLeft))
	var n atomic.Int64
	err = Parallel(ctx, len(todo), func(ctx context.Context, i int) error {
		end, err := lk.LockedUntil(ctx, todo[i])
		if err != nil {
			return err
		}
		if !end.Before(need) {
			return nil
		}
		if err := lk.ExtendLock(ctx, todo[i], until); err != nil {
			return err
		}
		n.Add(1)
		return nil
	})
	if err != nil {
		return int(n.Load()), fail("Relock", l, err)
	}
	return int(n.Load()), nil
}
