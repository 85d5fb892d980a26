// Package location is where backups go: a named blob.Store (a directory or
// an S3-compatible bucket). Replicate copies what is missing from one
// location to another, idempotently and without ever deleting, so the
// second location can be written with credentials that cannot delete
// (object lock); Sweep is the sweep half of mark and sweep, deleting the
// objects no kept snapshot references once they are older than a grace
// period.
//
// Objects in a location are immutable: a key, once written, always holds
// the same bytes (snapshots, images, file blob objects and packs are named
// by ids or random names). Replicate relies on it: an object present at
// the destination with the source's size is not copied again.
package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
)

// Location is a place that holds backups.
type Location struct {
	Name  string     // shown to people and recorded in the catalogue ("primary", "second", …)
	Store blob.Store // keys are relative to the location
	// Locked says objects cannot be deleted here, or not yet (S3 object
	// lock, or credentials without delete).
	Locked bool
	// LockFor, on a Locked location, is how long after it was written an
	// object may be deleted: Sweep leaves younger objects alone. 0 means
	// never, and Sweep refuses to run. New sets it from the store, with a
	// day's margin for clocks.
	LockFor time.Duration
}

// New returns the location name over s, Locked for the store's lock
// period (plus LockMargin) when the store writes objects under an object
// lock (see Locker).
func New(name string, s blob.Store) Location {
	l := Location{Name: name, Store: s}
	if lk, ok := s.(Locker); ok {
		if d := lk.ObjectLock(); d > 0 {
			l.Locked, l.LockFor = true, d+LockMargin
		}
	}
	return l
}

// Replicate copies every object under prefix in from that to lacks, or
// holds with another size, and returns how many it copied. It never
// deletes, in either location. It is idempotent and restartable: a run
// cut short (error, cancelled context, crash) leaves only complete objects
// (blob.Store's Put is atomic), and the next run copies what is still
// missing. An object deleted from from after it was listed (swept) is
// skipped. Up to Workers objects are copied at once; objects whose last
// key segment is "manifest" are copied after all others, so a manifest
// appears in to only once what it describes is there.
func Replicate(ctx context.Context, from, to Location, prefix string) (copied int, err error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	have := map[string]int64{}
	if err := to.Store.List(ctx, prefix, func(in blob.Info) error {
		have[in.Key] = in.Size
		return nil
	}); err != nil {
		return 0, fail("Replicate", to, err)
	}
	var todo []blob.Info
	if err := from.Store.List(ctx, prefix, func(in blob.Info) error {
		if size, ok := have[in.Key]; !ok || size != in.Size {
			todo = append(todo, in)
		}
		return nil
	}); err != nil {
		return 0, fail("Replicate", from, err)
	}
	// Manifests last, once everything else is there.
	var rest, manifests []blob.Info
	for _, in := range todo {
		if isManifest(in.Key) {
			manifests = append(manifests, in)
		} else {
			rest = append(rest, in)
		}
	}
	var n atomic.Int64
	for _, batch := range [][]blob.Info{rest, manifests} {
		slices.SortFunc(batch, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
		err := Parallel(ctx, len(batch), func(ctx context.Context, i int) error {
			err := copyObject(ctx, from.Store, to.Store, batch[i])
			switch {
			case errors.Is(err, errGone):
				return nil
			case err != nil:
				return err
			}
			n.Add(1)
			return nil
		})
		if err != nil {
			return int(n.Load()), err
		}
	}
	return int(n.Load()), nil
}

// Workers is how many objects Replicate copies (and backup/blobs reads
// or copies) at once.
const Workers = 4

// Parallel calls fn(ctx, i) for i in [0, n) on up to Workers goroutines
// and returns the first error, after which no new call starts.
func Parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(Workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || cctx.Err() != nil {
					return
				}
				if err := fn(cctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func isManifest(key string) bool {
	return key == "manifest" || strings.HasSuffix(key, "/manifest")
}

// copyObject copies one object, checking that exactly in.Size bytes went
// over (an object replaced meanwhile at the source fails the copy rather
// than leave a mix at the destination).
func copyObject(ctx context.Context, from, to blob.Store, in blob.Info) error {
	rc, err := from.Open(ctx, in.Key, 0, -1)
	if errors.Is(err, blob.ErrNotFound) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("location: replicate %s: %w", in.Key, err)
	}
	defer rc.Close()
	n, err := to.Put(ctx, in.Key, &exactReader{r: rc, left: in.Size})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("location: replicate %s: %w", in.Key, err)
	}
	if n != in.Size {
		return fmt.Errorf("location: replicate %s: %d bytes stored, want %d", in.Key, n, in.Size)
	}
	return nil
}

// errGone is returned by copyObject when the object was deleted (swept)
// from the source since it was listed: there is nothing to copy.
var errGone = errors.New("location: the object is gone")

// errSize is returned by exactReader when the source does not hold the
// size it was listed with.
var errSize = errors.New("location: the object changed size while being copied")

// exactReader reads r, failing unless it yields exactly left bytes.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left < 0 {
		return n, errSize
	}
	if err == io.EOF && e.left != 0 {
		return n, errSize
	}
	return n, err
}

// Sweep deletes the objects under prefix in l that live does not claim
// and that were last written before olderThan (the grace period protects
// objects of a backup still running, or whose snapshot is not recorded
// yet), and returns how many it deleted. On a Locked location it also
// leaves alone the objects written within LockFor and, when the store is
// a Locker, those whose lock (maybe extended by Relock) has not ended a
// LockMargin ago: the store would refuse to delete them. When LockFor is
// 0 it deletes nothing and returns an EFORBIDDEN error wrapping
// ErrLocked. Unfinished writes (S3
// multipart uploads of a process that died) begun before olderThan are
// discarded, uncounted, where l is not Locked. Sweep must not run while a
// backup of the same objects runs.
func Sweep(ctx context.Context, l Location, prefix string, live func(key string) bool, olderThan time.Time) (deleted int, err error) {
	if l.Locked && l.LockFor <= 0 {
		return 0, &coffer.Error{Code: coffer.EFORBIDDEN, Message: "backup location " + l.Name + " does not allow deletion (object lock)",
			Op: "location.Sweep", Err: ErrLocked}
	}
	if err := blob.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	keep := func(key string) (bool, error) { return live(key), nil }
	if l.Locked {
		now := time.Now()
		if unlocked := now.Add(-l.LockFor); unlocked.Before(olderThan) {
			olderThan = unlocked
		}
		if lk, ok := l.Store.(Locker); ok {
			// A lock may have been extended (Relock): ask.
			keep = func(key string) (bool, error) {
				if live(key) {
					return true, nil
				}
				until, err := lk.LockedUntil(ctx, key)
				if err != nil {
					return true, err
				}
				return until.Add(LockMargin).After(now), nil
			}
		}
	}
	n, err := blob.Collect(ctx, l.Store, prefix, olderThan, keep)
	if err != nil {
		return n, fail("Sweep", l, err)
	}
	return n, nil
}

func fail(op string, l Location, err error) error {
	var e *coffer.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("location: %s %s: %w", op, l.Name, err)
}
