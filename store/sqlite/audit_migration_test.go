package sqlite_test

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
)

// TestAuditMigration: an instance made before the audit log keeps its
// authentication events: migration 0010 moves them into the log, in
// their order, the first start seals them (records and hashes), the log
// verifies and goes on from there; auth_events is gone.
func TestAuditMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	older := fstest.MapFS{}
	entries, err := os.ReadDir("migrations/instance")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "0010" {
			b, err := fs.ReadFile(os.DirFS("migrations/instance"), e.Name())
			if err != nil {
				t.Fatal(err)
			}
			older[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	scratch, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := scratch.Dialect()
	scratch.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, d, db, "", older, "."); err != nil {
		t.Fatal(err)
	}
	old := []struct{ kind, user, email, ip, detail string }{
		{coffer.EventLoginFailed, "usr_1", "ada@example.com", "192.0.2.1", "password"},
		{coffer.EventLoginSucceeded, "usr_1", "ada@example.com", "192.0.2.1", "password"},
		{coffer.EventResetRequested, "", "nobody@example.com", "192.0.2.2", "no active account"},
	}
	for i, e := range old {
		var uid any
		if e.user != "" {
			uid = e.user
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO auth_events (id, at, kind, user_id, email, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
			coffer.NewID(coffer.PrefixEvent), 1_700_000_000_000_000+int64(i), e.kind, uid, e.email, e.ip, e.detail); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := all.New(b, keyring.ForTests())
	if err := s.Identity.Audit.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "", 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events after the migration: %d, %v", len(evs), err)
	}
	for i, e := range evs {
		o := old[len(old)-1-i] // newest first
		if e.ID != strconv.Itoa(2-i) || e.Kind != o.kind || e.UserID != o.user || e.Email != o.email || e.IP != o.ip || e.Detail != o.detail {
			t.Errorf("event %d = %+v, want %+v", i, e, o)
		}
	}
	if err := b.Instance().R.QueryRowContext(ctx, "SELECT count(*) FROM auth_events").Scan(new(int)); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("auth_events after the migration: %v", err)
	}
	k, err := audit.LoadOrCreateKey(t.TempDir(), "coffer.local/audit/test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, coffer.UserInput{Email: "ada@example.com", Name: "Ada", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.Audit.Checkpoint(ctx, k, audit.Sink{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Identity.Audit.Verify(ctx, k, nil)
	if err != nil || r.Size != 4 || r.Checkpoints != 1 {
		t.Errorf("Verify: %+v, %v", r, err)
	}
}
