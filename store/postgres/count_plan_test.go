package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestFilteredCountPlan: once the statistics are refreshed (the table's
// written rows doubled), PostgreSQL's histograms tell that Age > 30 holds
// 80% of the rows: the count of Team = "red" && Age > 30 scans or uses the
// Team index, never walks the Age index with a heap visit per entry.
func TestFilteredCountPlan(t *testing.T) {
	ctx := context.Background()
	b := openBackend(t)
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, s)
	nb := storetest.MustNotebook(t, uctx, s, "Counts")
	teams := []string{"red", "green", "blue", "yellow"}
	tbl := storetest.MustTable(t, uctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: teams}})
	for done := 0; done < 4000; done += coffer.MaxBatch {
		ops := make([]coffer.BatchOp, coffer.MaxBatch)
		for i := range ops {
			k := done + i
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Age": 18 + k%60, "Team": teams[(k/7)%4]}}
		}
		if _, err := s.Batch(uctx, nb.ID, tbl.ID, ops); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := b.NotebookSchema(nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	table := "t_" + short(tbl.ID, coffer.PrefixTable)
	analyzed := false
	for deadline := time.Now().Add(20 * time.Second); !analyzed && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_ = b.Pool().QueryRowContext(ctx, "SELECT last_analyze IS NOT NULL AND n_mod_since_analyze < 1000 FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
			schema, table).Scan(&analyzed)
	}
	if !analyzed {
		t.Fatal("the table was not analyzed after 4,000 writes")
	}
	ageID, teamID := short(tbl.Column("Age").ID, coffer.PrefixColumn), short(tbl.Column("Team").ID, coffer.PrefixColumn)
	age, team, teamKey := `t."c_`+ageID+`"`, `t."c_`+teamID+`"`, `t."k_`+teamID+`"`
	// The shape of the count FindRecords runs.
	q := fmt.Sprintf(`EXPLAIN SELECT count(*) FROM %q.%q t WHERE ((%s IS NOT NULL AND %s = $1 AND (%s IS NOT NULL AND %s = $2)) AND (%s IS NOT NULL AND %s > $3))`,
		schema, table, teamKey, teamKey, team, team, age, age)
	rows, err := b.Pool().QueryContext(ctx, q, catalog.SortKey("red"), "red", 30)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(line))
	}
	if got := strings.Join(plan, "; "); strings.Contains(got, "i_"+ageID) {
		t.Errorf("count plan = %q, want no walk of the Age index (its range holds 80%% of the rows)", got)
	}
}
