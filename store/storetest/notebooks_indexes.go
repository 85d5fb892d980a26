package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
)

// testIndexes: indexes declared over several columns (TableService
// CreateIndex, FindIndexes, DeleteIndex) are created with their SQL index,
// used by the planner for a filter on the leading column sorted by the
// second, kept by a rename, dropped with their columns, undone and redone;
// mistakes change nothing; a column hidden from a caller with the schema
// right is, to them, a column that does not exist.
func testIndexes(t *testing.T, open Opener) {
	s := open(t)
	t.Run("UsedByThePlanner", func(t *testing.T) { t.Parallel(); testIndexesPlanned(t, s) })
	t.Run("Mistakes", func(t *testing.T) { t.Parallel(); testIndexesMistakes(t, s) })
	t.Run("DroppedWithColumns", func(t *testing.T) { t.Parallel(); testIndexesDropped(t, s) })
	t.Run("Undo", func(t *testing.T) { t.Parallel(); testIndexesUndo(t, s) })
	t.Run("HiddenColumns", func(t *testing.T) { t.Parallel(); testIndexesHidden(t, s) })
	t.Run("LongValues", func(t *testing.T) { t.Parallel(); testIndexesLongValues(t, s) })
}

var indexTeams = []string{"red", "green", "blue", "yellow"}

// indexTable creates People (Name, Age, Team, Tags, Secret, Bio, Site, Raw)
// with n records.
func indexTable(t *testing.T, s *all.Store, ctx context.Context, nb string, n int) *coffer.Table {
	t.Helper()
	tbl := MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber),
		col("Team", coffer.TypeSingleSelect, choices(indexTeams...)), col("Tags", coffer.TypeMultiSelect, choices("a", "b")), col("Secret", coffer.TypeText),
		col("Bio", coffer.TypeText), col("Site", coffer.TypeURL), col("Raw", coffer.TypeText, func(o *coffer.ColumnOptions) { o.Collation = coffer.CollationBinary }))
	for done := 0; done < n; done += coffer.MaxBatch {
		ops := make([]coffer.BatchOp, min(coffer.MaxBatch, n-done))
		for i := range ops {
			k := done + i
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Name": fmt.Sprint("p", k), "Age": 18 + k%60, "Team": indexTeams[(k/7)%4], "Secret": fmt.Sprint("s", k%3)}}
		}
		if _, err := s.Batch(ctx, nb, tbl.ID, ops); err != nil {
			t.Fatal(err)
		}
	}
	return tbl
}

func mustIndex(t *testing.T, ctx context.Context, s *all.Store, nb string, cols ...string) *coffer.TableIndex {
	t.Helper()
	ix, err := s.CreateIndex(ctx, nb, "People", coffer.IndexInput{Columns: cols})
	if err != nil {
		t.Fatalf("CreateIndex(%v): %v (fields %v)", cols, err, coffer.ErrorFields(err))
	}
	return ix
}

// indexColumns lists the declared indexes of People as the caller sees
// them: their columns, joined.
func indexColumns(t *testing.T, ctx context.Context, s *all.Store, nb string) []string {
	t.Helper()
	ixs, err := s.FindIndexes(ctx, nb, "People")
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, ix := range ixs {
		out = append(out, strings.Join(ix.Columns, ","))
	}
	return out
}

// sqlIndexExists reports whether the SQL index of declared index id exists.
func sqlIndexExists(t *testing.T, s *all.Store, nb, id string) bool {
	t.Helper()
	db, release, err := s.Storage.Notebook(context.Background(), nb)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	name := strings.Trim(catalog.UnqualifiedDeclaredIndex(id), `"`)
	var n int
	if s.Dialect.Name() == "postgres" {
		err = db.R.QueryRow("SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = $2", strings.Trim(strings.TrimSuffix(db.Prefix, "."), `"`), name).Scan(&n)
	} else {
		err = db.R.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", name).Scan(&n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// pagePlan is the planner's plan of the page a list of People filtered on
// Team = "red" and sorted by -Age asks for (the shape FindRecords runs),
// after the table's statistics are refreshed.
func pagePlan(t *testing.T, s *all.Store, nb string, tbl *coffer.Table) string {
	t.Helper()
	ctx := context.Background()
	db, release, err := s.Storage.Notebook(ctx, nb)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	d := s.Dialect
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	table := db.Prefix + `"t_` + short(tbl.ID, coffer.PrefixTable) + `"`
	team := short(tbl.Column("Team").ID, coffer.PrefixColumn)
	age := `t."c_` + short(tbl.Column("Age").ID, coffer.PrefixColumn) + `"`
	k, c := `t."k_`+team+`"`, `t."c_`+team+`"`
	q := d.Rebind("SELECT t.id FROM " + table + " t WHERE (" + k + " IS NOT NULL AND " + k + " = ? AND (" + c + " IS NOT NULL AND " + c + " = ?)) ORDER BY " +
		age + " DESC" + d.NullsOrder(true) + ", t.id DESC LIMIT 51")
	if _, err := db.W.ExecContext(ctx, "ANALYZE "+table); err != nil {
		t.Fatal(err)
	}
	tx, err := db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	explain := "EXPLAIN QUERY PLAN "
	if d.Name() == "postgres" {
		explain = "EXPLAIN "
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.QueryContext(ctx, explain+q, catalog.SortKey("red"), "red")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	return strings.Join(plan, "; ")
}

func testIndexesPlanned(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes planned")
	ctx, nb := st.ctx, st.nb
	tbl := indexTable(t, s, ctx, nb, 3000)
	q := coffer.ListQuery{Filter: `Team = "red"`, Sort: "-Age", Limit: 50, Count: true}
	before := MustList(t, ctx, s, nb, "People", q)
	ix := mustIndex(t, ctx, s, nb, "Team", "-Age")
	if !coffer.ValidID(coffer.PrefixIndex, ix.ID) || !slices.Equal(ix.Columns, []string{"Team", "-Age"}) || ix.Unique || ix.CreatedAt.IsZero() {
		t.Errorf("CreateIndex = %+v", ix)
	}
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Team,-Age"}) {
		t.Errorf("FindIndexes = %v", got)
	}
	if !sqlIndexExists(t, s, nb, ix.ID) {
		t.Fatal("the SQL index was not built")
	}
	name := strings.Trim(catalog.UnqualifiedDeclaredIndex(ix.ID), `"`)
	if plan := pagePlan(t, s, nb, tbl); !strings.Contains(plan, name) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
		t.Errorf("plan of Team = red sorted by -Age = %q, want the declared index %s without a sort", plan, name)
	}
	// The same answers through the index; a count equal to the rows.
	after := MustList(t, ctx, s, nb, "People", q)
	if g, w := ids(after.Records), ids(before.Records); !slices.Equal(g, w) || *after.Total != *before.Total {
		t.Errorf("with the index: %d records, total %d; without: %d, total %d", len(g), *after.Total, len(w), *before.Total)
	}
	if all := MustListAll(t, ctx, s, nb, "People", coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Sort: "-Age"}); int64(len(all)) != *MustList(t, ctx, s, nb, "People", coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Count: true}).Total {
		t.Errorf("count of Team = red && Age > 30 differs from the %d records listed", len(all))
	}
	// A rename changes the name shown, not the index.
	newName := "Years"
	if _, err := s.UpdateColumn(ctx, nb, "People", "Age", coffer.ColumnUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Team,-Years"}) {
		t.Errorf("FindIndexes after a rename = %v", got)
	}
	if !sqlIndexExists(t, s, nb, ix.ID) {
		t.Error("a rename dropped the SQL index")
	}
	if err := s.DeleteIndex(ctx, nb, "People", ix.ID); err != nil {
		t.Fatal(err)
	}
	if got := indexColumns(t, ctx, s, nb); len(got) != 0 || sqlIndexExists(t, s, nb, ix.ID) {
		t.Errorf("after DeleteIndex: FindIndexes = %v, SQL index exists %v", got, sqlIndexExists(t, s, nb, ix.ID))
	}
	if err := s.DeleteIndex(ctx, nb, "People", ix.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("DeleteIndex twice: %v, want not_found", err)
	}
}

func testIndexesMistakes(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes mistakes")
	ctx, nb := st.ctx, st.nb
	indexTable(t, s, ctx, nb, 10)
	first := mustIndex(t, ctx, s, nb, "Team", "Age")
	for _, c := range []struct {
		in    coffer.IndexInput
		code  string
		field string
	}{
		{coffer.IndexInput{Columns: []string{"Team"}}, coffer.EINVALID, "columns"},
		{coffer.IndexInput{Columns: []string{"Team", "Age", "Name", "Secret", "-Name", "-Team"}}, coffer.EINVALID, "columns"},
		{coffer.IndexInput{Columns: []string{"Team", "Nope"}}, coffer.EINVALID, "columns[1]"},
		{coffer.IndexInput{Columns: []string{"Tags", "Age"}}, coffer.EINVALID, "columns[0]"},
		{coffer.IndexInput{Columns: []string{"Age", "-Age"}}, coffer.EINVALID, "columns[1]"},
		{coffer.IndexInput{Columns: []string{"Name", "Age"}, Unique: true}, coffer.EINVALID, "unique"},
		{coffer.IndexInput{Columns: []string{"Team", "Age"}}, coffer.ECONFLICT, "columns"},
		// Entries that could outgrow what PostgreSQL takes in an index.
		{coffer.IndexInput{Columns: []string{"Name", "Secret", "Bio", "Site", "Team"}}, coffer.EINVALID, "columns"},
		{coffer.IndexInput{Columns: []string{"Raw", "Age"}}, coffer.EINVALID, "columns"},
	} {
		_, err := s.CreateIndex(ctx, nb, "People", c.in)
		if !wantCode(t, err, c.code) {
			continue
		}
		if c.field != "" {
			wantFields(t, err, c.field)
		}
	}
	if _, err := s.CreateIndex(ctx, nb, "Nope", coffer.IndexInput{Columns: []string{"Team", "Age"}}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("CreateIndex on a missing table: %v", err)
	}
	if err := s.DeleteIndex(ctx, nb, "People", "idx_00000000000000000000000000"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("DeleteIndex of a missing index: %v", err)
	}
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Team,Age"}) {
		t.Errorf("after the mistakes: FindIndexes = %v, want only the first index %s", got, first.ID)
	}
	// At most MaxTableIndexes per table.
	combos := [][]string{{"Name", "Age"}, {"Age", "Name"}, {"Name", "Team"}, {"Team", "Name"}, {"Age", "Team"}, {"-Age", "Team"}, {"Secret", "Name"}, {"Name", "Secret"}, {"Secret", "Age"}}
	for _, cols := range combos[:coffer.MaxTableIndexes-1] {
		mustIndex(t, ctx, s, nb, cols...)
	}
	_, err := s.CreateIndex(ctx, nb, "People", coffer.IndexInput{Columns: []string{"Age", "Secret"}})
	wantCode(t, err, coffer.EINVALID)
	if got := indexColumns(t, ctx, s, nb); len(got) != coffer.MaxTableIndexes {
		t.Errorf("%d indexes, want %d", len(got), coffer.MaxTableIndexes)
	}
}

func testIndexesDropped(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes dropped")
	ctx, nb := st.ctx, st.nb
	indexTable(t, s, ctx, nb, 50)
	a := mustIndex(t, ctx, s, nb, "Team", "-Age")
	b := mustIndex(t, ctx, s, nb, "Name", "Team")
	c := mustIndex(t, ctx, s, nb, "Age", "Name")
	if err := s.DeleteColumn(ctx, nb, "People", "Age"); err != nil {
		t.Fatalf("DeleteColumn with declared indexes: %v", err)
	}
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Name,Team"}) {
		t.Errorf("after deleting Age: FindIndexes = %v", got)
	}
	if sqlIndexExists(t, s, nb, a.ID) || sqlIndexExists(t, s, nb, c.ID) || !sqlIndexExists(t, s, nb, b.ID) {
		t.Error("the SQL indexes over Age were not dropped with it, or another was")
	}
	// Undoing the column's deletion brings the column, not its indexes.
	mustUndo(t, ctx, s, nb, false)
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Name,Team"}) {
		t.Errorf("after undoing the delete of Age: FindIndexes = %v", got)
	}
	// A change of storage (number to text) drops the indexes too.
	mustIndex(t, ctx, s, nb, "Age", "Team")
	typ := coffer.TypeText
	if _, err := s.UpdateColumn(ctx, nb, "People", "Age", coffer.ColumnUpdate{Type: &typ}); err != nil {
		t.Fatalf("retype a column with a declared index: %v", err)
	}
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Name,Team"}) {
		t.Errorf("after retyping Age: FindIndexes = %v", got)
	}
	// Records still write and read.
	MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "z", "Team": "red"})
	if err := s.DeleteTable(ctx, nb, "People"); err != nil {
		t.Fatal(err)
	}
}

func testIndexesUndo(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes undo")
	ctx, nb := st.ctx, st.nb
	indexTable(t, s, ctx, nb, 20)
	ix := mustIndex(t, ctx, s, nb, "Team", "-Age")
	d := mustUndo(t, ctx, s, nb, false)
	if got := indexColumns(t, ctx, s, nb); len(got) != 0 || sqlIndexExists(t, s, nb, ix.ID) {
		t.Errorf("undo of CreateIndex (%+v): FindIndexes = %v", d, got)
	}
	mustUndo(t, ctx, s, nb, true)
	ixs, err := s.FindIndexes(ctx, nb, "People")
	if err != nil || len(ixs) != 1 || ixs[0].ID != ix.ID || !sqlIndexExists(t, s, nb, ix.ID) {
		t.Errorf("redo of CreateIndex: %v %v", ixs, err)
	}
	if err := s.DeleteIndex(ctx, nb, "People", ix.ID); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	if got := indexColumns(t, ctx, s, nb); !slices.Equal(got, []string{"Team,-Age"}) || !sqlIndexExists(t, s, nb, ix.ID) {
		t.Errorf("undo of DeleteIndex: FindIndexes = %v", got)
	}
	// The actions are in history with their summaries.
	var got []string
	for _, e := range MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Limit: 5}) {
		got = append(got, e.Kind+": "+e.Summary)
	}
	if want := "index.create: added index (Team, -Age) to table People"; !slices.Contains(got, want) || !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "index.delete: deleted index (Team, -Age)") }) {
		t.Errorf("history = %q, want %q and the deletion", got, want)
	}
}

func testIndexesHidden(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes hidden")
	ctx, nb := st.ctx, st.nb
	tbl := indexTable(t, s, ctx, nb, 20)
	gctx, g := MustUser(t, s)
	if _, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &tbl.ID,
		Columns: map[string]string{"*": "read", "Secret": "none"}, Capabilities: []string{"schema"}}); err != nil {
		t.Fatal(err)
	}
	rctx, r := MustUser(t, s)
	if _, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: r.ID}, Table: &tbl.ID}); err != nil {
		t.Fatal(err)
	}
	hidden := mustIndex(t, ctx, s, nb, "Team", "Secret")
	mustIndex(t, ctx, s, nb, "Team", "Age")
	// A hidden column answers exactly as a missing one.
	_, e1 := s.CreateIndex(gctx, nb, "People", coffer.IndexInput{Columns: []string{"Team", "Secret"}})
	_, e2 := s.CreateIndex(gctx, nb, "People", coffer.IndexInput{Columns: []string{"Team", "Nope"}})
	f1, f2 := mustJSONErr(e1), mustJSONErr(e2)
	if coffer.ErrorCode(e1) != coffer.EINVALID || f1 != f2 {
		t.Errorf("index over a hidden column: %v %s; over a missing one: %v %s", e1, f1, e2, f2)
	}
	if got := indexColumns(t, gctx, s, nb); !slices.Equal(got, []string{"Team,Age"}) {
		t.Errorf("FindIndexes as the grantee = %v, want the index over Secret left out", got)
	}
	if err := s.DeleteIndex(gctx, nb, "People", hidden.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("DeleteIndex over a hidden column: %v, want not_found", err)
	}
	ix := mustIndex(t, gctx, s, nb, "Name", "-Age")
	if err := s.DeleteIndex(gctx, nb, "People", ix.ID); err != nil {
		t.Errorf("DeleteIndex by the grantee with the schema right: %v", err)
	}
	// Without the schema right: refused.
	if _, err := s.CreateIndex(rctx, nb, "People", coffer.IndexInput{Columns: []string{"Name", "Age"}}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("CreateIndex without the schema right: %v", err)
	}
	if _, err := s.FindIndexes(rctx, nb, "People"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("FindIndexes without the schema right: %v", err)
	}
	if got := indexColumns(t, ctx, s, nb); len(got) != 2 {
		t.Errorf("the owner sees %v", got)
	}
}

// mustJSONErr is the code and fields of an error, as JSON.
func mustJSONErr(err error) string {
	b, _ := json.Marshal(map[string]any{"code": coffer.ErrorCode(err), "fields": coffer.ErrorFields(err)})
	return string(b)
}

// testIndexesLongValues: the longest values of the columns a declared
// index holds still write (PostgreSQL refuses index entries over 2,704
// bytes): an index holds the sort key of a text column, not its value.
func testIndexesLongValues(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Indexes long values")
	ctx, nb := st.ctx, st.nb
	indexTable(t, s, ctx, nb, 5)
	mustIndex(t, ctx, s, nb, "Name", "Bio", "Site", "Team")
	mustIndex(t, ctx, s, nb, "Team", "-Age")
	var b strings.Builder
	x := uint32(1)
	for b.Len() < 10_000 {
		x = x*1664525 + 1013904223
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[x>>26%36])
	}
	long := b.String()
	r := MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": long, "Bio": long[:9_999] + "!", "Site": "https://example.com/" + long[:2000], "Team": "red", "Age": 3})
	if got := MustFindRecord(t, ctx, s, nb, "People", r.ID).Fields["Name"]; got != long {
		t.Errorf("the long Name did not come back whole")
	}
	l := MustList(t, ctx, s, nb, "People", coffer.ListQuery{Filter: `Team = "red" && Age < 5`, Count: true})
	if *l.Total != 1 || len(l.Records) != 1 || l.Records[0].ID != r.ID {
		t.Errorf("list through the indexes: total %d, %d records", *l.Total, len(l.Records))
	}
}
