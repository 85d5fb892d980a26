package s3_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
)

func TestParseURLLock(t *testing.T) {
	for _, c := range []struct {
		url, err string
		mode     string
		days     int
	}{
		{url: "s3://a:b@h:1/bk/p?lock=compliance&lock_days=30", mode: "compliance", days: 30},
		{url: "s3://a:b@h:1/bk?lock=governance&lock_days=1", mode: "governance", days: 1},
		{url: "s3://a:b@h:1/bk?lock=compliance", err: "lock_days 0"},
		{url: "s3://a:b@h:1/bk?lock_days=3", err: "lock_days without lock"},
		{url: "s3://a:b@h:1/bk?lock=forever&lock_days=3", err: "not compliance or governance"},
		{url: "s3://a:b@h:1/bk?lock=compliance&lock_days=x", err: "not a number of days"},
	} {
		cfg, err := s3.ParseURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%s) = %v, want an error with %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || cfg.LockMode != c.mode || cfg.LockDays != c.days {
			t.Errorf("ParseURL(%s) = %+v, %v", c.url, cfg, err)
		}
	}
}

// TestS3ObjectLock writes through a store with lock=compliance into a
// bucket created with object lock (versitygw supports it): the objects
// carry a COMPLIANCE retention, and neither this store nor the server's
// root credentials can delete or replace them. A lock on a bucket without
// object lock is refused at Open.
func TestS3ObjectLock(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	st := mustOpen(t, srv.URL("locked", "p")+"&lock=compliance&lock_days=1")
	if st.ObjectLock() != 24*time.Hour {
		t.Fatalf("ObjectLock() = %v with lock_days=1, want 24h", st.ObjectLock())
	}
	data := blobtest.Pattern(3, 2000)
	blobtest.MustPut(t, st, "snapshots/x/manifest", data)

	cl := rawClient(t, srv)
	// (minio-go's GetObjectRetention does not parse versitygw's answer:
	// the object's headers say the same.)
	oi, err := cl.StatObject(ctx, "locked", "p/snapshots/x/manifest", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mode, untilHdr := oi.Metadata.Get("X-Amz-Object-Lock-Mode"), oi.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date")
	if mode != "COMPLIANCE" || untilHdr == "" {
		t.Fatalf("object lock headers: mode %q until %q; want COMPLIANCE with a date", mode, untilHdr)
	}
	if err := st.Delete(ctx, "snapshots/x/manifest"); err == nil {
		t.Fatal("Delete of a locked object succeeded")
	}
	if err := cl.RemoveObject(ctx, "locked", "p/snapshots/x/manifest", minio.RemoveObjectOptions{GovernanceBypass: true}); err == nil {
		t.Fatal("root credentials deleted a COMPLIANCE-locked object")
	}
	if _, err := st.Put(ctx, "snapshots/x/manifest", bytes.NewReader([]byte("replaced"))); err == nil {
		t.Fatal("Put over a locked object succeeded")
	}
	if got := blobtest.MustRead(t, st, "snapshots/x/manifest", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("a locked object changed")
	}

	// The lock can be extended, not shortened.
	until, err := st.LockedUntil(ctx, "snapshots/x/manifest")
	if err != nil || time.Until(until) < 23*time.Hour || time.Until(until) > 25*time.Hour {
		t.Fatalf("LockedUntil = %v, %v; want in a day", until, err)
	}
	later := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	if err := st.ExtendLock(ctx, "snapshots/x/manifest", later); err != nil {
		t.Fatal(err)
	}
	if got, err := st.LockedUntil(ctx, "snapshots/x/manifest"); err != nil || !got.Equal(later) {
		t.Fatalf("after ExtendLock: LockedUntil = %v, %v; want %v", got, err, later)
	}
	if err := st.ExtendLock(ctx, "snapshots/x/manifest", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("a COMPLIANCE lock was shortened")
	}

	plain := mustOpen(t, srv.URL("plain", ""))
	blobtest.MustPut(t, plain, "x", []byte("x"))
	if got, err := plain.LockedUntil(ctx, "x"); err == nil && !got.IsZero() {
		t.Fatalf("LockedUntil without a lock = %v", got)
	}
	cfg, err := s3.ParseURL(srv.URL("plain", "") + "&lock=governance&lock_days=1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "object lock") {
		t.Fatalf("Open with a lock on a bucket without object lock = %v, want an error", err)
	}
}
