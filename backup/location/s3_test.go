package location_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
)

func mustS3(tb testing.TB, url string) *s3.Store {
	tb.Helper()
	cfg, err := s3.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := s3.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestSecondLocationS3 replicates a local primary to a real S3-compatible
// server (versitygw on loopback), plainly and under object lock, deletes
// the primary entirely, and restores every object from the second
// location into a new primary.
func TestSecondLocationS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, url string
		locked    bool
	}{
		{"plain", srv.URL("second", "backups"), false},
		{"object lock", srv.URL("second-locked", "backups") + "&lock=compliance&lock_days=1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			primary := location.New("primary", mustLocal(t, dir))
			fill(t, primary.Store)
			want := contents(t, primary.Store, "")
			second := location.New("second", mustS3(t, c.url))
			if second.Locked != c.locked {
				t.Fatalf("Locked = %v, want %v", second.Locked, c.locked)
			}
			if n, err := location.Replicate(ctx, primary, second, ""); err != nil || n != len(want) {
				t.Fatalf("Replicate = %d, %v; want %d", n, err, len(want))
			}
			// Idempotent: a second run over a locked bucket must not try
			// to overwrite anything (it would be refused).
			if n, err := location.Replicate(ctx, primary, second, ""); err != nil || n != 0 {
				t.Fatalf("Replicate again = %d, %v; want 0", n, err)
			}
			if c.locked {
				if second.LockFor != 24*time.Hour+location.LockMargin {
					t.Fatalf("LockFor = %v with lock_days=1", second.LockFor)
				}
				// Everything is within its lock: a sweep with no live
				// object and no grace period deletes nothing, and fails
				// on nothing.
				n, err := location.Sweep(ctx, second, "", func(string) bool { return false }, time.Now().Add(time.Hour))
				if n != 0 || err != nil {
					t.Fatalf("Sweep on the locked second location = %d, %v; want 0, nil", n, err)
				}
				// Not even a direct delete gets through.
				if err := second.Store.Delete(ctx, "snapshots/nb_1/s1/image"); err == nil {
					t.Fatal("a locked object was deleted")
				}
			}
			if got := contents(t, second.Store, ""); !maps.Equal(got, want) {
				t.Fatal("second location differs from the primary")
			}
			// The primary is lost.
			primary.Store.Close()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			fresh := location.New("primary", mustLocal(t, t.TempDir()))
			if n, err := location.Replicate(ctx, second, fresh, ""); err != nil || n != len(want) {
				t.Fatalf("Replicate back = %d, %v; want %d", n, err, len(want))
			}
			if got := contents(t, fresh.Store, ""); !maps.Equal(got, want) {
				t.Fatal("restored primary differs from the lost one")
			}
		})
	}
}

// TestSweepS3 sweeps an unlocked S3 location: the live and the young stay.
func TestSweepS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	l := location.New("second", mustS3(t, srv.URL("sweep", "")))
	fill(t, l.Store)
	live := func(k string) bool { return k == "blobs/nb_1/aa" }
	// Grace in the past: everything is young, nothing goes.
	if n, err := location.Sweep(ctx, l, "blobs/", live, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Sweep within the grace period = %d, %v; want 0", n, err)
	}
	if n, err := location.Sweep(ctx, l, "blobs/", live, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	var left []string
	l.Store.List(ctx, "blobs/", func(in blob.Info) error { left = append(left, in.Key); return nil })
	if len(left) != 1 || left[0] != "blobs/nb_1/aa" {
		t.Fatalf("after Sweep: %v", left)
	}
}

// TestRelockS3: on a location under a one-day COMPLIANCE lock (versitygw),
// Relock extends the locks of the live objects only; a sweep that would
// delete everything at once (no grace, no lock period) still leaves every
// object whose lock holds, and deletes one written without a lock.
func TestRelockS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	st := mustS3(t, srv.URL("relock", "b")+"&lock=compliance&lock_days=1")
	l := location.New("second", st)
	fill(t, l.Store)
	live := func(k string) bool { return k == "blobs/nb_1/aa" || k == "snapshots/nb_1/s1/image" }

	if n, err := location.Relock(ctx, l, "", live, time.Hour); err != nil || n != 0 {
		t.Fatalf("Relock with a day left = %d, %v; want 0", n, err)
	}
	n, err := location.Relock(ctx, l, "", live, 30*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("Relock wanting 30 h left = %d, %v; want 2", n, err)
	}
	for _, k := range []string{"blobs/nb_1/aa", "snapshots/nb_1/s1/image", "other/x"} {
		until, err := st.LockedUntil(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		extended := time.Until(until) > 29*time.Hour
		if extended != live(k) {
			t.Errorf("%s locked until %v (extended %v, live %v)", k, until, extended, live(k))
		}
	}
	if n, err := location.Relock(ctx, location.New("plain", mustLocal(t, t.TempDir())), "", live, time.Hour); n != 0 || err != nil {
		t.Fatalf("Relock on an unlocked location = %d, %v", n, err)
	}

	// An object in the bucket without a lock (written by other means).
	cl, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, "relock", "b/other/unlocked", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	eager := l
	eager.LockFor = time.Nanosecond // every object past its lock period, as far as ages go
	n, err = location.Sweep(ctx, eager, "", func(string) bool { return false }, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 (only the unlocked object)", n, err)
	}
	if _, err := st.Stat(ctx, "other/unlocked"); err == nil {
		t.Fatal("the unlocked object is still there")
	}
	if _, err := st.Stat(ctx, "other/x"); err != nil {
		t.Fatalf("a locked object is gone: %v", err)
	}
}
