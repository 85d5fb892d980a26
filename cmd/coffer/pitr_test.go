package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/store/sqlite"
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
	if code != 0 || !strings.Contains(out, "restored from the point in time "+stamp) {
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
	if got := pointOff((*sqlite.Backend)(nil), 0); !strings.Contains(got, "--ship-every 0") {
		t.Errorf("shipping off: %q", got)
	}
	if got := pointOff((*sqlite.Backend)(nil), time.Second); got != "" {
		t.Errorf("on: %q", got)
	}
	if got := (&backupConfig{shipEvery: time.Second, off: true}).shipping(); got != 0 {
		t.Errorf("--backup-off ships every %s", got)
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

// login creates an account and returns its session key and id.
func (f *backupFixture) login(t *testing.T, email string) (key, id string) {
	t.Helper()
	if code, _, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", f.data, "--email", email, "--name", "Bob", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %s", errOut)
	}
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", f.s.url+"/api/v1/auth/login", "", map[string]any{"email": email, "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login: %d", st)
	}
	var me struct {
		ID string `json:"id"`
	}
	if st := walkCall(t, "GET", f.s.url+"/api/v1/auth/me", sess.Key, nil, &me); st != 200 {
		t.Fatalf("me: %d", st)
	}
	return sess.Key, me.ID
}

type problem struct {
	Code string `json:"code"`
}

// call is walkCall that also reads an error's code.
func call(t *testing.T, method, url, key string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p problem
	json.NewDecoder(res.Body).Decode(&p)
	return res.StatusCode, p.Code
}

// TestRestoreAtAPI: POST …/restore with "at" instead of "snapshot": a
// preview and a restore of chosen records to a moment between two
// writes, a whole notebook as a copy (a job), the same access rules as a
// snapshot (a grantee without the restore capability gets 404, with it
// the restore), and the errors of times out of reach.
func TestRestoreAtAPI(t *testing.T) {
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	at := f.pitrMoment(t)
	zed := f.laterWrites(t)
	stamp := at.UTC().Format(time.RFC3339)
	restore := f.s.url + "/api/v1/notebooks/" + f.nb.ID + "/restore"

	bob, bobID := f.login(t, "bob@example.com")
	var g coffer.Grant
	if st := walkCall(t, "POST", f.s.url+"/api/v1/notebooks/"+f.nb.ID+"/grants", f.key, map[string]any{
		"principal": map[string]any{"type": "user", "id": bobID}, "table": "Contacts", "columns": map[string]any{"*": "write"}}, &g); st != 201 {
		t.Fatalf("grant: %d", st)
	}
	if st, code := call(t, "POST", restore, bob, map[string]any{"at": stamp, "table": "Contacts", "records": []string{f.ids[1]}}); st != 404 || code != coffer.ENOTFOUND {
		t.Errorf("a grantee without restore: %d %q, want 404", st, code)
	}
	// Not even the reach of the shipped WAL is told to them.
	if st, code := call(t, "POST", restore, bob, map[string]any{"at": "2020-01-01T00:00:00Z", "table": "Contacts", "records": []string{f.ids[1]}}); st != 404 {
		t.Errorf("a grantee without restore, time out of reach: %d %q, want 404", st, code)
	}
	if name, _ := f.name(t, f.ids[1]); name != "Grace v2" {
		t.Errorf("a refused restore wrote: %q", name)
	}

	var job coffer.RestoreJob
	body := map[string]any{"at": stamp, "table": "Contacts", "records": []string{f.ids[1], f.ids[0]}, "preview": true}
	if st := walkCall(t, "POST", restore, f.key, body, &job); st != 200 || job.Result == nil || len(job.Result.Diff) != 2 {
		t.Fatalf("preview: %d %+v", st, job)
	}
	for _, d := range job.Result.Diff {
		if want := map[string]string{f.ids[1]: "changed", f.ids[0]: "same"}[d.ID]; d.Change != want {
			t.Errorf("preview of %s: %s, want %s", d.ID, d.Change, want)
		}
	}
	if name, _ := f.name(t, f.ids[1]); name != "Grace v2" {
		t.Errorf("the preview wrote: %q", name)
	}

	if _, err := walkPatchGrant(t, f, g.ID, []string{"restore"}); err != nil {
		t.Fatal(err)
	}
	job = coffer.RestoreJob{}
	if st := walkCall(t, "POST", restore, bob, map[string]any{"at": stamp, "table": "Contacts", "records": []string{f.ids[1]}}, &job); st != 200 || job.Status != "done" {
		t.Fatalf("restore of a record by a grantee with restore: %d %+v", st, job)
	}
	if name, _ := f.name(t, f.ids[1]); name != "Grace" {
		t.Errorf("after the record's restore to %s: %q", stamp, name)
	}
	if name, _ := f.name(t, f.ids[0]); name != "Ada v2" {
		t.Errorf("a record not asked for changed: %q", name)
	}

	job = coffer.RestoreJob{}
	if st := walkCall(t, "POST", restore, f.key, map[string]any{"at": stamp, "mode": "copy"}, &job); st != 202 {
		t.Fatalf("restore a copy: %d %+v", st, job)
	}
	deadline := time.Now().Add(30 * time.Second)
	for job.Status == "running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		walkCall(t, "GET", f.s.url+"/api/v1/restores/"+job.ID, f.key, nil, &job)
	}
	if job.Status != "done" || job.Result == nil || job.Result.Notebook == nil {
		t.Fatalf("copy job: %+v", job)
	}
	if _, st := f.nameIn(t, job.Result.Notebook.ID, zed); st != 404 {
		t.Errorf("the copy holds a record created after the moment: %d", st)
	}
	if name, _ := f.nameIn(t, job.Result.Notebook.ID, f.ids[0]); name != "Ada v2" {
		t.Errorf("the copy lacks the write before the moment: %q", name)
	}

	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "mode": "copy"}, 422, coffer.EPOINTINTIME},
		{map[string]any{"at": "2020-01-01T00:00:00Z", "mode": "copy"}, 422, coffer.EPOINTINTIME},
		{map[string]any{"at": stamp, "snapshot": "bks_x", "mode": "copy"}, 400, coffer.EINVALID},
		{map[string]any{"at": "yesterday", "mode": "copy"}, 400, coffer.EINVALID},
	} {
		if st, code := call(t, "POST", restore, f.key, c.body); st != c.status || code != c.code {
			t.Errorf("%v: %d %q, want %d %q", c.body, st, code, c.status, c.code)
		}
	}
}

// walkPatchGrant sets the capabilities of grant id of f's notebook.
func walkPatchGrant(t *testing.T, f *backupFixture, id string, caps []string) (int, error) {
	t.Helper()
	st := walkCall(t, "PATCH", f.s.url+"/api/v1/notebooks/"+f.nb.ID+"/grants/"+id, f.key, map[string]any{"capabilities": caps}, nil)
	if st != 200 {
		t.Fatalf("patch grant: %d", st)
	}
	return st, nil
}

// filesSource is a snapshot source that keeps files.
type filesSource struct {
	coffer.SnapshotSource
	asked string
}

func (f *filesSource) FetchFile(ctx context.Context, id, cid string) (io.ReadCloser, error) {
	f.asked = id + "/" + cid
	return io.NopCloser(strings.NewReader("sealed")), nil
}

// TestPointSourceFetchFile: wrapping the backup service's source for
// points in time keeps its file contents reachable (a file whose content
// the files store lost comes back from a snapshot); a point in time has
// none.
func TestPointSourceFetchFile(t *testing.T) {
	inner := &filesSource{}
	var src coffer.SnapshotSource = &pointSource{SnapshotSource: inner}
	fs, ok := src.(coffer.SnapshotFiles)
	if !ok {
		t.Fatal("the point-in-time source hides the snapshots' files")
	}
	rc, err := fs.FetchFile(context.Background(), "bks_1", "c1")
	if err != nil || inner.asked != "bks_1/c1" {
		t.Fatalf("FetchFile: %v, asked %q", err, inner.asked)
	}
	rc.Close()
	_, err = fs.FetchFile(context.Background(), pointID("nb_06h54zyt51ma4yqptybe289w98", time.Now()), "c1")
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a point in time's file: %v", err)
	}
}

// generations lists the generations of f's notebook with objects in the
// primary location.
func (f *backupFixture) generations(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(f.data, "backups", "wal", f.nb.ID)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if objs, _ := os.ReadDir(filepath.Join(dir, e.Name())); len(objs) > 0 {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestPruneShippedFromNewestSnapshot: the shipped WAL is pruned from the
// newest good snapshot (less one interval), not the oldest kept one: a
// generation that only serves times before the newest snapshot goes, the
// one that serves times since stays, and restores since it still work.
func TestPruneShippedFromNewestSnapshot(t *testing.T) {
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	f.shippedAfter(t, time.Now())
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 {
		t.Fatalf("backup now: %d %s %s", code, out, errOut)
	}
	first := f.generations(t)
	if len(first) != 1 {
		t.Fatalf("generations: %v", first)
	}
	// A restarted server begins a new generation at the next commit.
	if code := f.s.stop(); code != 0 {
		t.Fatalf("serve stopped with %d", code)
	}
	f.s = walkServe(t, f.data)
	f.recs = f.s.url + "/api/v1/notebooks/" + f.nb.ID + "/tables/Contacts/records"
	at := f.pitrMoment(t)
	if got := f.generations(t); len(got) != 2 {
		t.Fatalf("generations after a restart: %v", got)
	}
	// The oldest kept snapshot is the first; the newest is taken now,
	// more than an interval after the second generation began.
	time.Sleep(2 * time.Second)
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 || !strings.Contains(out, "prune") {
		t.Fatalf("backup now: %d %s %s", code, out, errOut)
	}
	got := f.generations(t)
	if len(got) != 1 || got[0] == first[0] {
		t.Fatalf("generations after pruning: %v, want only the one after %v", got, first)
	}
	stamp := at.UTC().Format(time.RFC3339)
	if code, out, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", stamp, "--table", "Contacts", "--record", f.ids[0], "--preview"); code != 0 {
		t.Errorf("restore --at since the newest snapshot: %d %s %s", code, out, errOut)
	}
}
