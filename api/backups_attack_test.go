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

// Attacks on browsing, comparing and restoring snapshots (brief G): every
// door that reads, counts, converts, restores or reports data, tried by
// whoever should not get through it. The fixture is mustBackupFixture's:
// the snapshot holds Ada (red, note "hello"), Grace (blue) and Linus
// (red); since then Ada became Ada2 and Grace was deleted. Carol holds
// read on the red people without note, with restore.

// sandboxOf returns the storage id of the sandbox loaded for browsing
// snapshot of notebook nb as user (salted per process: read, not computed).
func sandboxOf(t *testing.T, f *apiBackupFixture, key, nb, snapshot string) string {
	t.Helper()
	var me struct{ ID, Email string }
	f.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK).JSON(&me)
	ctx := coffer.WithCaller(context.Background(), &coffer.Caller{UserID: me.ID, Email: me.Email})
	bctx, release, err := f.Store.BrowseSnapshot(ctx, nb, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return coffer.SnapshotReadFrom(bctx).Storage
}

// names lists the names of a table's records as Alice sees them today.
func (f *apiBackupFixture) names(t *testing.T) map[string]map[string]any {
	t.Helper()
	var list struct{ Records []coffer.Record }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?limit=100"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	out := map[string]map[string]any{}
	for _, r := range list.Records {
		out[r.ID] = r.Fields
	}
	return out
}

// TestAttackSnapshotExistence: nobody without restore learns that a
// snapshot exists (list, times, sizes, tables), ids of another notebook
// do not cross over, odd ids are a plain 404, and a sandbox's storage id
// is no notebook.
func TestAttackSnapshotExistence(t *testing.T) {
	f := mustBackupFixture(t)
	dave := f.MustUser("dave@example.com", "Dave")
	daveKey := f.MustLogin("dave@example.com")
	// Dave sees the whole notebook (viewer) but holds no restore.
	f.Do("PUT", f.P("/api/v1/notebooks/{nb}/members/"+dave.ID), f.Alice, map[string]any{"role": "viewer"}).WantStatus(http.StatusOK)
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}"), daveKey, nil).WantStatus(http.StatusOK)

	missing := f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/bks_missing"), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	doors := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/notebooks/{nb}/snapshots", nil},
		{"GET", "/api/v1/notebooks/{nb}/snapshots?group=month", nil},
		{"GET", "/api/v1/notebooks/{nb}/snapshots/{snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables/People/records/{rec}/compare?snapshot={snap}", nil},
		{"POST", "/api/v1/notebooks/{nb}/restore", map[string]any{"snapshot": f.snap, "table": "People", "records": []string{f.Recs[0]}, "preview": true}},
		{"POST", "/api/v1/notebooks/{nb}/restore", map[string]any{"snapshot": f.snap, "table": "People"}},
		{"POST", "/api/v1/notebooks/{nb}/restore", map[string]any{"snapshot": f.snap, "mode": "copy"}},
	}
	for _, d := range doors {
		p := f.Do(d.method, f.P(d.path), daveKey, d.body).WantProblem(http.StatusNotFound, "not_found")
		if p.Detail != missing.Detail {
			t.Errorf("Dave (no restore) %s %s: %q, a missing snapshot answers %q", d.method, d.path, p.Detail, missing.Detail)
		}
		if strings.Contains(string(f.Do(d.method, f.P(d.path), daveKey, d.body).Body), f.snap) {
			t.Errorf("Dave's answer names the snapshot")
		}
		f.Do(d.method, f.P(d.path), f.Bob, d.body).WantProblem(http.StatusNotFound, "not_found")
	}

	// HEAD is a GET; the live-update channel takes no snapshot.
	f.Do("HEAD", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}"), daveKey, nil).WantStatus(http.StatusNotFound)
	f.Do("HEAD", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}"), f.Alice, nil).WantStatus(http.StatusOK)
	if res := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/events?snapshot={snap}"), f.Alice, nil); res.Status != http.StatusBadRequest {
		t.Errorf("live updates with ?snapshot=: %d %s", res.Status, res.Body)
	}

	// Ids across notebooks, both ways.
	bobSnap := f.src.MustTake(t, context.Background(), f.BobNB).ID
	f.Do("GET", f.P("/api/v1/notebooks/{bobnb}?snapshot={snap}"), f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{bobnb}/snapshots/{snap}"), f.Bob, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("POST", f.P("/api/v1/notebooks/{bobnb}/restore"), f.Bob, map[string]any{"snapshot": f.snap, "mode": "copy"}).WantProblem(http.StatusNotFound, "not_found")
	f.Do("POST", f.P("/api/v1/notebooks/{bobnb}/restore"), f.Bob, map[string]any{"snapshot": f.snap, "table": "People", "mode": "copy"}).WantProblem(http.StatusNotFound, "not_found")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, map[string]any{"snapshot": bobSnap}).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables?snapshot="+bobSnap), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")

	// Guessed and malformed ids: 404, never a 500 or an internal message.
	box := sandboxOf(t, f, f.Alice, f.NB, f.snap)
	for _, id := range []string{"..%2F..%2Fx", strings.Repeat("a", 300), "bks_%00", "%27%20OR%201%3D1", box, f.NB} {
		f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot="+id), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
		f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/"+id), f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	}

	// A loaded sandbox is no notebook, not even to the owner.
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}"), f.Alice, nil).WantStatus(http.StatusOK)
	if _, release, err := f.Store.Storage.Notebook(context.Background(), box); err != nil {
		t.Fatalf("the sandbox's storage %s: %v", box, err)
	} else {
		release()
	}
	for _, p := range []string{"/api/v1/notebooks/" + box, "/api/v1/notebooks/" + box + "/tables", "/api/v1/notebooks/" + box + "/tables/People/records", "/api/v1/notebooks/" + box + "/snapshots"} {
		f.Do("GET", p, f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	}
	f.Do("POST", "/api/v1/notebooks/"+box+"/tables/People/records", f.Alice, map[string]any{"fields": map[string]any{"name": "x"}}).WantProblem(http.StatusNotFound, "not_found")
	f.Do("DELETE", "/api/v1/notebooks/"+box, f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
	var nbs struct{ Notebooks []coffer.Notebook }
	f.Do("GET", "/api/v1/notebooks", f.Alice, nil).WantStatus(http.StatusOK).JSON(&nbs)
	for _, n := range nbs.Notebooks {
		if n.ID == box {
			t.Errorf("the sandbox is listed as a notebook")
		}
	}
}

// TestAttackSnapshotWritesRefused: every write route with ?snapshot=,
// inside and outside the notebook's path, is refused and changes nothing.
func TestAttackSnapshotWritesRefused(t *testing.T) {
	f := mustBackupFixture(t)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/columns"), f.Alice, map[string]any{"name": "doc", "type": "file"}).WantStatus(http.StatusCreated)
	ct, body := multipartBody(t, "file", "a.txt", "text/plain", []byte("live file"))
	var fl coffer.File
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}/files/doc"), f.Alice, rawBody(body), "Content-Type", ct).WantStatus(http.StatusCreated).JSON(&fl)
	// A snapshot that holds the file.
	f.snap = f.src.MustTake(t, context.Background(), f.NB).ID

	state := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/v1/notebooks/{nb}", "/api/v1/notebooks/{nb}/tables", "/api/v1/notebooks/{nb}/tables/People/records?limit=100",
			"/api/v1/notebooks/{nb}/tables/People/views", "/api/v1/notebooks/{nb}/grants", "/api/v1/notebooks/{nb}/members",
			"/api/v1/notebooks/{nb}/settings", "/api/v1/files/" + fl.ID + "/links", "/api/v1/notebooks/{nb}/history"} {
			b.Write(f.Do("GET", f.P(p), f.Alice, nil).WantStatus(http.StatusOK).Body)
		}
		return b.String()
	}
	before := state()
	col := "doc"
	writes := []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/api/v1/notebooks/{nb}", map[string]any{"name": "x"}},
		{"POST", "/api/v1/notebooks/{nb}/tables", map[string]any{"name": "X"}},
		{"PATCH", "/api/v1/notebooks/{nb}/tables/People", map[string]any{"name": "X"}},
		{"DELETE", "/api/v1/notebooks/{nb}/tables/Teams", nil},
		{"POST", "/api/v1/notebooks/{nb}/tables/People/columns", map[string]any{"name": "x", "type": "text"}},
		{"PATCH", "/api/v1/notebooks/{nb}/tables/People/columns/note", map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/notebooks/{nb}/tables/People/columns/note", nil},
		{"POST", "/api/v1/notebooks/{nb}/tables/People/views", map[string]any{"name": "V"}},
		{"PATCH", "/api/v1/notebooks/{nb}/tables/People/views/{view}", map[string]any{"name": "V"}},
		{"DELETE", "/api/v1/notebooks/{nb}/tables/People/views/{view}", nil},
		{"POST", "/api/v1/notebooks/{nb}/grants", map[string]any{"principal": map[string]any{"type": "user", "id": "usr_x"}, "table": "People"}},
		{"PUT", "/api/v1/notebooks/{nb}/members/usr_x", map[string]any{"role": "viewer"}},
		{"PATCH", "/api/v1/notebooks/{nb}/settings", map[string]any{}},
		{"POST", "/api/v1/notebooks/{nb}/undo", nil},
		{"POST", "/api/v1/notebooks/{nb}/tables/People/records/{rec}/revert", map[string]any{}},
		{"POST", "/api/v1/notebooks/{nb}/restore", map[string]any{"snapshot": f.snap, "table": "People"}},
		{"POST", "/api/v1/notebooks/{nb}/tables/People/records/{rec}/files/" + col, rawBody(body)},
		{"DELETE", "/api/v1/files/" + fl.ID, nil},
		{"POST", "/api/v1/files/" + fl.ID + "/links", map[string]any{}},
	}
	for _, w := range writes {
		p := f.P(w.path) + "?snapshot=" + f.snap
		var hdr []string
		if _, ok := w.body.(rawBody); ok {
			hdr = []string{"Content-Type", ct}
		}
		f.Do(w.method, p, f.Alice, w.body, hdr...).WantProblem(http.StatusConflict, "snapshot_read_only")
	}
	if after := state(); after != before {
		t.Errorf("writes with ?snapshot= changed the notebook:\nbefore %s\nafter  %s", before, after)
	}
	// A read of a file outside the notebook's path cannot pretend to be
	// the snapshot's.
	f.Do("GET", "/files/"+fl.ID+"?snapshot="+f.snap, f.Alice, nil).WantProblem(http.StatusBadRequest, "invalid")
}

// TestAttackNarrowRestore: grantees with restore but narrow rights. Erin
// may write the red people except note (and create and delete them);
// Carol may only read them. Neither brings back, overwrites nor deletes
// a row or a cell outside those rights.
func TestAttackNarrowRestore(t *testing.T) {
	f := mustBackupFixture(t)
	erin := f.MustUser("erin@example.com", "Erin")
	erinKey := f.MustLogin("erin@example.com")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/grants"), f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": erin.ID}, "table": "People", "rows": `team = "red"`,
		"columns": map[string]string{"*": "write", "note": "none"}, "capabilities": []string{"restore", "create", "delete"},
	}).WantStatus(http.StatusCreated)
	ada, grace, linus := f.Recs[0], f.Recs[1], f.Recs[2]
	// Since the snapshot: Ada's note is new, Linus moved to blue (out of
	// Erin's and Carol's rows), Zed (blue) and Rex (red) were added.
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+ada), f.Alice, map[string]any{"fields": map[string]any{"note": "today"}}).WantStatus(http.StatusOK)
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+linus), f.Alice, map[string]any{"fields": map[string]any{"team": "blue", "name": "Linus2"}}).WantStatus(http.StatusOK)
	var zed, rex coffer.Record
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records"), f.Alice, map[string]any{"fields": map[string]any{"name": "Zed", "team": "blue"}}).WantStatus(http.StatusCreated).JSON(&zed)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records"), f.Alice, map[string]any{"fields": map[string]any{"name": "Rex", "team": "red"}}).WantStatus(http.StatusCreated).JSON(&rex)
	before := f.names(t)

	// Carol reads only: every restore that would write is refused, the
	// preview too tells nothing she cannot read, and nothing changes.
	for _, b := range []map[string]any{
		{"snapshot": f.snap, "table": "People"},
		{"snapshot": f.snap, "table": "People", "records": []string{ada}},
		{"snapshot": f.snap, "table": "People", "mode": "copy"},
		{"snapshot": f.snap, "mode": "copy"},
		{"snapshot": f.snap},
	} {
		res := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Carol, b)
		if res.Status < 400 || res.Status >= 500 {
			t.Errorf("Carol (read only) restore %v: status %d %s", b, res.Status, res.Body)
		}
	}
	var nbs struct{ Notebooks []coffer.Notebook }
	f.Do("GET", "/api/v1/notebooks", f.Carol, nil).WantStatus(http.StatusOK).JSON(&nbs)
	for _, n := range nbs.Notebooks {
		if n.ID != f.NB {
			t.Errorf("Carol got a notebook of her own from the snapshot: %+v", n)
		}
	}
	if got := f.names(t); !sameRecords(got, before) {
		t.Errorf("Carol's refused restores changed People:\nbefore %v\nafter  %v", before, got)
	}

	// Erin: records she cannot see in the snapshot (Grace, blue then) or
	// today (Linus, blue now) are not found, exactly as a missing one.
	miss := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People", "records": []string{f.MissingRec}}).WantProblem(http.StatusNotFound, "not_found")
	for _, id := range []string{grace, linus, zed.ID} {
		for _, preview := range []bool{true, false} {
			p := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People", "records": []string{id}, "preview": preview}).WantProblem(http.StatusNotFound, "not_found")
			if p.Detail != miss.Detail && id != linus {
				t.Errorf("Erin restoring a record she cannot see: %q, a missing one: %q", p.Detail, miss.Detail)
			}
		}
	}
	// Ada: her name comes back, the note Erin cannot read stays today's.
	var job coffer.RestoreJob
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People", "records": []string{ada}, "preview": true}).WantStatus(http.StatusOK).JSON(&job)
	for _, d := range job.Result.Diff {
		for _, c := range d.Columns {
			if c.Column == "note" {
				t.Errorf("Erin's preview shows note: %+v", c)
			}
		}
	}
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People", "records": []string{ada}}).WantStatus(http.StatusOK)
	now := f.names(t)
	if now[ada]["name"] != "Ada" || now[ada]["note"] != "today" {
		t.Errorf("Erin's record restore: Ada is %v, want name Ada and note today", now[ada])
	}

	// The table: Rex (red, new) goes, Grace (blue then) stays deleted,
	// Linus and Zed (blue now) are untouched, Ada keeps today's note.
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+ada), f.Alice, map[string]any{"fields": map[string]any{"name": "Ada3"}}).WantStatus(http.StatusOK)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People"}).WantStatus(http.StatusOK)
	now = f.names(t)
	switch {
	case now[ada] == nil || now[ada]["name"] != "Ada" || now[ada]["note"] != "today":
		t.Errorf("Erin's table restore: Ada is %v", now[ada])
	case now[grace] != nil:
		t.Errorf("Erin's table restore brought back Grace, blue in the snapshot: %v", now[grace])
	case now[linus] == nil || now[linus]["name"] != "Linus2" || now[linus]["team"] != "blue":
		t.Errorf("Erin's table restore touched Linus, blue today: %v", now[linus])
	case now[zed.ID] == nil:
		t.Errorf("Erin's table restore deleted Zed, whom she cannot see")
	case now[rex.ID] != nil:
		t.Errorf("Erin's table restore kept Rex, red and not in the snapshot")
	}

	// As a copy: only what Erin reads, if she may at all.
	res := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "table": "People", "mode": "copy"})
	if res.Status == http.StatusOK {
		res.JSON(&job)
		var list struct{ Records []coffer.Record }
		f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/"+job.Result.Table.ID+"/records"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
		for _, r := range list.Records {
			if r.Fields["team"] != "red" || r.Fields["note"] != nil {
				t.Errorf("Erin's table copy holds what she cannot read: %v", r.Fields)
			}
		}
		for _, c := range job.Result.Table.Columns {
			if c.Name == "note" {
				t.Errorf("Erin's table copy has the note column")
			}
		}
	} else if res.Status >= 500 || res.Status < 400 {
		t.Errorf("Erin's table copy: %d %s", res.Status, res.Body)
	}
	// The whole notebook: neither as a copy nor in place.
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap, "mode": "copy"}).WantProblem(http.StatusForbidden, "forbidden")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), erinKey, map[string]any{"snapshot": f.snap}).WantProblem(http.StatusForbidden, "forbidden")
}

// sameRecords compares two views of a table by id and fields.
func sameRecords(a, b map[string]map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for id, fa := range a {
		fb := b[id]
		if fb == nil || len(fa) != len(fb) {
			return false
		}
		for k, v := range fa {
			if !sameValue(v, fb[k]) {
				return false
			}
		}
	}
	return true
}

func sameValue(a, b any) bool {
	return strings.TrimSpace(jsonOf(a)) == strings.TrimSpace(jsonOf(b))
}

// TestAttackCompareLeaks: the counts and diffs of a compare cover only
// what the caller sees; an invisible record is not found exactly as a
// missing one; a hidden table answers as a missing table everywhere.
func TestAttackCompareLeaks(t *testing.T) {
	f := mustBackupFixture(t)
	// Since the snapshot: Zed (blue) added, Ada's note changed.
	var zed coffer.Record
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records"), f.Alice, map[string]any{"fields": map[string]any{"name": "Zed", "team": "blue"}}).WantStatus(http.StatusCreated).JSON(&zed)
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+f.Recs[2]), f.Alice, map[string]any{"fields": map[string]any{"note": "only a note"}}).WantStatus(http.StatusOK)
	var tc coffer.TableCompare
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/compare?snapshot={snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&tc)
	if tc.Added != 0 || tc.Removed != 0 || tc.Changed != 1 || len(tc.Records) != 1 || tc.Records[0].ID != f.Recs[0] {
		t.Errorf("Carol's compare counts or lists what she cannot see (Zed added, Grace removed, Linus's note): %+v", tc)
	}
	missing := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/{missingrec}/compare?snapshot={snap}"), f.Carol, nil).WantProblem(http.StatusNotFound, "not_found")
	for _, id := range []string{f.Recs[1], zed.ID} {
		p := f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+id+"/compare?snapshot={snap}"), f.Carol, nil).WantProblem(http.StatusNotFound, "not_found")
		if p.Detail != missing.Detail {
			t.Errorf("compare of an invisible record: %q, a missing one: %q", p.Detail, missing.Detail)
		}
	}
	var rc coffer.RecordCompare
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+f.Recs[2]+"/compare?snapshot={snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&rc)
	if rc.Change != "same" {
		t.Errorf("Carol's compare of Linus shows a change in a column she cannot read: %+v", rc)
	}
	for _, c := range rc.Columns {
		if c.Column == "note" {
			t.Errorf("Carol's compare shows note")
		}
	}

	// Teams is hidden from Carol (her grant names People only): every
	// door answers as for a table that does not exist, and names nothing.
	for _, d := range []struct {
		method, path string
		body         func(table string) any
	}{
		{"GET", "/api/v1/notebooks/{nb}/tables/{t}/compare?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables/{t}/records?snapshot={snap}", nil},
		{"GET", "/api/v1/notebooks/{nb}/tables/{t}?snapshot={snap}", nil},
		{"POST", "/api/v1/notebooks/{nb}/restore", func(tb string) any { return map[string]any{"snapshot": f.snap, "table": tb} }},
		{"POST", "/api/v1/notebooks/{nb}/restore", func(tb string) any { return map[string]any{"snapshot": f.snap, "table": tb, "mode": "copy"} }},
		{"POST", "/api/v1/notebooks/{nb}/restore", func(tb string) any {
			return map[string]any{"snapshot": f.snap, "table": tb, "records": []string{f.MissingRec}}
		}},
	} {
		var answers [2]*Response
		for i, tb := range []string{"Teams", "Nope"} {
			var body any
			if d.body != nil {
				body = d.body(tb)
			}
			answers[i] = f.Do(d.method, f.P(strings.ReplaceAll(d.path, "{t}", tb)), f.Carol, body)
		}
		if answers[0].Status != answers[1].Status || strings.ReplaceAll(string(answers[0].Body), "Teams", "Nope") != string(answers[1].Body) {
			t.Errorf("%s %s: a hidden table answers %d %s, a missing one %d %s", d.method, d.path, answers[0].Status, answers[0].Body, answers[1].Status, answers[1].Body)
		}
	}
	var tables struct{ Tables []coffer.Table }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&tables)
	if len(tables.Tables) != 2 {
		t.Errorf("Carol's attempts created tables: %+v", tables.Tables)
	}
}

// TestAttackCopyNotebookFiles: a notebook restored as a copy holds the
// original's file rows; deleting a file in the copy must never delete
// the original's content.
func TestAttackCopyNotebookFiles(t *testing.T) {
	f := mustBackupFixture(t)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/columns"), f.Alice, map[string]any{"name": "doc", "type": "file"}).WantStatus(http.StatusCreated)
	ct, body := multipartBody(t, "file", "a.txt", "text/plain", []byte("the original's file"))
	var fl coffer.File
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records/{rec}/files/doc"), f.Alice, rawBody(body), "Content-Type", ct).WantStatus(http.StatusCreated).JSON(&fl)
	f.snap = f.src.MustTake(t, context.Background(), f.NB).ID
	var job coffer.RestoreJob
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), f.Alice, map[string]any{"snapshot": f.snap, "mode": "copy"}).WantStatus(http.StatusAccepted).JSON(&job)
	for i := 0; i < 200 && job.Status == "running"; i++ {
		time.Sleep(50 * time.Millisecond)
		f.Do("GET", "/api/v1/restores/"+job.ID, f.Alice, nil).WantStatus(http.StatusOK).JSON(&job)
	}
	if job.Status != "done" {
		t.Fatalf("copy: %+v", job)
	}
	cp := job.Result.Notebook.ID
	// In the copy, the file leaves its cell (Ada is deleted).
	f.Do("DELETE", "/api/v1/notebooks/"+cp+"/tables/People/records/"+f.Recs[0], f.Alice, nil).WantStatus(http.StatusNoContent)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := f.Store.CollectFiles(ctx); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(30 * 24 * time.Hour)
	}
	if _, err := f.Store.CollectFiles(ctx); err != nil {
		t.Fatal(err)
	}
	f.Alice = f.MustLogin("alice@example.com") // the clock moved on
	res := f.Do("GET", "/files/"+fl.ID, f.Alice, nil)
	if res.Status != http.StatusOK || string(res.Body) != "the original's file" {
		t.Errorf("the original's file after the copy's collection: %d %s", res.Status, res.Body)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAttackRestoreFile: a file comes back only into a cell the caller
// may write today and could read in the snapshot.
func TestAttackRestoreFile(t *testing.T) {
	f := mustBackupFixture(t)
	erin := f.MustUser("erin@example.com", "Erin")
	erinKey := f.MustLogin("erin@example.com")
	for _, c := range []string{"doc", "secret"} {
		f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/columns"), f.Alice, map[string]any{"name": c, "type": "file"}).WantStatus(http.StatusCreated)
	}
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/grants"), f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": erin.ID}, "table": "People", "rows": `team = "red"`,
		"columns": map[string]string{"*": "write", "note": "none", "secret": "none"}, "capabilities": []string{"restore"},
	}).WantStatus(http.StatusCreated)
	upload := func(rec, col, text string) coffer.File {
		ct, body := multipartBody(t, "file", col+".txt", "text/plain", []byte(text))
		var fl coffer.File
		f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+rec+"/files/"+col), f.Alice, rawBody(body), "Content-Type", ct).WantStatus(http.StatusCreated).JSON(&fl)
		return fl
	}
	ada, linus := f.Recs[0], f.Recs[2]
	adaDoc, adaSecret, linusDoc := upload(ada, "doc", "ada's doc"), upload(ada, "secret", "ada's secret"), upload(linus, "doc", "linus's doc")
	f.snap = f.src.MustTake(t, context.Background(), f.NB).ID
	for _, fl := range []coffer.File{adaDoc, adaSecret, linusDoc} {
		f.Do("DELETE", "/api/v1/files/"+fl.ID, f.Alice, nil).WantStatus(http.StatusNoContent)
	}
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+linus), f.Alice, map[string]any{"fields": map[string]any{"team": "blue"}}).WantStatus(http.StatusOK)
	before := f.names(t)
	restore := func(key string, fl coffer.File) *Response {
		return f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), key, map[string]any{"snapshot": f.snap, "file": fl.ID})
	}
	miss := restore(erinKey, coffer.File{ID: "fil_" + strings.Repeat("0", 52)}).WantProblem(http.StatusNotFound, "not_found")
	// Carol reads the red rows but writes nothing.
	if res := restore(f.Carol, adaDoc); res.Status < 400 || res.Status >= 500 {
		t.Errorf("Carol (read only) restored a file: %d %s", res.Status, res.Body)
	}
	// Erin: not a column she cannot read (secret): as a missing file; not
	// a row she saw then and cannot see today (Linus is blue now): not
	// found (that the record is there is no news: the record restore
	// says as much, it cannot bring back an id that exists).
	for _, fl := range []coffer.File{adaSecret, linusDoc} {
		p := restore(erinKey, fl).WantProblem(http.StatusNotFound, "not_found")
		if p.Detail != miss.Detail && fl.ID != linusDoc.ID {
			t.Errorf("Erin restoring %s: %q, a missing file: %q", fl.Name, p.Detail, miss.Detail)
		}
	}
	if got := f.names(t); !sameRecords(got, before) {
		t.Errorf("refused file restores changed People:\nbefore %v\nafter  %v", before, got)
	}
	// Her own cell: back.
	restore(erinKey, adaDoc).WantStatus(http.StatusOK)
	if res := f.Do("GET", "/files/"+adaDoc.ID, f.Alice, nil); res.Status != http.StatusOK || string(res.Body) != "ada's doc" {
		t.Errorf("restored file: %d %s", res.Status, res.Body)
	}
}

// TestAttackRestoreKeys: a read-only API key restores nothing (a preview
// writes nothing either), a key limited to other notebooks reaches no
// snapshot of this one.
func TestAttackRestoreKeys(t *testing.T) {
	f := mustBackupFixture(t)
	var ro, scoped coffer.APIKey
	var other coffer.Notebook
	f.Do("POST", "/api/v1/notebooks", f.Alice, map[string]any{"name": "Other"}).WantStatus(http.StatusCreated).JSON(&other)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "ro", "read_only": true}).WantStatus(http.StatusCreated).JSON(&ro)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "other", "notebooks": []string{other.ID}}).WantStatus(http.StatusCreated).JSON(&scoped)
	before := f.names(t)
	for _, b := range []map[string]any{
		{"snapshot": f.snap, "table": "People"},
		{"snapshot": f.snap, "table": "People", "records": []string{f.Recs[0], f.Recs[1]}},
		{"snapshot": f.snap, "table": "People", "mode": "copy"},
		{"snapshot": f.snap, "mode": "copy"},
		{"snapshot": f.snap},
	} {
		f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), ro.Key, b).WantProblem(http.StatusForbidden, "forbidden")
		f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), scoped.Key, b).WantProblem(http.StatusNotFound, "not_found")
	}
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), scoped.Key, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables/People/records?snapshot={snap}"), scoped.Key, nil).WantProblem(http.StatusNotFound, "not_found")
	// A preview by the read-only key: refused or a preview, never a write.
	if res := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), ro.Key, map[string]any{"snapshot": f.snap, "table": "People", "records": []string{f.Recs[0], f.Recs[1]}, "preview": true}); res.Status != http.StatusOK && res.Status != http.StatusForbidden {
		t.Errorf("preview by a read-only key: %d %s", res.Status, res.Body)
	}
	if got := f.names(t); !sameRecords(got, before) {
		t.Errorf("restores by restricted keys changed People:\nbefore %v\nafter  %v", before, got)
	}
	var tables struct{ Tables []coffer.Table }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/tables"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&tables)
	var nbs struct{ Notebooks []coffer.Notebook }
	f.Do("GET", "/api/v1/notebooks", f.Alice, nil).WantStatus(http.StatusOK).JSON(&nbs)
	if len(tables.Tables) != 2 || len(nbs.Notebooks) != 2 {
		t.Errorf("restricted keys made %d tables, %d notebooks", len(tables.Tables), len(nbs.Notebooks))
	}
}

// sizedSnapshots is a snapshot source that reports sizes and row counts,
// as the backup service's does (the test source reports none).
type sizedSnapshots struct{ coffer.SnapshotSource }

func (s sizedSnapshots) sized(sn *coffer.Snapshot) *coffer.Snapshot {
	c := *sn
	c.Size, c.Rows = 4096, 3
	return &c
}

func (s sizedSnapshots) Snapshots(ctx context.Context, nb string) ([]*coffer.Snapshot, error) {
	list, err := s.SnapshotSource.Snapshots(ctx, nb)
	for i, sn := range list {
		list[i] = s.sized(sn)
	}
	return list, err
}

func (s sizedSnapshots) Snapshot(ctx context.Context, id string) (*coffer.Snapshot, error) {
	sn, err := s.SnapshotSource.Snapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.sized(sn), nil
}

// TestAttackSnapshotCounts: a snapshot's size and row count are the whole
// notebook's: a grantee who sees part of it (Carol: the red people) must
// not learn how many rows she cannot see; owners do.
func TestAttackSnapshotCounts(t *testing.T) {
	f := mustBackupFixture(t)
	f.Store.SetSnapshots(sizedSnapshots{f.src}, nil)
	var out struct{ Snapshots []coffer.Snapshot }
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), f.Alice, nil).WantStatus(http.StatusOK).JSON(&out)
	if len(out.Snapshots) != 1 || out.Snapshots[0].Rows != 3 || out.Snapshots[0].Size != 4096 {
		t.Errorf("the owner's list: %+v", out.Snapshots)
	}
	out.Snapshots = nil // absent fields would keep the owner's values
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&out)
	var one coffer.Snapshot
	f.Do("GET", f.P("/api/v1/notebooks/{nb}/snapshots/{snap}"), f.Carol, nil).WantStatus(http.StatusOK).JSON(&one)
	for _, sn := range append(out.Snapshots, one) {
		if sn.Rows != 0 || sn.Size != 0 {
			t.Errorf("Carol learns the whole notebook's size and rows: %+v", sn)
		}
	}
}

// TestAttackReadWideWriteNarrow: Fay reads every person but writes only
// the red ones. A table restore must not delete, bring back or overwrite
// a blue one: refused whole, or limited to the red rows.
func TestAttackReadWideWriteNarrow(t *testing.T) {
	f := mustBackupFixture(t)
	fay := f.MustUser("fay@example.com", "Fay")
	fayKey := f.MustLogin("fay@example.com")
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/grants"), f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": fay.ID}, "table": "People",
		"columns": map[string]string{"*": "read"}, "capabilities": []string{"restore"},
	}).WantStatus(http.StatusCreated)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/grants"), f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": fay.ID}, "table": "People", "rows": `team = "red"`,
		"columns": map[string]string{"*": "write"}, "capabilities": []string{"create", "delete"},
	}).WantStatus(http.StatusCreated)
	// Since the snapshot (besides Ada2 and Grace, blue, deleted): Zed
	// (blue) added, Linus (red) renamed, Nia (blue) added.
	var zed coffer.Record
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/tables/People/records"), f.Alice, map[string]any{"fields": map[string]any{"name": "Zed", "team": "blue"}}).WantStatus(http.StatusCreated).JSON(&zed)
	f.Do("PATCH", f.P("/api/v1/notebooks/{nb}/tables/People/records/"+f.Recs[2]), f.Alice, map[string]any{"fields": map[string]any{"name": "Linus2"}}).WantStatus(http.StatusOK)
	before := f.names(t)
	res := f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), fayKey, map[string]any{"snapshot": f.snap, "table": "People"})
	after := f.names(t)
	t.Logf("Fay's table restore: %d %s", res.Status, res.Body)
	if res.Status >= 500 {
		t.Fatalf("Fay's table restore: %d %s", res.Status, res.Body)
	}
	if res.Status >= 400 {
		if !sameRecords(after, before) {
			t.Errorf("a refused restore changed People:\nbefore %v\nafter  %v", before, after)
		}
		return
	}
	if after[zed.ID] == nil {
		t.Errorf("Fay's table restore deleted Zed (blue), whom she may not delete")
	}
	if after[f.Recs[1]] != nil {
		t.Errorf("Fay's table restore brought back Grace (blue), whom she may not create")
	}
	if after[f.Recs[2]]["name"] != "Linus" || after[f.Recs[0]]["name"] != "Ada" {
		t.Errorf("Fay's table restore left her red rows: %v", after)
	}
}

// TestAttackSnapshotEncryptedColumn: an encrypted column whose password
// changed since the snapshot. A key is checked against the column as the
// snapshot has it: the old password opens the snapshot's values (those it
// opened then: nothing written since), today's password is refused there.
// Without a key the cell stays locked; never a server error.
func TestAttackSnapshotEncryptedColumn(t *testing.T) {
	s := newSecretAPI(t)
	e, key := s.e, s.key
	src := storetest.MustCopySnapshots(t, e.Store)
	var rec struct{ ID string }
	e.Do("POST", s.base+"/records", key, map[string]any{"fields": map[string]any{"Name": "a", "Secret": apiPlain}}, s.header(apiColPassword)...).WantStatus(201).JSON(&rec)
	snap := src.MustTake(t, context.Background(), s.nb).ID
	next := "a new column password 2026"
	e.Do("PATCH", s.base+"/columns/Secret", key, map[string]any{"options": map[string]any{"password": next, "current_password": apiColPassword}}).WantStatus(200)
	path := s.base + "/records/" + rec.ID + "?snapshot=" + snap
	// Without a key: locked.
	if b := e.Do("GET", path, key, nil).WantStatus(200).Body; strings.Contains(string(b), apiPlain) {
		t.Errorf("the snapshot's secret without a key: %s", b)
	}
	// The old password: the snapshot's values, and nothing of today.
	e.Do("GET", s.base+"/records/"+rec.ID, key, nil, s.header(apiColPassword)...).WantProblem(403, coffer.EKEY)
	if b := e.Do("GET", path, key, nil, s.header(apiColPassword)...).WantStatus(200).Body; !strings.Contains(string(b), apiPlain) {
		t.Errorf("the snapshot's value with the password of its time: %s", b)
	}
	// Today's password: refused on the snapshot, no server error.
	e.Do("GET", path, key, nil, "X-Coffer-Column-Key", s.enc+":"+next).WantProblem(403, coffer.EKEY)
}

// TestAttackAdminRestore: an admin (not owner) may copy a whole snapshot
// (they see every cell) but not set the notebook back in place.
func TestAttackAdminRestore(t *testing.T) {
	f := mustBackupFixture(t)
	dave := f.MustUser("dave@example.com", "Dave")
	daveKey := f.MustLogin("dave@example.com")
	f.Do("PUT", f.P("/api/v1/notebooks/{nb}/members/"+dave.ID), f.Alice, map[string]any{"role": "admin"}).WantStatus(http.StatusOK)
	before := f.names(t)
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), daveKey, map[string]any{"snapshot": f.snap}).WantProblem(http.StatusForbidden, "forbidden")
	if got := f.names(t); !sameRecords(got, before) {
		t.Errorf("a refused in-place restore changed People")
	}
	var job coffer.RestoreJob
	f.Do("POST", f.P("/api/v1/notebooks/{nb}/restore"), daveKey, map[string]any{"snapshot": f.snap, "mode": "copy"}).WantStatus(http.StatusAccepted).JSON(&job)
	for i := 0; i < 200 && job.Status == "running"; i++ {
		time.Sleep(50 * time.Millisecond)
		f.Do("GET", "/api/v1/restores/"+job.ID, daveKey, nil).WantStatus(http.StatusOK).JSON(&job)
	}
	if job.Status != "done" || job.Result.Notebook == nil || job.Result.Notebook.OwnerID != dave.ID {
		t.Fatalf("Dave's copy: %+v", job)
	}
	// The original's grantees do not reach Dave's copy; the job is his.
	f.Do("GET", "/api/v1/notebooks/"+job.Result.Notebook.ID, f.Carol, nil).WantProblem(http.StatusNotFound, "not_found")
	f.Do("GET", "/api/v1/restores/"+job.ID, f.Alice, nil).WantProblem(http.StatusNotFound, "not_found")
}
