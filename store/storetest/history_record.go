package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func init() {
	historyGroups = append(historyGroups, group{"HistoryRecording", testHistoryRecording})
}

// storedChanges returns the changes recorded since action seq after, one
// line each: "kind table/record/column old -> new" with names for ids.
func storedChanges(t *testing.T, s *all.Store, notebook string, after int64, names map[string]string) (lines []string, last int64) {
	t.Helper()
	ctx := context.Background()
	db, release, err := s.Storage.Notebook(ctx, notebook)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	rows, err := db.R.QueryContext(ctx, s.Rebind("SELECT a.seq, a.kind, c.table_id, c.record_id, c.column_id, COALESCE(c.old, '-'), COALESCE(c.new, '-') FROM "+
		db.Prefix+"_actions a JOIN "+db.Prefix+"_changes c ON c.seq = a.seq WHERE a.seq > ? ORDER BY a.seq, c.n"), after)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	for rows.Next() {
		var kind, table, record, column, old, nw string
		if err := rows.Scan(&last, &kind, &table, &record, &column, &old, &nw); err != nil {
			t.Fatal(err)
		}
		if column == "" {
			// The existence cell: only whether there is a record.
			old, nw = strings.Map(existence(old), "x"), strings.Map(existence(nw), "x")
		}
		lines = append(lines, fmt.Sprintf("%s %s/%s/%s %s -> %s", kind, name(table), name(record), name(column), old, nw))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, last
}

func existence(v string) func(rune) rune {
	return func(rune) rune {
		if v == "-" {
			return '-'
		}
		return '+'
	}
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("recorded changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testHistoryRecording checks that each kind of write records its action
// with exact old and new values, in the write's transaction.
func testHistoryRecording(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Recorded")
	people := MustTable(t, ctx, s, nb.ID, "People", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber})
	pets := MustTable(t, ctx, s, nb.ID, "Pets", coffer.ColumnInput{Name: "Owner", Type: coffer.TypeLink, Options: coffer.ColumnOptions{Table: people.ID}})
	names := map[string]string{people.ID: "People", pets.ID: "Pets", people.Columns[0].ID: "Name", people.Columns[1].ID: "Age", pets.Columns[0].ID: "Owner"}
	_, last := storedChanges(t, s, nb.ID, 0, names)

	ada := MustRecord(t, ctx, s, nb.ID, "People", map[string]any{"Name": "Ada", "Age": 36})
	names[ada.ID] = "ada"
	got, last := storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, "record.create People/ada/ - -> +", "record.create People/ada/Age - -> 36", `record.create People/ada/Name - -> "Ada"`)

	if _, err := s.UpdateRecord(ctx, nb.ID, "People", ada.ID, map[string]any{"Age": 37, "Name": "Ada"}, 0); err != nil {
		t.Fatal(err)
	}
	got, last = storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, "record.update People/ada/Age 36 -> 37") // an unchanged cell is not a change

	rex := MustRecord(t, ctx, s, nb.ID, "Pets", map[string]any{"Owner": []string{ada.ID}})
	names[rex.ID] = "rex"
	_, last = storedChanges(t, s, nb.ID, last, names)
	if err := s.DeleteRecord(ctx, nb.ID, "People", ada.ID, 0); err != nil {
		t.Fatal(err)
	}
	got, last = storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, `record.delete People/ada/Name "Ada" -> -`, "record.delete People/ada/Age 37 -> -", "record.delete People/ada/ + -> -",
		fmt.Sprintf(`record.delete Pets/rex/Owner ["%s"] -> -`, ada.ID))

	// A failed write records nothing.
	if _, err := s.CreateRecord(ctx, nb.ID, "People", map[string]any{"Age": "old"}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("bad create: %v", err)
	}
	bob := MustRecord(t, ctx, s, nb.ID, "People", map[string]any{"Name": "Bob", "Age": 5})
	names[bob.ID] = "bob"
	got, last = storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, "record.create People/bob/ - -> +", "record.create People/bob/Age - -> 5", `record.create People/bob/Name - -> "Bob"`)
	if _, err := s.UpdateColumn(ctx, nb.ID, "People", "Age", coffer.ColumnUpdate{Type: ptr(coffer.TypeText)}); err != nil {
		t.Fatal(err)
	}
	got, last = storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, `column.update People/bob/Age 5 -> "5"`)
	if err := s.DeleteColumn(ctx, nb.ID, "People", "Name"); err != nil {
		t.Fatal(err)
	}
	got, _ = storedChanges(t, s, nb.ID, last, names)
	wantLines(t, got, `column.delete People/bob/Name "Bob" -> -`)
}

func ptr[T any](v T) *T { return &v }
