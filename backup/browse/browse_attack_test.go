package browse_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/browse"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestAttackRestoreFileRights: a grantee with restore who may read a file
// cell but not write it asks for a file the files store lost: refused,
// and the refused restore writes nothing, not even the blob.
func TestAttackRestoreFileRights(t *testing.T) {
	st := all.New(openSQLite(t), keyring.ForTests())
	files := mustLocal(t)
	st.SetFiles(notebooks.FileConfig{Blobs: files, DeletedGrace: time.Nanosecond})
	svc := backup.New(st, backup.Config{Primary: location.New("primary", mustLocal(t)), Files: files, TempDir: t.TempDir()})
	st.SetSnapshots(browse.Source(svc), nil)
	t.Cleanup(st.CloseSnapshots)
	ctx, _ := storetest.MustUser(t, st)
	rctx, reader := storetest.MustUser(t, st)
	nb := storetest.MustNotebook(t, ctx, st, "Files")
	tbl := storetest.MustTable(t, ctx, st, nb.ID, "Docs", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText}, coffer.ColumnInput{Name: "Doc", Type: coffer.TypeFile})
	if _, err := st.CreateGrant(ctx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: reader.ID}, Table: &tbl.ID,
		Columns: map[string]string{"*": "read"}, Capabilities: []string{"restore"}}); err != nil {
		t.Fatal(err)
	}
	r := storetest.MustRecord(t, ctx, st, nb.ID, "Docs", map[string]any{"Name": "a"})
	f, err := st.UploadFile(ctx, nb.ID, "Docs", r.ID, "Doc", coffer.FileUpload{Name: "a.txt", Type: "text/plain", Body: strings.NewReader("content")})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := st.CollectFiles(ctx); err != nil {
		t.Fatal(err)
	}
	key := notebooks.BlobKey(nb.ID, f.ID)
	if _, err := files.Stat(ctx, key); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the blob is not gone: %v", err)
	}
	_, err = st.Restore(rctx, nb.ID, coffer.RestoreInput{Snapshot: sn.ID, File: f.ID})
	if c := coffer.ErrorCode(err); c != coffer.EFORBIDDEN && c != coffer.ENOTFOUND {
		t.Errorf("a reader restoring a file: %v, want forbidden or not found", err)
	}
	if _, err := files.Stat(ctx, key); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a refused file restore wrote the blob back: %v", err)
	}
	// The owner may.
	if _, err := st.Restore(ctx, nb.ID, coffer.RestoreInput{Snapshot: sn.ID, File: f.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Stat(ctx, key); err != nil {
		t.Errorf("the owner's restore: %v", err)
	}
}
