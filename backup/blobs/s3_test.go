package blobs_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
)

// TestBackupS3 backs file blobs up from an S3 files store into S3
// locations on a real S3-compatible server (versitygw), one of them under
// a COMPLIANCE object lock: nothing is ever written twice, so a locked
// location takes repeated backups.
func TestBackupS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	open := func(url string) *s3.Store {
		cfg, err := s3.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s3.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	files := open(srv.URL("files", ""))
	fs := []file{mustFile(t, files, 1, 10), mustFile(t, files, 2, 20_000), mustFile(t, files, 3, 500_000)}
	for _, url := range []string{srv.URL("plain", "backups"), srv.URL("locked", "backups") + "&lock=compliance&lock_days=1"} {
		st := open(url)
		dst := &counting{Store: st}
		es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
		if err != nil {
			t.Fatal(err)
		}
		if puts, _, _ := dst.reset(); puts != 2 {
			t.Fatalf("%s: %d Puts, want 2 (a pack and an object)", url, puts)
		}
		more := append(fs, mustFile(t, files, 4, 100))
		es2, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(more))
		if err != nil {
			t.Fatalf("%s, second Backup: %v", url, err)
		}
		if puts, _, _ := dst.reset(); puts != 1 {
			t.Fatalf("%s: second Backup %d Puts, want 1", url, puts)
		}
		for i, f := range more {
			if got, err := openFile(t, dst, es2[i], f); err != nil || !bytes.Equal(got, f.plain) {
				t.Fatalf("%s: file %d: %v", url, i, err)
			}
		}
		if es2[0] != es[0] || location.New("l", st).Locked != (url != srv.URL("plain", "backups")) {
			t.Fatalf("%s: entries moved or lock misreported", url)
		}
	}
}

// TestUnchangedCostS3 is TestUnchangedCost with the location on S3
// (versitygw on loopback): it logs what an unchanged backup of 2,000
// files costs in requests and time.
func TestUnchangedCostS3(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: writes 40 MB")
	}
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	cfg, err := s3.ParseURL(srv.URL("cost", ""))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files := mustLocal(t, t.TempDir())
	refs := manyFiles(t, files)
	dst := &counting{Store: st}
	start := time.Now()
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs); err != nil {
		t.Fatal(err)
	}
	puts, _, written := dst.reset()
	t.Logf("first backup of %d files to S3: %v, %d objects, %d bytes", len(refs), time.Since(start), puts, written)
	start = time.Now()
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs); err != nil {
		t.Fatal(err)
	}
	puts, opens, written := dst.reset()
	t.Logf("unchanged backup of %d files to S3: %v, %d bytes written, %d reads (plus one listing)", len(refs), time.Since(start), written, opens)
	if puts != 0 {
		t.Fatalf("unchanged backup wrote %d objects", puts)
	}
}
