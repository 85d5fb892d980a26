package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// testRevertRecord: a revert sets chosen cells back and keeps later changes
// to the others; it is one action, itself in the history; it brings a
// deleted record back with its id and deletes one created since.
func testRevertRecord(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	t1 := f.tick()
	r := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "Ada", "Age": 30})
	t2 := f.tick()
	if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Age": 31}, 0); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Name": "Grace"}, 0); err != nil {
		t.Fatal(err)
	}
	f.tick()
	res, err := s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t1), Columns: []string{"Age"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq == 0 || !slices.Equal(res.Updated, []string{r.ID}) {
		t.Errorf("revert of Age: %+v, want one action updating %s", res, r.ID)
	}
	wantFieldsJSON(t, "Age reverted", MustFindRecord(t, ctx, s, f.nb, "People", r.ID), map[string]any{"Name": "Grace", "Age": json.Number("30")})
	// The revert is in the history: just before it, Age was 31.
	before, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, &coffer.AsOf{Seq: res.Seq - 1})
	if err != nil {
		t.Fatal(err)
	}
	wantFieldsJSON(t, "just before the revert", before, map[string]any{"Name": "Grace", "Age": json.Number("31")})
	// Nothing differs: nothing is written.
	res, err = s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t1), Columns: []string{"Age"}})
	if err != nil || res.Seq != 0 || len(res.Updated) != 0 {
		t.Errorf("a revert that changes nothing: %+v, %v", res, err)
	}
	f.tick()
	if _, err := s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t2)}); err != nil {
		t.Fatal(err)
	}
	wantFieldsJSON(t, "whole record to t2", MustFindRecord(t, ctx, s, f.nb, "People", r.ID), map[string]any{"Name": "Ada", "Age": json.Number("31")})

	// A deleted record comes back with its id and creation.
	t5 := f.clk.Now()
	f.tick()
	if err := s.DeleteRecord(ctx, f.nb, "People", r.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.tick()
	res, err = s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t5)})
	if err != nil || !slices.Equal(res.Restored, []string{r.ID}) {
		t.Fatalf("revert of a deleted record: %+v, %v", res, err)
	}
	back := MustFindRecord(t, ctx, s, f.nb, "People", r.ID)
	wantFieldsJSON(t, "brought back", back, map[string]any{"Name": "Ada", "Age": json.Number("31")})
	if !back.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("brought back with created_at %v, want %v", back.CreatedAt, r.CreatedAt)
	}
	// A record created since is deleted (only as a whole).
	t7 := f.clk.Now()
	f.tick()
	n := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "New"})
	f.tick()
	_, err = s.RevertRecord(ctx, f.nb, "People", n.ID, coffer.RevertInput{To: at(t7), Columns: []string{"Name"}})
	wantCode(t, err, coffer.EINVALID)
	if res, err = s.RevertRecord(ctx, f.nb, "People", n.ID, coffer.RevertInput{To: at(t7)}); err != nil || !slices.Equal(res.Deleted, []string{n.ID}) {
		t.Fatalf("revert of a new record: %+v, %v", res, err)
	}
	_, err = s.FindRecord(ctx, f.nb, "People", n.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t7), Columns: []string{"Nope"}})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "columns[0]")
	_, err = s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{})
	wantCode(t, err, coffer.EINVALID)

	checkRevertAccess(t, f, r.ID, t1, t7)
}

// checkRevertAccess: a viewer has no history; a grant holder without
// write on a column cannot revert it, and may revert one they may write.
func checkRevertAccess(t *testing.T, f *asOfFixture, id string, t1, t7 time.Time) {
	s, ctx := f.s, f.ctx
	vctx, _ := f.member(t, "viewer")
	_, err := s.RevertRecord(vctx, f.nb, "People", id, coffer.RevertInput{To: at(t1)})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindRecordAsOf(vctx, f.nb, "People", id, at(t1))
	wantCode(t, err, coffer.EFORBIDDEN)
	ectx, eu := MustUser(t, s)
	tbl := f.tbl.ID
	if _, err := s.CreateGrant(ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: eu.ID}, Table: &tbl,
		Columns: map[string]string{"*": "read", "Name": "write"}, Capabilities: []string{"history"}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.RevertRecord(ectx, f.nb, "People", id, coffer.RevertInput{To: at(t1), Columns: []string{"Age"}})
	wantCode(t, err, coffer.EFORBIDDEN)
	if _, err := s.RevertRecord(ectx, f.nb, "People", id, coffer.RevertInput{To: at(t7), Columns: []string{"Name"}}); err != nil {
		t.Errorf("revert of a column one may write: %v", err)
	}
}

// testRevertTable: records changed since get their old values back, those
// created since are deleted, those deleted since come back with their ids
// (links between them included), in one action.
func testRevertTable(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	if _, err := s.CreateColumn(ctx, f.nb, "People", col("Friends", coffer.TypeLink, linkTo(f.tbl.ID, true))); err != nil {
		t.Fatal(err)
	}
	t1 := f.tick()
	a := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "a", "Age": 1})
	b := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "b", "Age": 2, "Friends": []string{a.ID}})
	c := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "c", "Friends": []string{b.ID}})
	f.tick()
	want := MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{})
	if _, err := s.UpdateRecord(ctx, f.nb, "People", a.ID, map[string]any{"Name": "A", "Age": 10}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(ctx, f.nb, "People", b.ID, 0); err != nil { // c loses its link
		t.Fatal(err)
	}
	d := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "d", "Friends": []string{a.ID}})
	f.tick()
	res, err := s.RevertTable(ctx, f.nb, "People", coffer.RevertInput{To: at(t1)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Restored, []string{b.ID}) || !slices.Equal(res.Deleted, []string{d.ID}) || !slices.Equal(sorted(res.Updated), sorted([]string{a.ID, c.ID})) {
		t.Errorf("table revert: %+v, want b restored, d deleted, a and c updated", res)
	}
	got := MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{})
	if len(got) != len(want) {
		t.Fatalf("after the revert: %v, want %v", ids(got), ids(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			t.Fatalf("after the revert: %v, want %v", ids(got), ids(want))
		}
		wantFieldsJSON(t, "after the table revert "+got[i].ID, got[i], want[i].Fields)
	}
	// One action: just before it, the table was as it was before.
	before := MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: &coffer.AsOf{Seq: res.Seq - 1}})
	if !slicesEqual(sorted(ids(before)), sorted([]string{a.ID, c.ID, d.ID})) {
		t.Errorf("just before the revert: %v, want a, c and d", ids(before))
	}
	// Reverting to now changes nothing.
	if res, err = s.RevertTable(ctx, f.nb, "People", coffer.RevertInput{To: &coffer.AsOf{Time: f.tick()}}); err != nil || res.Seq != 0 {
		t.Errorf("revert to now: %+v, %v", res, err)
	}
}
