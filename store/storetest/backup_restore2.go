package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

func init() {
	historyGroups = append(historyGroups, group{"RestoreGaps", testRestoreGaps})
}

// testRestoreGaps: a whole-notebook restore in place is all or nothing,
// a notebook restored as a copy opens its files and encrypted values,
// secret columns are written back only as they were sealed, and a
// sandbox a crash left behind goes at the next start.
func testRestoreGaps(t *testing.T, open Opener) {
	t.Run("NotebookAtomic", func(t *testing.T) { testRestoreNotebookAtomic(t, open(t)) })
	t.Run("CopyFiles", func(t *testing.T) { testRestoreCopyFiles(t, open(t)) })
	t.Run("Secrets", func(t *testing.T) { testRestoreSecrets(t, open(t)) })
	t.Run("OrphanSandbox", func(t *testing.T) { testOrphanSandbox(t, open(t)) })
}

// testRestoreNotebookAtomic: a failure injected after the second table
// set back leaves the notebook exactly as before (every table, the table
// created since still there, the deleted one not back), and the safety
// snapshot exists; without the failure the same restore succeeds.
func testRestoreNotebookAtomic(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	// Two more tables in the snapshot: Pets changed since, Gone deleted.
	MustTable(t, f.ctx, s, f.nb, "Pets", col("Name", coffer.TypeText))
	MustTable(t, f.ctx, s, f.nb, "Gone", col("Name", coffer.TypeText))
	p1 := MustRecord(t, f.ctx, s, f.nb, "Pets", map[string]any{"Name": "cat"})
	MustRecord(t, f.ctx, s, f.nb, "Gone", map[string]any{"Name": "old"})
	snap := f.src.MustTake(t, f.ctx, f.nb)
	want := fieldsOf(t, f.ctx, s, f.nb, "Staff")
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Staff", f.x.ID, map[string]any{"Name": "x3"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Pets", p1.ID, map[string]any{"Name": "dog"}, 0); err != nil {
		t.Fatal(err)
	}
	MustRecord(t, f.ctx, s, f.nb, "Pets", map[string]any{"Name": "fish"})
	if err := s.DeleteTable(f.ctx, f.nb, "Gone"); err != nil {
		t.Fatal(err)
	}
	MustTable(t, f.ctx, s, f.nb, "Since", col("Name", coffer.TypeText))
	MustRecord(t, f.ctx, s, f.nb, "Since", map[string]any{"Name": "new"})

	state := func() map[string]map[string]string {
		out := map[string]map[string]string{}
		tables, err := s.FindTables(f.ctx, f.nb)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			out[tb.Name] = fieldsOf(t, f.ctx, s, f.nb, tb.ID)
		}
		return out
	}
	before := state()
	beforeSnaps, _ := s.FindSnapshots(f.ctx, f.nb, coffer.SnapshotQuery{})

	var done []string
	s.SetRestoreHook(func(table string) error {
		done = append(done, table)
		if len(done) == 2 {
			return errors.New("injected failure after the second table")
		}
		return nil
	})
	job, err := s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: snap.ID})
	if err != nil {
		t.Fatal(err)
	}
	job = waitRestore(t, f, job)
	if job.Status != "failed" || len(done) != 2 {
		t.Fatalf("restore with a failure after the second table: %+v, tables done %v", job, done)
	}
	if got := state(); !equalStates(got, before) {
		t.Errorf("after a failed restore the notebook is\n%v\nwant it as before\n%v", got, before)
	}
	after, _ := s.FindSnapshots(f.ctx, f.nb, coffer.SnapshotQuery{})
	if len(after) != len(beforeSnaps)+1 || after[0].Kind != coffer.SnapshotSafety {
		t.Errorf("no safety snapshot kept: %d before, %+v after", len(beforeSnaps), after)
	}
	// Writes still work, and the same restore without the failure succeeds.
	MustRecord(t, f.ctx, s, f.nb, "Pets", map[string]any{"Name": "bird"})
	s.SetRestoreHook(nil)
	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: snap.ID})
	if err != nil {
		t.Fatal(err)
	}
	if job = waitRestore(t, f, job); job.Status != "done" {
		t.Fatalf("restore: %+v (error %+v)", job, job.Error)
	}
	got := state()
	if !maps.Equal(got["Staff"], want) || len(got["Pets"]) != 1 || got["Pets"]["cat"] == "" || got["Since"] != nil {
		t.Errorf("after the restore: %v", got)
	}
	if len(got) != 3 { // Staff, Pets and Gone back as a copy
		t.Errorf("tables after the restore: %v", got)
	}
}

// equalStates compares two notebooks' contents, table by table.
func equalStates(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

// testRestoreCopyFiles: a notebook restored as a copy opens its files,
// byte for byte, as files of its own; they still open once the original
// notebook is deleted (its key shredded). An encrypted column's values do
// not open in the copy (their associated data names the original
// notebook, and the copy cannot seal them again without the password):
// they fail closed, never as plaintext nor as another value.
func testRestoreCopyFiles(t *testing.T, s *all.Store) {
	dir := t.TempDir()
	b, err := bloburl.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s.SetFiles(notebooks.FileConfig{Blobs: b})
	src := MustCopySnapshots(t, s)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Papers").ID
	tbl := MustTable(t, ctx, s, nb, "Docs", col("Title", coffer.TypeText), col("Files", coffer.TypeFile),
		coffer.ColumnInput{Name: "Secret", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: secretColPassword}})
	kctx := colkey.WithRequest(ctx, map[string]string{tbl.Column("Secret").ID: secretColPassword}, nil)
	rec := MustRecord(t, kctx, s, nb, "Docs", map[string]any{"Title": "a", "Secret": secretPlain})
	body := randomBytes(300_000, 7)
	small := []byte("a small file")
	var up []*coffer.File
	for i, data := range [][]byte{body, small} {
		fl, err := s.UploadFile(ctx, nb, "Docs", rec.ID, "Files", coffer.FileUpload{Name: fmt.Sprintf("f%d.bin", i), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		up = append(up, fl)
	}
	snap := src.MustTake(t, ctx, nb)
	// Deleted since: the copy takes it from the files store as it was.
	if err := s.DeleteFile(ctx, up[1].ID); err != nil {
		t.Fatal(err)
	}
	job, err := s.Restore(ctx, nb, coffer.RestoreInput{Snapshot: snap.ID, Mode: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	f := &backupFixture{s: s, ctx: ctx}
	if job = waitRestore(t, f, job); job.Status != "done" {
		t.Fatalf("copy: %+v (error %+v)", job, job.Error)
	}
	cp := job.Result.Notebook.ID
	check := func(when string) {
		t.Helper()
		r := MustFindRecord(t, ctx, s, cp, "Docs", rec.ID)
		files, _ := r.Fields["Files"].([]coffer.File)
		if len(files) != 2 {
			t.Fatalf("%s: the copy's cell lists %v", when, r.Fields["Files"])
		}
		for i, fl := range files {
			if fl.ID == up[i].ID || coffer.FileNotebook(fl.ID) != cp || fl.Name != up[i].Name || fl.SHA256 != up[i].SHA256 {
				t.Errorf("%s: file %d of the copy is %+v; the original's was %+v", when, i, fl, up[i])
			}
			got, err := readFile(t, s, ctx, fl.ID, 0, -1)
			if err != nil {
				t.Fatalf("%s: download %d from the copy: %v", when, i, err)
			}
			if want := [][]byte{body, small}[i]; !bytes.Equal(got, want) {
				t.Errorf("%s: file %d of the copy differs (%d bytes, want %d)", when, i, len(got), len(want))
			}
		}
	}
	check("with the original")
	if err := s.DeleteNotebook(ctx, nb); err != nil {
		t.Fatal(err)
	}
	// The original's blobs go too, as the collector would take them.
	if _, err := os.Stat(filepath.Join(dir, "blobs", "files", nb)); err != nil {
		t.Fatalf("the original's blobs are not where the test looks: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "blobs", "files", nb)); err != nil {
		t.Fatal(err)
	}
	check("after the original was deleted")
	_, err = s.FindRecord(colkey.WithRequest(ctx, map[string]string{tbl.Column("Secret").ID: secretColPassword}, nil), cp, "Docs", rec.ID)
	wantCode(t, err, coffer.EINTEGRITY)
}

// testRestoreSecrets: a record restore brings back an encrypted value
// sealed as it was (it opens under the same password) and a password
// cell's hash (the old password verifies), when the column's key is the
// same as then; once the column's password changed, the encrypted value
// stays today's and the result names the column in Kept.
func testRestoreSecrets(t *testing.T, s *all.Store) {
	src := MustCopySnapshots(t, s)
	e := newSecretEnv(t, s, "SecretRestore")
	kctx := e.keyed(e.ctx, secretColPassword)
	r := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "a", "Secret": "then", "Login": "login then 1"})
	snap := src.MustTake(t, e.ctx, e.nb)
	if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "now", "Login": "login now 22"}, 0); err != nil {
		t.Fatal(err)
	}
	verify := func(ctx context.Context, pw string) bool {
		t.Helper()
		ok, err := s.VerifyCellPassword(ctx, e.nb, e.tbl.ID, r.ID, e.pass.ID, pw)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	job, err := s.Restore(e.ctx, e.nb, coffer.RestoreInput{Snapshot: snap.ID, Table: e.tbl.ID, Records: []string{r.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Result.Kept) != 0 || len(job.Result.Updated) != 1 {
		t.Errorf("restore with the same key: %+v", job.Result)
	}
	if got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != "then" {
		t.Errorf("the encrypted value after the restore opens as %v, want then", got)
	}
	if !verify(e.ctx, "login then 1") || verify(e.ctx, "login now 22") {
		t.Errorf("the password cell was not set back to its hash of then")
	}

	// The column's password changes: the snapshot's sealed value would
	// not open under the new key, so today's stays.
	if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "now", "Login": "login now 22"}, 0); err != nil {
		t.Fatal(err)
	}
	next := "the next column password"
	if _, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, "Secret", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Password: next, CurrentPassword: secretColPassword}}); err != nil {
		t.Fatal(err)
	}
	nctx := e.keyed(e.ctx, next)
	job, err = s.Restore(e.ctx, e.nb, coffer.RestoreInput{Snapshot: snap.ID, Table: e.tbl.ID, Records: []string{r.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Result.Kept) != 1 || job.Result.Kept[0] != e.enc.ID {
		t.Errorf("restore after a password change: kept %v, want the encrypted column", job.Result.Kept)
	}
	if got := MustFindRecord(t, nctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != "now" {
		t.Errorf("the encrypted value after a password change opens as %v, want today's (now)", got)
	}
	if !verify(e.ctx, "login then 1") {
		t.Errorf("the password cell was not set back after the column's key changed")
	}
}

// testOrphanSandbox: a process loads a snapshot into a sandbox and dies
// without removing it (no release, no close). Another process on the same
// database keeps it while the lease of the first may still run, and drops
// it as it starts once that lease ran out.
func testOrphanSandbox(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	bctx, _, err := s.BrowseSnapshot(f.ctx, f.nb, f.snap.ID) // never released: the crash
	if err != nil {
		t.Fatal(err)
	}
	storage := coffer.SnapshotReadFrom(bctx).Storage
	exists := func() bool {
		t.Helper()
		_, release, err := s.Storage.Notebook(context.Background(), storage)
		if err == nil {
			release()
			return true
		}
		if coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("open the sandbox's storage: %v", err)
		}
		return false
	}
	if !exists() {
		t.Fatal("the sandbox's storage is not there")
	}
	// A second process starting at once: the first may be alive.
	next := all.New(s.Storage, keyring.ForTests())
	MustCopySnapshots(t, next)
	if !exists() {
		t.Fatal("a process starting beside a live one dropped its sandbox")
	}
	// Later, the first has not renewed its lease: it died.
	later := all.New(s.Storage, keyring.ForTests())
	later.Now = func() time.Time { return time.Now().Add(time.Hour) }
	MustCopySnapshots(t, later)
	if exists() {
		t.Fatal("the sandbox a crash left behind is still on disk")
	}
	// The live notebook is untouched.
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); len(got) != 2 {
		t.Errorf("the notebook after the sweep: %v", got)
	}
}
