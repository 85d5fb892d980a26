package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// The planner's statistics. SQLite estimates how many rows a condition
// selects from sqlite_stat1 (rows per distinct key prefix of each index)
// and, since modernc's build has SQLITE_ENABLE_STAT4, from sqlite_stat4:
// samples of each index's keys, which estimate ranges (age > 30) and
// equalities on frequent values. Without samples a range is guessed to
// keep a quarter of the rows, so a count filtered on team = "red" AND
// age > 30 walks the age index (80% of the rows, with a row lookup each)
// rather than the team index (25%): 20 to 40 times slower at 100,000 rows.
//
// ANALYZE gathers samples only when analysis_limit is 0 (a limited,
// approximate ANALYZE leaves sqlite_stat4 empty). So user tables ("t_…")
// are analyzed in full up to statsFullRows rows, which costs about as much
// as the limited analysis at 100,000 rows; beyond, and for the notebook's
// own tables (history, catalogue), the analysis reads at most
// analysisLimit rows per index and keeps only sqlite_stat1. ANALYZE holds
// the database's write lock while it reads: each table is analyzed in a
// statement of its own (about 0.3 s for 100,000 rows on this project's
// machine, as the limited analysis took; 3 s at statsFullRows), so
// writers wait for one table at a time. Not index by index: writes
// between the indexes of one table leave their statistics with different
// row counts, and with those the bench's filtered page took 30 to 140 ms
// instead of 1 ms at 100,000 rows (measured through FindRecords; the
// cause was not pinned down: EXPLAIN of the same SQL alone still showed
// the walk of the sort's index).

// analysisLimit bounds the rows an approximate ANALYZE reads per index;
// every connection opens with it (openDB).
const analysisLimit = "100000"

// statsFullRows is the size (by rowid) up to which a user table is
// analyzed in full, with samples.
const statsFullRows = 1_000_000

// analyze refreshes the planner's statistics of the database db (a
// notebook's writer), table by table. db has a single connection, the
// writer's: no connection is held between statements, so writes go on
// between them. A full analysis sets analysis_limit to 0 and back within
// the table's one Exec, so the connection never keeps another limit.
func analyze(ctx context.Context, db *sql.DB) error {
	names, err := column(ctx, db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
	if err != nil {
		return err
	}
	for _, n := range names {
		full := false
		if strings.HasPrefix(n, "t_") {
			var size sql.NullInt64
			if err := db.QueryRowContext(ctx, "SELECT max(rowid) FROM "+quote(n)).Scan(&size); err != nil {
				return err
			}
			full = size.Int64 <= statsFullRows
		}
		stmt := "ANALYZE " + quote(n)
		if full {
			stmt = "PRAGMA analysis_limit = 0; " + stmt + "; PRAGMA analysis_limit = " + analysisLimit
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			if full {
				// The limit back, whatever failed (the connection may be
				// another by now: it opens with the limit).
				_, _ = db.ExecContext(context.Background(), "PRAGMA analysis_limit = "+analysisLimit)
			}
			return err
		}
	}
	return nil
}

// column runs a query of one text column and returns its values.
func column(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
