package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/catalog"
)

// TestFilteredCountPlan checks the plan of a filtered count once a table
// has grown: the statistics refreshed in the background hold samples
// (sqlite_stat4), so the planner knows that Age > 30 holds 80% of the rows
// and counts through the Team index (25%) or a scan, not through a walk
// of the Age index with a row lookup for each of its rows.
func TestFilteredCountPlan(t *testing.T) {
	f := newCountFixture(t, 3000)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "notebooks", f.nb+".db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	table := "t_" + short(f.table, coffer.PrefixTable)
	samples := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		err := db.QueryRow("SELECT count(*) FROM sqlite_stat4 WHERE tbl = ?", table).Scan(&samples)
		if err == nil && samples > 0 {
			break
		}
	}
	if samples == 0 {
		t.Fatal("the planner's statistics hold no samples (sqlite_stat4) after 3,000 writes")
	}
	ageID := short(f.tbl.Column("Age").ID, coffer.PrefixColumn)
	teamID := short(f.tbl.Column("Team").ID, coffer.PrefixColumn)
	age, team, teamKey := `t."c_`+ageID+`"`, `t."c_`+teamID+`"`, `t."k_`+teamID+`"`
	// The shape of the count FindRecords runs for Team = "red" && Age > 30.
	where := "((" + teamKey + " IS NOT NULL AND " + teamKey + " = ? AND (" + team + " IS NOT NULL AND " + team + " = ?)) AND (" +
		age + " IS NOT NULL AND " + age + " > ?))"
	args := []any{catalog.SortKey("red"), "red", 30}
	plan := planOf(t, f, `SELECT count(*) FROM "`+table+`" t WHERE `+where, args...)
	if strings.Contains(plan, "i_"+ageID) {
		t.Errorf("count plan = %q, want no walk of the Age index (its range holds 80%% of the rows)", plan)
	}
	// The page keeps walking the Age index, stopping after the page.
	page := planOf(t, f, `SELECT t.id FROM "`+table+`" t WHERE `+where+" ORDER BY "+age+" DESC, t.id DESC LIMIT 51", args...)
	if !strings.Contains(page, "i_"+ageID) || strings.Contains(page, "TEMP B-TREE") {
		t.Errorf("page plan = %q, want a walk of the Age index without a sort", page)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "`+table+`" t WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	l, err := f.s.FindRecords(f.owner, f.nb, f.table, coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Limit: 1, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total == nil || *l.Total != int64(n) || n == 0 {
		t.Errorf("FindRecords total = %v, the SQL counts %d: the test's SQL is not the service's", l.Total, n)
	}
}
