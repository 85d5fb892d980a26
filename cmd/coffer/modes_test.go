package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cofferhq/coffer"
)

// looseModes lists what under dir is not 0600 (files) or 0700 (folders).
func looseModes(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			rel, _ := filepath.Rel(dir, path)
			bad = append(bad, rel+" "+fi.Mode().String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return bad
}

// TestDataDirModes: under umask 0, every file the CLI and the server create
// in a fresh data directory is 0600 and every folder 0700, while the server
// runs (WAL and shared-memory files present) and after it stopped. The
// umask is process-wide, so the scenario runs in a child process.
func TestDataDirModes(t *testing.T) {
	if dir := os.Getenv("COFFER_TEST_MODES_DIR"); dir != "" {
		syscall.Umask(0)
		modesScenario(t, dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDataDirModes$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "COFFER_TEST_MODES_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestDataDirModes") {
		t.Fatalf("child did not run the scenario:\n%s", out)
	}
	if bad := looseModes(t, dir); len(bad) > 0 {
		t.Errorf("after the child exited, looser than 0600/0700: %v", bad)
	}
}

func modesScenario(t *testing.T, data string) {
	code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "ada@example.com", "--name", "Ada Lovelace", "--password-stdin")
	if code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	s := walkServe(t, data)
	api := s.url + "/api/v1"
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", api+"/auth/login", "", map[string]any{"email": "ada@example.com", "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login: %d", st)
	}
	var nb coffer.Notebook
	if st := walkCall(t, "POST", api+"/notebooks", sess.Key, map[string]any{"name": "CRM"}, &nb); st != 201 {
		t.Fatalf("create notebook: %d", st)
	}
	if st := walkCall(t, "POST", api+"/notebooks/"+nb.ID+"/tables", sess.Key, map[string]any{
		"name": "Contacts", "columns": []map[string]any{{"name": "Name", "type": "text"}},
	}, nil); st != 201 {
		t.Fatalf("create table: %d", st)
	}
	for range 3 {
		if st := walkCall(t, "POST", api+"/notebooks/"+nb.ID+"/tables/Contacts/records", sess.Key, map[string]any{"fields": map[string]any{"Name": "Ada"}}, nil); st != 201 {
			t.Fatalf("create record: %d", st)
		}
	}
	// A second account created by the CLI while the server runs.
	code, out, errOut = walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "grace@example.com", "--name", "Grace Hopper", "--password-stdin")
	if code != 0 {
		t.Fatalf("user create while serving: %d %q %q", code, out, errOut)
	}
	for _, f := range []string{"coffer.db-wal", "coffer.db-shm", "notebooks/" + nb.ID + ".db-wal"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("expected %s while the server runs: %v", f, err)
		}
	}
	if bad := looseModes(t, data); len(bad) > 0 {
		t.Errorf("while serving, looser than 0600/0700: %v", bad)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited with %d: %s", code, s.stderr)
	}
	if bad := looseModes(t, data); len(bad) > 0 {
		t.Errorf("after stopping, looser than 0600/0700: %v", bad)
	}
}
