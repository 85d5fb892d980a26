package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func init() { historyGroups = append(historyGroups, group{"CountTotals", testCountTotals}) }

// testCountTotals checks the totals of lists where a backend caches them
// (SQLite: by the notebook's data version): a total asked again after any
// write (create, an update moving a row into or out of the filter, delete,
// undo, trash restore, a batch) is the new one, and callers with different
// grants each get their own total, which follows a grant change at once.
// Every total is asked twice (the second may be served from the cache) and
// compared with the expected number and with the records the list returns.
func testCountTotals(t *testing.T, open Opener) {
	t.Run("AfterWrites", func(t *testing.T) { testCountAfterWrites(t, open(t)) })
	t.Run("PerCaller", func(t *testing.T) { testCountPerCaller(t, open(t)) })
	t.Run("TypeChange", func(t *testing.T) { testCountTypeChange(t, open(t)) })
}

// testCountTypeChange checks totals across a column's type change, its
// undo and a column delete. (Their filters compile to other SQL or bind
// values of another type, so these check the totals rather than the
// version: the writes above do that.)
func testCountTypeChange(t *testing.T, s *all.Store) {
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Totals")
	tbl := MustTable(t, ctx, s, nb.ID, "Things",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Note", Type: coffer.TypeText})
	for _, note := range []any{"12", "7", "30", nil} {
		MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": "x", "Note": note})
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "Note is null", 1, "text")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, `Note = "7"`, 1, "text")
	typ := coffer.TypeNumber
	if _, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Note", coffer.ColumnUpdate{Type: &typ}); err != nil {
		t.Fatalf("change Note to a number: %v (fields %v)", err, coffer.ErrorFields(err))
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "Note > 10", 2, "after the type change")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "Note is null", 1, "after the type change")
	mustUndo(t, ctx, s, nb.ID, false)
	checkTotal(t, ctx, s, nb.ID, tbl.ID, `Note = "7"`, 1, "after its undo")
	if err := s.DeleteColumn(ctx, nb.ID, tbl.ID, "Note"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindRecords(ctx, nb.ID, tbl.ID, coffer.ListQuery{Filter: "Note is null", Count: true}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("total on a deleted column: %v, want EINVALID", err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "", 4, "after a column delete")
}

// checkTotal asks for the total of filter twice and fails unless both are
// want and equal to the number of records the list returns.
func checkTotal(t *testing.T, ctx context.Context, s *all.Store, nb, table, filter string, want int, step string) {
	t.Helper()
	for i := 0; i < 2; i++ {
		l := MustList(t, ctx, s, nb, table, coffer.ListQuery{Filter: filter, Limit: 1, Count: true})
		if l.Total == nil || *l.Total != int64(want) {
			t.Fatalf("%s: total of %q (ask %d) = %v, want %d", step, filter, i+1, totalString(l.Total), want)
		}
	}
	if n := len(MustListAll(t, ctx, s, nb, table, coffer.ListQuery{Filter: filter})); n != want {
		t.Fatalf("%s: the list of %q holds %d records, want %d", step, filter, n, want)
	}
}

func totalString(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func testCountAfterWrites(t *testing.T, s *all.Store) {
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Totals")
	tbl := MustTable(t, ctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber})
	const f = "Age > 25"
	var ids []string
	for _, age := range []int{10, 20, 30, 40, 50} {
		ids = append(ids, MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": fmt.Sprint("p", age), "Age": age}).ID)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 3, "created 5")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "", 5, "created 5")

	MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": "p60", "Age": 60})
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 4, "create")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "", 6, "create")

	if _, err := s.UpdateRecord(ctx, nb.ID, tbl.ID, ids[0], map[string]any{"Age": 70}, 0); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 5, "update into the filter")
	if _, err := s.UpdateRecord(ctx, nb.ID, tbl.ID, ids[4], map[string]any{"Age": 5}, 0); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 4, "update out of the filter")

	if err := s.DeleteRecord(ctx, nb.ID, tbl.ID, ids[2], 0); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 3, "delete")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "", 5, "delete")

	mustUndo(t, ctx, s, nb.ID, false) // the delete
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 4, "undo of the delete")
	mustUndo(t, ctx, s, nb.ID, true)
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 3, "redo of the delete")

	if _, err := s.RestoreRecord(ctx, nb.ID, tbl.ID, ids[2]); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 4, "trash restore")

	ops := []coffer.BatchOp{
		{Op: coffer.OpCreate, Fields: map[string]any{"Name": "b1", "Age": 90}},
		{Op: coffer.OpCreate, Fields: map[string]any{"Name": "b2", "Age": 1}},
		{Op: coffer.OpDelete, ID: ids[3]},
	}
	if _, err := s.Batch(ctx, nb.ID, tbl.ID, ops); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 4, "batch")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, "", 7, "batch")
}

func testCountPerCaller(t *testing.T, s *all.Store) {
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Totals")
	tbl := MustTable(t, ctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Team", Type: coffer.TypeText})
	// red: ages 30, 40, 50, 60; blue: 10, 35, 45.
	for i, p := range []struct {
		team string
		age  int
	}{{"red", 30}, {"red", 40}, {"red", 50}, {"red", 60}, {"blue", 10}, {"blue", 35}, {"blue", 45}} {
		MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": fmt.Sprint("p", i), "Age": p.age, "Team": p.team})
	}
	grant := func(rows string, cols map[string]string) (context.Context, *coffer.Grant) {
		t.Helper()
		uctx, u := MustUser(t, s)
		g, err := s.CreateGrant(ctx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &tbl.ID, Rows: rows, Columns: cols})
		if err != nil {
			t.Fatal(err)
		}
		return uctx, g
	}
	red, redGrant := grant(`Team = "red"`, map[string]string{"*": "read"})
	blue, _ := grant(`Team = "blue"`, map[string]string{"*": "read"})
	// masked sees every row, and Age only in red rows: Age > 32 counts the
	// red rows alone (a masked cell is NULL to the filter).
	masked, u := MustUser(t, s)
	for _, in := range []coffer.GrantInput{
		{Principal: coffer.Principal{Type: "user"}, Table: &tbl.ID, Rows: `Team = "red"`, Columns: map[string]string{"*": "read"}},
		{Principal: coffer.Principal{Type: "user"}, Table: &tbl.ID, Columns: map[string]string{"*": "read", "Age": "none"}},
	} {
		in.Principal.ID = u.ID
		if _, err := s.CreateGrant(ctx, nb.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	const f = "Age > 32"
	// Each in turn and then again in another order: a total cached for
	// one caller must never be served to another.
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}} {
		for _, i := range order {
			switch i {
			case 0:
				checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 5, "owner")
			case 1:
				checkTotal(t, red, s, nb.ID, tbl.ID, f, 3, "red grantee")
			case 2:
				checkTotal(t, blue, s, nb.ID, tbl.ID, f, 2, "blue grantee")
			case 3:
				checkTotal(t, masked, s, nb.ID, tbl.ID, f, 3, "grantee with Age masked outside red")
			}
		}
	}
	checkTotal(t, masked, s, nb.ID, tbl.ID, "", 7, "grantee with Age masked outside red")

	// Narrowing a grant narrows the total at once.
	rows := `Team = "red" && Age < 45`
	if _, err := s.UpdateGrant(ctx, nb.ID, redGrant.ID, coffer.GrantUpdate{Rows: &rows}); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, red, s, nb.ID, tbl.ID, f, 1, "red grantee after narrowing")
	checkTotal(t, ctx, s, nb.ID, tbl.ID, f, 5, "owner after narrowing")
	// Revoked: no total at all (the table is not found).
	if err := s.DeleteGrant(ctx, nb.ID, redGrant.ID); err != nil {
		t.Fatal(err)
	}
	if l, err := s.FindRecords(red, nb.ID, tbl.ID, coffer.ListQuery{Filter: f, Count: true}); err == nil {
		t.Fatalf("red grantee after revoke: total %v, want an error", totalString(l.Total))
	}
	checkTotal(t, blue, s, nb.ID, tbl.ID, f, 2, "blue grantee after the revoke")
}
