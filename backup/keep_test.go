package backup_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/retention"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestFileBlobs: a snapshot lists the blobs of the notebook's live files,
// copied into both locations once; a later snapshot copies only a new
// file's blob; a missing blob object is reported by Verify; the blob
// fetched from the backup opens to the file's content.
func TestFileBlobs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	nb, _ := e.notebook(t, 3, "files")
	recs := storetest.MustListAll(t, e.ctx, e.st, nb.ID, "People", coffer.ListQuery{})
	big := bytes.Repeat([]byte("big file content "), 10000)
	upload := func(rec string, body []byte) *coffer.File {
		f, err := e.st.UploadFile(e.ctx, nb.ID, "People", rec, "Doc", coffer.FileUpload{Name: "f.bin", Type: "application/octet-stream", Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	upload(recs[0].ID, []byte("small file"))
	upload(recs[1].ID, big)
	sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if sn.Blobs != 2 || sn.BlobBytes == 0 {
		t.Fatalf("snapshot blobs: %d, %d bytes", sn.Blobs, sn.BlobBytes)
	}
	m, err := e.svc.Manifest(ctx, sn.ID, "second")
	if err != nil || len(m.Blobs) != 2 {
		t.Fatalf("manifest: %v %v", m, err)
	}
	before := len(objects(t, e.primary.Store))
	third := upload(recs[2].ID, []byte("third"))
	sn2, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil || sn2.Blobs != 3 {
		t.Fatalf("second snapshot: %+v %v", sn2, err)
	}
	// New: an image, a manifest and one object (a pack) for the new blob.
	if got := len(objects(t, e.primary.Store)) - before; got != 3 {
		t.Errorf("second snapshot wrote %d objects, want 3", got)
	}
	// The third file's blob, fetched from the second location, is the
	// sealed blob of the files store, byte for byte.
	m2, err := e.svc.Manifest(ctx, sn2.ID, "second")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, en := range m2.Blobs {
		rc, err := blobs.Fetch(ctx, e.second.Store, en)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if int64(len(got)) == sealed.SealedSize(int64(len("third"))) {
			want := readObject(t, e.files, "files/"+nb.ID+"/"+third.ID)
			found = bytes.Equal(got, want)
		}
	}
	if !found {
		t.Error("the third file's blob is not in the backup as stored")
	}
	rc, n, err := e.svc.OpenBlob(ctx, sn2.ID, "second", third.ID, third.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if want := readObject(t, e.files, "files/"+nb.ID+"/"+third.ID); !bytes.Equal(got, want) || n != int64(len(want)) {
		t.Error("OpenBlob does not give the stored blob")
	}
	if _, _, err := e.svc.OpenBlob(ctx, sn.ID, "", third.ID, third.SHA256); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("OpenBlob of a file the snapshot lacks: %v", err)
	}
	for _, o := range blobs.Objects(m.Blobs) {
		if err := e.primary.Store.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := e.svc.Verify(ctx, sn.ID, "primary"); err != nil || rep.OK {
		t.Errorf("Verify with blob objects gone: %+v %v", rep, err)
	}
	if rep, err := e.svc.Verify(ctx, sn.ID, "second"); err != nil || !rep.OK || rep.Blobs != 2 {
		t.Errorf("Verify in the second location: %+v %v", rep, err)
	}
}

// TestKeyringBackup: only the newest two keyring backups are kept; they
// hold the notebook's keys, wrapped, until the notebook is deleted, after
// which the next backups no longer have them.
func TestKeyringBackup(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	nb, _ := e.notebook(t, 1, "keys")
	if _, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false); err != nil {
		t.Fatal(err)
	}
	has := func(kb *backup.KeyringBackup) bool {
		for _, k := range kb.Keys {
			if k.Scope == nb.ID {
				return true
			}
		}
		return false
	}
	for range 3 {
		if _, err := e.svc.BackupKeyring(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, st := range []struct {
		name string
		keys []string
	}{{"primary", objects(t, e.primary.Store)}, {"second", objects(t, e.second.Store)}} {
		n := 0
		for _, k := range st.keys {
			if strings.HasPrefix(k, backup.KeyringPrefix) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s: %d keyring backups, want 2", st.name, n)
		}
	}
	kb, err := e.svc.LatestKeyring(ctx, "")
	if err != nil || !has(kb) {
		t.Fatalf("latest keyring backup lacks the notebook's key: %v", err)
	}
	for _, k := range kb.Keys {
		if bytes.Contains(k.Wrapped, []byte("coffer")) || len(k.Wrapped) < 32 {
			t.Errorf("key %s is not wrapped", k.ID)
		}
	}
	if err := e.st.DeleteNotebook(e.ctx, nb.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		time.Sleep(2 * time.Millisecond)
		if _, err := e.svc.BackupKeyring(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, loc := range []string{"primary", "second"} {
		l, _ := e.svc.Location(loc)
		for _, k := range objects(t, l.Store) {
			if strings.HasPrefix(k, backup.KeyringPrefix) && bytes.Contains(readObject(t, l.Store, k), []byte(nb.ID)) {
				t.Errorf("%s: %s still holds the shredded notebook's key", loc, k)
			}
		}
	}
}

// TestPrune: over simulated days, the retention rule keeps the newest
// snapshot of each of the last days and the first of each month; the
// others are marked deleted and their objects swept from both locations
// once the grace period is over, while the kept ones still verify.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	nb, _ := e.notebook(t, 2, "prune")
	// 39 days of daily snapshots, the last one tomorrow at 04:00 (so
	// that every object, written now, is past the grace period then).
	today := time.Now().UTC().Truncate(24 * time.Hour)
	clock := today.AddDate(0, 0, -38).Add(4 * time.Hour)
	e.st.Core.Now = func() time.Time { return clock }
	cfg := e.cfg
	cfg.Retention = retention.Policy{Days: 3, Months: 2, Zone: time.UTC}
	cfg.Grace = time.Hour
	svc := backup.New(e.st, cfg)
	var ids []string
	var snaps []retention.Snap
	for day := range 40 {
		storetest.MustRecord(t, e.ctx, e.st, nb.ID, "People", map[string]any{"Name": "day"})
		sn, err := svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
		if err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		ids = append(ids, sn.ID)
		snaps = append(snaps, retention.Snap{ID: sn.ID, At: sn.StartedAt, Good: true})
		clock = clock.Add(24 * time.Hour)
	}
	clock = clock.Add(-20 * time.Hour) // the last day, 08:00
	rep, err := svc.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for id := range retention.Keep(snaps, clock, cfg.Retention) {
		want[id] = true
	}
	for _, id := range ids[37:] {
		if !want[id] {
			t.Fatalf("the rule does not keep the last three days: %v", want)
		}
	}
	if rep.Kept != len(want) || rep.Marked != 40-len(want) || rep.Marked < 30 {
		t.Errorf("prune: %+v, want %d kept", rep, len(want))
	}
	if rep.Swept["primary"] == 0 || rep.Swept["second"] == 0 {
		t.Errorf("nothing swept: %+v", rep.Swept)
	}
	list, err := svc.List(ctx, nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Errorf("%d snapshots listed after pruning, want %d", len(list), len(want))
	}
	for _, sn := range list {
		if !want[sn.ID] {
			t.Errorf("snapshot %s of %s kept", sn.ID, sn.StartedAt)
		}
	}
	for _, id := range ids {
		for _, l := range []string{"primary", "second"} {
			loc, _ := svc.Location(l)
			_, err := loc.Store.Stat(ctx, "snapshots/"+nb.ID+"/"+id+"/image")
			if want[id] {
				if rep, verr := svc.Verify(ctx, id, l); err != nil || verr != nil || !rep.OK {
					t.Errorf("%s: kept snapshot %s: %v %v %+v", l, id, err, verr, rep)
				}
			} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
				t.Errorf("%s: pruned snapshot %s still has its image (%v)", l, id, err)
			}
		}
	}
}
