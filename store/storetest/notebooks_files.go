package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

// testFiles is the suite of file cells: uploads and downloads (whole and
// ranges), access at each download, links, limits, tampering, undo and
// the orphan collection, on the local blob store; the round trip runs on
// S3 (versitygw) too.
func testFiles(t *testing.T, open Opener) {
	local := func(t *testing.T) (*all.Store, blob.Store, string) {
		s := open(t)
		dir := t.TempDir()
		b, err := bloburl.Open(context.Background(), "", dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s.SetFiles(notebooks.FileConfig{Blobs: b})
		return s, b, filepath.Join(dir, "blobs")
	}
	t.Run("RoundTrip", func(t *testing.T) { s, b, _ := local(t); testFilesRoundTrip(t, s, b) })
	t.Run("S3RoundTrip", func(t *testing.T) {
		srv := blobtest.MustVersityGW(t)
		b, err := bloburl.Open(context.Background(), srv.URL("coffer", "test"), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s := open(t)
		s.SetFiles(notebooks.FileConfig{Blobs: b})
		testFilesRoundTrip(t, s, b)
	})
	t.Run("Access", func(t *testing.T) { s, _, _ := local(t); testFilesAccess(t, s) })
	t.Run("Names", func(t *testing.T) { s, b, dir := local(t); testFilesNames(t, s, b, dir) })
	t.Run("Tamper", func(t *testing.T) { s, b, _ := local(t); testFilesTamper(t, s, b) })
	t.Run("Undo", func(t *testing.T) { s, _, _ := local(t); testFilesUndo(t, s) })
	t.Run("Links", func(t *testing.T) { s, _, _ := local(t); testFilesLinks(t, s) })
	t.Run("Limits", func(t *testing.T) { s, b, _ := local(t); testFilesLimits(t, s, b) })
	t.Run("Collect", func(t *testing.T) { s, b, _ := local(t); testFilesCollect(t, s, b) })
	t.Run("RecordAPI", func(t *testing.T) { s, _, _ := local(t); testFilesRecordAPI(t, s) })
	t.Run("Concurrent", func(t *testing.T) { s, _, _ := local(t); testFilesConcurrent(t, s) })
	t.Run("RecordTrash", func(t *testing.T) { s, b, _ := local(t); testFilesRecordTrash(t, s, b) })
	t.Run("Hidden", func(t *testing.T) { s, _, _ := local(t); testFilesHidden(t, s) })
	t.Run("RevokeRace", func(t *testing.T) { s, _, _ := local(t); testFilesRevokeRace(t, s) })
	t.Run("LinkRace", func(t *testing.T) { s, _, _ := local(t); testFilesLinkRace(t, s) })
	t.Run("HiddenAccessLog", func(t *testing.T) { s, _, _ := local(t); testFilesHiddenAccessLog(t, s) })
	t.Run("Revert", func(t *testing.T) { s, _, _ := local(t); testFilesRevert(t, s) })
	t.Run("OwnerRace", func(t *testing.T) { s, b, _ := local(t); testFilesOwnerRace(t, s, b) })
}

// filesFixture is an owner's notebook with a table Docs (Title text,
// Owner text, Files file) and one record.
type filesFixture struct {
	*setup
	tbl *coffer.Table
	rec *coffer.Record
}

func newFilesFixture(t *testing.T, s *all.Store) *filesFixture {
	t.Helper()
	f := &filesFixture{setup: newSetup(t, s, "Files")}
	f.tbl = MustTable(t, f.ctx, s, f.nb, "Docs", col("Title", coffer.TypeText), col("Owner", coffer.TypeText), col("Files", coffer.TypeFile))
	f.rec = MustRecord(t, f.ctx, s, f.nb, "Docs", map[string]any{"Title": "a", "Owner": "x"})
	return f
}

func (f *filesFixture) upload(t *testing.T, ctx context.Context, name, typ string, body []byte) (*coffer.File, error) {
	t.Helper()
	return f.s.UploadFile(ctx, f.nb, "Docs", f.rec.ID, "Files", coffer.FileUpload{Name: name, Type: typ, Body: bytes.NewReader(body)})
}

func (f *filesFixture) mustUpload(t *testing.T, name string, body []byte) *coffer.File {
	t.Helper()
	fl, err := f.upload(t, f.ctx, name, "", body)
	if err != nil {
		t.Fatalf("UploadFile(%q, %d bytes): %v %v", name, len(body), err, coffer.ErrorFields(err))
	}
	return fl
}

// read downloads a range of a file (n < 0: to the end).
func readFile(t *testing.T, s *all.Store, ctx context.Context, id string, off, n int64) ([]byte, error) {
	t.Helper()
	d, err := s.OpenFile(ctx, id, off, n)
	if err != nil {
		return nil, err
	}
	defer d.Body.Close()
	return io.ReadAll(d.Body)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testFilesRoundTrip: files of 0, 1 and chunk size ±1 bytes come back
// whole and by ranges; the cell lists them; ranges outside are ERANGE.
func testFilesRoundTrip(t *testing.T, s *all.Store, b blob.Store) {
	f := newFilesFixture(t, s)
	sub, err := s.Subscribe(f.ctx, f.nb, f.tbl.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var ids []string
	for i, n := range []int{0, 1, sealed.ChunkSize - 1, sealed.ChunkSize, sealed.ChunkSize + 1, 2*sealed.ChunkSize + 3} {
		body := randomBytes(n, uint64(i))
		fl := f.mustUpload(t, "f.bin", body)
		ids = append(ids, fl.ID)
		sum := sha256.Sum256(body)
		if fl.Size != int64(n) || fl.SHA256 != hex.EncodeToString(sum[:]) || fl.URL != "/files/"+fl.ID || fl.Name != "f.bin" {
			t.Errorf("upload of %d bytes: %+v", n, fl)
		}
		got, err := readFile(t, s, f.ctx, fl.ID, 0, -1)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("download of %d bytes: %d bytes, %v", n, len(got), err)
		}
		if n == 0 {
			_, err := readFile(t, s, f.ctx, fl.ID, 1, -1)
			wantCode(t, err, coffer.ERANGE)
			continue
		}
		for _, r := range [][2]int64{{0, 1}, {0, int64(min(n, 10))}, {int64(n) - 1, 1}, {int64(n / 2), int64(n - n/2)}, {int64(n / 3), int64(n / 3)}} {
			got, err := readFile(t, s, f.ctx, fl.ID, r[0], r[1])
			if err != nil || !bytes.Equal(got, body[r[0]:r[0]+r[1]]) {
				t.Errorf("range %v of %d bytes: %d bytes, %v", r, n, len(got), err)
			}
		}
		_, err = readFile(t, s, f.ctx, fl.ID, int64(n), 1)
		wantCode(t, err, coffer.ERANGE)
		_, err = readFile(t, s, f.ctx, fl.ID, 0, int64(n)+1)
		wantCode(t, err, coffer.ERANGE)
		// The blob is sealed: never the plaintext.
		rc, err := b.Open(context.Background(), notebooks.BlobKey(f.nb, fl.ID), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(rc)
		rc.Close()
		if n >= 16 && bytes.Contains(stored, body[:16]) {
			t.Errorf("the blob of %d bytes holds plaintext", n)
		}
	}
	// Each upload is a live update of the file column.
	for i := range ids {
		select {
		case ev := <-sub.Events():
			if ev.Record != f.rec.ID || ev.Op != "update" || len(ev.Cols) != 1 || ev.Cols[0] != f.tbl.Column("Files").ID || ev.Version != f.rec.Version+int64(i)+1 {
				t.Errorf("live event %d: %+v", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("live event %d did not come", i)
		}
	}
	r := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	if !r.UpdatedAt.After(f.rec.UpdatedAt) && !r.UpdatedAt.Equal(f.rec.UpdatedAt) || r.UpdatedBy != f.u.ID {
		t.Errorf("updated_at %v (was %v), updated_by %q", r.UpdatedAt, f.rec.UpdatedAt, r.UpdatedBy)
	}
	list, _ := r.Fields["Files"].([]coffer.File)
	var got []string
	for _, x := range list {
		got = append(got, x.ID)
	}
	if !slices.Equal(got, ids) || r.Version != f.rec.Version+int64(len(ids)) {
		t.Errorf("cell lists %v (version %d), want %v (version %d)", got, r.Version, ids, f.rec.Version+int64(len(ids)))
	}
	info, err := s.StatFile(f.ctx, ids[1])
	if err != nil || info.Size != 1 || info.Record != f.rec.ID || info.UploadedBy != f.u.ID {
		t.Errorf("StatFile: %+v, %v", info, err)
	}
}

// testFilesAccess: a viewer reads but cannot upload or delete; a grantee
// who loses read on the cell (grant removed, column hidden, row no
// longer matching) gets ENOTFOUND at the next download, as for a file
// that does not exist.
func testFilesAccess(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "a.txt", []byte("hello"))
	viewerCtx, viewer := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, viewer.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(t, s, viewerCtx, fl.ID, 0, -1); err != nil || string(got) != "hello" {
		t.Errorf("viewer download: %q, %v", got, err)
	}
	_, err := f.upload(t, viewerCtx, "b.txt", "", []byte("x"))
	wantCode(t, err, coffer.EFORBIDDEN)
	wantCode(t, s.DeleteFile(viewerCtx, fl.ID), coffer.EFORBIDDEN)
	// A read-only API key reads, and is refused an upload or a deletion.
	ro := *coffer.CallerFrom(f.ctx)
	ro.ReadOnly = true
	roCtx := coffer.WithCaller(context.Background(), &ro)
	if _, err := readFile(t, s, roCtx, fl.ID, 0, -1); err != nil {
		t.Errorf("read-only download: %v", err)
	}
	_, err = f.upload(t, roCtx, "ro.txt", "", []byte("x"))
	wantCode(t, err, coffer.EFORBIDDEN)
	wantCode(t, s.DeleteFile(roCtx, fl.ID), coffer.EFORBIDDEN)
	strangerCtx, _ := MustUser(t, s)
	_, err = readFile(t, s, strangerCtx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = f.upload(t, strangerCtx, "b.txt", "", []byte("x"))
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = readFile(t, s, f.ctx, "fil_"+strings.Repeat("0", 52), 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)

	gCtx, g := MustUser(t, s)
	table := f.tbl.ID
	grant, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &table,
		Rows: `Owner = "x"`, Columns: map[string]string{"*": "write"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(t, s, gCtx, fl.ID, 0, -1); err != nil {
		t.Fatalf("grantee download: %v", err)
	}
	gf, err := f.upload(t, gCtx, "g.txt", "", []byte("from the grantee"))
	if err != nil {
		t.Fatalf("grantee upload: %v", err)
	}
	// The column hidden: gone.
	if _, err := s.UpdateGrant(f.ctx, f.nb, grant.ID, coffer.GrantUpdate{Columns: map[string]string{"*": "write", f.tbl.Column("Files").ID: "none"}}); err != nil {
		t.Fatal(err)
	}
	_, err = readFile(t, s, gCtx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteFile(gCtx, gf.ID), coffer.ENOTFOUND)
	// Read only: downloads, no deletion.
	if _, err := s.UpdateGrant(f.ctx, f.nb, grant.ID, coffer.GrantUpdate{Columns: map[string]string{"*": "read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(t, s, gCtx, fl.ID, 0, -1); err != nil {
		t.Fatalf("read-only grantee download: %v", err)
	}
	wantCode(t, s.DeleteFile(gCtx, gf.ID), coffer.EFORBIDDEN)
	// The row no longer matches: gone.
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Docs", f.rec.ID, map[string]any{"Owner": "y"}, 0); err != nil {
		t.Fatal(err)
	}
	_, err = readFile(t, s, gCtx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Docs", f.rec.ID, map[string]any{"Owner": "x"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(t, s, gCtx, fl.ID, 0, -1); err != nil {
		t.Fatalf("download with the row matching again: %v", err)
	}
	// The grant removed: gone.
	if err := s.DeleteGrant(f.ctx, f.nb, grant.ID); err != nil {
		t.Fatal(err)
	}
	_, err = readFile(t, s, gCtx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.StatFile(gCtx, fl.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}

// testFilesNames: a name is metadata: "../../etc/passwd" is cleaned and
// changes nothing of where the blob goes; HTML declared as a PNG keeps
// its detected type.
func testFilesNames(t *testing.T, s *all.Store, b blob.Store, dir string) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "../../etc/passwd", []byte("root:x:0:0"))
	if fl.Name != "passwd" {
		t.Errorf("name = %q, want passwd", fl.Name)
	}
	fl2, err := f.upload(t, f.ctx, "..\\..\\x\x00\n.txt", "", []byte("y"))
	if err != nil || fl2.Name != "x .txt" {
		t.Errorf("name = %+v, %v; want \"x .txt\"", fl2, err)
	}
	var keys []string
	if err := b.List(context.Background(), "", func(in blob.Info) error { keys = append(keys, in.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{notebooks.BlobKey(f.nb, fl.ID), notebooks.BlobKey(f.nb, fl2.ID)}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("blob keys %v, want %v", keys, want)
	}
	filepath.WalkDir(filepath.Dir(dir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Errorf("a file outside the blob directory: %s", p)
		}
		if err == nil && strings.Contains(p, "passwd") {
			t.Errorf("the name reached the file system: %s", p)
		}
		return nil
	})
	html, err := f.upload(t, f.ctx, "photo.png", "image/png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(html.Type, "image/") || !strings.HasPrefix(html.Type, "text/html") {
		t.Errorf("HTML declared as image/png has type %q", html.Type)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 20)...)
	p, err := f.upload(t, f.ctx, "p.png", "image/png", png)
	if err != nil || p.Type != "image/png" {
		t.Errorf("PNG: %+v, %v", p, err)
	}
}

// testFilesTamper: a byte flipped in the stored blob fails the download
// with EINTEGRITY before any byte is given; so does a truncated blob.
func testFilesTamper(t *testing.T, s *all.Store, b blob.Store) {
	f := newFilesFixture(t, s)
	body := randomBytes(sealed.ChunkSize+100, 3)
	fl := f.mustUpload(t, "t.bin", body)
	key := notebooks.BlobKey(f.nb, fl.ID)
	ctx := context.Background()
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	for _, at := range []int{10, sealed.HeaderSize + 5, len(stored) - 3} {
		bad := slices.Clone(stored)
		bad[at] ^= 1
		if _, err := b.Put(ctx, key, bytes.NewReader(bad)); err != nil {
			t.Fatal(err)
		}
		_, err := s.OpenFile(f.ctx, fl.ID, 0, -1)
		if at == len(stored)-3 {
			// The last chunk: the first reads, the stream fails there.
			if err == nil {
				_, err = readFile(t, s, f.ctx, fl.ID, 0, -1)
			}
		}
		wantCode(t, err, coffer.EINTEGRITY)
	}
	if _, err := b.Put(ctx, key, bytes.NewReader(stored[:len(stored)-1])); err != nil {
		t.Fatal(err)
	}
	_, err = readFile(t, s, f.ctx, fl.ID, int64(sealed.ChunkSize), 10)
	wantCode(t, err, coffer.EINTEGRITY)
	if _, err := b.Put(ctx, key, bytes.NewReader(stored)); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(t, s, f.ctx, fl.ID, 0, -1); err != nil || !bytes.Equal(got, body) {
		t.Errorf("restored blob: %v", err)
	}
}

// testFilesUndo: an upload and a deletion are actions of history; undo
// of a deletion brings the file back, downloadable; undo of an upload
// takes it away.
func testFilesUndo(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "u.txt", []byte("undo me"))
	if err := s.DeleteFile(f.ctx, fl.ID); err != nil {
		t.Fatal(err)
	}
	_, err := readFile(t, s, f.ctx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteFile(f.ctx, fl.ID), coffer.ENOTFOUND)
	h := MustHistory(t, f.ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"})
	if len(h) < 2 || h[0].Kind != "file.delete" || h[1].Kind != "file.upload" {
		t.Fatalf("history kinds: %v", historyKinds(h))
	}
	mustUndo(t, f.ctx, s, f.nb, false)
	if got, err := readFile(t, s, f.ctx, fl.ID, 0, -1); err != nil || string(got) != "undo me" {
		t.Errorf("after undoing the deletion: %q, %v", got, err)
	}
	r := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	if list, _ := r.Fields["Files"].([]coffer.File); len(list) != 1 || list[0].ID != fl.ID || list[0].Name != "u.txt" {
		t.Errorf("cell after undo: %#v", r.Fields["Files"])
	}
	mustUndo(t, f.ctx, s, f.nb, false) // the upload
	_, err = readFile(t, s, f.ctx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	mustUndo(t, f.ctx, s, f.nb, true) // redo the upload
	if _, err := readFile(t, s, f.ctx, fl.ID, 0, -1); err != nil {
		t.Errorf("after redoing the upload: %v", err)
	}
}

func historyKinds(h []*coffer.HistoryEntry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Kind)
	}
	return out
}

// testFilesRecordAPI: files come only by upload: the record API refuses
// file cells, and file columns neither convert, sort nor compare.
func testFilesRecordAPI(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "r.txt", []byte("r"))
	cell := []any{map[string]any{"id": fl.ID, "name": "r.txt", "size": 1, "type": "text/plain", "sha256": fl.SHA256}}
	_, err := s.UpdateRecord(f.ctx, f.nb, "Docs", f.rec.ID, map[string]any{"Files": cell}, 0)
	wantCode(t, err, coffer.EINVALID)
	_, err = s.UpdateRecord(f.ctx, f.nb, "Docs", f.rec.ID, map[string]any{"Files": nil}, 0)
	wantCode(t, err, coffer.EINVALID)
	_, err = s.CreateRecord(f.ctx, f.nb, "Docs", map[string]any{"Files": cell})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.Batch(f.ctx, f.nb, "Docs", []coffer.BatchOp{{Op: coffer.OpUpdate, ID: f.rec.ID, Fields: map[string]any{"Files": nil}}})
	wantCode(t, err, coffer.EINVALID)
	text := coffer.TypeText
	_, err = s.UpdateColumn(f.ctx, f.nb, "Docs", "Files", coffer.ColumnUpdate{Type: &text})
	wantCode(t, err, coffer.EINVALID)
	file := coffer.TypeFile
	_, err = s.UpdateColumn(f.ctx, f.nb, "Docs", "Title", coffer.ColumnUpdate{Type: &file})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(f.ctx, f.nb, "Docs", coffer.ListQuery{Sort: "Files"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(f.ctx, f.nb, "Docs", coffer.ListQuery{Filter: `Files = "x"`})
	wantCode(t, err, coffer.EINVALID)
	if l := MustList(t, f.ctx, s, f.nb, "Docs", coffer.ListQuery{Filter: "Files is not null"}); len(l.Records) != 1 {
		t.Errorf("Files is not null: %d records", len(l.Records))
	}
	if r := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID); len(r.Fields["Files"].([]coffer.File)) != 1 {
		t.Errorf("cell changed by refused writes: %#v", r.Fields["Files"])
	}
}

// testFilesRecordTrash: a deleted record's files are unreachable; the
// collection keeps them through the grace period, so restoring the record
// from the trash brings them back, downloadable.
func testFilesRecordTrash(t *testing.T, s *all.Store, b blob.Store) {
	clk := newClock(time.Now().UTC())
	s.Now = clk.Now
	s.SetFiles(notebooks.FileConfig{Blobs: b, DeletedGrace: 3 * time.Hour})
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "kept.txt", []byte("kept"))
	if err := s.DeleteRecord(f.ctx, f.nb, "Docs", f.rec.ID, 0); err != nil {
		t.Fatal(err)
	}
	_, err := readFile(t, s, f.ctx, fl.ID, 0, -1)
	wantCode(t, err, coffer.ENOTFOUND)
	ctx := context.Background()
	clk.Add(time.Hour)
	if _, err := s.CollectFiles(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if n, err := s.CollectFiles(ctx); err != nil || n != 0 {
		t.Fatalf("collection inside the grace period: %d, %v", n, err)
	}
	if _, err := s.RestoreRecord(f.ctx, f.nb, "Docs", f.rec.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(t, s, f.ctx, fl.ID, 0, -1); err != nil || string(got) != "kept" {
		t.Errorf("after restoring the record: %q, %v", got, err)
	}
	clk.Add(10 * time.Hour)
	if n, err := s.CollectFiles(ctx); err != nil || n != 0 {
		t.Errorf("a restored file was collected: %d, %v", n, err)
	}
	if _, err := readFile(t, s, f.ctx, fl.ID, 0, -1); err != nil {
		t.Errorf("after the collection: %v", err)
	}
}
