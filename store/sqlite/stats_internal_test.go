package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestAnalyzeKeepsLimit: analyze gathers samples (sqlite_stat4) of user
// tables and leaves the writer's connection with analysisLimit.
func TestAnalyzeKeepsLimit(t *testing.T) {
	ctx := context.Background()
	b := &Backend{opts: Options{Synchronous: "FULL", Readers: 1}}
	db, err := b.openDB(filepath.Join(t.TempDir(), "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db)
	for _, q := range []string{
		`CREATE TABLE "t_x" (id TEXT PRIMARY KEY, a INTEGER)`, `CREATE INDEX "i_a" ON "t_x" (a, id)`,
		`CREATE TABLE "_other" (id TEXT PRIMARY KEY)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO "t_x" SELECT 'r' || i, i % 7 FROM n`,
	} {
		if _, err := db.W.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := analyze(ctx, db.W); err != nil {
		t.Fatal(err)
	}
	var samples int
	if err := db.W.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat4 WHERE tbl = 't_x' AND idx = 'i_a'`).Scan(&samples); err != nil || samples == 0 {
		t.Errorf("samples of i_a: %d, %v", samples, err)
	}
	var limit sql.NullString
	if err := db.W.QueryRowContext(ctx, "PRAGMA analysis_limit").Scan(&limit); err != nil || limit.String != analysisLimit {
		t.Errorf("the writer's analysis_limit after analyze = %q (%v), want %s", limit.String, err, analysisLimit)
	}
}
