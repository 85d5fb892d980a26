package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/schedule"
)

// TestBackupHelp: the backup and restore commands answer --help with
// their flags, and serve documents the backup flags.
func TestBackupHelp(t *testing.T) {
	for _, cmd := range [][]string{{"backup", "now"}, {"backup", "list"}, {"backup", "status"}, {"backup", "verify"}, {"backup", "drill"}, {"restore"}} {
		code, out, errOut := walkRun(t, "", append(cmd, "--help")...)
		all := out + errOut
		if code != 0 || !strings.Contains(all, "Usage") || !regexp.MustCompile(`(?m)^  --backup-url( [A-Z_]+)?$`).MatchString(all) {
			t.Errorf("coffer %v --help: %d\n%s", cmd, code, all)
		}
	}
	for h, want := range map[string]string{"backup": "coffer backup now", "restore": "coffer restore --instance --from"} {
		if code, out, _ := walkRun(t, "", h, "help"); code != 0 || !strings.Contains(out, want) {
			t.Errorf("coffer %s help: %d\n%s", h, code, out)
		}
	}
	_, out, errOut := walkRun(t, "", "serve", "--help")
	for _, flag := range []string{"--backup-url", "--backup-copy-url", "--backup-at", "--backup-days", "--backup-months", "--drill-every", "--backup-off"} {
		if !strings.Contains(out+errOut, "  "+flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
	if code, _, _ := walkRun(t, "", "backup"); code != 2 {
		t.Errorf("backup without a subcommand: %d, want 2", code)
	}
}

// TestBackupFlagsChecked: bad schedule or retention values are refused
// before anything starts.
func TestBackupFlagsChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backup-at", "25:00"}, "--backup-at"},
		{[]string{"--backup-at", "4h"}, "--backup-at"},
		{[]string{"--drill-every", "10m"}, "--drill-every"},
		{[]string{"--backup-days", "0"}, "--backup-days"},
		{[]string{"--backup-url", "file:///x", "--backup-copy-url", "file:///x"}, "another place"},
		{[]string{"--backup-url", "ftp://x"}, "s3://"},
	} {
		code, _, errOut := walkRun(t, "", append([]string{"backup", "status", "--data", t.TempDir()}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: %d %s", c.args, code, errOut)
		}
	}
	// An S3 URL's secret never shows in what is printed about it.
	if got := describeLocation("s3://AKIA:s3cr3t@127.0.0.1:9000/bucket/backups?tls=false", ""); got != "s3://127.0.0.1:9000/bucket/backups" {
		t.Errorf("describeLocation = %q", got)
	}
}

// TestProgressPrinter: a bar redrawn in place on a terminal, plain lines
// otherwise, one per change.
func TestProgressPrinter(t *testing.T) {
	runs := []schedule.Run{
		{Status: "running", Phase: "snapshots", Total: 4},
		{Status: "running", Phase: "snapshots", Current: "instance", Total: 4},
		{Status: "running", Phase: "snapshots", Current: "nb_1", Done: 1, Total: 4, Bytes: 2048},
		{Status: "running", Phase: "snapshots", Current: "nb_1", Done: 1, Total: 4, Bytes: 2048},
		{Status: "running", Phase: "prune", Done: 4, Total: 4, Bytes: 4096},
		{Status: "good", Phase: "done", Done: 4, Total: 4, Bytes: 4096},
	}
	var plain bytes.Buffer
	p := newProgressPrinter(&plain)
	for _, r := range runs {
		p.update(r)
	}
	if got, want := plain.String(), "0/4 snapshots\n0/4 snapshot instance\n1/4 snapshot nb_1\n4/4 prune\n"; got != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", got, want)
	}
	var term bytes.Buffer
	p = &progressPrinter{w: &term, terminal: true}
	for _, r := range runs {
		p.update(r)
	}
	out := term.String()
	if !strings.HasPrefix(out, "\r[") || !strings.Contains(out, "[##############################] 4/4") || !strings.HasSuffix(out, "\n") ||
		strings.Count(out, "\n") != 1 || !strings.Contains(out, "4.0 KB") {
		t.Errorf("terminal progress: %q", out)
	}
	// Within a snapshot, how far it has come.
	term.Reset()
	p = &progressPrinter{w: &term, terminal: true}
	p.update(runs[2])
	p.drawn = time.Time{}
	p.snapshot(backup.Progress{Phase: "seal", Done: 1 << 20, Total: 2 << 20})
	if !strings.Contains(term.String(), "snapshot nb_1 (seal 1.0 MB/2.0 MB)") {
		t.Errorf("snapshot progress: %q", term.String())
	}
	if got := bar(schedule.Run{Done: 1, Total: 4}, 8); got != "[##......]" {
		t.Errorf("bar = %q", got)
	}
}

func TestPointID(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	id := pointID("nb_06h54zyt51ma4yqptybe289w98", at)
	nb, got, ok := parsePoint(id)
	if !ok || nb != "nb_06h54zyt51ma4yqptybe289w98" || !got.Equal(at) {
		t.Errorf("parsePoint(%q) = %q %v %v", id, nb, got, ok)
	}
	for _, bad := range []string{"bks_06h54zyt51ma4yqptybe289w98", "pit_", "pit_nb_x_12", "pit_nb_06h54zyt51ma4yqptybe289w98_", "pit_nb_06h54zyt51ma4yqptybe289w98_-5",
		"pit_nb_06h54zyt51ma4yqptybe289w98_abc"} {
		if _, _, ok := parsePoint(bad); ok {
			t.Errorf("parsePoint(%q) accepted", bad)
		}
	}
}
