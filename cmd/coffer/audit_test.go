package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/audit"
)

// TestAuditCLI walks the audit commands on one data directory: the key
// (made once, 0600), checkpoints, verify, prove, prune, and verify's
// failure, naming the entry, after an entry is edited in the database.
func TestAuditCLI(t *testing.T) {
	cli := newCLI(t)
	data := os.Getenv("COFFER_DATA")
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	cli(0, walkPassword+"\n", "user", "create", "--email", "bob@example.com", "--name", "Bob", "--password-stdin")
	key := strings.TrimSpace(cli(0, "", "audit", "key"))
	if !regexp.MustCompile(`^coffer\.local/audit/[a-z2-7]{26}\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$`).MatchString(key) {
		t.Fatalf("audit key printed %q", key)
	}
	if st, err := os.Stat(filepath.Join(data, audit.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	if again := strings.TrimSpace(cli(0, "", "audit", "key")); again != key {
		t.Errorf("the key changed: %q then %q", key, again)
	}
	if out := cli(0, "", "audit", "checkpoint"); !strings.Contains(out, "signed the checkpoint of 2 entries") || !strings.Contains(out, "coffer.local/audit/") {
		t.Errorf("audit checkpoint: %q", out)
	}
	cli(0, "", "user", "deactivate", "--email", "bob@example.com")
	cli(0, "", "audit", "checkpoint")
	if out := cli(0, "", "audit", "verify"); !strings.Contains(out, "3 entries (0 pruned), 2 checkpoints in the database, 2 in audit-checkpoints") || !strings.Contains(out, "ok:") {
		t.Errorf("audit verify: %q", out)
	}
	if out := cli(0, "", "audit", "prove", "2"); !strings.Contains(out, `"kind":"user.deactivated"`) || !strings.Contains(out, `"actor":"cli"`) ||
		!strings.Contains(out, "ok: entry 2 is in the checkpoint of 3 entries") {
		t.Errorf("audit prove 2: %q", out)
	}
	cli(1, "", "audit", "prove", "3")
	cli(1, "", "audit", "prove", "x")
	cli(1, "", "audit", "prune")
	if out := cli(0, "", "audit", "prune", "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); !strings.Contains(out, "pruned entries 0 to 2") {
		t.Errorf("audit prune: %q", out)
	}
	cli(0, "", "user", "reactivate", "--email", "bob@example.com")
	if out := cli(0, "", "audit", "checkpoint"); !strings.Contains(out, "coffer-dropped 0 3") {
		t.Errorf("the checkpoint after pruning: %q", out)
	}
	if out := cli(0, "", "audit", "verify"); !strings.Contains(out, "4 entries (3 pruned)") || !strings.Contains(out, "ok:") {
		t.Errorf("audit verify after pruning: %q", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(data, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "UPDATE audit_entries SET detail = 'by nobody' WHERE idx = 3"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out := cli(1, "", "audit", "verify"); !strings.Contains(out, "FAILED: entry 3 is the first that does not fit") {
		t.Errorf("audit verify after an edit: %q", out)
	}
}

// TestServeCheckpointsAudit: the server signs a checkpoint when it stops
// cleanly, into the database, the checkpoints file and its log.
func TestServeCheckpointsAudit(t *testing.T) {
	data := t.TempDir()
	t.Setenv("COFFER_DATA", data)
	cli := newCLI(t)
	t.Setenv("COFFER_DATA", data)
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	srv := walkServe(t, data)
	if walkCall(t, "POST", srv.url+"/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": walkPassword}, nil) != 200 {
		t.Fatal("login failed")
	}
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve exited with %d: %s", code, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), `"msg":"audit checkpoint","size":2`) {
		t.Errorf("no checkpoint of 2 entries in the server log: %s", srv.stderr)
	}
	notes, err := audit.ReadCheckpointsFile(data)
	if err != nil || len(notes) != 1 || !strings.Contains(string(notes[0]), "\n2\n") {
		t.Errorf("checkpoints file: %q, %v", notes, err)
	}
	if out := cli(0, "", "audit", "verify"); !strings.Contains(out, "2 entries (0 pruned), 1 checkpoints in the database, 1 in audit-checkpoints") {
		t.Errorf("audit verify: %q", out)
	}
}

// TestMigrateCarriesAudit: coffer migrate between data directories
// copies the signing key and the checkpoints file with the log, and the
// copy verifies.
func TestMigrateCarriesAudit(t *testing.T) {
	cli := newCLI(t)
	from, to := os.Getenv("COFFER_DATA"), filepath.Join(t.TempDir(), "copy")
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	cli(0, "", "audit", "checkpoint")
	if out := cli(0, "", "migrate", "--from", from, "--to", to); !strings.Contains(out, "copied audit.key") || !strings.Contains(out, "copied audit-checkpoints") {
		t.Errorf("migrate: %q", out)
	}
	if out := cli(0, "", "audit", "verify", "--data", to); !strings.Contains(out, "1 entries (0 pruned), 1 checkpoints in the database, 1 in audit-checkpoints") {
		t.Errorf("audit verify of the copy: %q", out)
	}
	if st, err := os.Stat(filepath.Join(to, audit.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the copied key: %v", err)
	}
}
