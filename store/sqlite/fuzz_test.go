package sqlite_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// FuzzFindRecords drives the list query with arbitrary filter, sort and
// cursor strings (all outside input) against a real SQLite table: any
// failure must be a client error, never an internal one (no SQL error, no
// panic reaching the caller).
func FuzzFindRecords(f *testing.F) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, f.TempDir(), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(f, s)
	nb := storetest.MustNotebook(f, uctx, s, "Fuzz")
	tbl := storetest.MustTable(f, uctx, s, nb.ID, "T",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber, Options: coffer.ColumnOptions{Precision: 1}},
		coffer.ColumnInput{Name: "Ok", Type: coffer.TypeBoolean},
		coffer.ColumnInput{Name: "Due", Type: coffer.TypeDate},
		coffer.ColumnInput{Name: "At", Type: coffer.TypeDateTime},
		coffer.ColumnInput{Name: "Tags", Type: coffer.TypeMultiSelect, Options: coffer.ColumnOptions{Choices: []string{"a", "b"}}},
		coffer.ColumnInput{Name: "Self", Type: coffer.TypeLink, Options: coffer.ColumnOptions{Table: "T", Multiple: true}})
	first := storetest.MustRecord(f, uctx, s, nb.ID, tbl.ID, map[string]any{"Name": "Ada", "Age": json.Number("36.5"), "Ok": true, "Due": "2024-02-29", "Tags": []any{"a"}})
	storetest.MustRecord(f, uctx, s, nb.ID, tbl.ID, map[string]any{"Name": "Émile", "Self": []any{first.ID}, "At": "2024-01-01T10:00:00Z"})
	storetest.MustRecord(f, uctx, s, nb.ID, tbl.ID, map[string]any{})

	page := storetest.MustList(f, uctx, s, nb.ID, tbl.ID, coffer.ListQuery{Sort: "-Age,Name", Limit: 1})
	f.Add(`Age > 3 && Name ~ "a"`, "-Age,Name", *page.NextCursor)
	f.Add(`"a" in Tags || Self is null`, "Due", "")
	f.Add(`!(Ok = true) && At >= "2024-01-01"`, "-At", base64.RawURLEncoding.EncodeToString([]byte(`{"s":"x","v":[1,"rec_"]}`)))
	f.Add("Name in [\"Ada\", 1]", "Ok,-Due", "e30")
	f.Add("", "", "////")
	f.Fuzz(func(t *testing.T, filter, sort, cursor string) {
		for _, count := range []bool{false, true} {
			_, err := s.FindRecords(uctx, nb.ID, tbl.ID, coffer.ListQuery{Filter: filter, Sort: sort, Cursor: cursor, Limit: 2, Count: count})
			if code := coffer.ErrorCode(err); code != "" && code != coffer.EINVALID {
				t.Fatalf("filter %q sort %q cursor %q: %v", filter, sort, cursor, err)
			}
		}
	})
}
