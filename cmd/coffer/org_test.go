package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// newCLI runs command lines on a fresh data directory of t and returns
// their output; an exit code other than wantCode fails the test.
func newCLI(t *testing.T) func(wantCode int, stdin string, args ...string) string {
	t.Setenv("COFFER_DB", "")
	t.Setenv("COFFER_DATA", t.TempDir())
	return func(wantCode int, stdin string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr); code != wantCode {
			t.Fatalf("coffer %s: exit %d, want %d: %s%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
}

// TestOrgCLI walks the organization commands on one data directory.
func TestOrgCLI(t *testing.T) {
	cli := newCLI(t)
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	cli(0, walkPassword+"\n", "user", "create", "--email", "bob@example.com", "--name", "Bob", "--password-stdin")
	out := cli(0, "", "org", "create", "--name", "Acme", "--owner", "ada@example.com")
	m := regexp.MustCompile(`id (org_[0-9a-z]{26})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("org create printed %q", out)
	}
	org := m[1]
	if out := cli(0, "", "org", "list"); !strings.Contains(out, org) || !strings.Contains(out, "Acme") {
		t.Errorf("org list: %q", out)
	}
	cli(0, "", "org", "member", "add", "--org", org, "--email", "bob@example.com", "--role", "org-admin")
	if out := cli(0, "", "org", "members", "--org", org); !strings.Contains(out, "bob@example.com\torg-admin") || !strings.Contains(out, "ada@example.com\torg-owner") {
		t.Errorf("org members: %q", out)
	}
	out = cli(0, "", "org", "group", "create", "--org", org, "--name", "Sales")
	g := regexp.MustCompile(`grp_[0-9a-z]{26}`).FindString(out)
	cli(0, "", "org", "group", "add", "--org", org, "--group", g, "--email", "bob@example.com")
	if out := cli(0, "", "org", "group", "list", "--org", org); !strings.Contains(out, "Sales\t1 members") {
		t.Errorf("group list: %q", out)
	}
	cli(1, "", "org", "member", "remove", "--org", org, "--email", "ada@example.com") // the last owner
	if out := cli(0, "", "org", "policy", "--org", org, "--json", `{"min_length":6,"require_lower":true,"require_upper":true,"require_digit":true,"password_history":5}`); !strings.Contains(out, `"password_history": 5`) {
		t.Errorf("org policy: %q", out)
	}
	cli(1, "", "org", "policy", "--org", org, "--json", `{"min_length":2}`)
	cli(1, "", "org", "policy", "--org", org, "--json", `{"nonsense":true}`)
	cli(0, "", "user", "deactivate", "--email", "bob@example.com")
	cli(0, "", "user", "reactivate", "--email", "bob@example.com")
	cli(0, "", "org", "member", "remove", "--org", org, "--email", "bob@example.com")
	cli(0, "", "org", "delete", "--org", org)
	cli(2, "", "org", "bogus")
}

// TestUserSessionsCLI: an operator lists an account's sessions and keys,
// and ends them all at once.
func TestUserSessionsCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("COFFER_DB", "")
	t.Setenv("COFFER_DATA", dir)
	cli := func(wantCode int, stdin string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr); code != wantCode {
			t.Fatalf("coffer %s: exit %d, want %d: %s%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	if out := cli(0, "", "user", "sessions", "--email", "ada@example.com"); !strings.Contains(out, "no open session") {
		t.Errorf("user sessions before any login: %q", out)
	}
	ctx := context.Background()
	st, closeStore, err := openStore(ctx, &storeConfig{dataDir: dir}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Login(ctx, "ada@example.com", walkPassword)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Authenticate(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	key, err := st.CreateAPIKey(coffer.WithCaller(ctx, c), coffer.APIKeyInput{Name: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	closeStore()

	out := cli(0, "", "user", "sessions", "--email", "ada@example.com")
	if !strings.Contains(out, c.SessionID) || !strings.Contains(out, key.ID) || strings.Contains(out, res.Key) || strings.Contains(out, key.Key) {
		t.Errorf("user sessions: %q; want the session and key ids, never the secrets", out)
	}
	if out := cli(0, "", "user", "sessions", "--email", "ada@example.com", "--end"); !strings.Contains(out, "ended 1 sessions and revoked 1 API keys") {
		t.Errorf("user sessions --end: %q", out)
	}
	st, closeStore, err = openStore(ctx, &storeConfig{dataDir: dir}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	for _, k := range []string{res.Key, key.Key} {
		if _, err := st.Authenticate(ctx, k); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
			t.Errorf("after --end, a key still authenticates: %v", err)
		}
	}
	cli(1, "", "user", "sessions", "--email", "nobody@example.com")
}
