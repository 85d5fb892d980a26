package storetest

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testTrash(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Trash")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	carolCtx, carol := MustUser(t, s)
	MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Salary", coffer.TypeNumber), col("Team", coffer.TypeText))
	team := "People"
	for _, g := range []coffer.GrantInput{
		{Principal: coffer.Principal{Type: "user", ID: bob.ID}, Table: &team, Rows: `Team = "red"`,
			Columns: map[string]string{"Name": "read", "Team": "read"}, Capabilities: []string{"history"}},
		{Principal: coffer.Principal{Type: "user", ID: carol.ID}, Table: &team, Columns: map[string]string{"*": "write"}, Capabilities: []string{"create", "delete"}},
	} {
		if _, err := s.CreateGrant(ctx, nb, g); err != nil {
			t.Fatal(err)
		}
	}
	red := MustFindRecord(t, ctx, s, nb, "People", MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Salary": 10, "Team": "red"}).ID)
	blue := MustFindRecord(t, ctx, s, nb, "People", MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Bo", "Salary": 20, "Team": "blue"}).ID)
	for _, r := range []*coffer.Record{red, blue} {
		if err := s.DeleteRecord(ctx, nb, "People", r.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	trash, err := s.FindTrash(ctx, nb, "People", 0)
	if err != nil || len(trash) != 2 || trash[0].ID != blue.ID || trash[1].ID != red.ID {
		t.Fatalf("owner's trash = %+v, %v; want Bo then Ada", trash, err)
	}
	if g, w := mustJSON(t, trash[1].Fields), mustJSON(t, red.Fields); g != w || trash[1].DeletedBy != st.u.ID || !trash[1].CreatedAt.Equal(red.CreatedAt) {
		t.Errorf("trash entry = %s by %s created %v, want %s by %s created %v", g, trash[1].DeletedBy, trash[1].CreatedAt, w, st.u.ID, red.CreatedAt)
	}
	// Bob sees the red record only (his row condition on its last
	// values), without the hidden column.
	trash, err = s.FindTrash(bobCtx, nb, "People", 0)
	if err != nil || len(trash) != 1 || trash[0].ID != red.ID {
		t.Fatalf("Bob's trash = %+v, %v; want Ada only", trash, err)
	}
	if _, ok := trash[0].Fields["Salary"]; ok || trash[0].Fields["Name"] != "Ada" {
		t.Errorf("Bob's trash entry shows %v", trash[0].Fields)
	}
	_, err = s.FindTrash(carolCtx, nb, "People", 0)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.RestoreRecord(bobCtx, nb, "People", red.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.RestoreRecord(ctx, nb, "People", "rec_00000000000000000000000000")
	wantCode(t, err, coffer.ENOTFOUND)

	d, err := s.RestoreRecord(carolCtx, nb, "People", red.ID)
	if !wantCode(t, err, "") || d.Kind != "restore" {
		t.Fatalf("RestoreRecord = %+v", d)
	}
	wantRecord(t, ctx, s, nb, "People", red)
	if trash, _ := s.FindTrash(ctx, nb, "People", 0); len(trash) != 1 || trash[0].ID != blue.ID {
		t.Errorf("trash after the restore = %+v", trash)
	}
	_, err = s.RestoreRecord(carolCtx, nb, "People", red.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	// The restore is Carol's action: she can undo it.
	mustUndo(t, carolCtx, s, nb, false)
	wantGone(t, ctx, s, nb, "People", red.ID)
}

func testTrashLinks(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Trash links")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "Authors", col("Name", coffer.TypeText))
	authors, _ := s.FindTable(ctx, nb, "Authors")
	MustTable(t, ctx, s, nb, "Books", col("Title", coffer.TypeText), col("By", coffer.TypeLink, linkTo(authors.ID, true)))
	x := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "X"})
	y := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "Y"})
	z := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "Z"})
	book := MustRecord(t, ctx, s, nb, "Books", map[string]any{"Title": "T", "By": []any{x.ID, y.ID, z.ID}})
	if err := s.DeleteRecord(ctx, nb, "Authors", y.ID, 0); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the book loses another author: the restore puts Y back
	// into the links as they are now.
	if _, err := s.UpdateRecord(ctx, nb, "Books", book.ID, map[string]any{"By": []any{x.ID}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreRecord(ctx, nb, "Authors", y.ID); err != nil {
		t.Fatal(err)
	}
	got := MustFindRecord(t, ctx, s, nb, "Books", book.ID).Fields["By"]
	if !slices.Equal(got.([]string), []string{x.ID, y.ID}) {
		t.Errorf("links after the restore = %v, want [X Y]", got)
	}
}

func testSchemaTrash(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Schema trash")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	tbl := MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Salary", coffer.TypeNumber), col("Team", coffer.TypeText))
	other := MustTable(t, ctx, s, nb, "Other", col("A", coffer.TypeText))
	r := MustFindRecord(t, ctx, s, nb, "People", MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Salary": 10, "Team": "red"}).ID)
	o := MustFindRecord(t, ctx, s, nb, "Other", MustRecord(t, ctx, s, nb, "Other", map[string]any{"A": "a"}).ID)
	// Carol has the schema right on the whole notebook, and may read
	// People but not its Salary.
	carolCtx, carol := MustUser(t, s)
	people := "People"
	for _, g := range []coffer.GrantInput{
		{Principal: coffer.Principal{Type: "user", ID: carol.ID}, Columns: map[string]string{"*": "none"}, Capabilities: []string{"schema"}},
		{Principal: coffer.Principal{Type: "user", ID: carol.ID}, Table: &people, Columns: map[string]string{"Name": "read", "Team": "read"}},
	} {
		if _, err := s.CreateGrant(ctx, nb, g); err != nil {
			t.Fatalf("%v %v", err, coffer.ErrorFields(err))
		}
	}
	if err := s.DeleteColumn(ctx, nb, "People", "Salary"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTable(ctx, nb, "Other"); err != nil {
		t.Fatal(err)
	}
	if tr, err := s.FindSchemaTrash(carolCtx, nb); err != nil || len(tr.Columns) != 0 || len(tr.Tables) != 1 {
		t.Errorf("Carol's schema trash = %+v, %v; want the table only", tr, err)
	}
	_, err := s.RestoreColumn(carolCtx, nb, tbl.Columns[1].ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindSchemaTrash(bobCtx, nb)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.RestoreTable(bobCtx, nb, other.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	tr, err := s.FindSchemaTrash(ctx, nb)
	if err != nil || len(tr.Columns) != 1 || tr.Columns[0].ID != tbl.Columns[1].ID || tr.Columns[0].Table != tbl.ID ||
		len(tr.Tables) != 1 || tr.Tables[0].ID != other.ID || tr.Tables[0].Records != 1 {
		t.Fatalf("schema trash = %+v, %v", tr, err)
	}
	if d, err := s.RestoreColumn(ctx, nb, tbl.Columns[1].ID); err != nil || d.Summary != "restored column Salary of table People" {
		t.Fatalf("RestoreColumn = %+v, %v", d, err)
	}
	wantRecord(t, ctx, s, nb, "People", r)
	if _, err := s.RestoreTable(ctx, nb, other.ID); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, ctx, s, nb, "Other", o)
	if tr, err := s.FindSchemaTrash(ctx, nb); err != nil || len(tr.Columns)+len(tr.Tables) != 0 {
		t.Errorf("schema trash after the restores = %+v, %v", tr, err)
	}
	_, err = s.RestoreTable(ctx, nb, other.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}
