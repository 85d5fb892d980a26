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
// analysisLimit rows per index and keeps only sqlite_stat1, one index at
// a time (maintain.go). ANALYZE holds the database's write lock while it
// reads: a user table is analyzed whole, in one statement (about 0.3 s for
// 100,000 rows on this project's machine, as the limited analysis took;
// 3 s at statsFullRows), during which writes wait. Not index by index: writes
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

// statPiece is one statement of a statistics refresh, named by the index
// or table it analyzes.
type statPiece struct {
	name, stmt string
	full       bool // analysis_limit 0 for the statement
}

// run runs the piece on db, the writer. A full analysis sets
// analysis_limit to 0 and back within its one Exec, so the connection
// never keeps another limit (and sets it back if the Exec failed).
func (p statPiece) run(db *sql.DB) {
	if _, err := db.ExecContext(context.Background(), p.stmt); err != nil && p.full {
		_, _ = db.ExecContext(context.Background(), "PRAGMA analysis_limit = "+analysisLimit)
	}
}

// samplePieces turns the pieces of a refresh (the names of indexes and
// tables, maintainer.statPieces) into statements: the indexes of a user
// table of at most statsFullRows rows give way to one full analysis of
// the table, with samples; the rest are analyzed as named, with the
// limit. conn reads the schema (the maintenance connection).
func samplePieces(conn *sql.DB, names []string) ([]statPiece, error) {
	ctx := context.Background()
	tableOf := map[string]string{}
	rows, err := conn.QueryContext(ctx, "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ix, tbl string
		if err := rows.Scan(&ix, &tbl); err != nil {
			rows.Close()
			return nil, err
		}
		tableOf[ix] = tbl
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var pieces []statPiece
	whole := map[string]bool{} // user tables analyzed whole, by name
	for _, n := range names {
		tbl := tableOf[n]
		if tbl == "" {
			tbl = n // a table piece
		}
		full, seen := whole[tbl]
		if !seen && strings.HasPrefix(tbl, "t_") {
			var size sql.NullInt64
			if err := conn.QueryRowContext(ctx, "SELECT max(rowid) FROM "+quote(tbl)).Scan(&size); err != nil {
				return nil, err
			}
			full = size.Int64 <= statsFullRows
			whole[tbl] = full
			if full {
				pieces = append(pieces, statPiece{name: tbl, full: true,
					stmt: "PRAGMA analysis_limit = 0; ANALYZE " + quote(tbl) + "; PRAGMA analysis_limit = " + analysisLimit})
			}
		}
		if !full {
			pieces = append(pieces, statPiece{name: n, stmt: "ANALYZE " + quote(n)})
		}
	}
	return pieces, nil
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
