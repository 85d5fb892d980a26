package backup_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestCheckBlobsDecrypts: CheckBlobs reads every blob of a snapshot
// through its file's key; one byte flipped inside a large (own object)
// blob and inside a packed small one in the second location are two
// problems naming the snapshot's file ids (not names, not content), while
// the presence check of Verify still passes and the primary stays clean;
// on both live backends.
func TestCheckBlobsDecrypts(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testCheckBlobs(t, be.open(t)) })
	}
}

func testCheckBlobs(t *testing.T, b store.Backend) {
	ctx := context.Background()
	e := newEnv(t, b)
	nb, _ := e.notebook(t, 3, "blobcheck")
	recs := storetest.MustListAll(t, e.ctx, e.st, nb.ID, "People", coffer.ListQuery{})
	upload := func(rec, name string, body []byte) *coffer.File {
		f, err := e.st.UploadFile(e.ctx, nb.ID, "People", rec, "Doc", coffer.FileUpload{Name: name, Type: "application/octet-stream", Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	big := upload(recs[0].ID, "secret-big.bin", bytes.Repeat([]byte("big secret content "), 10000))
	small := upload(recs[1].ID, "secret-small.txt", []byte("small secret content"))
	other := upload(recs[2].ID, "other.txt", []byte("another small one"))
	sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.svc.Manifest(ctx, sn.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blobs) != 3 {
		t.Fatalf("%d blobs in the manifest, want 3", len(m.Blobs))
	}
	for _, loc := range []string{"primary", "second"} {
		rep, err := e.svc.CheckBlobs(ctx, sn.ID, loc, m.Blobs)
		if err != nil || rep.Checked != 3 || len(rep.Problems) != 0 || rep.Bytes <= 0 {
			t.Fatalf("intact blobs in %s: %+v, %v", loc, rep, err)
		}
	}
	var bigE, smallE blobs.Entry
	for _, b := range m.Blobs {
		switch {
		case b.Length >= blobs.SmallSize:
			bigE = b
		case smallE.Object == "":
			smallE = b
		}
	}
	if bigE.Object == "" || !strings.Contains(smallE.Object, "/pack-") {
		t.Fatalf("want one own-object blob and packed ones: %+v", m.Blobs)
	}
	flip(t, e.second.Store, bigE.Object, int(bigE.Offset+bigE.Length/2))
	flip(t, e.second.Store, smallE.Object, int(smallE.Offset+smallE.Length/2))

	if rep, err := e.svc.Verify(ctx, sn.ID, "second"); err != nil || !rep.OK {
		t.Logf("verify (presence only) of the second location: %+v, %v", rep, err)
	}
	rep, err := e.svc.CheckBlobs(ctx, sn.ID, "second", m.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 1 || len(rep.Problems) != 2 {
		t.Fatalf("after two flipped bytes: %+v", rep)
	}
	bad := map[string]bool{}
	for _, p := range rep.Problems {
		bad[p.FileID] = true
		msg := p.Error()
		if !strings.Contains(msg, p.FileID) || strings.Contains(msg, "secret") {
			t.Errorf("problem %q", msg)
		}
	}
	if !bad[big.ID] || !bad[small.ID] || bad[other.ID] {
		t.Errorf("bad files %v, want %s and %s", bad, big.ID, small.ID)
	}
	if rep, err := e.svc.CheckBlobs(ctx, sn.ID, "primary", m.Blobs); err != nil || rep.Checked != 3 {
		t.Errorf("the primary is intact: %+v, %v", rep, err)
	}
	// An entry no file of the snapshot has is a problem too.
	stray := blobs.Entry{ContentID: strings.Repeat("ab", 32), Object: bigE.Object, Length: bigE.Length}
	if rep, err := e.svc.CheckBlobs(ctx, sn.ID, "primary", []blobs.Entry{stray}); err != nil || len(rep.Problems) != 1 || rep.Problems[0].FileID != "" {
		t.Errorf("a stray entry: %+v, %v", rep, err)
	}
}

// TestCheckBlobsS3: with the second location on a real S3-compatible
// server (versitygw on loopback) and the primary emptied, CheckBlobs
// decrypts every blob from S3 (ranged reads of packs); a byte flipped in
// a packed blob there is found.
func TestCheckBlobsS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	cfg, err := s3.ParseURL(srv.URL("backups-blobcheck", "coffer"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	second := location.New("second", st)
	e := newEnv(t, openSQLite(t))
	c := e.cfg
	c.Second = &second
	svc := backup.New(e.st, c)
	nb, _ := e.notebook(t, 3, "s3blobs")
	recs := storetest.MustListAll(t, e.ctx, e.st, nb.ID, "People", coffer.ListQuery{})
	var ids []string
	for i, body := range [][]byte{bytes.Repeat([]byte("big "), 50000), []byte("small one"), []byte("small two")} {
		f, err := e.st.UploadFile(e.ctx, nb.ID, "People", recs[i].ID, "Doc", coffer.FileUpload{Name: "f", Type: "application/octet-stream", Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
	if err != nil || len(sn.Locations) != 2 {
		t.Fatalf("snapshot: %+v %v", sn, err)
	}
	m, err := svc.Manifest(ctx, sn.ID, "second")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range objects(t, e.primary.Store) {
		if err := e.primary.Store.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := svc.CheckBlobs(ctx, sn.ID, "second", m.Blobs)
	if err != nil || rep.Checked != 3 || len(rep.Problems) != 0 {
		t.Fatalf("intact blobs on S3: %+v, %v", rep, err)
	}
	var packed blobs.Entry
	for _, b := range m.Blobs {
		if strings.Contains(b.Object, "/pack-") {
			packed = b
			break
		}
	}
	flip(t, second.Store, packed.Object, int(packed.Offset+packed.Length-1))
	rep, err = svc.CheckBlobs(ctx, sn.ID, "second", m.Blobs)
	if err != nil || rep.Checked != 2 || len(rep.Problems) != 1 || !slices.Contains(ids, rep.Problems[0].FileID) {
		t.Fatalf("a flipped byte in a pack on S3: %+v, %v", rep, err)
	}
}

// TestCheckBlobsShredded: once a notebook is deleted (its keys destroyed),
// the file blobs of its old snapshots no longer open: CheckBlobs is
// EINTEGRITY in either location, and reads no blob as good.
func TestCheckBlobsShredded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	nb, _ := e.notebook(t, 1, "shredblobs")
	recs := storetest.MustListAll(t, e.ctx, e.st, nb.ID, "People", coffer.ListQuery{})
	if _, err := e.st.UploadFile(e.ctx, nb.ID, "People", recs[0].ID, "Doc", coffer.FileUpload{Name: "f", Type: "application/octet-stream", Body: strings.NewReader("to be shredded")}); err != nil {
		t.Fatal(err)
	}
	sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.svc.Manifest(ctx, sn.ID, "")
	if err != nil || len(m.Blobs) != 1 {
		t.Fatalf("manifest: %+v %v", m, err)
	}
	if rep, err := e.svc.CheckBlobs(ctx, sn.ID, "second", m.Blobs); err != nil || rep.Checked != 1 {
		t.Fatalf("before shredding: %+v %v", rep, err)
	}
	if err := e.st.DeleteNotebook(e.ctx, nb.ID); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"primary", "second"} {
		if rep, err := e.svc.CheckBlobs(ctx, sn.ID, loc, m.Blobs); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Errorf("%s: CheckBlobs after shredding: %+v %v, want EINTEGRITY", loc, rep, err)
		}
	}
}
