package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/store/sqlite"
)

// TestSecondServeRefused: a second `coffer serve` on a data directory that
// a server runs on refuses to start, naming the running process; the
// first keeps serving. Once it stopped, the directory can be served again.
func TestSecondServeRefused(t *testing.T) {
	data := t.TempDir()
	s := walkServe(t, data)
	code, out, errOut := walkRun(t, "", "serve", "--addr", "127.0.0.1:0", "--data", data)
	if code != 1 || strings.Contains(out, "listening") {
		t.Fatalf("second serve: %d %q %q", code, out, errOut)
	}
	want := fmt.Sprintf("in use by `coffer serve` (pid %d)", os.Getpid())
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, data) {
		t.Errorf("second serve said %q, want it to name the data directory and %q", errOut, want)
	}
	if st := walkCall(t, "GET", s.url+"/healthz", "", nil, nil); st != 200 {
		t.Errorf("first server after the refused start: %d", st)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("stop: %d %s", code, s.stderr)
	}
	s2 := walkServe(t, data)
	s2.stop()
}

// TestCLIWhileServing: commands that change accounts while a server runs
// on the data directory go through it: the change holds at the server's
// very next request (its cached sessions are dropped), here ending
// sessions and deactivating an account. Migrate refuses while it runs.
func TestCLIWhileServing(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	s := walkServe(t, data)
	api := s.url + "/api/v1"
	login := func() string {
		var sess struct {
			Key string `json:"session_key"`
		}
		if st := walkCall(t, "POST", api+"/auth/login", "", map[string]any{"email": "ada@example.com", "password": walkPassword}, &sess); st != 200 {
			t.Fatalf("login: %d", st)
		}
		return sess.Key
	}
	key := login()
	if st := walkCall(t, "GET", api+"/auth/me", key, nil, nil); st != 200 {
		t.Fatalf("me: %d", st)
	}
	// The README's walk-through: an account created while the server runs.
	if code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "grace@example.com", "--name", "Grace", "--password-stdin"); code != 0 {
		t.Fatalf("user create while serving: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := walkRun(t, "", "user", "sessions", "--data", data, "--email", "ada@example.com", "--end"); code != 0 {
		t.Fatalf("sessions --end: %d %q %q", code, out, errOut)
	}
	if st := walkCall(t, "GET", api+"/auth/me", key, nil, nil); st != 401 {
		t.Errorf("session ended by the CLI still works on the server: %d", st)
	}
	key = login()
	if st := walkCall(t, "GET", api+"/auth/me", key, nil, nil); st != 200 {
		t.Fatalf("me: %d", st)
	}
	if code, out, errOut := walkRun(t, "", "user", "deactivate", "--data", data, "--email", "ada@example.com"); code != 0 {
		t.Fatalf("deactivate: %d %q %q", code, out, errOut)
	}
	if st := walkCall(t, "GET", api+"/auth/me", key, nil, nil); st != 401 {
		t.Errorf("session of an account deactivated by the CLI still works on the server: %d", st)
	}
	code, out, errOut := walkRun(t, "", "migrate", "--from", data, "--to", t.TempDir())
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("migrate while serving: %d %q %q", code, out, errOut)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("stop: %d %s", code, s.stderr)
	}
}

// TestCLIRefusesUnreachableHolder: when the data directory is held by a
// process the command line cannot reach (here a lock without a server),
// commands that write refuse, naming it, and change nothing.
func TestCLIRefusesUnreachableHolder(t *testing.T) {
	data := t.TempDir()
	l, err := sqlite.LockDir(data, "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("`coffer serve` (pid %d)", os.Getpid())) || !strings.Contains(errOut, "does not answer") {
		t.Errorf("user create with an unreachable server: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "coffer.db")); err == nil {
		t.Error("the refused command created coffer.db")
	}
}
