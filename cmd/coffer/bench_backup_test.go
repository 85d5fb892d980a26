package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup"
)

// checkBackupReport checks that the backup section of a bench report has
// every row, complete. Timing is not checked.
func checkBackupReport(t *testing.T, text, backend string) {
	t.Helper()
	for _, re := range []string{
		`(?m)^Backups \(` + backend + `; a notebook of \d+\.\d MiB, \d+ records loaded in \S+;`,
		`(?m)^snapshot and seal, \d writers running\s+\S+\s+≤ 30s\s+\d+\.\d\d\s+at 1 GiB only$`,
		`(?m)^writes during the snapshot vs normal\s+\d+/s vs \d+/s\s+≥ 0\.8×\s+\d+\.\d\d\s+(yes|no)$`,
		`(?m)^restore whole notebook \(image \+ load\)\s+\S+ \(\S+ \+ \S+\)\s+≤ 1m0s\s+\d+\.\d\d\s+at 1 GiB only$`,
		`(?m)^restore one record, first from the snapshot \(loads its sandbox\)\s+\S+\s+≤ 2s\s+\d+\.\d\d\s+at 1 GiB only$`,
		`(?m)^restore one record, sandbox loaded\s+\S+\s+≤ 2s\s+\d+\.\d\d\s+(yes|no)$`,
		`(?m)^writer alone: \d+/s before, \d+/s after \(normal: their mean\); during: \d+ writes, 0 errors; beside one goroutine that only spins \(a core of \d+ taken\): \d+/s \(\d+\.\d\d×\)$`,
		`(?m)^writes by phase of the snapshot: [a-z]+ \S+ \d+/s \(\d+\.\d\d×\)(, [a-z]+ \S+ \d+/s \(\d+\.\d\d×\))*$`,
		`(?m)^writes by phase of the snapshot: (.*, )?image \S+ \d+/s.*, seal \S+ \d+/s`,
		`(?m)^snapshot \S+: \d+ rows, sealed image \d+\.\d MiB \(\d+\.\d\d× the database\); restored \d+ records`,
		`(?m)^Unchanged file store backed up again \(2\.0 MiB in \d+ blobs, \d+ of them packed`,
		`(?m)^first\s+\S+\s+\d+ bytes\s+\d+\s+\d+ bytes\s+\d+\.\d{4}%\s*$`,
		`(?m)^second, unchanged\s+\S+\s+\d+ bytes\s+\d+\s+\d+ bytes\s+\d+ bytes\s+\d+\.\d{4}%\s+≤ 1%\s+(yes|no)$`,
		`(?m)^  RPO: \S+ \(.+\); target ≤ 1m0s: (yes|no)$`,
		`(?m)^  RTO: \S+, the measured restore of the whole notebook of \d+\.\d MiB \(one record: \S+, \S+ once its snapshot is loaded\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
}

// TestBenchBackupRuns runs the backup workloads alone with tiny sizes: the
// report has every row and the data directory is removed.
func TestBenchBackupRuns(t *testing.T) {
	parent := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"--backup-only", "--backup-size", "3MB", "--backup-files", "2MB", "--duration", "200ms", "--concurrency", "2", "--dir", parent, "--ship-interval", "300ms"}
	if err := cmdBench(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	checkBackupReport(t, text, "SQLite")
	for _, re := range []string{
		`(?m)^  RPO: \S+ \(WAL shipped every 300ms: .*worst of 8 random moments; median \S+; bound: the interval\); target`,
		`(?m)^  shipping: \d+ writes \(one per 20ms\), \d+ segments, \d+\.\d MiB shipped; at most \d+ acknowledged writes lost at one moment, \d+ of them acknowledged an interval or more before it \(promised: 0\); a point-in-time restore took \S+ \(median\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
	if strings.Contains(text, "HTTP workloads") {
		t.Error("--backup-only ran the HTTP workloads")
	}
	if left, _ := filepath.Glob(filepath.Join(parent, "coffer-bench-*")); len(left) > 0 {
		t.Errorf("bench left its data directory behind: %v", left)
	}
}

// TestBenchBackupRunsPostgres is TestBenchBackupRuns on PostgreSQL: the
// bench's schemas, the restored notebook's included, are dropped at the end.
func TestBenchBackupRunsPostgres(t *testing.T) {
	pg := testPostgres(t)
	var out, errOut bytes.Buffer
	args := []string{"--backup-only", "--backup-size", "3MB", "--backup-files", "2MB", "--duration", "200ms", "--concurrency", "2", "--dir", t.TempDir(), "--db", testPostgresURL()}
	if err := cmdBench(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	checkBackupReport(t, text, "PostgreSQL")
	if !strings.Contains(text, "RPO: 24h0m0s (snapshots only (one a day); PostgreSQL's WAL archiving") {
		t.Error("on PostgreSQL the RPO is not the snapshots' own")
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

// TestBenchFileStoreBackup backs up a small file store twice: the first
// backup writes at least every byte, the second (nothing changed) writes
// next to nothing.
func TestBenchFileStoreBackup(t *testing.T) {
	res, err := runFileStoreBackup(context.Background(), t.TempDir(), 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.bytes != 3<<20 || res.blobs < 10 || res.small == 0 || res.small == res.blobs {
		t.Errorf("file store of %d bytes in %d blobs (%d small): want 3 MiB, small and large blobs", res.bytes, res.blobs, res.small)
	}
	if res.first.written < res.bytes || res.first.objects == 0 {
		t.Errorf("first backup wrote %d bytes in %d objects of a %d-byte store", res.first.written, res.first.objects, res.bytes)
	}
	if res.second.written != 0 || res.second.objects != 0 {
		t.Errorf("second backup of an unchanged store wrote %d bytes in %d objects", res.second.written, res.second.objects)
	}
	// The manifest lists each blob in one JSON entry of about 150 bytes.
	if per := res.listBytes / int64(res.blobs); per < 100 || per > 300 {
		t.Errorf("the manifest's list of %d blobs takes %d bytes", res.blobs, res.listBytes)
	}
	if want := float64(res.listBytes) / float64(res.bytes); res.share() != want {
		t.Errorf("share of the second backup = %v, want %v (the list alone)", res.share(), want)
	}
}

func TestBenchBackupFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--backup-size", "-1"}, {"--backup-size", "big"}, {"--backup-files", "1XB"},
		{"--backup-only", "--backup-size", "0", "--backup-files", "0"}, {"--backup-only", "--peers"},
	} {
		var out bytes.Buffer
		if err := cmdBench(context.Background(), args, &out, &out); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}

// TestPhaseLog checks the writer's rates by phase of a snapshot: phases in
// order, each with the writes that finished in it, none before "start"
// or after "end", none shorter than 10 ms.
func TestPhaseLog(t *testing.T) {
	l := &phaseLog{}
	op := l.counted(func(context.Context, *rand.Rand) error { return nil })
	fail := l.counted(func(context.Context, *rand.Rand) error { return errors.New("no") })
	op(context.Background(), nil) // before start: not in any phase
	l.progress(backup.Progress{Phase: "image"})
	l.mark("start")
	l.progress(backup.Progress{Phase: "image"})
	for range 3 {
		op(context.Background(), nil)
		fail(context.Background(), nil)
	}
	time.Sleep(20 * time.Millisecond)
	l.progress(backup.Progress{Phase: "seal", Done: 1})
	l.progress(backup.Progress{Phase: "seal", Done: 2}) // the same phase again
	op(context.Background(), nil)
	time.Sleep(20 * time.Millisecond)
	l.progress(backup.Progress{Phase: "done"}) // under 10 ms: left out
	l.mark("end")
	l.progress(backup.Progress{Phase: "image"}) // after end: ignored
	got := l.rates()
	if len(got) != 2 || got[0].phase != "image" || got[1].phase != "seal" {
		t.Fatalf("phases %+v, want image then seal", got)
	}
	for i, want := range []int{3, 1} {
		if n := got[i].rate * got[i].took.Seconds(); n < float64(want)-0.01 || n > float64(want)+0.01 {
			t.Errorf("phase %s: %.2f writes, want %d", got[i].phase, n, want)
		}
	}
}
