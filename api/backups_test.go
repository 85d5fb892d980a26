package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/storetest"
)

// backupFixture is the API fixture with a snapshot of Alice's notebook
// taken before Ada was renamed and Grace deleted, and Carol, who holds a
// grant with restore on the red people without their note.
type apiBackupFixture struct {
	*Fixture
	src   *storetest.CopySnapshots
	snap  string
	Carol string
}

func mustBackupFixture(t *testing.T) *apiBackupFixture {
	f := &apiBackupFixture{Fixture: MustFixture(t)}
	carol := f.MustUser("carol@example.com", "Carol")
	f.Carol = f.MustLogin("carol@example.com")
	f.Do("POST", f.Path("/api/v1/notebooks/{nb}/grants"), f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": carol.ID}, "table": "People", "rows": `team = "red"`,
		"columns": map[string]string{"*": "read", "note": "none"}, "capabilities": []string{"restore"},
	}).WantStatus(http.StatusCreated)
	f.src = storetest.MustCopySnapshots(t, f.Store)
	f.snap = f.src.MustTake(t, context.Background(), f.NB).ID
	f.Do("PATCH", f.Path("/api/v1/notebooks/{nb}/tables/People/records/{rec}"), f.Alice, map[string]any{"fields": map[string]any{"name": "Ada2"}}).WantStatus(http.StatusOK)
	f.Do("DELETE", f.Path("/api/v1/notebooks/{nb}/tables/People/records/{rec2}"), f.Alice, nil).WantStatus(http.StatusNoContent)
	return f
}

// P fills the fixture's placeholders and {snap}.
func (f *apiBackupFixture) P(p string) string { return strings.ReplaceAll(f.Path(p), "{snap}", f.snap) }

// TestBackupBrowseAPI: ?snapshot= on the reads shows the snapshot through
// today's rights; writes with it are refused and change nothing; the
// parameter is refused where it means nothing; whoever may not restore
// gets exactly the answer of a missing snapshot.
func TestBackupBrowseAPI(t *testing.T) {
	f := mustBackupFixture(t)
	var rec coffer.Record
	res := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Alice, nil).WantStatus(http.StatusOK)
	res.JSON(&rec)
	if rec.Fields["name"] != "Ada" || res.Header.Get("X-Coffer-Snapshot") != f.snap {
		t.Errorf("record in the snapshot: %v (header %q)", rec.Fields, res.Header.Get("X-Coffer-Snapshot"))
	}
	var list struct{ Records []coffer.Record }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}&sort=name"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Records) != 3 {
		t.Errorf("list in the snapshot: %d records, want 3", len(list.Records))
	}
	for _, p := range []string{"/api/v1/notebooks/{nb}?snapshot={snap}", "/api/v1/notebooks/{nb}/tables?snapshot={snap}",
		"/api/v1/notebooks/{nb}/tables/People?snapshot={snap}", "/api/v1/notebooks/{nb}/tables/People/views?snapshot={snap}"} {
		f.Do("GET", f.P(p), f.Alice, nil).WantStatus(http.StatusOK)
	}
	// Today is today.
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec2}"), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")

	// Writes: refused, nothing changes.
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Alice, map[string]any{"fields": map[string]any{"name": "no"}}).WantProblem(http.StatusConflict, "snapshot_read_only")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}"), f.Alice, map[string]any{"fields": map[string]any{"name": "no"}}).WantProblem(http.StatusConflict, "snapshot_read_only")
	f.Do("DELETE", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Alice, nil).WantProblem(http.StatusConflict, "snapshot_read_only")
	f.Do("DELETE", f.P("/api/v1/notebooks/{nb}?snapshot={snap}"), f.Alice, nil).WantProblem(http.StatusConflict, "snapshot_read_only")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records/batch?snapshot={snap}"), f.Alice, map[string]any{"operations": []any{}}).WantProblem(http.StatusConflict, "snapshot_read_only")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&rec)
	if rec.Fields["name"] != "Ada2" {
		t.Errorf("after refused writes: %v", rec.Fields)
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&rec)
	if rec.Fields["name"] != "Ada" {
		t.Errorf("the snapshot after refused writes: %v", rec.Fields)
	}
	// Where it means nothing, or twice, or with as_of: 400.
	for _, p := range []string{"/api/v1/notebooks/{nb}/history?snapshot={snap}", "/api/v1/notebooks/{nb}/members?snapshot={snap}",
		"/api/v1/notebooks/{nb}/access-log?snapshot={snap}", "/api/v1/notebooks/{nb}/history/export?snapshot={snap}",
		"/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}&snapshot={snap}",
		"/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}&as_of=1"} {
		f.Do("GET", f.P(p), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	}

	// Carol: the red rows, without note.
	rec = coffer.Record{}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&rec)
	if _, ok := rec.Fields["note"]; ok || rec.Fields["name"] != "Ada" {
		t.Errorf("Carol's view of the snapshot: %v", rec.Fields)
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec2}?snapshot={snap}"), f.Carol, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}&filter=note%3D%22hello%22"), f.Carol, nil).WantProblem(http.StatusBadRequest, "invalid")

	// Bob (no access), and a missing snapshot: the same answer.
	missing := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot=bks_missing"), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	bob := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot={snap}"), f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")
	if bob.Detail != missing.Detail && bob.Detail != "notebook not found" {
		t.Errorf("Bob's answer %q differs from a missing snapshot's %q", bob.Detail, missing.Detail)
	}
	// Another notebook's snapshot is not found in this one.
	other := f.src.MustTake(t, context.Background(), f.BobNB).ID
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}?snapshot="+other), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/"+other), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
}

// TestBackupSnapshotsAPI: the list (grouped by day and month) and one
// snapshot, with their mistakes and doors.
func TestBackupSnapshotsAPI(t *testing.T) {
	f := mustBackupFixture(t)
	var out struct{ Snapshots []coffer.Snapshot }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&out)
	if len(out.Snapshots) != 1 || out.Snapshots[0].ID != f.snap || out.Snapshots[0].Day == "" || out.Snapshots[0].Month == "" {
		t.Errorf("snapshots: %+v", out.Snapshots)
	}
	f.src.MustTake(t, context.Background(), f.NB)
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots?group=day"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&out)
	if len(out.Snapshots) != 1 {
		t.Errorf("grouped by day: %d, want 1", len(out.Snapshots))
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots?group=week"), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots?limit=3"), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/{snap}"), f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/{snap}"), f.Carol, nil).WantStatus(http.StatusOK)
	for _, key := range []string{f.Bob} {
		f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), key, nil).WantProblem(http.StatusNotFound, "not_found")
		f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/{snap}"), key, nil).WantProblem(http.StatusNotFound, "not_found")
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), "", nil).WantProblem(http.StatusUnauthorized, "unauthorized")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/snapshots"), f.Alice, nil).WantStatus(http.StatusMethodNotAllowed)
}

// TestBackupCompareAndRestoreAPI: compare a table and a record, preview
// and restore records, restore a table and a whole notebook as a copy,
// follow the job; the doors refuse whoever may not restore.
func TestBackupCompareAndRestoreAPI(t *testing.T) {
	f := mustBackupFixture(t)
	var tc coffer.TableCompare
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&tc)
	if tc.Changed != 1 || tc.Removed != 1 || tc.Added != 0 {
		t.Errorf("compare: %+v", tc)
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&tc)
	if tc.Changed != 1 || tc.Removed != 0 || len(tc.Records) != 1 {
		t.Errorf("Carol's compare (red rows only): %+v", tc)
	}
	var rc coffer.RecordCompare
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}/compare?snapshot={snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&rc)
	for _, c := range rc.Columns {
		if c.Column == "note" {
			t.Errorf("Carol's record compare shows note: %+v", c)
		}
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare"), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}&limit=0"), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}&x=1"), f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}"), f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}/compare?snapshot={snap}"), f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")

	// Records: preview, then restore; the job can be read by its author.
	var job coffer.RestoreJob
	body := map[string]any{"snapshot": f.snap, "table": "People", "records": []string{f.Recs[0], f.Recs[1]}, "preview": true}
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, body).WantStatus(http.StatusOK).JSON(&job)
	if job.Result == nil || len(job.Result.Diff) != 2 || job.Result.Seq != 0 {
		t.Fatalf("preview: %+v", job)
	}
	var rec coffer.Record
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&rec)
	if rec.Fields["name"] != "Ada2" {
		t.Errorf("a preview wrote: %v", rec.Fields)
	}
	delete(body, "preview")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, body).WantStatus(http.StatusOK).JSON(&job)
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec2}"), f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/restores/"+job.ID, f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/restores/"+job.ID, f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", "/api/v1/restores/rst_nope", f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")

	// Mistakes: 400 problem+json, never a partial write.
	for _, b := range []any{
		map[string]any{"snapshot": f.snap, "table": "People", "mode": "merge"},
		map[string]any{"snapshot": f.snap, "records": []string{f.Recs[0]}},
		map[string]any{"table": "People"},
		map[string]any{"snapshot": f.snap, "table": "People", "unknown": 1},
		map[string]any{"snapshot": f.snap, "table": "People", "records": "x"},
		map[string]any{"snapshot": f.snap, "table": "People", "file": "fil_x"},
		map[string]any{"snapshot": f.snap, "file": "fil_x", "mode": "copy"},
	} {
		f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, b).WantProblem(http.StatusBadRequest, "invalid")
	}
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Bob, map[string]any{"snapshot": f.snap, "table": "People"}).WantProblem(http.StatusNotFound, "not_found")
	// A file the snapshot does not hold: not found.
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, map[string]any{"snapshot": f.snap, "file": "fil_nothing"}).WantProblem(http.StatusNotFound, "not_found")
	// Carol may restore her rows but not the notebook in place.
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Carol, map[string]any{"snapshot": f.snap}).WantProblem(http.StatusForbidden, "forbidden")

	// A table as a copy; the notebook as a copy, in the background.
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, map[string]any{"snapshot": f.snap, "table": "People", "mode": "copy"}).WantStatus(http.StatusOK).JSON(&job)
	if job.Result == nil || job.Result.Table == nil {
		t.Fatalf("table copy: %+v", job)
	}
	res := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, map[string]any{"snapshot": f.snap, "mode": "copy"}).WantStatus(http.StatusAccepted)
	res.JSON(&job)
	if res.Header.Get("Location") != "/api/v1/restores/"+job.ID {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	for i := 0; i < 200 && job.Status == "running"; i++ {
		time.Sleep(50 * time.Millisecond)
		f.Do("GET", "/api/v1/restores/"+job.ID, f.Alice, nil).WantStatus(http.StatusOK).JSON(&job)
	}
	if job.Status != "done" || job.Result.Notebook == nil {
		b, _ := json.Marshal(job)
		t.Fatalf("notebook copy: %s", b)
	}
	var list struct{ Records []coffer.Record }
	f.Do("GET", "/api/v1/notebooks/"+job.Result.Notebook.ID+"/tables/People/records", f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Records) != 3 {
		t.Errorf("the copy holds %d records, want 3", len(list.Records))
	}
}
