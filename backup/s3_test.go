package backup_test

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
)

// TestS3SecondLocation: snapshots go to a second location on a real
// S3-compatible server (versitygw on loopback) under object lock; once
// the primary is gone entirely, the snapshot verifies, decrypts and loads
// from there, equal to the notebook; the keyring backup is not written
// there (a locked location could not forget a shredded key).
func TestS3SecondLocation(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	cfg, err := s3.ParseURL(srv.URL("backups-locked", "coffer") + "&lock=compliance&lock_days=1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	second := location.New("second", st)
	if !second.Locked {
		t.Fatal("the object-locked bucket is not Locked")
	}
	e := newEnv(t, openSQLite(t))
	c := e.cfg
	c.Second = &second
	svc := backup.New(e.st, c)
	nb, _ := e.notebook(t, 20, "s3")
	want := liveSums(t, e.st.Storage, nb.ID)
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
	if err != nil || len(sn.Locations) != 2 {
		t.Fatalf("snapshot: %+v %v", sn, err)
	}
	if _, err := svc.BackupKeyring(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range objects(t, e.primary.Store) {
		if err := e.primary.Store.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := svc.Verify(ctx, sn.ID, "second"); err != nil || !rep.OK {
		t.Fatalf("Verify on S3: %+v %v", rep, err)
	}
	path, cleanup, err := svc.Image(ctx, sn.ID, "second")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	storage := coffer.NewID(coffer.PrefixNotebook)
	if err := svc.Load(ctx, path, storage); err != nil {
		t.Fatal(err)
	}
	sameSums(t, "loaded from S3", liveSums(t, e.st.Storage, storage), want)
	if _, err := svc.LatestKeyring(ctx, "second"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("keyring backup in the locked location: %v", err)
	}
}
