package drill_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/drill"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestDrillDecryptsBlobs: drills read file blobs through their files'
// keys. A cycle of drills over intact backups is good and reads every
// blob once per location; then one byte flipped inside a large blob (an
// object of its own) and one inside a packed small blob, in the second
// location only (same length, still present), make exactly the drills
// whose slice holds them fail, naming the location, snapshot and file id
// (never the file's name or content), and the operators get the alert by
// e-mail (mailpit).
func TestDrillDecryptsBlobs(t *testing.T) {
	ctx := context.Background()
	mp := storetest.MustMailpit(t)
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st, err := all.Open(ctx, b, keyring.ForTests())
	if err != nil {
		t.Fatal(err)
	}
	files, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	st.SetFiles(notebooks.FileConfig{Blobs: files})
	if _, err := st.CreateUser(ctx, coffer.UserInput{Email: "ops@example.com", Name: "Ops", Password: storetest.TestPassword, Operator: true}); err != nil {
		t.Fatal(err)
	}
	owner, _ := storetest.MustUser(t, st)
	byID := map[string]*coffer.File{} // file id → file
	var nbs []*coffer.Notebook
	for _, name := range []string{"CRM", "HR"} {
		nb := storetest.MustNotebook(t, owner, st, name)
		storetest.MustTable(t, owner, st, nb.ID, "People", coffer.ColumnInput{Name: "name", Type: coffer.TypeText}, coffer.ColumnInput{Name: "doc", Type: coffer.TypeFile})
		for i, p := range []string{"Ada", "Grace", "Edsger", "Barbara"} {
			rec := storetest.MustRecord(t, owner, st, nb.ID, "People", map[string]any{"name": p})
			body := []byte("confidential note of " + p)
			if i == 0 {
				body = bytes.Repeat([]byte("confidential scan of "+p+" "), 8000)
			}
			f, err := st.UploadFile(owner, nb.ID, "People", rec.ID, "doc", coffer.FileUpload{Name: "private-" + p + ".bin", Type: "application/octet-stream", Body: bytes.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			byID[f.ID] = f
		}
		nbs = append(nbs, nb)
	}
	primary, second := mustLocation(t, "primary"), mustLocation(t, "second")
	svc := backup.New(st, backup.Config{Primary: primary, Second: &second, Files: files, TempDir: t.TempDir()})
	var blobCount int
	var victim *backup.Snapshot
	for _, nb := range append([]string{""}, nbs[0].ID, nbs[1].ID) {
		sn, err := svc.Snapshot(ctx, nb, backup.KindDaily, false)
		if err != nil {
			t.Fatal(err)
		}
		blobCount += sn.Blobs
		if nb == nbs[1].ID {
			victim = sn
		}
	}
	if blobCount != 8 {
		t.Fatalf("%d blobs backed up, want 8", blobCount)
	}
	sender, err := mail.NewSender(mp.SMTP, mail.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(ctx)
	src := drill.FromService(svc, st.Core, []location.Location{primary, second})
	const cycle = 3
	cfg := drill.Config{Sample: 1, Cycle: cycle, Alert: drill.MailAlert(st.Core, sender, "https://coffer.example.com", slog.New(slog.DiscardHandler))}
	l := schedule.NewLedger(st.Core)

	// A cycle over intact backups: good, every blob read once per location.
	read := 0
	for range cycle {
		d, err := drill.Run(ctx, l, src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != schedule.StatusGood {
			t.Fatalf("drill %d of intact backups: %s %s", d.Seq, d.Status, d.Error)
		}
		read += d.Blobs
	}
	if read != 2*blobCount {
		t.Fatalf("a cycle read %d blobs, want %d (each once in each of two locations)", read, 2*blobCount)
	}

	// One byte flipped inside a large blob and inside a packed small one
	// of the HR notebook, in the second location.
	m, err := svc.Manifest(ctx, victim.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var bigE, smallE blobs.Entry
	for _, e := range m.Blobs {
		switch {
		case e.Length >= blobs.SmallSize:
			bigE = e
		case smallE.Object == "":
			smallE = e
		}
	}
	if bigE.Object == "" || !strings.Contains(smallE.Object, "/pack-") {
		t.Fatalf("want a blob of its own and a packed one: %+v", m.Blobs)
	}
	flipAt(t, second, bigE.Object, bigE.Offset+bigE.Length/2)
	flipAt(t, second, smallE.Object, smallE.Offset+smallE.Length/2)

	failed := 0
	for range cycle {
		d, err := drill.Run(ctx, l, src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		covers := drill.InSlice(bigE.ContentID, d.Seq, cycle) || drill.InSlice(smallE.ContentID, d.Seq, cycle)
		if !covers {
			if d.Status != schedule.StatusGood {
				t.Errorf("drill %d holds no changed blob yet failed: %s", d.Seq, d.Error)
			}
			continue
		}
		failed++
		if d.Status != schedule.StatusFailed || !strings.Contains(d.Error, "blobs second") || !strings.Contains(d.Error, victim.ID) {
			t.Fatalf("drill %d over a changed blob: %s %q", d.Seq, d.Status, d.Error)
		}
		var named []string
		for id, f := range byID {
			if strings.Contains(d.Error, id) {
				named = append(named, id)
			}
			if strings.Contains(d.Error, f.Name) {
				t.Errorf("the drill's error names a file: %q", d.Error)
			}
		}
		if len(named) == 0 || strings.Contains(d.Error, "confidential") {
			t.Errorf("the drill's error names no file id, or holds content: %q", d.Error)
		}
		for _, c := range d.Checks {
			if !c.OK && (c.Step != "blobs" || c.Location != "second") {
				t.Errorf("a check failed that should not: %+v", c)
			}
		}
		text := ""
		for _, msg := range mp.WaitMessages("ops@example.com", failed) {
			if tx := mp.Text(msg.ID); strings.Contains(tx, d.ID) {
				text = tx
			}
		}
		if text == "" {
			t.Fatalf("no alert of drill %s", d.ID)
		}
		for _, want := range append([]string{"blobs from location second", victim.ID}, named...) {
			if !strings.Contains(text, want) {
				t.Errorf("the alert lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "confidential") || strings.Contains(text, "private-") {
			t.Errorf("the alert holds data:\n%s", text)
		}
	}
	if failed == 0 {
		t.Fatal("no drill of a whole cycle covered the changed blobs")
	}
}

func flipAt(t *testing.T, l location.Location, key string, off int64) {
	t.Helper()
	ctx := context.Background()
	rc, err := l.Store.Open(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[off] ^= 0x01
	if _, err := l.Store.Put(ctx, key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}
