package blobs_test

import (
	"bytes"
	"context"
	"testing"

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
