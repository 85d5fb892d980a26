package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
)

var segmentRe = regexp.MustCompile(`^s\d{8}-(\d{16})`)

// shippedAfter waits until a segment of nb's WAL shipped to the primary
// location holds every commit up to t (its time is after t) and returns
// that time.
func (f *backupFixture) shippedAfter(t *testing.T, t0 time.Time) time.Time {
	t.Helper()
	dir := filepath.Join(f.data, "backups", "wal", f.nb.ID)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var newest time.Time
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			if m := segmentRe.FindStringSubmatch(fi.Name()); m != nil {
				us, _ := strconv.ParseInt(m[1], 10, 64)
				if at := time.UnixMicro(us); at.After(newest) {
					newest = at
				}
			}
			return nil
		})
		if newest.After(t0) {
			return newest
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segment shipped after %s within 20 s", t0.Format(time.RFC3339Nano))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pitrMoment writes once (Ada's name), waits for it to be shipped, and
// returns a moment (to the second) after that write was shipped and
// before anything that follows.
func (f *backupFixture) pitrMoment(t *testing.T) time.Time {
	t.Helper()
	if st := walkCall(t, "PATCH", f.recs+"/"+f.ids[0], f.key, map[string]any{"fields": map[string]any{"name": "Ada v2"}}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	shipped := f.shippedAfter(t, time.Now())
	at := shipped.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	return at
}

// laterWrites changes Grace and adds Zed after the moment, and waits for
// them to be shipped; it returns Zed's id.
func (f *backupFixture) laterWrites(t *testing.T) string {
	t.Helper()
	if st := walkCall(t, "PATCH", f.recs+"/"+f.ids[1], f.key, map[string]any{"fields": map[string]any{"name": "Grace v2"}}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	var zed coffer.Record
	if st := walkCall(t, "POST", f.recs, f.key, map[string]any{"fields": map[string]any{"name": "Zed"}}, &zed); st != 201 {
		t.Fatalf("create: %d", st)
	}
	f.shippedAfter(t, time.Now())
	return zed.ID
}

// nameIn reads a record's name in notebook nb.
func (f *backupFixture) nameIn(t *testing.T, nb, id string) (string, int) {
	t.Helper()
	var r coffer.Record
	st := walkCall(t, "GET", f.s.url+"/api/v1/notebooks/"+nb+"/tables/Contacts/records/"+id, f.key, nil, &r)
	name, _ := r.Fields["name"].(string)
	return name, st
}

var newNotebookRe = regexp.MustCompile(`restored as a new notebook: .* \((nb_[0-9a-z]+)\)`)

// TestRestoreAtCommandLine: with the WAL shipped every second and no
// snapshot at all, coffer restore --at a moment between two writes
// brings back the first and not the second: as a copy (the original
// untouched), then one table in place; the audit log names the time.
// Times out of reach are refused with their reason.
func TestRestoreAtCommandLine(t *testing.T) {
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	at := f.pitrMoment(t)
	zed := f.laterWrites(t)
	stamp := at.UTC().Format(time.RFC3339)

	code, out, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", stamp, "--as-copy")
	m := newNotebookRe.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("restore --at --as-copy: %d\n%s%s", code, out, errOut)
	}
	cp := m[1]
	if name, st := f.nameIn(t, cp, f.ids[0]); st != 200 || name != "Ada v2" {
		t.Errorf("the copy lacks the write before the moment: %d %q", st, name)
	}
	if name, st := f.nameIn(t, cp, f.ids[1]); st != 200 || name != "Grace" {
		t.Errorf("the copy holds a change after the moment: %d %q", st, name)
	}
	if _, st := f.nameIn(t, cp, zed); st != 404 {
		t.Errorf("the copy holds a record created after the moment: %d", st)
	}
	for id, want := range map[string]string{f.ids[0]: "Ada v2", f.ids[1]: "Grace v2", zed: "Zed"} {
		if name, st := f.name(t, id); st != 200 || name != want {
			t.Errorf("the original changed by a copy: %s = %d %q, want %q", id, st, name, want)
		}
	}

	code, out, errOut = f.cli(t, "restore", "--notebook", f.nb.ID, "--at", stamp, "--table", "Contacts")
	if code != 0 || !strings.Contains(out, "restored from pit_"+f.nb.ID) {
		t.Fatalf("restore --at --table: %d\n%s%s", code, out, errOut)
	}
	if name, _ := f.name(t, f.ids[1]); name != "Grace" {
		t.Errorf("after the table's restore in place: %q", name)
	}
	if name, _ := f.name(t, f.ids[0]); name != "Ada v2" {
		t.Errorf("the table's restore lost the write before the moment: %q", name)
	}

	var log struct {
		Entries []struct {
			Kind   string `json:"kind"`
			Detail string `json:"detail"`
		} `json:"entries"`
	}
	if st := walkCall(t, "GET", f.s.url+"/api/v1/audit?kind="+coffer.EventRestored, f.key, nil, &log); st != 200 {
		t.Fatalf("audit: %d", st)
	}
	found := 0
	for _, e := range log.Entries {
		if strings.Contains(e.Detail, "the point in time "+stamp) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("audit events naming %s: %d, want 2: %+v", stamp, found, log.Entries)
	}

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, _, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", future, "--as-copy"); code != 1 || !strings.Contains(errOut, "in the future") {
		t.Errorf("restore --at in the future: %d %s", code, errOut)
	}
	if code, _, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", "2020-01-01T00:00:00Z", "--as-copy"); code != 1 || !strings.Contains(errOut, "before the oldest shipped") {
		t.Errorf("restore --at before shipping began: %d %s", code, errOut)
	}
	if code, _, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", stamp, "--snapshot", "bks_x"); code != 1 || !strings.Contains(errOut, "instead of --snapshot") {
		t.Errorf("--at with --snapshot: %d %s", code, errOut)
	}
}

// TestPointOff: point-in-time restore is off on PostgreSQL and with
// shipping off, each saying where to look.
func TestPointOff(t *testing.T) {
	if got := pointOff(nil, 30*time.Second); !strings.Contains(got, "docs/postgres-pitr.md") {
		t.Errorf("not SQLite: %q", got)
	}
}

// TestShipKeepFrom: shipped WAL is kept from the newest good snapshot
// (less one interval), not from the oldest kept one.
func TestShipKeepFrom(t *testing.T) {
	day := time.Date(2026, 5, 10, 4, 0, 0, 0, time.UTC)
	snaps := []*backup.Snapshot{ // newest first
		{ID: "running", Status: backup.StatusRunning, StartedAt: day.Add(48 * time.Hour)},
		{ID: "failed", Status: backup.StatusFailed, StartedAt: day.Add(24 * time.Hour)},
		{ID: "newest-good", Status: backup.StatusGood, StartedAt: day},
		{ID: "older", Status: backup.StatusGood, StartedAt: day.Add(-24 * time.Hour)},
		{ID: "oldest", Status: backup.StatusGood, StartedAt: day.Add(-30 * 24 * time.Hour)},
	}
	if got := shipKeepFrom(snaps, 30*time.Second); !got.Equal(day.Add(-30 * time.Second)) {
		t.Errorf("keep from %s, want the newest good snapshot's start less one interval", got)
	}
	if got := shipKeepFrom(snaps, 0); !got.Equal(day.Add(-30 * time.Second)) {
		t.Errorf("with shipping's default interval: %s", got)
	}
	if got := shipKeepFrom(snaps[:2], time.Minute); !got.IsZero() {
		t.Errorf("no good snapshot: keep from %s, want everything kept", got)
	}
}
