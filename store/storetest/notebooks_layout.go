package storetest

import (
	"reflect"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// testTablesLayout is the subtest Layout of testTables: a table's layout
// (order, widths, hidden columns) is stored, read back by everyone, checked,
// recorded as a table update that undo reverts, forgets deleted columns,
// and is changed by a caller with the schema right only for the columns
// they can see, whose view of it names no other.
func testTablesLayout(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Layout")
	tb := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText), col("Team", coffer.TypeText),
		col("Salary", coffer.TypeNumber), col("Notes", coffer.TypeLongText))
	name, team, salary, notes := tb.Column("Name").ID, tb.Column("Team").ID, tb.Column("Salary").ID, tb.Column("Notes").ID
	if !tb.Layout.Empty() {
		t.Errorf("new table's layout = %+v, want empty", tb.Layout)
	}

	want := coffer.TableLayout{Order: []string{team, name}, Widths: map[string]int{name: 240, salary: 40}, Hidden: []string{notes}}
	got, err := s.UpdateTable(e.ctx, e.nb, "People", coffer.TableUpdate{Layout: &want})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Layout, want) || got.Name != "People" {
		t.Errorf("UpdateTable(layout) = %q %+v, want People %+v", got.Name, got.Layout, want)
	}
	read, err := s.FindTable(e.ctx, e.nb, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read.Layout, want) {
		t.Errorf("FindTable layout = %+v, want %+v", read.Layout, want)
	}

	// Bad layouts change nothing and name every mistake.
	for _, bad := range []struct {
		name   string
		layout coffer.TableLayout
		fields []string
	}{
		{"unknown id", coffer.TableLayout{Order: []string{"c_nope"}}, []string{"layout.order[0]"}},
		{"name, not id", coffer.TableLayout{Hidden: []string{"Name"}}, []string{"layout.hidden[0]"}},
		{"twice in order", coffer.TableLayout{Order: []string{name, name}}, []string{"layout.order[1]"}},
		{"too narrow", coffer.TableLayout{Widths: map[string]int{name: 39}}, []string{"layout.widths." + name}},
		{"too wide", coffer.TableLayout{Widths: map[string]int{team: 2001}}, []string{"layout.widths." + team}},
		{"unknown width", coffer.TableLayout{Widths: map[string]int{"c_x": 100}}, []string{"layout.widths.c_x"}},
	} {
		_, err := s.UpdateTable(e.ctx, e.nb, tb.ID, coffer.TableUpdate{Layout: &bad.layout})
		if wantCode(t, err, coffer.EINVALID) {
			wantOnlyFields(t, err, bad.fields...)
		}
	}
	if read, _ := s.FindTable(e.ctx, e.nb, tb.ID); read == nil || !reflect.DeepEqual(read.Layout, want) {
		t.Errorf("layout after refused changes = %+v, want %+v", read, want)
	}

	// A layout change is a table update: undo restores the layout before.
	next := coffer.TableLayout{Order: []string{salary}}
	if _, err := s.UpdateTable(e.ctx, e.nb, tb.ID, coffer.TableUpdate{Layout: &next}); err != nil {
		t.Fatal(err)
	}
	d := mustUndo(t, e.ctx, s, e.nb, false)
	if read, _ := s.FindTable(e.ctx, e.nb, tb.ID); read == nil || !reflect.DeepEqual(read.Layout, want) {
		t.Errorf("layout after undo (%s) = %+v, want %+v", d.Summary, read, want)
	}

	// A deleted column leaves the layout.
	if err := s.DeleteColumn(e.ctx, e.nb, tb.ID, notes); err != nil {
		t.Fatal(err)
	}
	want.Hidden = nil
	if read, _ := s.FindTable(e.ctx, e.nb, tb.ID); read == nil || !reflect.DeepEqual(read.Layout, want) {
		t.Errorf("layout after deleting a hidden column = %+v, want %+v", read, want)
	}

	// Vera has the schema right but cannot see Salary: she sees no word of
	// it in the layout, cannot name it, and her change keeps its width.
	veraCtx, vera := MustUser(t, s)
	table := "People"
	if _, err := s.CreateGrant(e.ctx, e.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: vera.ID}, Table: &table,
		Columns: map[string]string{"*": "read", "Salary": "none"}, Capabilities: []string{"schema"}}); err != nil {
		t.Fatal(err)
	}
	seen, err := s.FindTable(veraCtx, e.nb, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wantSeen := (coffer.TableLayout{Order: []string{team, name}, Widths: map[string]int{name: 240}}); !reflect.DeepEqual(seen.Layout, wantSeen) {
		t.Errorf("layout as Vera sees it = %+v, want %+v", seen.Layout, wantSeen)
	}
	_, err = s.UpdateTable(veraCtx, e.nb, tb.ID, coffer.TableUpdate{Layout: &coffer.TableLayout{Hidden: []string{salary}}})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "layout.hidden[0]")
	}
	hers := coffer.TableLayout{Order: []string{name, team}, Hidden: []string{team}}
	got, err = s.UpdateTable(veraCtx, e.nb, tb.ID, coffer.TableUpdate{Layout: &hers})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Layout, hers) {
		t.Errorf("Vera's UpdateTable layout = %+v, want %+v", got.Layout, hers)
	}
	whole := coffer.TableLayout{Order: []string{name, team}, Widths: map[string]int{salary: 40}, Hidden: []string{team}}
	if read, _ := s.FindTable(e.ctx, e.nb, tb.ID); read == nil || !reflect.DeepEqual(read.Layout, whole) {
		t.Errorf("layout after Vera's change, as the owner sees it = %+v, want %+v", read, whole)
	}
}
