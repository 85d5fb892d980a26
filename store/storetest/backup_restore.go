package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// snapState is the state of Staff in the fixture's snapshot, by name.
func snapState(t *testing.T, f *backupFixture) map[string]string {
	t.Helper()
	return fieldsOf(t, f.browse(t, f.ctx, f.snap.ID), f.s, f.nb, "Staff")
}

// testRestoreRecords: a preview writes nothing and shows the diff; the
// records come back to their snapshot values (a deleted one with its id
// and creation) as one action, which undo takes back.
func testRestoreRecords(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	want := snapState(t, f)
	now := fieldsOf(t, f.ctx, s, f.nb, "Staff")
	job, err := s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID, f.y.ID}, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	res := job.Result
	if job.Status != "done" || res == nil || res.Seq != 0 || !slices.Equal(res.Updated, []string{f.x.ID}) || !slices.Equal(res.Created, []string{f.y.ID}) || len(res.Diff) != 2 {
		t.Fatalf("preview: %+v, result %+v", job, res)
	}
	if res.Diff[0].Change != "changed" || res.Diff[1].Change != "removed" {
		t.Errorf("preview diff: %+v", res.Diff)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, now) {
		t.Errorf("a preview changed the table: %v, was %v", got, now)
	}
	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID, f.y.ID}})
	if err != nil || job.Result.Seq == 0 {
		t.Fatalf("restore: %+v, %v", job, err)
	}
	got := fieldsOf(t, f.ctx, s, f.nb, "Staff")
	if got["x"] != want["x"] || got["y"] != want["y"] || got["z"] == "" {
		t.Errorf("after the restore: %v; want x and y of the snapshot %v, z kept", got, want)
	}
	back := MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.y.ID)
	if !back.CreatedAt.Equal(f.y.CreatedAt) {
		t.Errorf("y back with created_at %v, want %v", back.CreatedAt, f.y.CreatedAt)
	}
	if j, err := s.FindRestore(f.ctx, job.ID); err != nil || j.Status != "done" {
		t.Errorf("FindRestore: %+v, %v", j, err)
	}
	_, err = s.FindRestore(f.uctx, job.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	// One action: one undo takes both records back to today.
	if _, err := s.Undo(f.ctx, f.nb, coffer.UndoOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, now) {
		t.Errorf("after undo: %v, want %v", got, now)
	}
	// Mistakes.
	for _, in := range []coffer.RestoreInput{
		{Table: "Staff", Records: []string{f.x.ID}},
		{Snapshot: f.snap.ID, Records: []string{f.x.ID}},
		{Snapshot: f.snap.ID, Table: "Staff", Records: []string{}},
		{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID}, Mode: "merge"},
		{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID}, Mode: "copy"},
		{Snapshot: f.snap.ID, Table: "Staff", Preview: true},
	} {
		_, err := s.Restore(f.ctx, f.nb, in)
		wantCode(t, err, coffer.EINVALID)
	}
	_, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.z.ID}})
	wantCode(t, err, coffer.ENOTFOUND) // not in the snapshot
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, now) {
		t.Errorf("a refused restore changed the table: %v, want %v", got, now)
	}
}

// testRestoreTable: replace makes the table the snapshot's (one action);
// copy makes a new table holding the snapshot's rows.
func testRestoreTable(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	want := snapState(t, f)
	job, err := s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Mode: "copy"})
	if err != nil || job.Result.Table == nil {
		t.Fatalf("restore as a copy: %+v, %v", job, err)
	}
	name := job.Result.Table.Name
	if name != "Staff (restored "+f.snap.StartedAt.UTC().Format("2006-01-02")+")" {
		t.Errorf("copy named %q", name)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, name); !maps.Equal(got, want) {
		t.Errorf("the copy holds %v, want %v", got, want)
	}
	_, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Mode: "copy"})
	wantCode(t, err, coffer.ECONFLICT) // the name is taken

	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	res := job.Result
	if res.Seq == 0 || !slices.Equal(res.Created, []string{f.y.ID}) || !slices.Equal(res.Deleted, []string{f.z.ID}) || !slices.Equal(res.Updated, []string{f.x.ID}) {
		t.Errorf("table replace: %+v", res)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, want) {
		t.Errorf("after replace: %v, want %v", got, want)
	}
	if ids := ids(MustListAll(t, f.ctx, s, f.nb, "Staff", coffer.ListQuery{})); !slicesEqual(ids, []string{f.x.ID, f.y.ID}) {
		t.Errorf("after replace, ids %v; want x and y", ids)
	}
	// Again: nothing to change.
	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"})
	if err != nil || len(job.Result.Created)+len(job.Result.Updated)+len(job.Result.Deleted) != 0 {
		t.Errorf("second replace: %+v, %v", job, err)
	}
	// Renamed since: named as today, found by id in the snapshot.
	if _, err := s.UpdateTable(f.ctx, f.nb, "Staff", coffer.TableUpdate{Name: strp("Crew")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Crew", f.x.ID, map[string]any{"Name": "x3"}, 0); err != nil {
		t.Fatal(err)
	}
	if c, err := s.CompareTable(f.ctx, f.nb, "Crew", f.snap.ID, "", 0); err != nil || c.Changed != 1 {
		t.Errorf("compare of a renamed table: %+v, %v", c, err)
	}
	if _, err := s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Crew", Records: []string{f.x.ID}}); err != nil {
		t.Fatalf("restore in a renamed table: %v", err)
	}
	if r := MustFindRecord(t, f.ctx, s, f.nb, "Crew", f.x.ID); r.Fields["Name"] != "x" {
		t.Errorf("restored in the renamed table: %v", r.Fields)
	}
}

// waitRestore follows a background restore until it ends.
func waitRestore(t *testing.T, f *backupFixture, j *coffer.RestoreJob) *coffer.RestoreJob {
	t.Helper()
	for i := 0; i < 600; i++ {
		got, err := f.s.FindRestore(f.ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "running" {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the restore did not end")
	return nil
}

// testRestoreNotebook: as a copy, a new notebook of the caller holding the
// snapshot; in place, after a safety snapshot, the notebook equals it.
func testRestoreNotebook(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	want := snapState(t, f)
	extra := MustTable(t, f.ctx, s, f.nb, "Since", col("Name", coffer.TypeText))
	job, err := s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Mode: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	job = waitRestore(t, f, job)
	if job.Status != "done" || job.Result.Notebook == nil {
		t.Fatalf("copy: %+v (error %+v)", job, job.Error)
	}
	cp := job.Result.Notebook
	if got := fieldsOf(t, f.ctx, s, cp.ID, "Staff"); !maps.Equal(got, want) {
		t.Errorf("the copy holds %v, want %v", got, want)
	}
	if _, err := s.FindNotebook(f.uctx, cp.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("Uma sees the owner's copy: %v", err)
	}
	// Only owners restore in place; a grantee may not copy everything.
	_, err = s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Mode: "copy"})
	wantCode(t, err, coffer.EFORBIDDEN)

	before, _ := s.FindSnapshots(f.ctx, f.nb, coffer.SnapshotQuery{})
	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID})
	if err != nil {
		t.Fatal(err)
	}
	job = waitRestore(t, f, job)
	if job.Status != "done" || job.Result.Safety == "" || job.Done != job.Total {
		t.Fatalf("in place: %+v (error %+v)", job, job.Error)
	}
	after, _ := s.FindSnapshots(f.ctx, f.nb, coffer.SnapshotQuery{})
	if len(after) != len(before)+1 || after[0].ID != job.Result.Safety || after[0].Kind != coffer.SnapshotSafety {
		t.Errorf("safety snapshot: %d before, %+v after", len(before), after)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, want) {
		t.Errorf("in place: %v, want %v", got, want)
	}
	if _, err := s.FindTable(f.ctx, f.nb, extra.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a table created since is still there: %v", err)
	}
	// The safety snapshot holds the state just before.
	sb := f.browse(t, f.ctx, job.Result.Safety)
	if got := fieldsOf(t, sb, s, f.nb, "Staff"); got["x2"] == "" || got["z"] == "" {
		t.Errorf("the safety snapshot holds %v, want today's x2 and z", got)
	}
}

// testRestoreAccess: a grantee with restore restores only what today's
// grant shows and lets them write: the hidden column keeps today's value,
// a row outside their condition is not found.
func testRestoreAccess(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Staff", f.x.ID, map[string]any{"Salary": 150}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID}}); err != nil {
		t.Fatal(err)
	}
	wantFieldsJSON(t, "x restored by Uma", MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.x.ID), map[string]any{"Name": "x", "Team": "red", "Salary": json.Number("150")})
	_, err := s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.y.ID}})
	wantCode(t, err, coffer.ENOTFOUND)
	// A table replace by Uma touches her rows only: z (blue) stays.
	if _, err := s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"}); err != nil {
		t.Fatal(err)
	}
	MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.z.ID)
	_, err = s.FindRecord(f.ctx, f.nb, "Staff", f.y.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	// Vic reads everything but may not restore.
	_, err = s.Restore(f.vctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"})
	wantCode(t, err, coffer.ENOTFOUND)
}
