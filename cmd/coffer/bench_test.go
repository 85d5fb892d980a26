package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBenchRuns runs coffer bench with tiny numbers: it must complete,
// print every row and remove its data directory. Timing is not checked.
func TestBenchRuns(t *testing.T) {
	parent := t.TempDir() // fsync speed does not matter here
	var out, errOut bytes.Buffer
	args := []string{"--records", "1500", "--duration", "200ms", "--concurrency", "4", "--dir", parent, "--file-size", "3MB", "--backup-size", "0", "--backup-files", "0"}
	if err := cmdBench(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)

	for _, w := range []string{"get", "list", "create", "update"} {
		// workload, ops/s, p50, p99, errors 0, limit..., ratio, target, met
		re := regexp.MustCompile(`(?m)^` + w + `\s+\d+\s+\S+\s+\S+\s+0\s+L[12] .*\s\d+\.\d\d\s+≥ 0\.50\s+(yes|no)$`)
		if !re.MatchString(text) {
			t.Errorf("no complete row for workload %q", w)
		}
	}
	for _, name := range []string{
		"L1 minimal Go handler (fixed JSON)", "L2 SQL get by id", "L2 SQL filtered sorted page",
		"L2 SQL insert tx (FULL)", "L2 SQL insert tx (NORMAL)", "L2 SQL update tx (FULL)",
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+\d+\s+\S+\s+\S+\s+0$`)
		if !re.MatchString(text) {
			t.Errorf("no row for limit %q", name)
		}
	}
	for _, want := range []string{
		"loaded 1500 records", "Cost of durability", "synchronous=FULL", "resident set (VmHWM):", "Go heap in use:", "target: < 200 MB",
		"Time travel (one client): as_of of one record, 1000 revisions: median",
		"time of an encrypted page vs a text page:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, w := range []string{wlPagePlain, wlPageEncrypted} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w) + `\s+\d+\s+\S+\s+\S+\s+0$`).MatchString(text) {
			t.Errorf("no row for %q", w)
		}
	}
	// The file transfers: both rows complete, and the file came back whole.
	for _, re := range []string{
		`(?m)^plain copy \(read, write, fsync\)\s+\S+ / \S+\s+\d+\s+\d+ MB / \d+ MB`,
		`(?m)^upload over HTTP \(multipart, streamed\)\s+\S+\s+\d+\s+\d+\.\d\d×\s+≥ 0\.7×\s+\d+ MB\s+< 64 MB\s+(yes|no)$`,
		`(?m)^download over HTTP \(/files/\{id\} to a file, fsync\)\s+\S+\s+\d+\s+\d+\.\d\d×\s+≥ 0\.7×\s+\d+ MB\s+< 64 MB\s+(yes|no)$`,
		`one file of 3145728 bytes`, `the file came back byte for byte \(SHA-256 [0-9a-f]{16}…`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
	m := regexp.MustCompile(`data directory: (\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("output does not name the data directory")
	}
	if filepath.Dir(m[1]) != parent {
		t.Errorf("data directory %s is not under --dir %s", m[1], parent)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, "coffer-bench-*")); len(left) > 0 {
		t.Errorf("bench left its data directory behind: %v", left)
	}
}

// TestBenchRunsPostgres runs coffer bench --db with tiny numbers: every
// row must be printed and the bench's schemas dropped at the end.
func TestBenchRunsPostgres(t *testing.T) {
	pg := testPostgres(t)
	var out, errOut bytes.Buffer
	args := []string{"--records", "1500", "--duration", "200ms", "--concurrency", "4", "--dir", t.TempDir(), "--db", testPostgresURL(), "--nodes", "2", "--backup-size", "0", "--backup-files", "0"}
	if err := cmdBench(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, w := range []string{"get", "list", "create", "update"} {
		re := regexp.MustCompile(`(?m)^` + w + `\s+\d+\s+\S+\s+\S+\s+0\s+L[12] .*\s\d+\.\d\d\s+≥ 0\.50\s+(yes|no)$`)
		if !re.MatchString(text) {
			t.Errorf("no complete row for workload %q", w)
		}
	}
	for _, name := range []string{
		"L1 minimal Go handler (fixed JSON)", "L2 SQL get by id", "L2 SQL filtered sorted page",
		"L2 SQL insert tx (sync commit on)", "L2 SQL insert tx (sync commit off)", "L2 SQL update tx (sync commit on)",
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+\d+\s+\S+\s+\S+\s+0$`)
		if !re.MatchString(text) {
			t.Errorf("no row for limit %q", name)
		}
	}
	if !strings.Contains(text, "synchronous_commit=on") {
		t.Error("output lacks the cost of durability")
	}
	for _, re := range []string{`one node \d+ ops/s, two nodes \d+ ops/s: \d+\.\d\d×`, `get by id\s+\d+\s+\d+\s+\S+\s+\d+\.\d\d×`, `validate session key\s+\d+`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
	m := regexp.MustCompile(`schema (coffer_bench_[a-z0-9]+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("output does not name the schema")
	}
	var n int
	if err := pg.QueryRow("SELECT count(*) FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')", m[1]).Scan(&n); err != nil || n != 0 {
		t.Errorf("bench left %d schemas behind (%v)", n, err)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--records", "0"}, {"--duration", "0s"}, {"--file-size", "-1"}, {"--file-size", "big"}, {"--concurrency", "0"}, {"extra"}, {"--nodes", "2"}, {"--nodes", "3", "--db", "postgres://x"},
	} {
		var out bytes.Buffer
		if err := cmdBench(context.Background(), args, &out, &out); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}

func TestPercentile(t *testing.T) {
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
	var s []time.Duration
	for _, n := range []int{7, 1, 10, 4, 2, 9, 3, 6, 8, 5} {
		s = append(s, time.Duration(n))
	}
	if p50, p99 := percentile(s, 0.5), percentile(s, 0.99); p50 != 5 || p99 != 9 {
		t.Errorf("p50, p99 of 1..10 = %v, %v; want 5, 9", int64(p50), int64(p99))
	}
}
