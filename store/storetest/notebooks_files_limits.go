package storetest

// Size limits, the orphan collection and concurrent changes of file cells.

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

// testFilesLimits: a file over the limit per file or per notebook is
// ETOOLARGE and leaves no row, no cell entry and no blob.
func testFilesLimits(t *testing.T, s *all.Store, b blob.Store) {
	s.SetFiles(notebooks.FileConfig{Blobs: b, MaxFileSize: 1000, MaxNotebookBytes: 1500})
	f := newFilesFixture(t, s)
	_, err := f.upload(t, f.ctx, "big", "", make([]byte, 1001))
	wantCode(t, err, coffer.ETOOLARGE)
	f.mustUpload(t, "ok", make([]byte, 1000))
	_, err = f.upload(t, f.ctx, "over the notebook", "", make([]byte, 501))
	wantCode(t, err, coffer.ETOOLARGE)
	f.mustUpload(t, "just", make([]byte, 500))
	var keys int
	b.List(context.Background(), "", func(blob.Info) error { keys++; return nil })
	r := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	if list, _ := r.Fields["Files"].([]coffer.File); len(list) != 2 || keys != 2 {
		t.Errorf("after refused uploads: %d files in the cell, %d blobs; want 2 and 2", len(list), keys)
	}
	// A body that fails midway leaves nothing either.
	_, err = f.s.UploadFile(f.ctx, f.nb, "Docs", f.rec.ID, "Files", coffer.FileUpload{Name: "cut", Body: io.MultiReader(bytes.NewReader(make([]byte, 10)), failingReader{})})
	if err == nil {
		t.Fatal("an upload whose body fails succeeded")
	}
	keys = 0
	b.List(context.Background(), "", func(blob.Info) error { keys++; return nil })
	if keys != 2 {
		t.Errorf("%d blobs after a failed upload, want 2", keys)
	}
	// Parallel uploads never pass the notebook's limit together.
	nb3 := MustNotebook(t, f.ctx, s, "Parallel")
	MustTable(t, f.ctx, s, nb3.ID, "Docs", col("Files", coffer.TypeFile))
	r3 := MustRecord(t, f.ctx, s, nb3.ID, "Docs", map[string]any{})
	okN := Parallel(t, 10, func(int) error {
		_, err := s.UploadFile(f.ctx, nb3.ID, "Docs", r3.ID, "Files", coffer.FileUpload{Name: "p", Body: bytes.NewReader(make([]byte, 300))})
		return err
	}, coffer.ETOOLARGE)
	if got := MustFindRecord(t, f.ctx, s, nb3.ID, "Docs", r3.ID).Fields["Files"]; len(got.([]coffer.File)) != int(okN) || okN > 5 || okN == 0 {
		t.Errorf("%d parallel uploads of 300 bytes succeeded under a limit of 1500 (cell: %d files)", okN, len(got.([]coffer.File)))
	}
	// The owner's total counts every notebook they own.
	s.SetFiles(notebooks.FileConfig{Blobs: b, MaxFileSize: 1000, MaxNotebookBytes: 1500, MaxOwnerBytes: 2000 + int64(okN)*300})
	nb2 := MustNotebook(t, f.ctx, s, "Second")
	MustTable(t, f.ctx, s, nb2.ID, "Docs", col("Files", coffer.TypeFile))
	r2 := MustRecord(t, f.ctx, s, nb2.ID, "Docs", map[string]any{})
	up2 := func(n int) error {
		_, err := s.UploadFile(f.ctx, nb2.ID, "Docs", r2.ID, "Files", coffer.FileUpload{Name: "o", Body: bytes.NewReader(make([]byte, n))})
		return err
	}
	wantCode(t, up2(501), coffer.ETOOLARGE)
	if err := up2(500); err != nil {
		t.Errorf("upload within the owner's total: %v", err)
	}
	_, err = s.UploadFile(f.ctx, f.nb, "Docs", f.rec.ID, "Title", coffer.FileUpload{Name: "x", Body: bytes.NewReader(nil)})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.UploadFile(f.ctx, f.nb, "Docs", "rec_"+strings.Repeat("0", 26), "Files", coffer.FileUpload{Name: "x", Body: bytes.NewReader(nil)})
	wantCode(t, err, coffer.ENOTFOUND)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// testFilesCollect: the collection keeps a deleted file's blob through
// the grace period (3 hours here), then removes it; it removes blobs that
// no upload committed after an hour, and keeps live files.
func testFilesCollect(t *testing.T, s *all.Store, b blob.Store) {
	clk := newClock(time.Now().UTC())
	s.Now = clk.Now
	s.SetFiles(notebooks.FileConfig{Blobs: b, DeletedGrace: 3 * time.Hour})
	f := newFilesFixture(t, s)
	live := f.mustUpload(t, "live", []byte("stays"))
	gone := f.mustUpload(t, "gone", []byte("goes"))
	if err := s.DeleteFile(f.ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	orphan := notebooks.BlobKey(f.nb, coffer.NewFileID(f.nb))
	if _, err := b.Put(context.Background(), orphan, strings.NewReader("never committed")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exists := func(key string) bool {
		_, err := b.Stat(ctx, key)
		return err == nil
	}
	if n, err := s.CollectFiles(ctx); err != nil || n != 0 {
		t.Fatalf("first collection: %d, %v", n, err)
	}
	clk.Add(2 * time.Hour)
	if n, err := s.CollectFiles(ctx); err != nil || n != 1 || exists(orphan) {
		t.Errorf("collection after an hour: %d, %v (orphan there: %v)", n, err, exists(orphan))
	}
	if n, err := s.CollectFiles(ctx); err != nil || n != 0 || !exists(notebooks.BlobKey(f.nb, gone.ID)) {
		t.Errorf("collection inside the grace period: %d, %v", n, err)
	}
	clk.Add(2 * time.Hour)
	if n, err := s.CollectFiles(ctx); err != nil || n != 1 || exists(notebooks.BlobKey(f.nb, gone.ID)) {
		t.Errorf("collection after the grace period: %d, %v", n, err)
	}
	if got, err := readFile(t, s, f.ctx, live.ID, 0, -1); err != nil || string(got) != "stays" {
		t.Errorf("live file after collections: %q, %v", got, err)
	}
	// An undo after the collection is refused (file_gone), forced or
	// not, and writes nothing: the cell, the history and the version stay.
	before := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	hBefore := MustHistory(t, f.ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"})
	for _, force := range []bool{false, true} {
		_, err := s.Undo(f.ctx, f.nb, coffer.UndoOptions{Force: force})
		wantCode(t, err, coffer.EFILEGONE)
		if err != nil && !strings.Contains(err.Error(), "gone") {
			t.Errorf("undo after the collection: message %q", err)
		}
	}
	after := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	if list, _ := after.Fields["Files"].([]coffer.File); len(list) != 1 || list[0].ID != live.ID || after.Version != before.Version {
		t.Errorf("a refused undo changed the cell: %#v (version %d, was %d)", after.Fields["Files"], after.Version, before.Version)
	}
	if h := MustHistory(t, f.ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"}); len(h) != len(hBefore) {
		t.Errorf("a refused undo wrote history: %v, was %v", historyKinds(h), historyKinds(hBefore))
	}
	// A revert of the cell to a moment when it listed the file: the same.
	_, err := s.RevertRecord(f.ctx, f.nb, "Docs", f.rec.ID, coffer.RevertInput{To: &coffer.AsOf{Seq: hBefore[len(hBefore)-1].Seq + 3}, Columns: []string{"Files"}})
	wantCode(t, err, coffer.EFILEGONE)
	if after := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID); after.Version != before.Version {
		t.Errorf("a refused revert changed the record: version %d, was %d: %#v", after.Version, before.Version, after.Fields)
	}
	_, err = readFile(t, s, f.ctx, gone.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	// A record in the trash whose files were collected is not restored.
	doomed := MustRecord(t, f.ctx, s, f.nb, "Docs", map[string]any{"Title": "t"})
	if _, err := s.UploadFile(f.ctx, f.nb, "Docs", doomed.ID, "Files", coffer.FileUpload{Name: "t.txt", Body: strings.NewReader("trash")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(f.ctx, f.nb, "Docs", doomed.ID, 0); err != nil {
		t.Fatal(err)
	}
	s.CollectFiles(ctx)
	clk.Add(4 * time.Hour)
	if n, err := s.CollectFiles(ctx); err != nil || n != 1 {
		t.Fatalf("collection of the trashed record's file: %d, %v", n, err)
	}
	_, err = s.RestoreRecord(f.ctx, f.nb, "Docs", doomed.ID)
	wantCode(t, err, coffer.EFILEGONE)
	_, err = s.FindRecord(f.ctx, f.nb, "Docs", doomed.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}

// testFilesConcurrent: uploads and deletions of one cell at the same time
// lose none of each other's changes.
func testFilesConcurrent(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	var old []string
	for range 5 {
		old = append(old, f.mustUpload(t, "old", []byte("o")).ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var added []string
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var err error
				if i < 5 {
					err = s.DeleteFile(f.ctx, old[i])
				} else {
					var fl *coffer.File
					if fl, err = f.upload(t, f.ctx, "new", "", []byte("n")); err == nil {
						mu.Lock()
						added = append(added, fl.ID)
						mu.Unlock()
					}
				}
				if coffer.ErrorCode(err) == coffer.EUNAVAILABLE {
					continue // busy: try again
				}
				if err != nil {
					t.Errorf("concurrent change %d: %v", i, err)
				}
				return
			}
		}()
	}
	wg.Wait()
	var got []string
	for _, x := range MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID).Fields["Files"].([]coffer.File) {
		got = append(got, x.ID)
	}
	slices.Sort(got)
	slices.Sort(added)
	if !slices.Equal(got, added) {
		t.Errorf("the cell lists %v after concurrent changes, want the 5 new files %v", got, added)
	}
}
