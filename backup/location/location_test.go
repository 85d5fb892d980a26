package location_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/local"
)

func mustLocal(tb testing.TB, dir string) blob.Store {
	tb.Helper()
	s, err := local.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// contents reads every object under prefix.
func contents(tb testing.TB, s blob.Store, prefix string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	var ks []string
	if err := s.List(context.Background(), prefix, func(in blob.Info) error { ks = append(ks, in.Key); return nil }); err != nil {
		tb.Fatal(err)
	}
	for _, k := range ks {
		out[k] = string(blobtest.MustRead(tb, s, k, 0, -1))
	}
	return out
}

// fill puts a small backup tree into s: two snapshots with image and
// manifest, file blobs, and an object outside the backup prefixes.
func fill(tb testing.TB, s blob.Store) {
	tb.Helper()
	for i, k := range []string{
		"snapshots/nb_1/s1/image", "snapshots/nb_1/s1/manifest",
		"snapshots/nb_1/s2/image", "snapshots/nb_1/s2/manifest",
		"snapshots/instance/s3/image", "snapshots/instance/s3/manifest",
		"blobs/nb_1/pack-01", "blobs/nb_1/aa", "other/x",
	} {
		blobtest.MustPut(tb, s, k, blobtest.Pattern(uint64(i), 1000+i*777))
	}
}

// flaky wraps a store: Puts beyond the first limit fail (limit < 0: none
// fails), and the keys of the Puts that succeeded are recorded in the
// order they completed.
type flaky struct {
	blob.Store
	mu      sync.Mutex
	started int64
	limit   int64
	keys    []string
}

var errInjected = errors.New("injected failure")

func (f *flaky) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	f.mu.Lock()
	if f.limit >= 0 && f.started >= f.limit {
		f.mu.Unlock()
		return 0, errInjected
	}
	f.started++
	f.mu.Unlock()
	n, err := f.Store.Put(ctx, key, r)
	if err == nil {
		f.mu.Lock()
		f.keys = append(f.keys, key)
		f.mu.Unlock()
	}
	return n, err
}

func TestReplicateLocal(t *testing.T) {
	ctx := context.Background()
	src := location.New("primary", mustLocal(t, t.TempDir()))
	dst := location.New("second", mustLocal(t, t.TempDir()))
	if src.Locked || dst.Locked {
		t.Fatal("a directory location says it is locked")
	}
	fill(t, src.Store)
	blobtest.MustPut(t, dst.Store, "snapshots/nb_0/old/image", []byte("only in the second location"))

	n, err := location.Replicate(ctx, src, dst, "snapshots/nb_1/")
	if err != nil || n != 4 {
		t.Fatalf("Replicate(snapshots/nb_1/) = %d, %v; want 4", n, err)
	}
	n, err = location.Replicate(ctx, src, dst, "")
	if err != nil || n != 5 {
		t.Fatalf("Replicate(all) = %d, %v; want 5 more", n, err)
	}
	n, err = location.Replicate(ctx, src, dst, "")
	if err != nil || n != 0 {
		t.Fatalf("Replicate again = %d, %v; want 0 (idempotent)", n, err)
	}
	want := contents(t, src.Store, "")
	want["snapshots/nb_0/old/image"] = "only in the second location" // never deleted
	if got := contents(t, dst.Store, ""); !maps.Equal(got, want) {
		t.Fatalf("second location holds %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}

	// A truncated copy (another size) is copied again; the source is
	// never written.
	blobtest.MustPut(t, dst.Store, "blobs/nb_1/aa", []byte("cut"))
	if n, err := location.Replicate(ctx, src, dst, "blobs/"); err != nil || n != 1 {
		t.Fatalf("Replicate after truncation = %d, %v; want 1", n, err)
	}
	if got := contents(t, dst.Store, "blobs/"); !maps.Equal(got, contents(t, src.Store, "blobs/")) {
		t.Fatal("truncated object not repaired")
	}

	if _, err := location.Replicate(ctx, src, dst, "../"); code(err) != coffer.EINVALID {
		t.Fatalf("Replicate(../) = %v, want EINVALID", err)
	}
}

// TestReplicateRestart cuts a replication short after each number of
// objects: what is in the second location is always complete, a manifest
// never arrives before the other objects, and the next run finishes the
// copy.
func TestReplicateRestart(t *testing.T) {
	ctx := context.Background()
	src := location.New("primary", mustLocal(t, t.TempDir()))
	fill(t, src.Store)
	all := contents(t, src.Store, "")
	for limit := range int64(len(all)) {
		to := &flaky{Store: mustLocal(t, t.TempDir()), limit: limit}
		dst := location.Location{Name: "second", Store: to}
		n, err := location.Replicate(ctx, src, dst, "")
		// Copies under way when the failure came are cancelled: at most
		// limit objects, all complete, and counted.
		got := contents(t, to.Store, "")
		if !errors.Is(err, errInjected) || int64(n) > limit || n != len(got) {
			t.Fatalf("limit %d: Replicate = %d, %v with %d objects there; want at most %d, all counted, and the injected failure", limit, n, err, len(got), limit)
		}
		for k, v := range got {
			if all[k] != v {
				t.Fatalf("limit %d: %s is incomplete in the second location", limit, k)
			}
		}
		manifests := 0
		for _, k := range to.keys {
			if filepath.Base(k) == "manifest" {
				manifests++
			} else if manifests > 0 {
				t.Fatalf("limit %d: %s copied after a manifest (%v)", limit, k, to.keys)
			}
		}
		to.limit = -1
		n, err = location.Replicate(ctx, src, dst, "")
		if err != nil || n != len(all)-len(got) {
			t.Fatalf("limit %d: restart = %d, %v; want %d", limit, n, err, len(all)-len(got))
		}
		if got := contents(t, to.Store, ""); !maps.Equal(got, all) {
			t.Fatalf("limit %d: after restart the second location differs", limit)
		}
	}
}

func code(err error) string {
	var e *coffer.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := location.New("primary", mustLocal(t, dir))
	fill(t, l.Store)
	// Age every object by two days but one, written "now".
	old := time.Now().Add(-48 * time.Hour)
	for k := range contents(t, l.Store, "") {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(k)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	blobtest.MustPut(t, l.Store, "blobs/nb_1/pack-02", []byte("a pack of a backup still running"))

	live := map[string]bool{"snapshots/nb_1/s2/image": true, "snapshots/nb_1/s2/manifest": true, "blobs/nb_1/aa": true}
	isLive := func(k string) bool { return live[k] }
	grace := time.Now().Add(-24 * time.Hour)
	n, err := location.Sweep(ctx, l, "snapshots/nb_1/", isLive, grace)
	if err != nil || n != 2 {
		t.Fatalf("Sweep(snapshots/nb_1/) = %d, %v; want 2", n, err)
	}
	n, err = location.Sweep(ctx, l, "blobs/", isLive, grace)
	if err != nil || n != 1 {
		t.Fatalf("Sweep(blobs/) = %d, %v; want 1 (pack-01; pack-02 is within the grace period)", n, err)
	}
	got := slices.Sorted(maps.Keys(contents(t, l.Store, "")))
	want := []string{"blobs/nb_1/aa", "blobs/nb_1/pack-02", "other/x", "snapshots/instance/s3/image", "snapshots/instance/s3/manifest",
		"snapshots/nb_1/s2/image", "snapshots/nb_1/s2/manifest"}
	if !slices.Equal(got, want) {
		t.Fatalf("after Sweep: %v, want %v", got, want)
	}

	locked := l
	locked.Locked = true
	n, err = location.Sweep(ctx, locked, "", func(string) bool { return false }, time.Now().Add(time.Hour))
	if n != 0 || code(err) != coffer.EFORBIDDEN || !errors.Is(err, location.ErrLocked) {
		t.Fatalf("Sweep on a location locked for ever = %d, %v; want 0 and EFORBIDDEN wrapping ErrLocked", n, err)
	}
	if got := slices.Sorted(maps.Keys(contents(t, l.Store, ""))); !slices.Equal(got, want) {
		t.Fatalf("Sweep on a locked location deleted: %v", got)
	}
	// Locked for 72 hours: the objects written 48 hours ago still are.
	locked.LockFor = 72 * time.Hour
	if n, err := location.Sweep(ctx, locked, "", isLive, grace); n != 0 || err != nil {
		t.Fatalf("Sweep within the lock = %d, %v; want 0, nil", n, err)
	}
	// Locked for 36 hours: they no longer are; pack-02 is.
	locked.LockFor = 36 * time.Hour
	if n, err := location.Sweep(ctx, locked, "", isLive, time.Now().Add(time.Hour)); n != 3 || err != nil {
		t.Fatalf("Sweep after the lock = %d, %v; want 3 (other/x and the two objects of s3)", n, err)
	}
	got = slices.Sorted(maps.Keys(contents(t, l.Store, "")))
	want = []string{"blobs/nb_1/aa", "blobs/nb_1/pack-02", "snapshots/nb_1/s2/image", "snapshots/nb_1/s2/manifest"}
	if !slices.Equal(got, want) {
		t.Fatalf("after Sweep past the lock: %v, want %v", got, want)
	}
}

// vanishing lists an object that it no longer holds.
type vanishing struct{ blob.Store }

func (v vanishing) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := v.Store.List(ctx, prefix, fn); err != nil {
		return err
	}
	return fn(blob.Info{Key: "blobs/nb_1/swept", Size: 5, Modified: time.Now()})
}

// TestReplicateVanished: an object swept from the source after it was
// listed is skipped, not an error.
func TestReplicateVanished(t *testing.T) {
	real := mustLocal(t, t.TempDir())
	fill(t, real)
	src := location.Location{Name: "primary", Store: vanishing{real}}
	dst := location.New("second", mustLocal(t, t.TempDir()))
	n, err := location.Replicate(context.Background(), src, dst, "")
	if want := contents(t, real, ""); err != nil || n != len(want) || !maps.Equal(contents(t, dst.Store, ""), want) {
		t.Fatalf("Replicate = %d, %v", n, err)
	}
}

// TestReplicateLarge copies an object bigger than any buffer, and reads it
// back the same.
func TestReplicateLarge(t *testing.T) {
	ctx := context.Background()
	src := location.New("a", mustLocal(t, t.TempDir()))
	dst := location.New("b", mustLocal(t, t.TempDir()))
	data := blobtest.Pattern(9, 9<<20+3)
	blobtest.MustPut(t, src.Store, "snapshots/nb_1/big/image", data)
	if n, err := location.Replicate(ctx, src, dst, "snapshots/"); err != nil || n != 1 {
		t.Fatalf("Replicate = %d, %v", n, err)
	}
	if got := blobtest.MustRead(t, dst.Store, "snapshots/nb_1/big/image", 0, -1); !bytes.Equal(got, data) {
		t.Fatal(fmt.Sprintf("copy differs (%d bytes)", len(got)))
	}
}
