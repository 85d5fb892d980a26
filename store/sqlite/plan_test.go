package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestSortedListWalksIndex checks the plan of a filtered, sorted page once
// a table has grown: the planner's statistics are refreshed in the
// background, and the query walks the (sort column, id) index and stops
// after the page instead of sorting every matching row.
func TestSortedListWalksIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, s)
	nb := storetest.MustNotebook(t, uctx, s, "Plan")
	tbl := storetest.MustTable(t, uctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: []string{"red", "green", "blue", "yellow"}}})
	teams := []string{"red", "green", "blue", "yellow"}
	for batch := 0; batch < 3; batch++ {
		ops := make([]coffer.BatchOp, 1000)
		for i := range ops {
			n := batch*1000 + i
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Age": json.Number(fmt.Sprint(n % 80)), "Team": teams[n%4]}}
		}
		if _, err := s.Batch(uctx, nb.ID, tbl.ID, ops); err != nil {
			t.Fatal(err)
		}
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "notebooks", nb.ID+".db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	table := `"t_` + short(tbl.ID, coffer.PrefixTable) + `"`
	stats := 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		err := db.QueryRow("SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?", strings.Trim(table, `"`)).Scan(&stats)
		if err == nil && stats > 0 {
			break
		}
	}
	if stats == 0 {
		t.Fatal("the planner's statistics were not refreshed after 3,000 writes")
	}
	age := `t."c_` + short(tbl.Column("Age").ID, coffer.PrefixColumn) + `"`
	team := `t."c_` + short(tbl.Column("Team").ID, coffer.PrefixColumn) + `"`
	rows, err := db.Query("EXPLAIN QUERY PLAN SELECT t.id FROM " + table + " t WHERE (" + age + " IS NOT NULL AND " + age + " > 30) AND (" +
		team + " IS NOT NULL AND " + team + " = 'red') ORDER BY " + age + " DESC, t.id DESC LIMIT 51")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	wantIndex := `"i_` + short(tbl.Column("Age").ID, coffer.PrefixColumn) + `"`
	if !strings.Contains(got, strings.Trim(wantIndex, `"`)) || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan = %q, want a walk of the Age index without a sort", got)
	}
}
