package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateCommand(t *testing.T) {
	t.Setenv("COFFER_MASTER_KEY_FILE", "")
	from, to := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	if code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", from, "--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := walkRun(t, "", "migrate", "--from", from, "--to", to)
	if code != 0 || !strings.Contains(out, "identical on both sides") || !strings.Contains(out, "users") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(to, "coffer.db")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(to, "master.key")); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(out, "copied master.key") {
		t.Fatalf("master.key in the copy: %v %v (%q)", err, fi, out)
	}
	// Again: the destination is no longer empty.
	if code, _, errOut := walkRun(t, "", "migrate", "--from", from, "--to", to); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("migrate into a non-empty destination: %d %q", code, errOut)
	}
	// A source that holds no instance is refused and not created.
	missing := filepath.Join(t.TempDir(), "nothing")
	if code, _, errOut := walkRun(t, "", "migrate", "--from", missing, "--to", t.TempDir()); code != 1 || !strings.Contains(errOut, "no Coffer instance") {
		t.Fatalf("migrate from nothing: %d %q", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("the missing source was created: %v", err)
	}
	if code, _, _ := walkRun(t, "", "migrate", "--from", from); code != 1 {
		t.Fatalf("migrate without --to: %d", code)
	}
	// Encrypted data: the copy opens with the key file carried along; a
	// source without its key file is refused, naming the file.
	sealed := sealInStore(t, from, "secret value")
	to2 := filepath.Join(t.TempDir(), "copy2")
	if code, out, errOut := walkRun(t, "", "migrate", "--from", from, "--to", to2); code != 0 || !strings.Contains(out, "copied master.key") {
		t.Fatalf("migrate with data keys: %d %q %q", code, out, errOut)
	}
	if got := openInStore(t, to2, sealed); got != "secret value" {
		t.Fatalf("the copy opens %q", got)
	}
	if err := os.Rename(filepath.Join(from, "master.key"), filepath.Join(t.TempDir(), "away")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := walkRun(t, "", "migrate", "--from", from, "--to", filepath.Join(t.TempDir(), "copy3")); code != 1 || !strings.Contains(errOut, filepath.Join(from, "master.key")) {
		t.Fatalf("migrate without the source's key file: %d %q", code, errOut)
	}
	if got := redactURL("postgres://u:secret@h/db"); got != "postgres://u:***@h/db" {
		t.Fatalf("redactURL = %q", got)
	}
}
