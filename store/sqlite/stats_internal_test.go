package sqlite

import (
	"database/sql"
	"path/filepath"
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
