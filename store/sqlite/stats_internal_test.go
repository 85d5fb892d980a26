package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatsRefreshSamples: a statistics refresh analyzes a user table in
// full, with samples (sqlite_stat4), and other tables without them, and
// leaves the writer's connection with analysisLimit.
func TestStatsRefreshSamples(t *testing.T) {
	b := &Backend{opts: Options{Synchronous: "FULL", Readers: 1}}
	db, m, err := b.openDB(filepath.Join(t.TempDir(), "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db, m)
	for _, q := range []string{
		`CREATE TABLE "t_x" (id TEXT PRIMARY KEY, a INTEGER)`, `CREATE INDEX "i_a" ON "t_x" (a, id)`,
		`CREATE TABLE "_other" (id TEXT PRIMARY KEY, b INTEGER)`, `CREATE INDEX "o_b" ON "_other" (b)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO "t_x" SELECT 'r' || i, i % 7 FROM n`,
		`INSERT INTO "_other" SELECT id, a FROM "t_x"`,
	} {
		if _, err := db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	m.refreshStats()
	for deadline := time.Now().Add(30 * time.Second); !m.analyzing.TryLock(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not end")
		}
	}
	m.analyzing.Unlock()
	count := func(q string) int {
		var n int
		if err := db.W.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM sqlite_stat4 WHERE tbl = 't_x' AND idx = 'i_a'`); n == 0 {
		t.Error("no samples of the user table's index")
	}
	if n := count(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = '_other' AND idx = 'o_b'`); n != 1 {
		t.Errorf("statistics of _other's index: %d rows, want 1", n)
	}
	if n := count(`SELECT count(*) FROM sqlite_stat4 WHERE tbl = '_other'`); n != 0 {
		t.Errorf("%d samples of _other, analyzed with the limit: want none", n)
	}
	var limit sql.NullString
	if err := db.W.QueryRow("PRAGMA analysis_limit").Scan(&limit); err != nil || limit.String != analysisLimit {
		t.Errorf("the writer's analysis_limit after the refresh = %q (%v), want %s", limit.String, err, analysisLimit)
	}
}

// TestStatsRefreshReachesReaders: a reader that parsed the schema before a
// statistics refresh plans with the new statistics after it. Without
// statistics an equality looks selective, so the reader first counts
// c = 1 AND d > 2990 through the index on c; the statistics say that every
// row has c = 1 and the samples that d > 2990 holds ten, so after the
// refresh it counts through the index on d.
func TestStatsRefreshReachesReaders(t *testing.T) {
	b := &Backend{opts: Options{Synchronous: "FULL", Readers: 1}}
	path := filepath.Join(t.TempDir(), "n.db")
	db, m, err := b.openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db, m)
	for _, q := range []string{
		`CREATE TABLE "t_x" (id TEXT PRIMARY KEY, c INTEGER, d INTEGER)`, `CREATE INDEX "i_c" ON "t_x" (c, id)`, `CREATE INDEX "i_d" ON "t_x" (d, id)`,
		`WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 2999) INSERT INTO "t_x" SELECT 'r' || k, 1, k FROM n`,
	} {
		if _, err := db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// The plan on the reader (its only connection), after a query: EXPLAIN
	// alone does not check whether the schema changed.
	plan := func() string {
		var n int
		if err := db.R.QueryRow(`SELECT count(*) FROM "t_x" WHERE id = 'r0'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		var id, parent, unused int
		var detail string
		if err := db.R.QueryRow(`EXPLAIN QUERY PLAN SELECT count(*) FROM "t_x" WHERE c = ? AND d > ?`, 1, 2990).Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		return detail
	}
	if p := plan(); !strings.Contains(p, "i_c") {
		t.Fatalf("without statistics the reader plans %q, want the index on c", p)
	}
	m.refreshStats()
	for deadline := time.Now().Add(30 * time.Second); !m.analyzing.TryLock(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not end")
		}
	}
	m.analyzing.Unlock()
	if p := plan(); !strings.Contains(p, "i_d") {
		t.Errorf("the reader's plan after the refresh = %q, want the index on d: it still plans without the statistics", p)
	}
}
