package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

// testFilesHidden: a file in a column a grant hides, or in a row a grant's
// condition does not match, is for that grantee exactly a missing file:
// not downloadable (whole or by range), no link can be made, listed or
// revoked, it cannot be deleted, and its name, id and SHA-256 appear in
// none of what the grantee reads: the record, lists, history and its
// export, records as of a past moment, the trash, errors.
func testFilesHidden(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	secret := f.mustUpload(t, "secret-plan.pdf", []byte("the content nobody else may see"))
	link, err := s.CreateFileLink(f.ctx, secret.ID, coffer.FileLinkInput{})
	if err != nil {
		t.Fatal(err)
	}
	table := f.tbl.ID
	hist := []string{"history", "export"}
	colCtx, col := MustUser(t, s)
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: col.ID}, Table: &table,
		Columns: map[string]string{"*": "write", "Files": "none"}, Capabilities: append(hist, "share", "delete", "restore")}); err != nil {
		t.Fatal(err)
	}
	rowCtx, row := MustUser(t, s)
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: row.ID}, Table: &table,
		Rows: `Owner = "someone else"`, Columns: map[string]string{"*": "write"}, Capabilities: append(hist, "share", "delete", "restore")}); err != nil {
		t.Fatal(err)
	}
	// A second record both see, whose changes they may read.
	MustRecord(t, f.ctx, s, f.nb, "Docs", map[string]any{"Title": "public", "Owner": "someone else"})
	missing := coffer.NewFileID(f.nb)
	leaks := func(t *testing.T, what string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if str, ok := v.(string); ok {
			b = []byte(str)
		}
		for _, secretPart := range []string{secret.Name, "secret-plan", secret.ID, secret.SHA256, link.ID, strings.TrimPrefix(link.URL, "/f/")} {
			if bytes.Contains(b, []byte(secretPart)) {
				t.Errorf("%s shows %q: %s", what, secretPart, b)
			}
		}
	}
	sameAsMissing := func(t *testing.T, what string, got, want error) {
		t.Helper()
		if coffer.ErrorCode(got) != coffer.ENOTFOUND || got.Error() != want.Error() {
			t.Errorf("%s: %v; a missing file: %v", what, got, want)
		}
		leaks(t, what+" error", got.Error())
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"hidden column", colCtx}, {"invisible row", rowCtx}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			_, err := s.StatFile(ctx, secret.ID)
			_, werr := s.StatFile(ctx, missing)
			sameAsMissing(t, "StatFile", err, werr)
			for _, r := range [][2]int64{{0, -1}, {0, 1}, {3, 4}, {1000, -1}} {
				_, err = s.OpenFile(ctx, secret.ID, r[0], r[1])
				_, werr = s.OpenFile(ctx, missing, r[0], r[1])
				sameAsMissing(t, "OpenFile range", err, werr)
			}
			_, err = s.CreateFileLink(ctx, secret.ID, coffer.FileLinkInput{})
			_, werr = s.CreateFileLink(ctx, missing, coffer.FileLinkInput{})
			sameAsMissing(t, "CreateFileLink", err, werr)
			_, err = s.FindFileLinks(ctx, secret.ID)
			_, werr = s.FindFileLinks(ctx, missing)
			sameAsMissing(t, "FindFileLinks", err, werr)
			sameAsMissing(t, "DeleteFileLink", s.DeleteFileLink(ctx, secret.ID, link.ID), s.DeleteFileLink(ctx, missing, link.ID))
			sameAsMissing(t, "DeleteFile", s.DeleteFile(ctx, secret.ID), s.DeleteFile(ctx, missing))

			if r, err := s.FindRecord(ctx, f.nb, "Docs", f.rec.ID); err == nil {
				leaks(t, "FindRecord", r)
				if v := r.Fields["Files"]; v != nil {
					t.Errorf("the hidden cell reads %#v", v)
				}
			} else {
				wantCode(t, err, coffer.ENOTFOUND)
			}
			leaks(t, "FindRecords", MustList(t, ctx, s, f.nb, "Docs", coffer.ListQuery{}))
			h := MustHistory(t, ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"})
			if len(h) == 0 {
				t.Error("the grantee reads no history at all: the test proves nothing")
			}
			leaks(t, "FindHistory", h)
			for _, format := range []string{"json", "csv"} {
				var buf bytes.Buffer
				if err := s.ExportHistory(ctx, f.nb, coffer.HistoryQuery{Table: "Docs"}, format, &buf); err != nil {
					t.Fatalf("export %s: %v", format, err)
				}
				leaks(t, "ExportHistory "+format, buf.String())
			}
			l, err := s.FindRecordsAsOf(ctx, f.nb, "Docs", coffer.ListQuery{AsOf: &coffer.AsOf{Time: s.Now()}})
			if err != nil {
				t.Fatalf("as of: %v", err)
			}
			leaks(t, "FindRecordsAsOf", l)
			if r, err := s.FindRecordAsOf(ctx, f.nb, "Docs", f.rec.ID, &coffer.AsOf{Time: s.Now()}); err == nil {
				leaks(t, "FindRecordAsOf", r)
			}
		})
	}
	// The record in the trash: the grantees' view of the trash and its
	// history shows none of the file either.
	if err := s.DeleteRecord(f.ctx, f.nb, "Docs", f.rec.ID, 0); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{colCtx, rowCtx} {
		tr, err := s.FindTrash(ctx, f.nb, "Docs", 100)
		if err != nil {
			t.Fatalf("trash: %v", err)
		}
		leaks(t, "FindTrash", tr)
		leaks(t, "FindHistory after the deletion", MustHistory(t, ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"}))
	}
}

// testFilesRevokeRace: downloads in flight while a grant is removed:
// once DeleteGrant has returned, no download that starts afterwards
// succeeds.
func testFilesRevokeRace(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "r.txt", []byte("raced"))
	gCtx, g := MustUser(t, s)
	table := f.tbl.ID
	grant, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &table, Columns: map[string]string{"*": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	var revoked atomic.Bool
	var before, late atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				got, err := readFile(t, s, gCtx, fl.ID, 0, -1)
				switch {
				case err == nil && string(got) == "raced" && after:
					late.Add(1)
				case err == nil && !after:
					before.Add(1)
				case err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND && coffer.ErrorCode(err) != coffer.EUNAVAILABLE:
					t.Errorf("download during the revoke: %v", err)
				}
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for before.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.DeleteGrant(f.ctx, f.nb, grant.ID); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if before.Load() == 0 {
		t.Error("no download succeeded before the revoke: the test proves nothing")
	}
	if late.Load() != 0 {
		t.Errorf("%d downloads that started after the revoke succeeded", late.Load())
	}
}

// testFilesLinkRace: parallel link creations never pass MaxFileLinks.
func testFilesLinkRace(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "l.txt", []byte("links"))
	for range notebooks.MaxFileLinks - 3 {
		if _, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{}); err != nil {
			t.Fatal(err)
		}
	}
	made := Parallel(t, 12, func(int) error {
		_, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{})
		return err
	}, coffer.ECONFLICT)
	ls, err := s.FindFileLinks(f.ctx, fl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) > notebooks.MaxFileLinks || made > 3 {
		t.Errorf("%d parallel links made, %d live: more than the %d allowed", made, len(ls), notebooks.MaxFileLinks)
	}
}

// testFilesOwnerRace: parallel uploads into several notebooks of one
// owner never pass the owner's limit together.
func testFilesOwnerRace(t *testing.T, s *all.Store, b blob.Store) {
	s.SetFiles(notebooks.FileConfig{Blobs: b, MaxFileSize: 1000, MaxNotebookBytes: 100_000, MaxOwnerBytes: 1000})
	ctx, _ := MustUser(t, s)
	type cell struct{ nb, rec string }
	var cells []cell
	for i := range 5 {
		nb := MustNotebook(t, ctx, s, "Owner race "+strconv.Itoa(i))
		MustTable(t, ctx, s, nb.ID, "Docs", col("Files", coffer.TypeFile))
		cells = append(cells, cell{nb.ID, MustRecord(t, ctx, s, nb.ID, "Docs", map[string]any{}).ID})
	}
	okN := Parallel(t, 10, func(i int) error {
		c := cells[i%len(cells)]
		_, err := s.UploadFile(ctx, c.nb, "Docs", c.rec, "Files", coffer.FileUpload{Name: "p", Body: bytes.NewReader(make([]byte, 300))})
		return err
	}, coffer.ETOOLARGE)
	var total int
	for _, c := range cells {
		list, _ := MustFindRecord(t, ctx, s, c.nb, "Docs", c.rec).Fields["Files"].([]coffer.File)
		total += len(list)
	}
	if okN > 3 || total != okN || okN == 0 {
		t.Errorf("%d parallel uploads of 300 bytes succeeded (%d files stored) under an owner's limit of 1000", okN, total)
	}
	var blobs int
	b.List(context.Background(), "", func(blob.Info) error { blobs++; return nil })
	if blobs != total {
		t.Errorf("%d blobs for %d files: refused uploads left theirs", blobs, total)
	}
}

// testFilesHiddenAccessLog: a grantee with access_log on the table's rows
// but the file column hidden reads the access records of that table
// without the downloads of files in the hidden column (their ids, the
// column), and with those of a file column they see.
func testFilesHiddenAccessLog(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	setAccessLog(t, s, f.ctx, f.nb, true)
	secret := f.mustUpload(t, "secret.txt", []byte("secret"))
	table := f.tbl.ID
	gCtx, g := MustUser(t, s)
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &table,
		Columns: map[string]string{"*": "read", "Files": "none"}, Capabilities: []string{"access_log"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(t, s, f.ctx, secret.ID, 0, -1); err != nil {
		t.Fatal(err)
	}
	link, err := s.CreateFileLink(f.ctx, secret.ID, coffer.FileLinkInput{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.OpenFileLink(context.Background(), strings.TrimPrefix(link.URL, "/f/"), 0, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	d.Body.Close()
	if _, err := s.FindRecord(f.ctx, f.nb, "Docs", f.rec.ID); err != nil { // a read the grantee may see
		t.Fatal(err)
	}
	s.FlushAccessLog()
	owner := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{})
	if n := countKind(owner, coffer.AccessFileDownload); n != 2 {
		t.Fatalf("the owner reads %d file downloads, want 2", n)
	}
	entries := mustAccess(t, s, gCtx, f.nb, coffer.AccessQuery{})
	if len(entries) == 0 {
		t.Fatal("the grantee reads no access record at all: the test proves nothing")
	}
	b, _ := json.Marshal(entries)
	for _, part := range []string{secret.ID, f.tbl.Column("Files").ID, link.ID} {
		if bytes.Contains(b, []byte(part)) {
			t.Errorf("the grantee's access records show %q: %s", part, b)
		}
	}
	if n := countKind(entries, coffer.AccessFileDownload); n != 0 {
		t.Errorf("the grantee reads %d downloads of a file in a column hidden from them", n)
	}
	// A grantee who reads the column reads both downloads.
	sCtx, sees := MustUser(t, s)
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: sees.ID}, Table: &table,
		Columns: map[string]string{"*": "read"}, Capabilities: []string{"access_log"}}); err != nil {
		t.Fatal(err)
	}
	if n := countKind(mustAccess(t, s, sCtx, f.nb, coffer.AccessQuery{}), coffer.AccessFileDownload); n != 2 {
		t.Errorf("a grantee who reads the file column reads %d downloads, want 2", n)
	}
}

func countKind(es []*coffer.AccessEntry, kind string) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// testFilesRevert: a file cell read as of a past moment lists the files
// it listed then, and a revert of the cell brings them back, downloadable
// (a revert once emptied the cell: the past list was read as strings).
func testFilesRevert(t *testing.T, s *all.Store) {
	f := newFilesFixture(t, s)
	a := f.mustUpload(t, "a.txt", []byte("first"))
	h := MustHistory(t, f.ctx, s, f.nb, coffer.HistoryQuery{Table: "Docs"})
	at := &coffer.AsOf{Seq: h[0].Seq}
	if err := s.DeleteFile(f.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	f.mustUpload(t, "b.txt", []byte("second"))
	r, err := s.FindRecordAsOf(f.ctx, f.nb, "Docs", f.rec.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := r.Fields["Files"].([]coffer.File); len(list) != 1 || list[0].ID != a.ID || list[0].Name != "a.txt" || list[0].SHA256 != a.SHA256 {
		t.Errorf("the cell as of the first upload: %#v", r.Fields["Files"])
	}
	if _, err := s.RevertRecord(f.ctx, f.nb, "Docs", f.rec.ID, coffer.RevertInput{To: at, Columns: []string{"Files"}}); err != nil {
		t.Fatal(err)
	}
	cur := MustFindRecord(t, f.ctx, s, f.nb, "Docs", f.rec.ID)
	if list, _ := cur.Fields["Files"].([]coffer.File); len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("the cell after the revert: %#v", cur.Fields["Files"])
	}
	if got, err := readFile(t, s, f.ctx, a.ID, 0, -1); err != nil || string(got) != "first" {
		t.Errorf("the reverted file: %q, %v", got, err)
	}
}
