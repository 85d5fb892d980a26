package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPeerLoadCountsTimeouts: requests that time out are counted at the
// timeout, in the latencies, not dropped; errors count too, ops/s only
// the expected answers.
func TestPeerLoadCountsTimeouts(t *testing.T) {
	const timeout = 10 * time.Second
	var ok []time.Duration
	for i := 1; i <= 96; i++ {
		ok = append(ok, time.Duration(i)*time.Millisecond)
	}
	workers := []peerWorker{
		{lat: ok[:50], ok: 50},
		{lat: append(slices.Clone(ok[50:]), timeout, timeout, timeout, 200*time.Millisecond), ok: 46, to: 3, errs: 1},
	}
	res := summarizePeerLoad(workers, 2*time.Second)
	if res.Requests != 100 || res.OK != 96 || res.Timeouts != 3 || res.Errors != 1 {
		t.Errorf("counts = %+v", res)
	}
	if res.OpsPerSec != 48 {
		t.Errorf("ops/s = %v, want 48 (the 96 answers over 2 s)", res.OpsPerSec)
	}
	if res.P99 != timeout {
		t.Errorf("p99 = %v, want the timeout %v (3 of 100 requests timed out)", res.P99, timeout)
	}
	if res.P50 != 50*time.Millisecond {
		t.Errorf("p50 = %v, want 50ms", res.P50)
	}
}

// TestPeerLoadDriveTimesOut drives a server that stalls on every fifth
// request past the timeout: the stalls are counted as timeouts at the
// timeout's latency.
func TestPeerLoadDriveTimesOut(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		if r.URL.Path != "/x/a" && r.URL.Path != "/x/b" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	defer close(release)
	spec := &peerLoadSpec{Concurrency: 2, Duration: 300 * time.Millisecond, Timeout: 50 * time.Millisecond,
		Method: "GET", URL: srv.URL + "/x/{id}", IDs: []string{"a", "b"}, Status: http.StatusOK}
	if err := spec.check(); err != nil {
		t.Fatal(err)
	}
	res, err := runPeerLoad(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Timeouts == 0 || res.OK == 0 || res.Errors != 0 {
		t.Fatalf("result = %+v: want answers and timeouts, no errors", res)
	}
	if res.Requests != res.OK+res.Timeouts {
		t.Errorf("requests %d != ok %d + timeouts %d", res.Requests, res.OK, res.Timeouts)
	}
	if res.P99 != spec.Timeout {
		t.Errorf("p99 = %v, want the timeout %v (a fifth of the requests stalled)", res.P99, spec.Timeout)
	}
}

func TestPeerOrderAndMedian(t *testing.T) {
	if got := peerOrder(2); !slices.Equal(got, []int{0, 1, 1, 0}) {
		t.Errorf("peerOrder(2) = %v", got)
	}
	if got := peerOrder(3); !slices.Equal(got, []int{0, 1, 2, 2, 1, 0}) {
		t.Errorf("peerOrder(3) = %v", got)
	}
	if got := median([]float64{3, 1}); got != 2 {
		t.Errorf("median(3, 1) = %v", got)
	}
	if got := median([]time.Duration{5, 1, 3}); got != 3 {
		t.Errorf("median(5, 1, 3) = %v", got)
	}
}

// peerBinary skips the test when PocketBase cannot be built (offline, no
// module cache), unless COFFER_TEST_REQUIRE names peers.
func peerBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("bench --peers starts servers; skipped with -short")
	}
	if _, err := buildPocketBase(context.Background(), func(s string) { t.Log(s) }); err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "peers") {
			t.Fatalf("PocketBase is required (COFFER_TEST_REQUIRE) but could not be built: %v", err)
		}
		t.Skipf("skipping: PocketBase could not be built: %v", err)
	}
}

// runPeersBench runs bench --peers with tiny numbers and returns its
// output and JSON table; the temporary directory must be gone after.
func runPeersBench(t *testing.T, extra ...string) (string, peerReport) {
	peerBinary(t)
	parent := t.TempDir()
	jsonFile := filepath.Join(t.TempDir(), "peers.json")
	var out, errOut bytes.Buffer
	args := append([]string{"--peers", "--records", "300", "--duration", "200ms", "--concurrency", "4", "--dir", parent, "--json", jsonFile}, extra...)
	if err := cmdBench(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	if left, _ := filepath.Glob(filepath.Join(parent, "*")); len(left) > 0 {
		t.Errorf("bench left files behind: %v", left)
	}
	var rep peerReport
	b, err := os.ReadFile(jsonFile)
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil {
		t.Fatalf("--json: %v", err)
	}
	if len(rep.Rows) != len(peerWorkloads) {
		t.Fatalf("JSON has %d rows, want %d", len(rep.Rows), len(peerWorkloads))
	}
	for i, row := range rep.Rows {
		if row.Workload != peerWorkloads[i] || len(row.Cells) != len(rep.Servers) {
			t.Errorf("row %d: %q with %d cells, want %q with %d", i, row.Workload, len(row.Cells), peerWorkloads[i], len(rep.Servers))
		}
		for _, c := range row.Cells {
			if len(c.Runs) != 2 || c.OpsPerSec <= 0 || c.P50 <= 0 || c.P99 < c.P50 || c.Errors != 0 || c.Timeouts != 0 || c.PeakRSS == 0 {
				t.Errorf("%s on %s: %+v", row.Workload, c.Server, c)
			}
		}
		if row.CofferVsPocketBase <= 0 {
			t.Errorf("%s: no ratio", row.Workload)
		}
	}
	if rep.MinimalBefore.OK == 0 || rep.MinimalAfter.OK == 0 {
		t.Error("the minimal handler was not measured before and after")
	}
	for _, w := range peerWorkloads {
		// workload, PB ops/s p50 p99 failed, Coffer ops/s p50 p99 failed, ratio
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w) + `\s+\d+\s+\S+\s+\S+\s+0\s+\d+\s+\S+\s+\S+\s+0\s+\d+\.\d\d×`)
		if !re.MatchString(text) {
			t.Errorf("no complete row for %q", w)
		}
	}
	for _, want := range []string{"synchronous=FULL (its default pragmas", "synchronous=FULL with group commit", "PocketBase v0.39.11, Coffer (SQLite)", "keyset cursor", "Minimal Go handler"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	return text, rep
}

// TestBenchPeersRuns runs bench --peers end to end with tiny numbers.
// Timing is not checked.
func TestBenchPeersRuns(t *testing.T) {
	_, rep := runPeersBench(t)
	if len(rep.Servers) != 2 {
		t.Errorf("servers: %+v", rep.Servers)
	}
}

// TestBenchPeersPostgres adds Coffer on PostgreSQL to the rotation; its
// schemas are dropped at the end.
func TestBenchPeersPostgres(t *testing.T) {
	pg := testPostgres(t)
	text, rep := runPeersBench(t, "--db", testPostgresURL())
	if len(rep.Servers) != 3 || rep.Servers[2].Name != "Coffer (PostgreSQL)" {
		t.Fatalf("servers: %+v", rep.Servers)
	}
	for _, row := range rep.Rows {
		if row.PostgresVsSQLite <= 0 {
			t.Errorf("%s: no PostgreSQL/SQLite ratio", row.Workload)
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

func TestBenchPeersFlags(t *testing.T) {
	for _, args := range [][]string{{"--json", "x.json"}, {"--peers", "--cpuprofile", "p"}, {"--peers", "--pb-synchronous", "OFF"}} {
		var out bytes.Buffer
		if err := cmdBench(context.Background(), args, &out, &out); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}

// TestPocketBaseVersionPinned: the version the bench names (and caches the
// binary under) is the one bench/pocketbase/go.mod pins.
func TestPocketBaseVersionPinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "bench", "pocketbase", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\tgithub.com/pocketbase/pocketbase "+pocketBaseVersion+"\n") {
		t.Errorf("bench/pocketbase/go.mod does not pin github.com/pocketbase/pocketbase %s", pocketBaseVersion)
	}
}
