package storetest

import (
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testViews(t *testing.T, open Opener) {
	s := open(t)
	e := newSetup(t, s, "Views")
	tb := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber), col("Team", coffer.TypeText))
	MustTable(t, e.ctx, s, e.nb, "Other", col("Name", coffer.TypeText))
	for _, p := range []map[string]any{
		{"Name": "Ada", "Age": 36, "Team": "red"}, {"Name": "Alan", "Age": 41, "Team": "blue"},
		{"Name": "Grace", "Age": 85, "Team": "red"}, {"Name": "Linus", "Team": "blue"},
	} {
		MustRecord(t, e.ctx, s, e.nb, "People", p)
	}
	nameID, ageID := tb.Column("Name").ID, tb.Column("Age").ID

	v, err := s.CreateView(e.ctx, e.nb, "People", coffer.ViewInput{Name: " Seniors ", Filter: "Age > 40", Sort: "-Age", Columns: []string{"name", ageID, "Name"}})
	if err != nil {
		t.Fatalf("CreateView: %v (fields %v)", err, coffer.ErrorFields(err))
	}
	if !coffer.ValidID(coffer.PrefixView, v.ID) || v.Name != "Seniors" || v.TableID != tb.ID || v.Filter != "Age > 40" || v.Sort != "-Age" ||
		!equalStrings(v.Columns, []string{nameID, ageID}) || v.CreatedAt.IsZero() {
		t.Errorf("CreateView = %+v, want Seniors on %s with columns [%s %s]", v, tb.ID, nameID, ageID)
	}

	t.Run("ListWithView", func(t *testing.T) {
		testViewsListWithView(t, v, e, s)
	})

	t.Run("InvalidViews", func(t *testing.T) {
		testViewsInvalidViews(t, s, e)
	})

	t.Run("UpdateAndDelete", func(t *testing.T) {
		testViewsUpdateAndDelete(t, s, e, tb, nameID)
	})
}

// testViewsListWithView is the subtest ListWithView of testViews.
func testViewsListWithView(t *testing.T, v *coffer.View, e *setup, s *all.Store) {
	for _, ref := range []string{"Seniors", "seniors", v.ID} {
		l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: ref, Count: true})
		if got, want := names(l.Records), []string{"Grace", "Alan"}; !equalStrings(got, want) {
			t.Errorf("view %q lists %q, want %q", ref, got, want)
		}
		if l.Total == nil || *l.Total != 2 {
			t.Errorf("view %q total = %v, want 2", ref, l.Total)
		}
		for _, r := range l.Records {
			if _, ok := r.Fields["Team"]; ok || len(r.Fields) != 2 {
				t.Errorf("view %q record fields = %v, want Name and Age only", ref, r.Fields)
			}
		}
	}
	// A query's own filter narrows the view's; its own sort and fields replace the view's.
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: "Seniors", Filter: `Team = "blue"`})
	if got := names(l.Records); !equalStrings(got, []string{"Alan"}) {
		t.Errorf("view with a filter lists %q, want [Alan]", got)
	}
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: "Seniors", Sort: "Name", Fields: []string{"Team"}})
	if got := l.Records; len(got) != 2 || got[0].Fields["Team"] != "blue" || len(got[0].Fields) != 1 {
		t.Errorf("view with sort and fields = %v", mustJSON(t, got))
	}
	// Paging through a view.
	all := MustListAll(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: "Seniors", Limit: 1})
	if got := names(all); !equalStrings(got, []string{"Grace", "Alan"}) {
		t.Errorf("view paged by 1 lists %q, want [Grace Alan]", got)
	}
	for _, ref := range []string{"Nope", coffer.NewID(coffer.PrefixView)} {
		_, err := s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{View: ref})
		wantCode(t, err, coffer.ENOTFOUND)
	}
	// A view belongs to its table.
	_, err := s.FindRecords(e.ctx, e.nb, "Other", coffer.ListQuery{View: v.ID})
	wantCode(t, err, coffer.ENOTFOUND)
}

// testViewsInvalidViews is the subtest InvalidViews of testViews.
func testViewsInvalidViews(t *testing.T, s *all.Store, e *setup) {
	tests := []struct {
		name   string
		in     coffer.ViewInput
		code   string
		fields []string
	}{
		{"taken name", coffer.ViewInput{Name: "SENIORS"}, coffer.ECONFLICT, []string{"name"}},
		{"empty name", coffer.ViewInput{Name: " "}, coffer.EINVALID, []string{"name"}},
		{"bad filter", coffer.ViewInput{Name: "x", Filter: "Age >"}, coffer.EINVALID, []string{"filter"}},
		{"filter on an unknown column", coffer.ViewInput{Name: "x", Filter: "Nope = 1"}, coffer.EINVALID, []string{"filter"}},
		{"filter with a bad value", coffer.ViewInput{Name: "x", Filter: `Age = "old"`}, coffer.EINVALID, []string{"filter"}},
		{"bad sort", coffer.ViewInput{Name: "x", Sort: "Nope"}, coffer.EINVALID, []string{"sort"}},
		{"unknown column", coffer.ViewInput{Name: "x", Columns: []string{"Name", "Nope"}}, coffer.EINVALID, []string{"columns[1]"}},
		{"everything wrong", coffer.ViewInput{Name: "", Filter: "(", Sort: ",", Columns: []string{"?"}}, coffer.EINVALID, []string{"name", "filter", "sort", "columns[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateView(e.ctx, e.nb, "People", tt.in)
			if wantCode(t, err, tt.code) {
				wantOnlyFields(t, err, tt.fields...)
			}
		})
	}
	// The same name is fine on another table; @user variables are fine.
	if _, err := s.CreateView(e.ctx, e.nb, "Other", coffer.ViewInput{Name: "Seniors", Filter: "created_by = @user.id"}); err != nil {
		t.Errorf("CreateView on another table with a taken name: %v", err)
	}
	_, err := s.CreateView(e.ctx, e.nb, "Nope", coffer.ViewInput{Name: "x"})
	wantCode(t, err, coffer.ENOTFOUND)
	views, err := s.FindViews(e.ctx, e.nb, "People")
	if err != nil || len(views) != 1 {
		t.Errorf("FindViews after refused views = %d views, %v; want 1", len(views), err)
	}
}

// checkRefusedViewUpdates makes updates of view id (now u) that are
// refused, and checks that they change nothing; renaming it to another
// case of its name (name) is fine, updating a missing view is not.
func checkRefusedViewUpdates(t *testing.T, s *all.Store, e *setup, id string, u *coffer.View, name string) {
	// Refused updates change nothing.
	bad, taken := "Age >", "seniors"
	_, err := s.UpdateView(e.ctx, e.nb, "People", id, coffer.ViewUpdate{Filter: &bad})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "filter")
	}
	_, err = s.UpdateView(e.ctx, e.nb, "People", id, coffer.ViewUpdate{Name: &taken})
	wantCode(t, err, coffer.ECONFLICT)
	badCols := []string{"Nope"}
	_, err = s.UpdateView(e.ctx, e.nb, "People", id, coffer.ViewUpdate{Columns: &badCols})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "columns[0]")
	}
	if found, err := s.FindView(e.ctx, e.nb, "People", id); err != nil || mustJSON(t, found) != mustJSON(t, u) {
		t.Errorf("view after refused updates = %+v, %v; want %+v", found, err, u)
	}
	// Renaming to another case of its own name is fine.
	same := "YOUNG RED"
	if _, err := s.UpdateView(e.ctx, e.nb, "People", id, coffer.ViewUpdate{Name: &same}); err != nil {
		t.Errorf("UpdateView to another case of its name: %v", err)
	}
	_, err = s.UpdateView(e.ctx, e.nb, "People", "Nope", coffer.ViewUpdate{Name: &name})
	wantCode(t, err, coffer.ENOTFOUND)
}

// checkViewDeletedColumns checks that a view's deleted columns drop out of
// it (of its column list, and of the lists made with it).
func checkViewDeletedColumns(t *testing.T, s *all.Store, e *setup, nameID string) {
	// A view's deleted columns drop out of it.
	if err := s.DeleteColumn(e.ctx, e.nb, "People", "Team"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateColumn(e.ctx, e.nb, "People", col("Extra", coffer.TypeText)); err != nil {
		t.Fatal(err)
	}
	x, err := s.CreateView(e.ctx, e.nb, "People", coffer.ViewInput{Name: "Extra", Columns: []string{"Extra", "Name"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteColumn(e.ctx, e.nb, "People", "Extra"); err != nil {
		t.Fatal(err)
	}
	x, err = s.FindView(e.ctx, e.nb, "People", x.ID)
	if err != nil || !equalStrings(x.Columns, []string{nameID}) {
		t.Errorf("view after deleting one of its columns = %+v, %v; want columns [%s]", x, err, nameID)
	}
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: x.ID, Limit: 1})
	if len(l.Records) != 1 || len(l.Records[0].Fields) != 1 {
		t.Errorf("listing with the view gives %v, want only Name", mustJSON(t, l.Records))
	}
	if _, ok := l.Records[0].Fields["Name"].(string); !ok {
		t.Errorf("Name = %#v", l.Records[0].Fields["Name"])
	}
}

// testViewsUpdateAndDelete is the subtest UpdateAndDelete of testViews.
func testViewsUpdateAndDelete(t *testing.T, s *all.Store, e *setup, tb *coffer.Table, nameID string) {
	w, err := s.CreateView(e.ctx, e.nb, "People", coffer.ViewInput{Name: "All red", Filter: `Team = "red"`})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Columns) != 0 {
		t.Errorf("view without columns has %v, want none", w.Columns)
	}
	views, err := s.FindViews(e.ctx, e.nb, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range views {
		got = append(got, x.Name)
	}
	if !equalStrings(got, []string{"All red", "Seniors"}) {
		t.Errorf("FindViews = %q, want [All red Seniors] (by name)", got)
	}
	found, err := s.FindView(e.ctx, e.nb, "People", "all RED")
	if err != nil || mustJSON(t, found) != mustJSON(t, w) {
		t.Errorf("FindView = %+v, %v; want %+v", found, err, w)
	}

	name, filter, sort, cols := "Young red", `Team = "red" && Age < 50`, "Name", []string{"Name"}
	u, err := s.UpdateView(e.ctx, e.nb, "People", w.ID, coffer.ViewUpdate{Name: &name, Filter: &filter, Sort: &sort, Columns: &cols})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != w.ID || u.Name != name || u.Filter != filter || u.Sort != sort || !equalStrings(u.Columns, []string{nameID}) || u.UpdatedAt.Before(w.UpdatedAt) {
		t.Errorf("UpdateView = %+v", u)
	}
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{View: "young red"})
	if got := names(l.Records); !equalStrings(got, []string{"Ada"}) || len(l.Records[0].Fields) != 1 {
		t.Errorf("updated view lists %v, want only Ada's name", mustJSON(t, l.Records))
	}
	checkRefusedViewUpdates(t, s, e, w.ID, u, name)

	if err := s.DeleteView(e.ctx, e.nb, "People", w.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindView(e.ctx, e.nb, "People", w.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteView(e.ctx, e.nb, "People", w.ID), coffer.ENOTFOUND)
	_, err = s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{View: w.ID})
	wantCode(t, err, coffer.ENOTFOUND)
	if views, _ := s.FindViews(e.ctx, e.nb, "People"); len(views) != 1 {
		t.Errorf("FindViews after delete = %d views, want 1", len(views))
	}
	checkViewDeletedColumns(t, s, e, nameID)
}
