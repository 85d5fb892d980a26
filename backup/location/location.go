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
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
)

// Location is a place that holds backups.
type Location struct {
	Name  string     // shown to people and recorded in the catalogue ("primary", "second", …)
	Store blob.Store // keys are relative to the location
	// Locked says objects cannot be deleted here (S3 object lock, or
	// credentials without delete): Sweep refuses to run on it. See
	// IsLocked.
	Locked bool
}

// New returns the location name over s, Locked when the store says its
// objects are written under an object lock (see IsLocked).
func New(name string, s blob.Store) Location {
	return Location{Name: name, Store: s, Locked: IsLocked(s)}
}

// Locker is implemented by stores that may write objects that cannot be
// deleted (blob/s3 with an object-lock mode).
type Locker interface {
	// ObjectLocked reports whether objects written by this store are
	// protected from deletion.
	ObjectLocked() bool
}

// IsLocked reports whether s says its objects cannot be deleted.
func IsLocked(s blob.Store) bool {
	l, ok := s.(Locker)
	return ok && l.ObjectLocked()
}

// ErrLocked is the cause (errors.Is) of the EFORBIDDEN error Sweep returns
// on a Locked location: it deletes nothing there, and the store's own
// expiry (object-lock retention, then a lifecycle rule) removes old
// objects instead.
var ErrLocked = errors.New("location: objects in this location cannot be deleted")

// Replicate copies every object under prefix in from that to lacks, or
// holds with another size, and returns how many it copied. It never
// deletes, in either location. It is idempotent and restartable: a run
// cut short (error, cancelled context, crash) leaves only complete objects
// (blob.Store's Put is atomic), and the next run copies what is still
// missing. Objects whose last key segment is "manifest" are copied after
// all others, so a manifest appears in to only once what it describes is
// there.
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
	// Manifests last; otherwise in key order, so runs are reproducible.
	slices.SortFunc(todo, func(a, b blob.Info) int {
		am, bm := isManifest(a.Key), isManifest(b.Key)
		switch {
		case am && !bm:
			return 1
		case bm && !am:
			return -1
		}
		return strings.Compare(a.Key, b.Key)
	})
	for _, in := range todo {
		if err := ctx.Err(); err != nil {
			return copied, err
		}
		if err := copyObject(ctx, from.Store, to.Store, in); err != nil {
			return copied, err
		}
		copied++
	}
	return copied, nil
}

func isManifest(key string) bool {
	return key == "manifest" || strings.HasSuffix(key, "/manifest")
}

// copyObject copies one object, checking that exactly in.Size bytes went
// over (an object replaced meanwhile at the source fails the copy rather
// than leave a mix at the destination).
func copyObject(ctx context.Context, from, to blob.Store, in blob.Info) error {
	rc, err := from.Open(ctx, in.Key, 0, -1)
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
// yet), and returns how many it deleted. On a Locked location it deletes
// nothing and returns an EFORBIDDEN error wrapping ErrLocked. Sweep must
// not run while a backup of the same objects runs.
func Sweep(ctx context.Context, l Location, prefix string, live func(key string) bool, olderThan time.Time) (deleted int, err error) {
	if l.Locked {
		return 0, &coffer.Error{Code: coffer.EFORBIDDEN, Message: "backup location " + l.Name + " does not allow deletion (object lock)",
			Op: "location.Sweep", Err: ErrLocked}
	}
	if err := blob.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	n, err := blob.Collect(ctx, l.Store, prefix, olderThan, func(key string) (bool, error) { return live(key), nil })
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
