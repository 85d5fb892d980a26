package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestOrgCLI walks the organization commands on one data directory.
func TestOrgCLI(t *testing.T) {
	t.Setenv("COFFER_DB", "")
	t.Setenv("COFFER_DATA", t.TempDir())
	cli := func(wantCode int, stdin string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr); code != wantCode {
			t.Fatalf("coffer %s: exit %d, want %d: %s%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
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
