package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestOrgSubcommands checks each org subcommand's table entry: group
// remove undoes group add, and every subcommand that needs flags names
// the one missing.
func TestOrgSubcommands(t *testing.T) {
	cli := newCLI(t)
	cli(0, walkPassword+"\n", "user", "create", "--email", "ada@example.com", "--name", "Ada", "--password-stdin")
	org := regexp.MustCompile(`org_[0-9a-z]{26}`).FindString(cli(0, "", "org", "create", "--name", "Acme", "--owner", "ada@example.com"))
	g := regexp.MustCompile(`grp_[0-9a-z]{26}`).FindString(cli(0, "", "org", "group", "create", "--org", org, "--name", "Sales"))
	if org == "" || g == "" {
		t.Fatalf("org %q, group %q", org, g)
	}
	cli(0, "", "org", "group", "add", "--org", org, "--group", g, "--email", "ada@example.com")
	if out := cli(0, "", "org", "group", "remove", "--org", org, "--group", g, "--email", "ada@example.com"); !strings.Contains(out, "org group remove: done") {
		t.Errorf("group remove: %q", out)
	}
	if out := cli(0, "", "org", "group", "list", "--org", org); !strings.Contains(out, "Sales\t0 members") {
		t.Errorf("group list after remove: %q", out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--name", "X"}, "org create: --owner is required"},
		{[]string{"create"}, "org create: --name and --owner are required"},
		{[]string{"group", "add"}, "org group add: --email and --group and --org are required"},
		{[]string{"member", "add", "--org", org}, "org member add: --email is required"},
		{[]string{"member", "remove", "--org", org}, "org member remove: --email is required"},
		{[]string{"group", "create", "--org", org}, "org group create: --name is required"},
		{[]string{"group", "add", "--org", org, "--group", g}, "org group add: --email is required"},
		{[]string{"group", "remove", "--org", org, "--email", "ada@example.com"}, "org group remove: --group is required"},
		{[]string{"policy"}, "org policy: --org is required"},
		{[]string{"delete"}, "org delete: --org is required"},
	} {
		if out := cli(1, "", append([]string{"org"}, tt.args...)...); !strings.Contains(out, tt.want) {
			t.Errorf("org %v: %q, want %q", tt.args, out, tt.want)
		}
	}
	if out := cli(0, "", "org", "help"); !strings.Contains(out, "coffer org member add") {
		t.Errorf("org help: %q", out)
	}
	cli(2, "", "org")
}
