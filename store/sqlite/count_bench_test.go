package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// countFixture is the bench's data shape: People with Age (18..77, so
// age > 30 holds 80% of rows) and Team (four choices), n rows, and a
// grantee whose row condition is Team = "red".
type countFixture struct {
	s            *all.Store
	dir          string
	owner, guest context.Context
	nb, table    string
	tbl          *coffer.Table
}

func newCountFixture(tb testing.TB, n int) *countFixture {
	ctx := context.Background()
	dir := tb.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(tb, s)
	nb := storetest.MustNotebook(tb, uctx, s, "Counts")
	teams := []string{"red", "green", "blue", "yellow"}
	tbl := storetest.MustTable(tb, uctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: teams}})
	for done := 0; done < n; done += coffer.MaxBatch {
		ops := make([]coffer.BatchOp, min(coffer.MaxBatch, n-done))
		for i := range ops {
			k := done + i
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Name": fmt.Sprint("person ", k), "Age": 18 + k%60, "Team": teams[(k/7)%4]}}
		}
		if _, err := s.Batch(uctx, nb.ID, tbl.ID, ops); err != nil {
			tb.Fatal(err)
		}
	}
	gctx, g := storetest.MustUser(tb, s)
	if _, err := s.CreateGrant(uctx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &tbl.ID,
		Rows: `Team = "red"`, Columns: map[string]string{"*": "read"}}); err != nil {
		tb.Fatal(err)
	}
	return &countFixture{s: s, dir: dir, owner: uctx, guest: gctx, nb: nb.ID, table: tbl.ID, tbl: tbl}
}

// BenchmarkFilteredCount measures a page of 50 with and without its
// total, filtered on Team and Age and sorted by -Age, as the owner and as
// a grantee whose row condition is Team = "red"; then again once the
// owner has declared an index over (Team, -Age).
func BenchmarkFilteredCount(b *testing.B) {
	f := newCountFixture(b, 100_000)
	q := coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Sort: "-Age", Limit: 50}
	for _, index := range []bool{false, true} {
		if index {
			if _, err := f.s.CreateIndex(f.owner, f.nb, f.table, coffer.IndexInput{Columns: []string{"Team", "-Age"}}); err != nil {
				b.Fatal(err)
			}
		}
		for _, who := range []struct {
			name string
			ctx  context.Context
		}{{"owner", f.owner}, {"grantee", f.guest}} {
			for _, count := range []bool{false, true} {
				b.Run(fmt.Sprintf("index=%v/%s/count=%v", index, who.name, count), func(b *testing.B) {
					q := q
					q.Count = count
					for b.Loop() {
						l, err := f.s.FindRecords(who.ctx, f.nb, f.table, q)
						if err != nil {
							b.Fatal(err)
						}
						if count && l.Total == nil {
							b.Fatal("no total")
						}
					}
				})
			}
		}
	}
}

// planOf returns SQLite's plan of query on the notebook's database file.
func planOf(tb testing.TB, f *countFixture, query string, args ...any) string {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "notebooks", f.nb+".db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCountPlans reports the CPU time per operation (cpu-ms/op,
// steadier than wall time on a shared machine) of the count of
// Team = "red" && Age > 30 on 100,000 rows, its SQL alone through either
// index (INDEXED BY: the walk of Age that SQLite chose without samples,
// and the Team index it chooses with them), then through FindRecords:
// the page, the page with its total, and both once (Team, -Age) is declared.
func BenchmarkCountPlans(b *testing.B) {
	f := newCountFixture(b, 100_000)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "notebooks", f.nb+".db")+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	short := func(id, prefix string) string { return strings.TrimPrefix(id, prefix) }
	table := "t_" + short(f.table, coffer.PrefixTable)
	ageID, teamID := short(f.tbl.Column("Age").ID, coffer.PrefixColumn), short(f.tbl.Column("Team").ID, coffer.PrefixColumn)
	age, team, teamKey := `t."c_`+ageID+`"`, `t."c_`+teamID+`"`, `t."k_`+teamID+`"`
	where := "((" + teamKey + " IS NOT NULL AND " + teamKey + " = ? AND (" + team + " IS NOT NULL AND " + team + " = ?)) AND (" + age + " IS NOT NULL AND " + age + " > ?))"
	args := []any{catalog.SortKey("red"), "red", 30}
	run := func(name string, op func() error) {
		b.Run(name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				c := cpuTime()
				if err := op(); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
	for _, ix := range []string{"i_" + ageID, "i_" + teamID} {
		q := `SELECT count(*) FROM "` + table + `" t INDEXED BY "` + ix + `" WHERE ` + where
		run("sql/"+map[bool]string{true: "age-walk", false: "team-index"}[ix == "i_"+ageID], func() error {
			var n int
			return db.QueryRow(q, args...).Scan(&n)
		})
	}
	list := func(ctx context.Context, count bool) func() error {
		return func() error {
			_, err := f.s.FindRecords(ctx, f.nb, f.table, coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Sort: "-Age", Limit: 50, Count: count})
			return err
		}
	}
	for _, declared := range []bool{false, true} {
		if declared {
			if _, err := f.s.CreateIndex(f.owner, f.nb, f.table, coffer.IndexInput{Columns: []string{"Team", "-Age"}}); err != nil {
				b.Fatal(err)
			}
		}
		for _, who := range []struct {
			name string
			ctx  context.Context
		}{{"owner", f.owner}, {"grantee", f.guest}} {
			run(fmt.Sprintf("declared=%v/%s/page", declared, who.name), list(who.ctx, false))
			run(fmt.Sprintf("declared=%v/%s/page+total", declared, who.name), list(who.ctx, true))
		}
	}
}
