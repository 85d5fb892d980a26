package storetest

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testUndoColumns(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo columns")
	ctx, nb := st.ctx, st.nb
	tbl := MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber, precision(1)), col("Note", coffer.TypeText))
	r1 := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "a", "Age": "3.5", "Note": "n1"})
	r2 := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "b", "Note": "n2"})
	before1, before2 := MustFindRecord(t, ctx, s, nb, "T", r1.ID), MustFindRecord(t, ctx, s, nb, "T", r2.ID)
	wantTable := func(what string, want *coffer.Table) {
		t.Helper()
		got, err := s.FindTable(ctx, nb, "T")
		if err != nil {
			t.Fatal(err)
		}
		if g, w := mustJSON(t, got.Columns), mustJSON(t, want.Columns); g != w {
			t.Errorf("%s: columns = %s, want %s", what, g, w)
		}
	}
	// Delete a column: it comes back with its id, position and values.
	if err := s.DeleteColumn(ctx, nb, "T", "Age"); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	wantTable("column delete undone", tbl)
	wantRecord(t, ctx, s, nb, "T", before1)
	wantRecord(t, ctx, s, nb, "T", before2)
	// Retype and rename: exact values back.
	typ, name := coffer.TypeText, "Years"
	if _, err := s.UpdateColumn(ctx, nb, "T", "Age", coffer.ColumnUpdate{Type: &typ, Name: &name}); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	wantTable("retype undone", tbl)
	wantRecord(t, ctx, s, nb, "T", before1)
	mustUndo(t, ctx, s, nb, true)
	if got := MustFindRecord(t, ctx, s, nb, "T", r1.ID).Fields["Years"]; got != "3.5" {
		t.Errorf("redo of the retype: Years = %#v", got)
	}
	mustUndo(t, ctx, s, nb, false)
	// Create a column: undo drops it; redo brings it back with its id.
	c, err := s.CreateColumn(ctx, nb, "T", col("Extra", coffer.TypeText))
	if err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	wantTable("column create undone", tbl)
	mustUndo(t, ctx, s, nb, true)
	got, _ := s.FindTable(ctx, nb, "T")
	if last := got.Columns[len(got.Columns)-1]; last.ID != c.ID || last.Name != "Extra" {
		t.Errorf("redo of the column's creation: %+v", last)
	}
}

func testUndoColumnCreateConflict(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo column create")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText))
	r := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "a"})
	if _, err := s.CreateColumn(ctx, nb, "T", col("Extra", coffer.TypeText)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(bobCtx, nb, "T", r.ID, map[string]any{"Extra": "bob's"}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Undo(ctx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ECONFLICT)
	if cells := coffer.ErrorCells(err); len(cells) != 1 || cells[0] != (coffer.CellRef{Table: "T", Record: r.ID, Column: "Extra"}) {
		t.Errorf("conflict cells = %+v", cells)
	}
	if _, err := s.Undo(ctx, nb, coffer.UndoOptions{Force: true}); !wantCode(t, err, "") {
		return
	}
	if _, ok := MustFindRecord(t, ctx, s, nb, "T", r.ID).Fields["Extra"]; ok {
		t.Error("the forced undo left the column")
	}
	// Redo brings Bob's value back with the column.
	mustUndo(t, ctx, s, nb, true)
	if got := MustFindRecord(t, ctx, s, nb, "T", r.ID).Fields["Extra"]; got != "bob's" {
		t.Errorf("redo: Extra = %#v", got)
	}
}

func testUndoTables(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo tables")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "Authors", col("Name", coffer.TypeText))
	authors, _ := s.FindTable(ctx, nb, "Authors")
	books := MustTable(t, ctx, s, nb, "Books", col("Title", coffer.TypeText), col("By", coffer.TypeLink, linkTo(authors.ID, true)),
		col("Pages", coffer.TypeNumber))
	x := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "X"})
	y := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "Y"})
	var recs []*coffer.Record
	for i, by := range [][]any{{y.ID, x.ID}, {x.ID}, nil} {
		r := MustRecord(t, ctx, s, nb, "Books", map[string]any{"Title": string(rune('A' + i)), "By": by, "Pages": i * 100})
		recs = append(recs, MustFindRecord(t, ctx, s, nb, "Books", r.ID))
	}
	v, err := s.CreateView(ctx, nb, "Books", coffer.ViewInput{Name: "Long", Filter: "Pages > 50", Columns: []string{"Title"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		got, err := s.FindTable(ctx, nb, "Books")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if g, w := mustJSON(t, got.Columns), mustJSON(t, books.Columns); got.ID != books.ID || g != w {
			t.Errorf("%s: table %s columns %s, want %s %s", what, got.ID, g, books.ID, w)
		}
		for _, r := range recs {
			wantRecord(t, ctx, s, nb, "Books", r)
		}
		if gv, err := s.FindView(ctx, nb, "Books", v.ID); err != nil || gv.Filter != v.Filter || !slices.Equal(gv.Columns, v.Columns) {
			t.Errorf("%s: view = %+v, %v", what, gv, err)
		}
	}
	if err := s.DeleteTable(ctx, nb, "Books"); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	check("table delete undone")
	mustUndo(t, ctx, s, nb, true)
	if _, err := s.FindTable(ctx, nb, "Books"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("redo of the delete: FindTable = %v", err)
	}
	mustUndo(t, ctx, s, nb, false)
	check("table delete undone again")
	// A rename, and a creation.
	name := "Novels"
	if _, err := s.UpdateTable(ctx, nb, "Books", coffer.TableUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	check("rename undone")
	MustTable(t, ctx, s, nb, "Scratch", col("A", coffer.TypeText))
	mustUndo(t, ctx, s, nb, false)
	if _, err := s.FindTable(ctx, nb, "Scratch"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("undo of a creation: FindTable = %v", err)
	}
	// A table someone else wrote in since is not dropped, unless forced;
	// then redo brings it back with their record.
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "Scratch", col("A", coffer.TypeText))
	theirs := MustFindRecord(t, ctx, s, nb, "Scratch", MustRecord(t, bobCtx, s, nb, "Scratch", map[string]any{"A": "bob's"}).ID)
	_, err = s.Undo(ctx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ECONFLICT)
	if cells := coffer.ErrorCells(err); len(cells) != 1 || cells[0] != (coffer.CellRef{Table: "Scratch", Record: theirs.ID}) {
		t.Errorf("conflict cells = %+v", cells)
	}
	if _, err := s.Undo(ctx, nb, coffer.UndoOptions{Force: true}); !wantCode(t, err, "") {
		return
	}
	if _, err := s.FindTable(ctx, nb, "Scratch"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("forced undo of a creation: FindTable = %v", err)
	}
	mustUndo(t, ctx, s, nb, true)
	wantRecord(t, ctx, s, nb, "Scratch", theirs)
}

func testUndoViews(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo views")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber))
	v, err := s.CreateView(ctx, nb, "T", coffer.ViewInput{Name: "Big", Filter: "N > 5", Sort: "-N"})
	if err != nil {
		t.Fatal(err)
	}
	f, n := "N > 9", "Bigger"
	if _, err := s.UpdateView(ctx, nb, "T", v.ID, coffer.ViewUpdate{Filter: &f, Name: &n}); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	got, err := s.FindView(ctx, nb, "T", v.ID)
	if err != nil || got.Name != "Big" || got.Filter != "N > 5" || got.Sort != "-N" {
		t.Errorf("view change undone: %+v, %v", got, err)
	}
	if err := s.DeleteView(ctx, nb, "T", v.ID); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	if got, err := s.FindView(ctx, nb, "T", v.ID); err != nil || got.Name != "Big" {
		t.Errorf("view delete undone: %+v, %v", got, err)
	}
}
