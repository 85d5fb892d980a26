package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/schedule"
)

// backupFixture is a served data directory with an operator, a notebook
// of three contacts and a second backup location.
type backupFixture struct {
	data, second string
	s            *walkServer
	key          string // the operator's session key
	nb           coffer.Notebook
	recs         string // the records URL of Contacts
	ids          []string
}

func newBackupFixture(t *testing.T) *backupFixture {
	t.Helper()
	second := t.TempDir()
	f := newBackupFixtureTo(t, "file://"+second)
	f.second = second
	return f
}

// newBackupFixtureTo is newBackupFixture with the second location at copyURL.
func newBackupFixtureTo(t *testing.T, copyURL string) *backupFixture {
	t.Helper()
	f := &backupFixture{data: t.TempDir()}
	t.Setenv("COFFER_BACKUP_COPY_URL", copyURL)
	if code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", f.data, "--email", "ops@example.com", "--name", "Ops",
		"--password-stdin", "--operator"); code != 0 {
		t.Fatalf("user create: %d %s %s", code, out, errOut)
	}
	f.s = walkServe(t, f.data)
	api := f.s.url + "/api/v1"
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", api+"/auth/login", "", map[string]any{"email": "ops@example.com", "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login: %d", st)
	}
	f.key = sess.Key
	if st := walkCall(t, "POST", api+"/notebooks", f.key, map[string]any{"name": "CRM"}, &f.nb); st != 201 {
		t.Fatalf("create notebook: %d", st)
	}
	if st := walkCall(t, "POST", api+"/notebooks/"+f.nb.ID+"/tables", f.key, map[string]any{"name": "Contacts",
		"columns": []map[string]any{{"name": "name", "type": "text"}, {"name": "age", "type": "number"}}}, nil); st != 201 {
		t.Fatalf("create table: %d", st)
	}
	f.recs = api + "/notebooks/" + f.nb.ID + "/tables/Contacts/records"
	for _, name := range []string{"Ada", "Grace", "Alan"} {
		var r coffer.Record
		if st := walkCall(t, "POST", f.recs, f.key, map[string]any{"fields": map[string]any{"name": name, "age": 40}}, &r); st != 201 {
			t.Fatalf("create record: %d", st)
		}
		f.ids = append(f.ids, r.ID)
	}
	return f
}

// cli runs a command of the command line on f's data directory.
func (f *backupFixture) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return walkRun(t, "", append(args, "--data", f.data)...)
}

type listed struct {
	Snapshots []snapshotJSON `json:"snapshots"`
}

// TestBackupCommandsBesideServer: backup now, list, verify, drill and
// status, run beside a serving server on the same data directory, and
// the status endpoint for operators.
func TestBackupCommandsBesideServer(t *testing.T) {
	f := newBackupFixture(t)
	code, out, errOut := f.cli(t, "backup", "now")
	if code != 0 {
		t.Fatalf("backup now: %d\n%s%s", code, out, errOut)
	}
	// Not a terminal: plain progress lines, one per snapshot, then the steps.
	for _, want := range []string{"snapshot instance", "snapshot " + f.nb.ID, "replicate", "keyring", "prune", "good: 2 new snapshot(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup now output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("a progress bar was drawn on a non-terminal:\n%q", out)
	}
	// Unchanged: the notebook is skipped.
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 || !strings.Contains(out, "good: 1 new snapshot(s)") || !strings.Contains(out, "1 unchanged") {
		t.Errorf("second backup now: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = f.cli(t, "backup", "list", "--json", "--notebook", f.nb.ID)
	var l listed
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Snapshots) != 1 {
		t.Fatalf("backup list --json: %d %s %s", code, out, errOut)
	}
	sn := l.Snapshots[0]
	if sn.Notebook != f.nb.ID || sn.Status != "good" || sn.Rows == 0 || strings.Join(sn.Locations, ",") != "primary,second" {
		t.Errorf("snapshot = %+v", sn)
	}
	if code, out, _ := f.cli(t, "backup", "list"); code != 0 || !strings.Contains(out, "instance") || !strings.Contains(out, sn.ID) {
		t.Errorf("backup list: %d\n%s", code, out)
	}
	if code, out, errOut := f.cli(t, "backup", "verify"); code != 0 || strings.Count(out, "ok ") != 4 {
		t.Errorf("backup verify (instance and notebook, two locations): %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := f.cli(t, "backup", "verify", "--snapshot", sn.ID, "--location", "second"); code != 0 || strings.Count(out, "ok ") != 1 {
		t.Errorf("backup verify one: %d\n%s%s", code, out, errOut)
	}
	// The second location lost the notebook's snapshot: verify says so,
	// and the next run copies it again although the notebook is unchanged.
	if err := os.RemoveAll(filepath.Join(f.second, "snapshots", f.nb.ID)); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := f.cli(t, "backup", "verify", "--snapshot", sn.ID, "--location", "second"); code != 1 || !strings.Contains(out, "FAIL "+sn.ID+" in second") {
		t.Errorf("verify of a lost copy: %d\n%s", code, out)
	}
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 || !strings.Contains(out, "1 unchanged") {
		t.Errorf("backup now: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := f.cli(t, "backup", "verify", "--snapshot", sn.ID, "--location", "second"); code != 0 {
		t.Errorf("verify after the run copied it again: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := f.cli(t, "backup", "drill"); code != 0 || !strings.Contains(out, ": good;") || !strings.Contains(out, "2 notebook restore(s)") {
		t.Errorf("backup drill: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = f.cli(t, "backup", "status", "--json")
	var rep struct {
		Enabled   bool `json:"enabled"`
		Last      struct{ Status, Kind string }
		Locations []locationReport
		Snapshots int
		LastDrill *struct {
			Status    string
			RestoreNS int64 `json:"restore_ns"`
			Notebooks int
		} `json:"last_drill"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("backup status --json: %d %s %s", code, out, errOut)
	}
	if rep.Last.Status != "good" || rep.Last.Kind != "manual" || len(rep.Locations) != 2 || rep.Snapshots != 4 || rep.LastDrill == nil ||
		rep.LastDrill.Status != "good" || rep.LastDrill.RestoreNS <= 0 || rep.LastDrill.Notebooks != 2 {
		t.Errorf("status = %s", out)
	}
	if code, out, _ := f.cli(t, "backup", "status"); code != 0 || !strings.Contains(out, "last drill: good") || !strings.Contains(out, "next run:") {
		t.Errorf("backup status: %d\n%s", code, out)
	}
	// The server's status endpoint sees what the command line did.
	var api map[string]any
	if st := walkCall(t, "GET", f.s.url+"/api/v1/backups/status", f.key, nil, &api); st != 200 {
		t.Fatalf("GET backups/status: %d", st)
	}
	if last, _ := api["last"].(map[string]any); last["status"] != "good" || api["enabled"] != true {
		t.Errorf("status endpoint: %v", api)
	}
	if st := walkCall(t, "GET", f.s.url+"/api/v1/backups/status", "", nil, nil); st != 401 {
		t.Errorf("status without credentials: %d", st)
	}
	// Not for people who are not operators.
	if code, _, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", f.data, "--email", "bob@example.com", "--name", "Bob", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %s", errOut)
	}
	var bob struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", f.s.url+"/api/v1/auth/login", "", map[string]any{"email": "bob@example.com", "password": walkPassword}, &bob); st != 200 {
		t.Fatalf("login: %d", st)
	}
	if st := walkCall(t, "GET", f.s.url+"/api/v1/backups/status", bob.Key, nil, nil); st != 403 {
		t.Errorf("status for a non-operator: %d, want 403", st)
	}
	// A backup started through the API runs in the server.
	runs := f.s.url + "/api/v1/backups/runs"
	if st := walkCall(t, "POST", runs, bob.Key, map[string]any{}, nil); st != 403 {
		t.Errorf("backup now by a non-operator: %d, want 403", st)
	}
	if st := walkCall(t, "POST", runs, f.key, map[string]any{"notebook": "nb_06h54zyt51ma4yqptybe289w98"}, nil); st != 404 {
		t.Errorf("backup now of an unknown notebook: %d, want 404", st)
	}
	if st := walkCall(t, "POST", runs, f.key, map[string]any{"notebook": f.nb.ID, "force": true, "extra": 1}, nil); st != 400 {
		t.Errorf("backup now with an unknown field: %d, want 400", st)
	}
	var started map[string]any
	if st := walkCall(t, "POST", runs, f.key, map[string]any{"notebook": f.nb.ID, "force": true}, &started); st != 202 {
		t.Fatalf("backup now through the API: %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var now map[string]any
		walkCall(t, "GET", f.s.url+"/api/v1/backups/status", f.key, nil, &now)
		last, _ := now["last"].(map[string]any)
		if now["running"] == nil && last["status"] == "good" && last["taken"] == float64(1) && last["total"] == float64(1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API's backup did not finish: %v", now)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, errOut := f.cli(t, "backup", "now", "--notebook", "nb_06h54zyt51ma4yqptybe289w98"); code != 1 || !strings.Contains(errOut, "notebook not found") {
		t.Errorf("backup now of an unknown notebook: %d %s", code, errOut)
	}
	// Images are plaintext only while they are read: none is left behind.
	filepath.Walk(f.data, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "backup-tmp") && !fi.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// snapshotOf backs up and returns the newest snapshot of the notebook.
func (f *backupFixture) snapshotOf(t *testing.T) string {
	t.Helper()
	if code, out, errOut := f.cli(t, "backup", "now", "--notebook", f.nb.ID); code != 0 {
		t.Fatalf("backup now: %d %s %s", code, out, errOut)
	}
	code, out, _ := f.cli(t, "backup", "list", "--json", "--notebook", f.nb.ID)
	var l listed
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Snapshots) == 0 {
		t.Fatalf("backup list: %d %s", code, out)
	}
	return l.Snapshots[0].ID
}

func (f *backupFixture) name(t *testing.T, id string) (string, int) {
	t.Helper()
	var r coffer.Record
	st := walkCall(t, "GET", f.recs+"/"+id, f.key, nil, &r)
	name, _ := r.Fields["name"].(string)
	return name, st
}

// TestRestoreCommands: records (with a preview first), then the whole
// notebook in place and as a copy, from the command line beside the
// server, each visible through the server's API at once.
func TestRestoreCommands(t *testing.T) {
	f := newBackupFixture(t)
	snap := f.snapshotOf(t)
	if st := walkCall(t, "PATCH", f.recs+"/"+f.ids[0], f.key, map[string]any{"fields": map[string]any{"name": "Ada (wrong)"}}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	if st := walkCall(t, "DELETE", f.recs+"/"+f.ids[1], f.key, nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	base := []string{"restore", "--notebook", f.nb.ID, "--snapshot", snap}
	code, out, errOut := f.cli(t, append(base, "--table", "Contacts", "--record", f.ids[0], "--preview")...)
	if code != 0 || !strings.Contains(out, "changed "+f.ids[0]) || !strings.Contains(out, "Ada (wrong) → Ada") || !strings.Contains(out, "nothing was written") {
		t.Errorf("preview: %d\n%s%s", code, out, errOut)
	}
	if name, _ := f.name(t, f.ids[0]); name != "Ada (wrong)" {
		t.Errorf("the preview wrote: %q", name)
	}
	code, out, errOut = f.cli(t, append(base, "--table", "Contacts", "--record", f.ids[0])...)
	if code != 0 || !strings.Contains(out, "1 updated") {
		t.Errorf("restore record: %d\n%s%s", code, out, errOut)
	}
	if name, _ := f.name(t, f.ids[0]); name != "Ada" {
		t.Errorf("after restoring the record: %q", name)
	}
	if _, st := f.name(t, f.ids[1]); st != 404 {
		t.Errorf("a record not asked for came back: %d", st)
	}
	code, out, errOut = f.cli(t, append(base, "--as-copy")...)
	if code != 0 || !strings.Contains(out, "restored as a new notebook") {
		t.Errorf("restore as a copy: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = f.cli(t, base...)
	if code != 0 || !strings.Contains(out, "safety snapshot taken first: bks_") {
		t.Errorf("restore the notebook: %d\n%s%s", code, out, errOut)
	}
	if name, st := f.name(t, f.ids[1]); st != 200 || name != "Grace" {
		t.Errorf("after restoring the notebook: %d %q", st, name)
	}
	if code, _, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--snapshot", "bks_nope"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown snapshot: %d %s", code, errOut)
	}
	// Done as someone without the restore right: as if there were no snapshot.
	if code, _, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", f.data, "--email", "eve@example.com", "--name", "Eve", "--password-stdin"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := f.cli(t, append(base, "--as", "eve@example.com")...); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("restore as someone without the right: %d %s", code, errOut)
	}
	if code, _, errOut := f.cli(t, append(base, "--as", "nobody@example.com")...); code != 1 || !strings.Contains(errOut, "no active account") {
		t.Errorf("restore as nobody: %d %s", code, errOut)
	}
	if code, _, _ := f.cli(t, "restore", "--notebook", f.nb.ID); code != 2 {
		t.Errorf("no snapshot: %d, want usage (2)", code)
	}
}

// TestRestoreInstanceOntoEmptyMachine: back up, lose the data directory
// but for the master key file, restore the instance from the second
// location into a new data directory: the same accounts, notebooks and
// records, and the restored instance serves them.
func TestRestoreInstanceOntoEmptyMachine(t *testing.T) {
	f := newBackupFixture(t)
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 {
		t.Fatalf("backup now: %d %s %s", code, out, errOut)
	}
	var before struct{ Records []coffer.Record }
	if st := walkCall(t, "GET", f.recs+"?sort=name", f.key, nil, &before); st != 200 || len(before.Records) != 3 {
		t.Fatalf("list: %d %d", st, len(before.Records))
	}
	f.s.stop()
	// The machine is lost; the master key file and the audit log's
	// signing key were kept apart.
	key, err := os.ReadFile(filepath.Join(f.data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	t.Setenv("COFFER_BACKUP_COPY_URL", "")
	from := "file://" + f.second
	if code, _, errOut := walkRun(t, "", "restore", "--instance", "--from", from, "--data", fresh); code != 1 || !strings.Contains(errOut, "master key file") {
		t.Errorf("without the master key: %d %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(fresh, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := walkRun(t, "", "restore", "--instance", "--from", from, "--data", fresh); code != 1 || !strings.Contains(errOut, "audit.key") {
		t.Errorf("without the audit key: %d %s", code, errOut)
	}
	for _, name := range []string{"audit.key", "audit-checkpoints"} {
		b, err := os.ReadFile(filepath.Join(f.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fresh, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := walkRun(t, "", "restore", "--instance", "--from", from, "--data", fresh)
	if code != 0 || !strings.Contains(out, "restored the instance from snapshot bks_") || !strings.Contains(out, "and 1 notebook(s)") {
		t.Fatalf("restore --instance: %d\n%s%s", code, out, errOut)
	}
	// Not twice into the same directory.
	if code, _, errOut := walkRun(t, "", "restore", "--instance", "--from", from, "--data", fresh); code != 1 || !strings.Contains(errOut, "empty data directory") {
		t.Errorf("restore into a used directory: %d %s", code, errOut)
	}
	s := walkServe(t, fresh)
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", s.url+"/api/v1/auth/login", "", map[string]any{"email": "ops@example.com", "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login on the restored instance: %d", st)
	}
	var after struct{ Records []coffer.Record }
	recs := s.url + "/api/v1/notebooks/" + f.nb.ID + "/tables/Contacts/records?sort=name"
	if st := walkCall(t, "GET", recs, sess.Key, nil, &after); st != 200 || len(after.Records) != len(before.Records) {
		t.Fatalf("restored records: %d %d", st, len(after.Records))
	}
	for i := range before.Records {
		b, a := before.Records[i], after.Records[i]
		if b.ID != a.ID || b.Version != a.Version || b.Fields["name"] != a.Fields["name"] || b.Fields["age"] != a.Fields["age"] {
			t.Errorf("record %d: before %+v, after %+v", i, b, a)
		}
	}
}

// TestServeShipsWAL: a server on SQLite ships the write-ahead log of a
// notebook that changed to both locations within its interval, and
// prints the backup settings in its log.
func TestServeShipsWAL(t *testing.T) {
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	for _, dir := range []string{filepath.Join(f.data, "backups"), f.second} {
		wal := filepath.Join(dir, "wal", f.nb.ID)
		deadline := time.Now().Add(15 * time.Second)
		for {
			entries, _ := os.ReadDir(wal)
			if len(entries) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no shipped WAL in %s after 15 s", wal)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	logs := f.s.stderr.String()
	for _, want := range []string{`"msg":"backups on"`, `"at":"04:00"`, `"msg":"write-ahead log shipping on"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve log lacks %s", want)
		}
	}
	if strings.Contains(logs, "Ada") {
		t.Errorf("data in the log")
	}
}

// TestPointInTimeRestore: with the WAL shipped every second, a record is
// restored to how it was at a moment between two writes, with no
// snapshot taken at all; the same moment reads through ?snapshot=.
func TestPointInTimeRestore(t *testing.T) {
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	wal := filepath.Join(f.data, "backups", "wal", f.nb.ID)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if entries, _ := os.ReadDir(wal); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing shipped")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // a round after the records' commits
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	if st := walkCall(t, "PATCH", f.recs+"/"+f.ids[0], f.key, map[string]any{"fields": map[string]any{"name": "Ada (later)"}}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	time.Sleep(2500 * time.Millisecond) // shipped too
	// Read at that moment through the API.
	var then coffer.Record
	if st := walkCall(t, "GET", f.recs+"/"+f.ids[0]+"?snapshot="+pointID(f.nb.ID, at), f.key, nil, &then); st != 200 || then.Fields["name"] != "Ada" {
		t.Errorf("read at %s: %d %v", at, st, then.Fields)
	}
	code, out, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", at.Format(time.RFC3339), "--table", "Contacts", "--record", f.ids[0])
	if code != 0 || !strings.Contains(out, "1 updated") {
		t.Fatalf("restore --at: %d\n%s%s", code, out, errOut)
	}
	if name, _ := f.name(t, f.ids[0]); name != "Ada" {
		t.Errorf("after the point-in-time restore: %q", name)
	}
	// Before anything was shipped there is nothing to restore.
	if code, _, errOut := f.cli(t, "restore", "--notebook", f.nb.ID, "--at", "2020-01-01T00:00:00Z", "--table", "Contacts", "--record", f.ids[0]); code != 1 || !strings.Contains(errOut, "before the oldest shipped") {
		t.Errorf("restore --at before shipping began: %d %s", code, errOut)
	}
}

// TestServeCatchesUpDailyBackup: a server that was down when the daily
// backup was due (the last daily run is three days old) runs one as it
// starts, in the background, and its status shows it.
func TestServeCatchesUpDailyBackup(t *testing.T) {
	data := t.TempDir()
	t.Setenv("COFFER_BACKUP_COPY_URL", "")
	if code, _, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data, "--email", "ops@example.com", "--name", "Ops",
		"--password-stdin", "--operator"); code != 0 {
		t.Fatal(errOut)
	}
	// A daily run three days ago, recorded as the worker records it.
	st, closeStore, err := openStore(context.Background(), &storeConfig{dataDir: data}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	real := st.Core.Now
	st.Core.Now = func() time.Time { return real().Add(-72 * time.Hour) }
	w := schedule.New(schedule.NewLedger(st.Core), schedule.Jobs{
		Notebooks: func(context.Context) ([]string, error) { return nil, nil },
		Snapshot:  func(context.Context, string, string, bool) (schedule.Outcome, error) { return schedule.Outcome{}, nil },
	}, schedule.Config{MinPause: -1})
	if _, err := w.Run(context.Background(), schedule.Options{Kind: schedule.KindDaily}); err != nil {
		t.Fatal(err)
	}
	closeStore()

	s := walkServe(t, data)
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", s.url+"/api/v1/auth/login", "", map[string]any{"email": "ops@example.com", "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login: %d", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var rep struct {
			Last *schedule.Run `json:"last"`
			Next time.Time     `json:"next"`
		}
		walkCall(t, "GET", s.url+"/api/v1/backups/status", sess.Key, nil, &rep)
		if rep.Last != nil && rep.Last.Kind == schedule.KindDaily && time.Since(rep.Last.StartedAt) < time.Minute {
			if rep.Last.Status != schedule.StatusGood || rep.Last.Taken != 1 || !rep.Next.After(time.Now()) {
				t.Errorf("catch-up run: %+v, next %v", rep.Last, rep.Next)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no catch-up run within 20 s: %+v", rep.Last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeBackupOff: with --backup-off a server runs no backup, ships
// nothing and drills nothing, but still answers the status (enabled
// false) and serves snapshots taken elsewhere.
func TestServeBackupOff(t *testing.T) {
	t.Setenv("COFFER_BACKUP_OFF", "true")
	t.Setenv("COFFER_SHIP_EVERY", "1s")
	f := newBackupFixture(t)
	var rep map[string]any
	if st := walkCall(t, "GET", f.s.url+"/api/v1/backups/status", f.key, nil, &rep); st != 200 || rep["enabled"] != false || rep["next"] != nil {
		t.Errorf("status with backups off: %d %v", st, rep)
	}
	snap := f.snapshotOf(t)
	var list struct{ Records []coffer.Record }
	if st := walkCall(t, "GET", f.recs+"?snapshot="+snap, f.key, nil, &list); st != 200 || len(list.Records) != 3 {
		t.Errorf("browse a snapshot with backups off: %d %d", st, len(list.Records))
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(f.data, "backups", "wal")); err == nil {
		t.Errorf("WAL shipped with backups off")
	}
	if !strings.Contains(f.s.stderr.String(), "--backup-off") {
		t.Errorf("no warning in the log")
	}
}
