package drill_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/drill"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

func mustLocation(t *testing.T, name string) location.Location {
	t.Helper()
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return location.New(name, s)
}

// TestDrillOnRealBackups: a drill of real snapshots in two locations is
// good and records its restore time; one byte changed in the second
// location's image makes the next drill fail, and the instance's
// operators get an e-mail saying where (a real SMTP server, mailpit);
// people who are not operators get none.
func TestDrillOnRealBackups(t *testing.T) {
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
	if _, err := st.CreateUser(ctx, coffer.UserInput{Email: "ops@example.com", Name: "Ops", Password: storetest.TestPassword, Operator: true}); err != nil {
		t.Fatal(err)
	}
	owner, _ := storetest.MustUser(t, st)
	var nbs []*coffer.Notebook
	for _, name := range []string{"CRM", "HR"} {
		nb := storetest.MustNotebook(t, owner, st, name)
		storetest.MustTable(t, owner, st, nb.ID, "People", coffer.ColumnInput{Name: "name", Type: coffer.TypeText})
		for _, p := range []string{"Ada", "Grace"} {
			storetest.MustRecord(t, owner, st, nb.ID, "People", map[string]any{"name": p})
		}
		nbs = append(nbs, nb)
	}
	primary, second := mustLocation(t, "primary"), mustLocation(t, "second")
	svc := backup.New(st, backup.Config{Primary: primary, Second: &second, TempDir: t.TempDir()})
	snaps := map[string]*backup.Snapshot{}
	for _, nb := range append([]string{""}, nbs[0].ID, nbs[1].ID) {
		sn, err := svc.Snapshot(ctx, nb, backup.KindDaily, false)
		if err != nil {
			t.Fatal(err)
		}
		snaps[nb] = sn
	}
	sender, err := mail.NewSender(mp.SMTP, mail.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(ctx)
	src := drill.FromService(svc, st.Core, []location.Location{primary, second})
	cfg := drill.Config{Sample: 5, Alert: drill.MailAlert(st.Core, sender, "https://coffer.example.com", slog.New(slog.DiscardHandler))}
	l := schedule.NewLedger(st.Core)

	// A drill that died left its sandbox: the next one replaces it.
	if err := st.Storage.CreateNotebook(ctx, drill.SandboxID(snaps[nbs[0].ID].ID, "primary")); err != nil {
		t.Fatal(err)
	}
	d, err := drill.Run(ctx, l, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != schedule.StatusGood || d.Notebooks != 4 || d.RestoreTime <= 0 {
		t.Fatalf("good drill = %+v", d)
	}
	last, err := drill.Last(ctx, st.Core)
	if err != nil || last.ID != d.ID || last.RestoreTime != d.RestoreTime.Truncate(time.Microsecond) {
		t.Errorf("recorded %+v, %v", last, err)
	}
	// The sandboxes were dropped: only the two notebooks' storage remain.
	ids, err := drill.Notebooks(ctx, st.Core)
	if err != nil || len(ids) != 2 {
		t.Errorf("notebooks after the drill: %v %v", ids, err)
	}

	bad := snaps[nbs[1].ID]
	key := "snapshots/" + nbs[1].ID + "/" + bad.ID + "/image"
	flipByte(t, second.Store, key)
	d, err = drill.Run(ctx, l, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != schedule.StatusFailed || !strings.Contains(d.Error, "verify second notebook "+nbs[1].ID) {
		t.Fatalf("drill after a flipped byte: %s %q", d.Status, d.Error)
	}
	for _, c := range d.Checks {
		if !c.OK && (c.Location != "second" || c.Snapshot != bad.ID) {
			t.Errorf("a check failed that should not: %+v", c)
		}
	}
	msgs := mp.WaitMessages("ops@example.com", 1)
	if msgs[0].Subject != "Coffer: a backup restore drill failed" {
		t.Errorf("subject %q", msgs[0].Subject)
	}
	text := mp.Text(msgs[0].ID)
	for _, want := range []string{"second", bad.ID, nbs[1].ID, "https://coffer.example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("the alert lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Ada") || strings.Contains(text, "Grace") {
		t.Errorf("the alert holds data:\n%s", text)
	}
	if ops, err := drill.Operators(ctx, st.Core); err != nil || strings.Join(ops, ",") != "ops@example.com" {
		t.Errorf("operators = %v, %v (the notebook owner is not one)", ops, err)
	}
}

func flipByte(t *testing.T, s blob.Store, key string) {
	t.Helper()
	ctx := context.Background()
	rc, err := s.Open(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if _, err := s.Put(ctx, key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}
