package storetest

import (
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// testAsOfAccess: the access rules of now apply to the past state. A
// grant holder with history sees a record at a moment when their row
// condition holds on it as it was then, never a column hidden from them;
// filters and sorts on hidden columns are unknown columns; without the
// history capability time travel is refused.
func testAsOfAccess(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	tbl := MustTable(t, ctx, s, f.nb, "Staff", col("Name", coffer.TypeText), col("Team", coffer.TypeText), col("Salary", coffer.TypeNumber))
	uctx, u := MustUser(t, s)
	if _, err := s.CreateGrant(ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &tbl.ID,
		Rows: `Team = "red"`, Columns: map[string]string{"*": "read", "Salary": "none"}, Capabilities: []string{"history"}}); err != nil {
		t.Fatal(err)
	}
	vctx, v := MustUser(t, s)
	if _, err := s.CreateGrant(ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: v.ID}, Table: &tbl.ID}); err != nil {
		t.Fatal(err)
	}
	t1 := f.tick()
	x := MustRecord(t, ctx, s, f.nb, "Staff", map[string]any{"Name": "x", "Team": "red", "Salary": 100})
	y := MustRecord(t, ctx, s, f.nb, "Staff", map[string]any{"Name": "y", "Team": "blue", "Salary": 200})
	t2 := f.tick()
	if _, err := s.UpdateRecord(ctx, f.nb, "Staff", x.ID, map[string]any{"Team": "blue", "Salary": 101}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(ctx, f.nb, "Staff", y.ID, map[string]any{"Team": "red", "Salary": 201}, 0); err != nil {
		t.Fatal(err)
	}
	f.tick()

	// At t1 only x was red; at t2 only y.
	r, err := s.FindRecordAsOf(uctx, f.nb, "Staff", x.ID, at(t1))
	if err != nil {
		t.Fatalf("x as of t1, seen by the red grant: %v", err)
	}
	if _, ok := r.Fields["Salary"]; ok || r.Fields["Team"] != "red" {
		t.Errorf("x as of t1: %v, want Team red and no Salary", r.Fields)
	}
	_, err = s.FindRecordAsOf(uctx, f.nb, "Staff", y.ID, at(t1))
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.FindRecordAsOf(uctx, f.nb, "Staff", x.ID, at(t2))
	wantCode(t, err, coffer.ENOTFOUND)
	if got := MustListAll(t, uctx, s, f.nb, "Staff", coffer.ListQuery{AsOf: at(t1)}); !slicesEqual(ids(got), []string{x.ID}) {
		t.Errorf("list as of t1 by the red grant: %v, want x only", ids(got))
	}
	l := MustList(t, uctx, s, f.nb, "Staff", coffer.ListQuery{AsOf: at(t2), Count: true})
	if !slicesEqual(ids(l.Records), []string{y.ID}) || *l.Total != 1 {
		t.Errorf("list as of t2 by the red grant: %v (total %d), want y only", ids(l.Records), *l.Total)
	}
	for _, r := range l.Records {
		if _, ok := r.Fields["Salary"]; ok {
			t.Errorf("list as of t2 shows Salary: %v", r.Fields)
		}
	}
	// A hidden column is, as now, a column that does not exist.
	_, err = s.FindRecords(uctx, f.nb, "Staff", coffer.ListQuery{AsOf: at(t1), Filter: "Salary > 0"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(uctx, f.nb, "Staff", coffer.ListQuery{AsOf: at(t1), Sort: "Salary"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(uctx, f.nb, "Staff", coffer.ListQuery{AsOf: at(t1), Fields: []string{"Salary"}})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.RevertRecord(uctx, f.nb, "Staff", x.ID, coffer.RevertInput{To: at(t1), Columns: []string{"Salary"}})
	wantCode(t, err, coffer.EINVALID)

	// Reading without the history capability is refused; reading now is not.
	_, err = s.FindRecordAsOf(vctx, f.nb, "Staff", x.ID, at(t1))
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindRecords(vctx, f.nb, "Staff", coffer.ListQuery{AsOf: at(t1)})
	wantCode(t, err, coffer.EFORBIDDEN)
	MustFindRecord(t, vctx, s, f.nb, "Staff", x.ID)
	// Someone who does not see the notebook: not found, as for anything else.
	octx, _ := MustUser(t, s)
	_, err = s.FindRecordAsOf(octx, f.nb, "Staff", x.ID, at(t1))
	wantCode(t, err, coffer.ENOTFOUND)
}
