package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
)

// collationNames are the texts the collation tests sort: mixed case,
// accents, ß, digits and the empty string (NULL is added by the tests).
var collationNames = []string{
	"émile", "Emile", "emile", "Zoë", "zoe", "Ångström", "apple", "Apple", "Éclair", "eclair",
	"ß", "ss", "10", "9", "2", "", "apple", "Zoe", "b", "B",
}

// collRow is one record of a collation test: its id and the value sorted
// (nil for NULL).
type collRow struct {
	id string
	v  any
}

// expectOrder returns the ids of rows in the order a list sorted by their
// value gives: NULL first, then by key (the collation key, or the bytes
// for a binary column), then by id; a descending sort is the exact reverse.
func expectOrder(rows []collRow, binary, desc bool) []string {
	key := func(v any) []byte {
		if binary {
			return []byte(v.(string))
		}
		return catalog.SortKey(v.(string))
	}
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b collRow) int {
		switch {
		case a.v == nil && b.v != nil:
			return -1
		case a.v != nil && b.v == nil:
			return 1
		case a.v != nil:
			if c := bytes.Compare(key(a.v), key(b.v)); c != 0 {
				return c
			}
		}
		return strings.Compare(a.id, b.id)
	})
	ids := make([]string, len(sorted))
	for i, r := range sorted {
		ids[i] = r.id
	}
	if desc {
		slices.Reverse(ids)
	}
	return ids
}

func recordIDs(recs []*coffer.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// wantOrder lists the table sorted by sort with several page sizes
// (crossing page boundaries anywhere) and compares with want.
func wantOrder(t *testing.T, ctx context.Context, s *all.Store, nb, tbl, sort string, want []string, label func(string) string) {
	t.Helper()
	for _, limit := range []int{1, 2, 3, 7, 100} {
		got := recordIDs(MustListAll(t, ctx, s, nb, tbl, coffer.ListQuery{Sort: sort, Limit: limit}))
		if !slices.Equal(got, want) {
			t.Errorf("sort %q, limit %d:\n got  %s\n want %s", sort, limit, labels(got, label), labels(want, label))
			return
		}
	}
}

func labels(ids []string, label func(string) string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = label(id)
	}
	return strings.Join(out, " ")
}

// checkReferenceOrder checks the premise of the collation tests on the
// reference order (record ids, labelled by label).
func checkReferenceOrder(t *testing.T, unicode []string, label map[string]string) {
	// The collation puts case and accents second: "apple" before "Apple"
	// before "b", "eclair" before "Éclair" before "emile".
	pos := map[string]int{}
	for i, id := range unicode {
		if _, ok := pos[label[id]]; !ok {
			pos[label[id]] = i
		}
	}
	for _, pair := range [][2]string{{`"apple"`, `"Apple"`}, {`"Apple"`, `"b"`}, {`"eclair"`, `"Éclair"`}, {`"Éclair"`, `"emile"`}, {`"Zoe"`, `"Zoë"`}, {`"ss"`, `"ß"`}, {`"Ångström"`, `"b"`}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("the reference order puts %s after %s", pair[0], pair[1])
		}
	}
}

// testCollation: text sorts in Unicode collation order (case and accents
// second to the letters), identically on every backend, page by page; a
// "binary" column sorts bytewise; equality filters stay exact; changing
// the collation or the type keeps the order right; masked cells sort as
// NULL for a restricted caller.
func testCollation(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Collation")
	tbl := MustTable(t, ctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Raw", Type: coffer.TypeText, Options: coffer.ColumnOptions{Collation: "binary"}},
		coffer.ColumnInput{Name: "Notes", Type: coffer.TypeLongText},
		coffer.ColumnInput{Name: "Code", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: []string{"red", "blue"}}})
	if got := tbl.Columns[1].Options.Collation; got != "binary" {
		t.Errorf("Raw collation = %q, want binary", got)
	}
	var rows []collRow
	label := map[string]string{}
	add := func(v any, code int) {
		teams := []string{"red", "blue"}
		r := MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": v, "Raw": v, "Notes": v, "Code": json.Number(fmt.Sprint(code)), "Team": teams[code%2]})
		label[r.ID] = fmt.Sprintf("%q", v)
		if v == nil {
			label[r.ID] = "NULL"
		}
		if v == "" {
			v = nil // an empty text is no value
		}
		rows = append(rows, collRow{r.ID, v})
	}
	for i, n := range collationNames {
		add(n, i)
	}
	add(nil, 1)
	add(nil, 2)
	lbl := func(id string) string { return label[id] }

	unicode, binary := expectOrder(rows, false, false), expectOrder(rows, true, false)
	if slices.Equal(unicode, binary) {
		t.Fatal("the fixture sorts the same bytewise and by collation: it tests nothing")
	}
	checkReferenceOrder(t, unicode, label)

	t.Run("Unicode", func(t *testing.T) {
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "Name", unicode, lbl)
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "-Name", expectOrder(rows, false, true), lbl)
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "Notes", unicode, lbl)
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "-Notes", expectOrder(rows, false, true), lbl)
	})
	t.Run("Binary", func(t *testing.T) {
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "Raw", binary, lbl)
		wantOrder(t, ctx, s, nb.ID, tbl.ID, "-Raw", expectOrder(rows, true, true), lbl)
	})
	t.Run("Equality", func(t *testing.T) {
		testCollationEquality(t, ctx, s, nb, tbl, rows)
	})
	t.Run("CursorOfAnotherCollation", func(t *testing.T) {
		testCollationCursorOfAnotherCollation(t, ctx, s, nb, tbl, unicode, lbl, binary)
	})
	t.Run("Options", func(t *testing.T) {
		bad := coffer.ColumnOptions{Collation: "binary"}
		_, err := s.CreateColumn(ctx, nb.ID, tbl.ID, coffer.ColumnInput{Name: "N", Type: coffer.TypeNumber, Options: bad})
		wantCode(t, err, coffer.EINVALID)
		wantFields(t, err, "options.collation")
		_, err = s.CreateColumn(ctx, nb.ID, tbl.ID, coffer.ColumnInput{Name: "N", Type: coffer.TypeText, Options: coffer.ColumnOptions{Collation: "fr"}})
		wantCode(t, err, coffer.EINVALID)
		wantFields(t, err, "options.collation")
	})
	t.Run("TypeChanges", func(t *testing.T) {
		testCollationTypeChanges(t, s, ctx, nb, tbl, rows, lbl, binary, label)
	})
	t.Run("Masked", func(t *testing.T) {
		testCollationMasked(t, s, tbl, ctx, nb, rows, lbl)
	})
}

// testCollationEquality is the subtest Equality of testCollation.
func testCollationEquality(t *testing.T, ctx context.Context, s *all.Store, nb *coffer.Notebook, tbl *coffer.Table, rows []collRow) {
	for _, c := range []struct {
		filter string
		want   []any
	}{
		{`Name = "apple"`, []any{"apple", "apple"}},
		{`Name = "Émile"`, nil},
		{`Name in ["ß", "zoe", "nobody"]`, []any{"ß", "zoe"}},
		{`Name = ""`, nil}, // an empty text is no value
		{`Raw = "Apple"`, []any{"Apple"}},
	} {
		got := MustListAll(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Filter: c.filter, Sort: "Name"})
		var vals []any
		for _, r := range got {
			vals = append(vals, r.Fields["Name"])
		}
		if !slices.Equal(vals, c.want) {
			t.Errorf("filter %s: values %v, want %v", c.filter, vals, c.want)
		}
	}
	// Negated, an equality still holds for empty cells.
	for _, f := range []string{`!(Name = "apple")`, `Name != "apple"`, `!(Name in ["apple"])`} {
		if got := MustListAll(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Filter: f}); len(got) != len(rows)-2 {
			t.Errorf("filter %s: %d records, want %d", f, len(got), len(rows)-2)
		}
	}
}

// testCollationCursorOfAnotherCollation is the subtest CursorOfAnotherCollation of testCollation.
func testCollationCursorOfAnotherCollation(t *testing.T, ctx context.Context, s *all.Store, nb *coffer.Notebook, tbl *coffer.Table, unicode []string, lbl func(id string) string, binary []string) {
	l := MustList(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Sort: "Raw", Limit: 3})
	if l.NextCursor == nil {
		t.Fatal("no cursor")
	}
	uni := coffer.ColumnOptions{Collation: "unicode"}
	c, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Raw", coffer.ColumnUpdate{Options: &uni})
	if !wantCode(t, err, "") {
		return
	}
	if c.Options.Collation != "" {
		t.Errorf("collation \"unicode\" is stored as %q, want the default \"\"", c.Options.Collation)
	}
	_, err = s.FindRecords(ctx, nb.ID, tbl.ID, coffer.ListQuery{Sort: "Raw", Limit: 3, Cursor: *l.NextCursor})
	wantCode(t, err, coffer.EINVALID)
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Raw", unicode, lbl)
	if got := MustListAll(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Filter: `Raw = "Apple"`}); len(got) != 1 {
		t.Errorf("Raw = \"Apple\" after the change: %d records, want 1", len(got))
	}
	// And back: bytewise again.
	bin := coffer.ColumnOptions{Collation: "binary"}
	if _, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Raw", coffer.ColumnUpdate{Options: &bin}); !wantCode(t, err, "") {
		return
	}
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Raw", binary, lbl)
}

// testCollationTypeChanges is the subtest TypeChanges of testCollation.
func testCollationTypeChanges(t *testing.T, s *all.Store, ctx context.Context, nb *coffer.Notebook, tbl *coffer.Table, rows []collRow, lbl func(id string) string, binary []string, label map[string]string) {
	// Numbers become text: they sort as text, by collation.
	text := coffer.TypeText
	if _, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Code", coffer.ColumnUpdate{Type: &text}); !wantCode(t, err, "") {
		return
	}
	var codes []collRow
	for i, r := range rows {
		code := i
		if i >= len(collationNames) {
			code = i - len(collationNames) + 1
		}
		codes = append(codes, collRow{r.id, fmt.Sprint(code)})
	}
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Code", expectOrder(codes, false, false), lbl)
	// long_text to text keeps the keys (and gains an index).
	if _, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Notes", coffer.ColumnUpdate{Type: &text}); !wantCode(t, err, "") {
		return
	}
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "-Notes", expectOrder(rows, false, true), lbl)
	// A text column made binary with its type change.
	bin := coffer.ColumnOptions{Collation: "binary"}
	long := coffer.TypeLongText
	if _, err := s.UpdateColumn(ctx, nb.ID, tbl.ID, "Notes", coffer.ColumnUpdate{Type: &long, Options: &bin}); !wantCode(t, err, "") {
		return
	}
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Notes", binary, lbl)
	// Updates keep the key in step with the value.
	first := rows[0].id // "émile"
	if _, err := s.UpdateRecord(ctx, nb.ID, tbl.ID, first, map[string]any{"Name": "aardvark"}, 0); !wantCode(t, err, "") {
		return
	}
	moved := slices.Clone(rows)
	moved[0].v = "aardvark"
	label[first] = `"aardvark"`
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Name", expectOrder(moved, false, false), lbl)
	if _, err := s.UpdateRecord(ctx, nb.ID, tbl.ID, first, map[string]any{"Name": "émile"}, 0); !wantCode(t, err, "") {
		return
	}
	label[first] = `"émile"`
}

// testCollationMasked is the subtest Masked of testCollation.
func testCollationMasked(t *testing.T, s *all.Store, tbl *coffer.Table, ctx context.Context, nb *coffer.Notebook, rows []collRow, lbl func(id string) string) {
	// Dave reads Name only in red rows: elsewhere his Name is NULL,
	// and it sorts as NULL.
	_, dave := MustUser(t, s)
	for _, g := range []coffer.GrantInput{
		{Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: &tbl.Name, Columns: map[string]string{"Name": "none", "*": "read"}},
		{Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: &tbl.Name, Rows: `Team = "red"`, Columns: map[string]string{"*": "read"}},
	} {
		if _, err := s.CreateGrant(ctx, nb.ID, g); !wantCode(t, err, "") {
			return
		}
	}
	daveCtx := CallerContext(dave)
	var masked []collRow
	for _, r := range rows {
		rec := MustFindRecord(t, ctx, s, nb.ID, tbl.ID, r.id)
		v := r.v
		if rec.Fields["Team"] != "red" {
			v = nil
		}
		masked = append(masked, collRow{r.id, v})
	}
	wantOrder(t, daveCtx, s, nb.ID, tbl.ID, "Name", expectOrder(masked, false, false), lbl)
	wantOrder(t, daveCtx, s, nb.ID, tbl.ID, "-Name", expectOrder(masked, false, true), lbl)
	// Equality on a masked cell finds only the visible ones.
	for _, rec := range MustListAll(t, daveCtx, s, nb.ID, tbl.ID, coffer.ListQuery{Filter: `Name = "apple" || Name = "Apple"`}) {
		if rec.Fields["Team"] != "red" {
			t.Errorf("filter on a masked cell matched record %s of team %v", rec.ID, rec.Fields["Team"])
		}
	}
}

// TestSortKeyMigration checks that a notebook made before sort keys (its
// text columns without key columns, their index on the value) is brought
// forward when a store loads it, and that keys of another format are
// recomputed. It works on the backend below a store: raw builds the old
// state with SQL on the notebook's database.
func testSortKeyMigration(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Old")
	tbl := MustTable(t, ctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Notes", Type: coffer.TypeLongText})
	var rows []collRow
	label := map[string]string{}
	for _, n := range append(slices.Clone(collationNames), "") {
		var v any = n
		r := MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": v, "Notes": v})
		label[r.ID] = fmt.Sprintf("%q", v)
		if v == "" {
			v = nil
		}
		rows = append(rows, collRow{r.ID, v})
	}
	lbl := func(id string) string { return label[id] }
	want := expectOrder(rows, false, false)

	b := s.Backend()
	d := b.Dialect()
	db, release, err := b.Notebook(ctx, nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	tsql := db.Prefix + `"t_` + short(tbl.ID, coffer.PrefixTable) + `"`
	name, notes := short(tbl.Columns[0].ID, coffer.PrefixColumn), short(tbl.Columns[1].ID, coffer.PrefixColumn)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.W.ExecContext(context.Background(), d.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	format := func(col string) string {
		var f string
		if err := db.R.QueryRowContext(context.Background(), d.Rebind("SELECT sort_key FROM "+db.Prefix+"_columns WHERE id = ?"), coffer.PrefixColumn+col).Scan(&f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := format(name); f != catalog.SortKeyFormat {
		t.Fatalf("sort_key of a new text column = %q, want %q", f, catalog.SortKeyFormat)
	}

	// Name as before keys: no key column, the index on the value. Notes
	// with keys of another format (here: wrong bytes).
	exec(`DROP INDEX ` + db.Prefix + `"i_` + name + `"`)
	exec(`ALTER TABLE ` + tsql + ` DROP COLUMN "k_` + name + `"`)
	exec(`CREATE INDEX "i_` + name + `" ON ` + tsql + ` ("c_` + name + `"` + d.NullsOrder(false) + `, id)`)
	exec(`UPDATE `+db.Prefix+`_columns SET sort_key = ? WHERE id = ?`, "", tbl.Columns[0].ID)
	exec(`UPDATE `+tsql+` SET "k_`+notes+`" = ? WHERE "c_`+notes+`" IS NOT NULL`, []byte{0xff})
	exec(`UPDATE `+db.Prefix+`_columns SET sort_key = ? WHERE id = ?`, "an older collation", tbl.Columns[1].ID)
	exec(`UPDATE ` + db.Prefix + `_schema_version SET version = version + 1`)

	// A store opened anew on the same backend brings the notebook forward,
	// even when the first to open it is a read-only API key.
	s2 := all.New(b, keyring.ForTests())
	ro := *coffer.CallerFrom(ctx)
	ro.ReadOnly = true
	wantOrder(t, coffer.WithCaller(context.Background(), &ro), s2, nb.ID, tbl.ID, "Name", want, lbl)
	wantOrder(t, ctx, s2, nb.ID, tbl.ID, "-Notes", expectOrder(rows, false, true), lbl)
	if got := MustListAll(t, ctx, s2, nb.ID, tbl.ID, coffer.ListQuery{Filter: `Notes = "apple" || Name = "Zoë"`}); len(got) != 3 {
		t.Errorf("equality filters after the upgrade: %d records, want 3", len(got))
	}
	if f := format(name); f != catalog.SortKeyFormat {
		t.Errorf("sort_key after the upgrade = %q, want %q", f, catalog.SortKeyFormat)
	}
	if f := format(notes); f != catalog.SortKeyFormat {
		t.Errorf("sort_key after the upgrade = %q, want %q", f, catalog.SortKeyFormat)
	}
	// New writes keep keys.
	r := MustRecord(t, ctx, s2, nb.ID, tbl.ID, map[string]any{"Name": "Ábc"})
	rows = append(rows, collRow{r.ID, "Ábc"})
	label[r.ID] = "Ábc"
	wantOrder(t, ctx, s2, nb.ID, tbl.ID, "Name", expectOrder(rows, false, false), lbl)
}

// testLongTextKeys: long values sort by their beginning, and equality
// still tells values apart that differ only past what the key holds.
func testLongTextKeys(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Long")
	tbl := MustTable(t, ctx, s, nb.ID, "T", coffer.ColumnInput{Name: "Body", Type: coffer.TypeLongText})
	long := strings.Repeat("é", 1500) // longer than the text a key is made of
	var rows []collRow
	label := map[string]string{}
	for i, v := range []string{long + "b", long + "a", "Zoë " + long, "zoe " + long, long} {
		r := MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Body": v})
		rows = append(rows, collRow{r.ID, v})
		label[r.ID] = fmt.Sprintf("#%d", i)
	}
	lbl := func(id string) string { return label[id] }
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "Body", expectOrder(rows, false, false), lbl)
	wantOrder(t, ctx, s, nb.ID, tbl.ID, "-Body", expectOrder(rows, false, true), lbl)
	got := MustListAll(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Filter: fmt.Sprintf("Body = %q", long+"a")})
	if len(got) != 1 || got[0].ID != rows[1].id {
		t.Errorf("equality on a long value: %v, want only %s", recordIDs(got), rows[1].id)
	}
}
