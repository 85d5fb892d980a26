package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// allTypes returns a column of every type, with links to companies (by
// name), and to the table itself ("People", by name in another case).
func allTypes() []coffer.ColumnInput {
	return []coffer.ColumnInput{
		col("Name", coffer.TypeText),
		col("Notes", coffer.TypeLongText),
		col("Count", coffer.TypeNumber),
		col("Price", coffer.TypeNumber, precision(2)),
		col("Active", coffer.TypeBoolean),
		col("Born", coffer.TypeDate),
		col("Met", coffer.TypeDateTime),
		col("Team", coffer.TypeSingleSelect, choices("red", "green")),
		col("Tags", coffer.TypeMultiSelect, choices("a", "b", "c")),
		col("Email", coffer.TypeEmail),
		col("Site", coffer.TypeURL),
		col("Phone", coffer.TypePhone),
		col("Employer", coffer.TypeLink, linkTo("Companies", false)),
		col("Clients", coffer.TypeLink, linkTo("Companies", true)),
		col("Manager", coffer.TypeLink, linkTo("People", false)),
		col("Reports", coffer.TypeLink, linkTo("people", true)),
		col("Created", coffer.TypeCreatedAt),
		col("Created by", coffer.TypeCreatedBy),
		col("Updated", coffer.TypeUpdatedAt),
		col("Updated by", coffer.TypeUpdatedBy),
	}
}

func testTables(t *testing.T, open Opener) {
	s := open(t)

	t.Run("EveryType", func(t *testing.T) {
		testTablesEveryType(t, s)
	})

	t.Run("InvalidDefinitions", func(t *testing.T) {
		testTablesInvalidDefinitions(t, s)
	})

	t.Run("RenameKeepsData", func(t *testing.T) {
		testTablesRenameKeepsData(t, s)
	})

	t.Run("Layout", func(t *testing.T) {
		testTablesLayout(t, s)
	})

	t.Run("AddAndDeleteColumns", func(t *testing.T) {
		testTablesAddAndDeleteColumns(t, s)
	})

	t.Run("CreateColumnMatchesFindTable", func(t *testing.T) {
		testTablesCreateColumnMatchesFindTable(t, s)
	})

	t.Run("DeleteLinkedTable", func(t *testing.T) {
		testTablesDeleteLinkedTable(t, s)
	})
}

// checkCreatedColumns compares the columns a table was created with (in)
// with those it got (cols): same names, types and options (links to the
// tables companiesID and peopleID), and fresh ids.
func checkCreatedColumns(t *testing.T, cols []*coffer.Column, in []coffer.ColumnInput, companiesID, peopleID string) {
	seen := map[string]bool{}
	for i, c := range cols {
		want := in[i]
		switch want.Name {
		case "Employer", "Clients":
			want.Options.Table = companiesID
		case "Manager", "Reports":
			want.Options.Table = peopleID
		}
		if c.Name != want.Name || c.Type != want.Type || !reflect.DeepEqual(c.Options, want.Options) {
			t.Errorf("column %d = %s %s %+v, want %s %s %+v", i, c.Name, c.Type, c.Options, want.Name, want.Type, want.Options)
		}
		if !coffer.ValidID(coffer.PrefixColumn, c.ID) || seen[c.ID] {
			t.Errorf("column %d id %q is not a fresh column id", i, c.ID)
		}
		seen[c.ID] = true
	}
}

// testTablesEveryType is the subtest EveryType of testTables.
func testTablesEveryType(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Types")
	companies := MustTable(t, e.ctx, s, e.nb, "Companies", col("Name", coffer.TypeText))
	in := allTypes()
	people := MustTable(t, e.ctx, s, e.nb, "People", in...)
	if !coffer.ValidID(coffer.PrefixTable, people.ID) || people.Name != "People" || people.NotebookID != e.nb {
		t.Errorf("CreateTable = %+v", people)
	}
	if len(people.Columns) != len(in) {
		t.Fatalf("CreateTable has %d columns, want %d", len(people.Columns), len(in))
	}
	checkCreatedColumns(t, people.Columns, in, companies.ID, people.ID)
	for _, ref := range []string{"People", "people", people.ID} {
		got, err := s.FindTable(e.ctx, e.nb, ref)
		if err != nil {
			t.Fatalf("FindTable(%q): %v", ref, err)
		}
		if a, b := mustJSON(t, got), mustJSON(t, people); a != b {
			t.Errorf("FindTable(%q) =\n%s\nwant what CreateTable returned:\n%s", ref, a, b)
		}
	}
	tables, err := s.FindTables(e.ctx, e.nb)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 || tables[0].ID != companies.ID || tables[1].ID != people.ID {
		t.Errorf("FindTables = %d tables, want Companies then People", len(tables))
	}

	// One record holding a value of every type.
	acme := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "Acme"})
	boss := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Boss"})
	r := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{
		"Name": "Ada", "Notes": "line 1\nline 2", "Count": 3, "Price": json.Number("9.5"), "Active": true,
		"Born": "1815-12-10", "Met": "2024-01-31T09:30:00+01:00", "Team": "red", "Tags": []any{"c", "a"},
		"Email": "ada@example.com", "Site": "https://example.com/ada", "Phone": "+44 20 7946 0958",
		"Employer": acme.ID, "Clients": []any{acme.ID}, "Manager": boss.ID, "Reports": []string{boss.ID},
	})
	want := map[string]any{
		"Name": "Ada", "Notes": "line 1\nline 2", "Count": json.Number("3"), "Price": json.Number("9.50"), "Active": true,
		"Born": "1815-12-10", "Met": "2024-01-31T08:30:00Z", "Team": "red", "Tags": []string{"a", "c"},
		"Email": "ada@example.com", "Site": "https://example.com/ada", "Phone": "+44 20 7946 0958",
		"Employer": []string{acme.ID}, "Clients": []string{acme.ID}, "Manager": []string{boss.ID}, "Reports": []string{boss.ID},
		"Created": r.CreatedAt.Format(time.RFC3339Nano), "Created by": e.u.ID,
		"Updated": r.UpdatedAt.Format(time.RFC3339Nano), "Updated by": e.u.ID,
	}
	for _, rr := range []*coffer.Record{r, MustFindRecord(t, e.ctx, s, e.nb, "People", r.ID)} {
		if len(rr.Fields) != len(want) {
			t.Errorf("record has %d fields, want %d: %v", len(rr.Fields), len(want), rr.Fields)
		}
		for k, w := range want {
			if g := rr.Fields[k]; !reflect.DeepEqual(g, w) {
				t.Errorf("field %q = %#v, want %#v", k, g, w)
			}
		}
	}
	// A new record has every column, empty.
	empty := MustRecord(t, e.ctx, s, e.nb, "People", nil)
	for _, c := range people.Columns {
		v, ok := empty.Fields[c.Name]
		if !ok {
			t.Errorf("empty record lacks field %q", c.Name)
		}
		if !c.Type.Automatic() && v != nil {
			t.Errorf("empty record field %q = %#v, want nil", c.Name, v)
		}
	}
}

// testTablesInvalidDefinitions is the subtest InvalidDefinitions of testTables.
func testTablesInvalidDefinitions(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Invalid")
	MustTable(t, e.ctx, s, e.nb, "Existing", col("Name", coffer.TypeText))
	tests := []struct {
		name   string
		in     coffer.TableInput
		code   string
		fields []string
	}{
		{"empty table name", coffer.TableInput{Name: " "}, coffer.EINVALID, []string{"name"}},
		{"table name with a line break", coffer.TableInput{Name: "a\nb"}, coffer.EINVALID, []string{"name"}},
		{"taken table name", coffer.TableInput{Name: "existing"}, coffer.ECONFLICT, []string{"name"}},
		{"duplicate column names", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("Name", coffer.TypeText), col("NAME", coffer.TypeNumber)}}, coffer.EINVALID, []string{"columns[1].name"}},
		{"duplicate column names after trimming", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("Name", coffer.TypeText), col(" name ", coffer.TypeText)}}, coffer.EINVALID, []string{"columns[1].name"}},
		{"empty column name", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("", coffer.TypeText)}}, coffer.EINVALID, []string{"columns[0].name"}},
		{"unknown type", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", "string")}}, coffer.EINVALID, []string{"columns[0].type"}},
		{"empty type", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", "")}}, coffer.EINVALID, []string{"columns[0].type"}},
		{"precision 10", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeNumber, precision(10))}}, coffer.EINVALID, []string{"columns[0].options.precision"}},
		{"negative precision", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeNumber, precision(-1))}}, coffer.EINVALID, []string{"columns[0].options.precision"}},
		{"precision on text", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeText, precision(2))}}, coffer.EINVALID, []string{"columns[0].options.precision"}},
		{"select without choices", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeSingleSelect)}}, coffer.EINVALID, []string{"columns[0].options.choices"}},
		{"duplicate choices", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeMultiSelect, choices("x", " x"))}}, coffer.EINVALID, []string{"columns[0].options.choices[1]"}},
		{"empty choice", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeMultiSelect, choices("x", ""))}}, coffer.EINVALID, []string{"columns[0].options.choices[1]"}},
		{"choices on text", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeText, choices("x"))}}, coffer.EINVALID, []string{"columns[0].options.choices"}},
		{"link without table", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeLink)}}, coffer.EINVALID, []string{"columns[0].options.table"}},
		{"link to an unknown table", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeLink, linkTo("Nowhere", false))}}, coffer.EINVALID, []string{"columns[0].options.table"}},
		{"table option on text", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeText, linkTo("Existing", false))}}, coffer.EINVALID, []string{"columns[0].options.table"}},
		{"multiple on boolean", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeBoolean, Options: coffer.ColumnOptions{Multiple: true}}}}, coffer.EINVALID, []string{"columns[0].options.multiple"}},
		{"options on an automatic column", coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{col("A", coffer.TypeCreatedAt, precision(1))}}, coffer.EINVALID, []string{"columns[0].options.precision"}},
		{"every problem at once", coffer.TableInput{Name: "", Columns: []coffer.ColumnInput{col("A", "bogus"), col("B", coffer.TypeSingleSelect), col("a", coffer.TypeText)}},
			coffer.EINVALID, []string{"name", "columns[0].type", "columns[1].options.choices", "columns[2].name"}},
		{"too many columns", coffer.TableInput{Name: "T", Columns: manyColumns(501)}, coffer.EINVALID, []string{"columns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateTable(e.ctx, e.nb, tt.in)
			if wantCode(t, err, tt.code) {
				wantOnlyFields(t, err, tt.fields...)
			}
		})
	}
	tables, err := s.FindTables(e.ctx, e.nb)
	if err != nil || len(tables) != 1 {
		t.Errorf("FindTables after refused tables = %d tables, %v; want only Existing", len(tables), err)
	}

	colTests := []struct {
		name  string
		in    coffer.ColumnInput
		code  string
		field string
	}{
		{"taken name", col("name", coffer.TypeNumber), coffer.ECONFLICT, "name"},
		{"empty name", col("", coffer.TypeNumber), coffer.EINVALID, "name"},
		{"unknown type", col("A", "varchar"), coffer.EINVALID, "type"},
		{"precision 10", col("A", coffer.TypeNumber, precision(10)), coffer.EINVALID, "options.precision"},
		{"select without choices", col("A", coffer.TypeMultiSelect), coffer.EINVALID, "options.choices"},
		{"link to an unknown table", col("A", coffer.TypeLink, linkTo("tbl_00000000000000000000000000", false)), coffer.EINVALID, "options.table"},
	}
	for _, tt := range colTests {
		t.Run("CreateColumn/"+tt.name, func(t *testing.T) {
			_, err := s.CreateColumn(e.ctx, e.nb, "Existing", tt.in)
			if wantCode(t, err, tt.code) {
				wantOnlyFields(t, err, tt.field)
			}
		})
	}
	if tb, err := s.FindTable(e.ctx, e.nb, "Existing"); err != nil || len(tb.Columns) != 1 {
		t.Errorf("FindTable after refused columns: %v; want one column", err)
	}
	_, err = s.CreateColumn(e.ctx, e.nb, "Missing", col("A", coffer.TypeText))
	wantCode(t, err, coffer.ENOTFOUND)
}

// testTablesRenameKeepsData is the subtest RenameKeepsData of testTables.
func testTablesRenameKeepsData(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Rename")
	tb := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber))
	MustTable(t, e.ctx, s, e.nb, "Other")
	r := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Ada", "Age": 36})

	name := "Persons"
	upd, err := s.UpdateTable(e.ctx, e.nb, "people", coffer.TableUpdate{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if upd.ID != tb.ID || upd.Name != name || len(upd.Columns) != 2 {
		t.Errorf("UpdateTable = %+v, want the same table named %q", upd, name)
	}
	_, err = s.FindTable(e.ctx, e.nb, "People")
	wantCode(t, err, coffer.ENOTFOUND)
	for _, ref := range []string{"Persons", tb.ID} {
		got := MustFindRecord(t, e.ctx, s, e.nb, ref, r.ID)
		if got.Fields["Name"] != "Ada" || got.Fields["Age"] != json.Number("36") || got.Version != r.Version {
			t.Errorf("record after table rename = %v (version %d), want it unchanged", got.Fields, got.Version)
		}
	}
	// Renaming to another case of its own name is fine; to another table's name is not.
	same := "PERSONS"
	if _, err := s.UpdateTable(e.ctx, e.nb, tb.ID, coffer.TableUpdate{Name: &same}); err != nil {
		t.Errorf("UpdateTable to another case of its name: %v", err)
	}
	taken := "other"
	_, err = s.UpdateTable(e.ctx, e.nb, tb.ID, coffer.TableUpdate{Name: &taken})
	wantCode(t, err, coffer.ECONFLICT)
	bad := "\n"
	_, err = s.UpdateTable(e.ctx, e.nb, tb.ID, coffer.TableUpdate{Name: &bad})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "name")
	}
	_, err = s.UpdateTable(e.ctx, e.nb, "Nope", coffer.TableUpdate{Name: &name})
	wantCode(t, err, coffer.ENOTFOUND)

	ageID := tb.Column("Age").ID
	newName := "Age in years"
	c, err := s.UpdateColumn(e.ctx, e.nb, tb.ID, "age", coffer.ColumnUpdate{Name: &newName})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != ageID || c.Name != newName || c.Type != coffer.TypeNumber {
		t.Errorf("UpdateColumn = %+v, want column %s renamed %q", c, ageID, newName)
	}
	got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, r.ID)
	if _, ok := got.Fields["Age"]; ok || got.Fields[newName] != json.Number("36") {
		t.Errorf("record after column rename = %v, want %q: 36 and no Age", got.Fields, newName)
	}
	_, err = s.CreateRecord(e.ctx, e.nb, tb.ID, map[string]any{"Age": 1})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "Age")
	}
	// The column id keeps working.
	MustRecord(t, e.ctx, s, e.nb, tb.ID, map[string]any{ageID: 2})
	taken = "name"
	_, err = s.UpdateColumn(e.ctx, e.nb, tb.ID, ageID, coffer.ColumnUpdate{Name: &taken})
	wantCode(t, err, coffer.ECONFLICT)
	_, err = s.UpdateColumn(e.ctx, e.nb, tb.ID, ageID, coffer.ColumnUpdate{Name: &bad})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "name")
	}
	_, err = s.UpdateColumn(e.ctx, e.nb, tb.ID, "Nope", coffer.ColumnUpdate{Name: &newName})
	wantCode(t, err, coffer.ENOTFOUND)
}

// testTablesAddAndDeleteColumns is the subtest AddAndDeleteColumns of testTables.
func testTablesAddAndDeleteColumns(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Columns")
	tb := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText))
	r := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Ada"})
	age, err := s.CreateColumn(e.ctx, e.nb, "People", col(" Age ", coffer.TypeNumber, precision(1)))
	if err != nil {
		t.Fatal(err)
	}
	if !coffer.ValidID(coffer.PrefixColumn, age.ID) || age.Name != "Age" || age.Options.Precision != 1 {
		t.Errorf("CreateColumn = %+v", age)
	}
	friend, err := s.CreateColumn(e.ctx, e.nb, tb.ID, col("Friend", coffer.TypeLink, linkTo(tb.ID, false)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.FindTable(e.ctx, e.nb, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Columns) != 3 || after.Columns[1].ID != age.ID || after.Columns[2].ID != friend.ID {
		t.Fatalf("FindTable after CreateColumn has columns %v, want Name, Age, Friend", after.Columns)
	}
	got := MustFindRecord(t, e.ctx, s, e.nb, "People", r.ID)
	if v, ok := got.Fields["Age"]; !ok || v != nil {
		t.Errorf("existing record's new field Age = %#v (present %v), want nil", v, ok)
	}
	got, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": "36.5", "Friend": r.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fields["Age"] != json.Number("36.5") || !reflect.DeepEqual(got.Fields["Friend"], []string{r.ID}) {
		t.Errorf("record = %v, want Age 36.5 and Friend itself", got.Fields)
	}

	if err := s.DeleteColumn(e.ctx, e.nb, "People", "age"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteColumn(e.ctx, e.nb, "People", friend.ID); err != nil {
		t.Fatal(err)
	}
	got = MustFindRecord(t, e.ctx, s, e.nb, "People", r.ID)
	if len(got.Fields) != 1 || got.Fields["Name"] != "Ada" {
		t.Errorf("record after DeleteColumn = %v, want only Name", got.Fields)
	}
	_, err = s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{Filter: "Age > 1"})
	wantCode(t, err, coffer.EINVALID)
	wantCode(t, s.DeleteColumn(e.ctx, e.nb, "People", "Age"), coffer.ENOTFOUND)
	wantCode(t, s.DeleteColumn(e.ctx, e.nb, "Nope", "Name"), coffer.ENOTFOUND)
	// The name is free again, and the new column starts empty.
	if _, err := s.CreateColumn(e.ctx, e.nb, "People", col("age", coffer.TypeText)); err != nil {
		t.Fatal(err)
	}
	if v := MustFindRecord(t, e.ctx, s, e.nb, "People", r.ID).Fields["age"]; v != nil {
		t.Errorf("re-created column holds %#v, want nil", v)
	}
}

// testTablesCreateColumnMatchesFindTable is the subtest CreateColumnMatchesFindTable of testTables.
func testTablesCreateColumnMatchesFindTable(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "NewColumn")
	MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText))
	c, err := s.CreateColumn(e.ctx, e.nb, "T", col("Age", coffer.TypeNumber))
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.FindTable(e.ctx, e.nb, "T")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, after.Columns[1]), mustJSON(t, c); a != b {
		t.Errorf("FindTable gives the new column as\n%s\nwant what CreateColumn returned:\n%s", a, b)
	}
}

// testTablesDeleteLinkedTable is the subtest DeleteLinkedTable of testTables.
func testTablesDeleteLinkedTable(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Links")
	companies := MustTable(t, e.ctx, s, e.nb, "Companies", col("Name", coffer.TypeText), col("Parent", coffer.TypeLink, linkTo("Companies", false)))
	MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText), col("Employer", coffer.TypeLink, linkTo("Companies", true)))
	c := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "Acme"})
	MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Ada", "Employer": []string{c.ID}})

	for _, ref := range []string{"Companies", companies.ID} {
		wantCode(t, s.DeleteTable(e.ctx, e.nb, ref), coffer.ECONFLICT)
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "Companies", c.ID); got.Fields["Name"] != "Acme" {
		t.Errorf("record after refused DeleteTable = %v", got.Fields)
	}
	if err := s.DeleteColumn(e.ctx, e.nb, "People", "Employer"); err != nil {
		t.Fatal(err)
	}
	// A link to itself does not keep a table alive.
	if err := s.DeleteTable(e.ctx, e.nb, companies.ID); err != nil {
		t.Fatalf("DeleteTable after removing the link: %v", err)
	}
	_, err := s.FindTable(e.ctx, e.nb, "Companies")
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.FindRecord(e.ctx, e.nb, "Companies", c.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteTable(e.ctx, e.nb, companies.ID), coffer.ENOTFOUND)
	// The name is free again.
	MustTable(t, e.ctx, s, e.nb, "Companies", col("Name", coffer.TypeText))
	if n := MustCount(t, e.ctx, s, e.nb, "Companies"); n != 0 {
		t.Errorf("re-created table has %d records, want 0", n)
	}
	if got := MustCount(t, e.ctx, s, e.nb, "People"); got != 1 {
		t.Errorf("People has %d records, want 1", got)
	}
}

func manyColumns(n int) []coffer.ColumnInput {
	cols := make([]coffer.ColumnInput, n)
	for i := range cols {
		cols[i] = col(fmt.Sprintf("c%d", i), coffer.TypeText)
	}
	return cols
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
