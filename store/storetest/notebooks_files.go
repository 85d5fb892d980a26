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
	"sync"
	"sync/atomic"
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

// testFilesLinks: capability links open the file without a caller until
// revoked, expired, used up or the file deleted; a burst of parallel
// downloads never passes max_downloads; only owners and holders of share
// manage them, and the token is kept only as a hash.
func testFilesLinks(t *testing.T, s *all.Store) {
	clk := newClock(time.Now().UTC().Truncate(time.Second))
	s.Now = clk.Now
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "l.txt", []byte("linked"))
	anon := context.Background()
	open := func(url string) error {
		d, err := s.OpenFileLink(anon, strings.TrimPrefix(url, "/f/"), 0, -1, false)
		if err != nil {
			return err
		}
		defer d.Body.Close()
		got, err := io.ReadAll(d.Body)
		if err == nil && string(got) != "linked" {
			t.Errorf("link download: %q", got)
		}
		return err
	}
	plain, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{})
	if err != nil || !strings.HasPrefix(plain.URL, "/f/") || len(plain.URL) < 3+26+43 {
		t.Fatalf("CreateFileLink: %+v, %v", plain, err)
	}
	if err := open(plain.URL); err != nil {
		t.Fatalf("open link: %v", err)
	}
	// Listed without the token.
	ls, err := s.FindFileLinks(f.ctx, fl.ID)
	if err != nil || len(ls) != 1 || ls[0].URL != "" || ls[0].Downloads != 1 {
		t.Errorf("FindFileLinks: %+v, %v", ls, err)
	}
	// A wrong token, or a token of another shape.
	token := strings.TrimPrefix(plain.URL, "/f/")
	other := "A" // another last character (the same one would be the token itself)
	if strings.HasSuffix(token, other) {
		other = "B"
	}
	wantCode(t, open("/f/"+token[:len(token)-1]+other), coffer.ENOTFOUND)
	wantCode(t, open("/f/x"), coffer.ENOTFOUND)
	// Revoked.
	if err := s.DeleteFileLink(f.ctx, fl.ID, plain.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, open(plain.URL), coffer.ENOTFOUND)
	wantCode(t, s.DeleteFileLink(f.ctx, fl.ID, plain.ID), coffer.ENOTFOUND)
	// Expired.
	exp := clk.Now().Add(time.Hour)
	el, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := open(el.URL); err != nil {
		t.Errorf("before expiry: %v", err)
	}
	clk.Add(2 * time.Hour)
	wantCode(t, open(el.URL), coffer.ENOTFOUND)
	past := clk.Now().Add(-time.Minute)
	_, err = s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{ExpiresAt: &past})
	wantCode(t, err, coffer.EINVALID)
	zero := int64(0)
	_, err = s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &zero})
	wantCode(t, err, coffer.EINVALID)
	// Used up, under a burst.
	three := int64(3)
	ml, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &three})
	if err != nil {
		t.Fatal(err)
	}
	var ok, notFound atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := open(ml.URL); coffer.ErrorCode(err) {
			case "":
				ok.Add(1)
			case coffer.ENOTFOUND:
				notFound.Add(1)
			default:
				// A busy database may refuse; it never passes the bound.
				if coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
					t.Errorf("burst: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for ok.Load() < 3 && open(ml.URL) == nil {
		ok.Add(1)
	}
	if ok.Load() != 3 {
		t.Errorf("%d downloads succeeded on max_downloads=3", ok.Load())
	}
	wantCode(t, open(ml.URL), coffer.ENOTFOUND)
	// HEAD counts nothing.
	hl, _ := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &three})
	for range 5 {
		if _, err := s.OpenFileLink(anon, strings.TrimPrefix(hl.URL, "/f/"), 0, -1, true); err != nil {
			t.Fatalf("HEAD: %v", err)
		}
	}
	if err := open(hl.URL); err != nil {
		t.Errorf("after HEADs: %v", err)
	}
	// The file deleted: every link is gone.
	if err := s.DeleteFile(f.ctx, fl.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, open(hl.URL), coffer.ENOTFOUND)
	// Rights: a viewer may not manage links; a grantee with share may.
	fl2 := f.mustUpload(t, "m.txt", []byte("linked"))
	viewerCtx, viewer := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, viewer.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateFileLink(viewerCtx, fl2.ID, coffer.FileLinkInput{})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindFileLinks(viewerCtx, fl2.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	sharerCtx, sharer := MustUser(t, s)
	table := f.tbl.ID
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: sharer.ID}, Table: &table,
		Columns: map[string]string{"*": "read"}, Capabilities: []string{"share"}}); err != nil {
		t.Fatal(err)
	}
	sl, err := s.CreateFileLink(sharerCtx, fl2.ID, coffer.FileLinkInput{})
	if err != nil {
		t.Fatalf("grantee with share: %v", err)
	}
	if err := open(sl.URL); err != nil {
		t.Errorf("sharer's link: %v", err)
	}
	strangerCtx, _ := MustUser(t, s)
	_, err = s.CreateFileLink(strangerCtx, fl2.ID, coffer.FileLinkInput{})
	wantCode(t, err, coffer.ENOTFOUND)
}

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
	var wg sync.WaitGroup
	var okN atomic.Int64
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UploadFile(f.ctx, nb3.ID, "Docs", r3.ID, "Files", coffer.FileUpload{Name: "p", Body: bytes.NewReader(make([]byte, 300))})
			switch coffer.ErrorCode(err) {
			case "":
				okN.Add(1)
			case coffer.ETOOLARGE, coffer.EUNAVAILABLE:
			default:
				t.Errorf("parallel upload: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := MustFindRecord(t, f.ctx, s, nb3.ID, "Docs", r3.ID).Fields["Files"]; len(got.([]coffer.File)) != int(okN.Load()) || okN.Load() > 5 || okN.Load() == 0 {
		t.Errorf("%d parallel uploads of 300 bytes succeeded under a limit of 1500 (cell: %d files)", okN.Load(), len(got.([]coffer.File)))
	}
	// The owner's total counts every notebook they own.
	s.SetFiles(notebooks.FileConfig{Blobs: b, MaxFileSize: 1000, MaxNotebookBytes: 1500, MaxOwnerBytes: 2000 + int64(okN.Load())*300})
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
