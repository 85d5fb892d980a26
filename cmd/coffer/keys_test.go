package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/keyring"
)

// sealInStore opens the store of data as the command line does, seals
// plaintext under the instance key (which creates the data key) and
// returns it.
func sealInStore(t *testing.T, data string, plaintext string) []byte {
	t.Helper()
	st, closeStore, err := openStore(context.Background(), &storeConfig{dataDir: data}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	sealed, err := st.Ring().Seal(context.Background(), keyring.Instance, "cli:1", []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// openInStore opens a sealed value through a store opened as the
// command line does.
func openInStore(t *testing.T, data string, sealed []byte) string {
	t.Helper()
	st, closeStore, err := openStore(context.Background(), &storeConfig{dataDir: data}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	pt, err := st.Ring().Open(context.Background(), keyring.Instance, "cli:1", sealed)
	if err != nil {
		t.Fatal(err)
	}
	return string(pt)
}

// TestKeysCLI: the first command creates master.key (0600) with a loud
// warning; keys status and keys rotate (while a server runs) print what
// they see and do; old values still open; without the key file, or with
// another one, serve and the other commands refuse, naming the file.
func TestKeysCLI(t *testing.T) {
	t.Setenv("COFFER_MASTER_KEY_FILE", "")
	cli := newCLI(t)
	data := os.Getenv("COFFER_DATA")
	keyFile := filepath.Join(data, "master.key")
	out := cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	if !strings.Contains(out, "created a new master key file: "+keyFile) || !strings.Contains(out, "KEEP A COPY") || !strings.Contains(out, "lost") {
		t.Errorf("first run printed %q: want the warning naming %s", out, keyFile)
	}
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, mode %v", err, fi)
	}
	if out := cli(0, "", "history", "prune"); strings.Contains(out, "created a new master key") {
		t.Errorf("second command warned again: %q", out)
	}
	cli(2, "", "keys")
	if out := cli(0, "", "keys", "help"); !strings.Contains(out, "coffer keys rotate") {
		t.Errorf("keys help: %q", out)
	}
	first := mustMaster(t, keyFile).Current()
	sealed := sealInStore(t, data, "kept across rotation")

	out = cli(0, "", "keys", "status")
	if !strings.Contains(out, first+" (current)") || !regexpMatch(`instance\s+1\s+0\s+0\s+`+first, out) {
		t.Errorf("keys status: %q", out)
	}
	keyBytes, _ := os.ReadFile(keyFile)
	if line := strings.Fields(strings.Split(string(keyBytes), first)[1])[1]; strings.Contains(out, line) {
		t.Error("keys status prints key material")
	}

	srv := walkServe(t, data)
	out = cli(0, "", "keys", "rotate")
	if srv.stop() != 0 {
		t.Fatalf("serve: %s", srv.stderr)
	}
	second := mustMaster(t, keyFile).Current()
	if second == first || !strings.Contains(out, "added master key "+second) || !strings.Contains(out, "re-wrapped 1 data key(s) under "+second) ||
		!strings.Contains(out, "new current data key in 1 scope(s)") {
		t.Errorf("keys rotate (first %s, now %s): %q", first, second, out)
	}
	if ids := mustMaster(t, keyFile).IDs(); len(ids) != 2 || ids[0] != first {
		t.Errorf("key file after rotation holds %v, want the old key kept", ids)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after rotation %v", fi.Mode().Perm())
	}
	if out := cli(0, "", "keys", "status"); !regexpMatch(`instance\s+1\s+1\s+0\s+`+second, out) {
		t.Errorf("keys status after rotation: %q", out)
	}
	if got := openInStore(t, data, sealed); got != "kept across rotation" {
		t.Errorf("after rotation: %q", got)
	}

	// Without the key file: every command that opens the store refuses.
	hidden := filepath.Join(t.TempDir(), "master.key")
	if err := os.Rename(keyFile, hidden); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", data}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "refusing to start") || !strings.Contains(stderr.String(), keyFile) || !strings.Contains(stderr.String(), second) {
		t.Errorf("serve without the key file: exit %d, %q", code, stderr.String())
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("serve created a new key file over encrypted data")
	}
	if out := cli(1, "", "keys", "status"); !strings.Contains(out, keyFile) {
		t.Errorf("keys status without the key file: %q", out)
	}
	// Another key file: refused, naming it and the missing key.
	other := filepath.Join(t.TempDir(), "other.key")
	if _, _, err := keyring.LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COFFER_MASTER_KEY_FILE", other)
	if out := cli(1, "", "history", "prune"); !strings.Contains(out, other) || !strings.Contains(out, second) {
		t.Errorf("history prune with another key file: %q", out)
	}
	// The right file, named by COFFER_MASTER_KEY_FILE, opens it; a mode
	// looser than 0600 is warned about.
	t.Setenv("COFFER_MASTER_KEY_FILE", hidden)
	if out := cli(0, "", "history", "prune"); strings.Contains(out, "readable by others") {
		t.Errorf("warned about a 0600 file: %q", out)
	}
	if err := os.Chmod(hidden, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := cli(0, "", "history", "prune"); !strings.Contains(out, "WARNING: the master key file "+hidden+" is readable by others (mode 0644)") {
		t.Errorf("no warning about a 0644 key file: %q", out)
	}
}

func mustMaster(t *testing.T, path string) *keyring.Master {
	t.Helper()
	m, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// regexpMatch reports whether s matches the regular expression re.
func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
