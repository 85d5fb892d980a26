package history

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/store"
)

// PruneBatch is the number of actions one transaction of Prune deletes:
// small enough that writes of the notebook never wait long behind it.
const PruneBatch = 1000

// Cutoffs returns the times (µs) before which Prune deletes, at now, for a
// notebook keeping its history retentionDays days (0: kept): actions of
// the history (0 when they are kept), and actions kept only for undo.
func Cutoffs(now time.Time, retentionDays int) (history, undo int64) {
	if retentionDays > 0 {
		history = now.Add(-time.Duration(retentionDays) * 24 * time.Hour).UnixMicro()
	}
	return history, now.Add(-UndoWindow).UnixMicro()
}

// Prune deletes from the notebook database db, in transactions of at most
// batch actions (PruneBatch when 0), the actions of the history older than
// historyBefore (µs; 0 deletes none) and the actions kept only for undo
// older than undoBefore, with their changes. It returns the number of
// actions deleted.
func Prune(ctx context.Context, core *store.Core, db *store.DB, historyBefore, undoBefore int64, batch int) (int64, error) {
	if batch <= 0 {
		batch = PruneBatch
	}
	cond, args := "(history = 0 AND at < ?)", []any{undoBefore}
	if historyBefore > 0 {
		cond, args = cond+" OR (history = 1 AND at < ?)", append(args, historyBefore)
	}
	sel := core.Rebind("SELECT seq FROM " + db.Prefix + "_actions WHERE " + cond + " ORDER BY seq LIMIT ?")
	var total int64
	for {
		var selected int
		var deleted int64
		err := core.Write(ctx, db, "PruneHistory", func(tx *store.WriteTx) error {
			seqs, err := pruneBatch(ctx, tx, sel, append(args, batch))
			if err != nil || len(seqs) == 0 {
				return err
			}
			selected = len(seqs)
			in := placeholders(len(seqs))
			if _, err := tx.ExecContext(ctx, core.Rebind("DELETE FROM "+db.Prefix+"_changes WHERE seq IN ("+in+")"), seqs...); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, core.Rebind("DELETE FROM "+db.Prefix+"_actions WHERE seq IN ("+in+")"), seqs...)
			if err != nil {
				return err
			}
			// Another node pruning at the same time may have deleted some.
			deleted, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if selected < batch {
			return total, nil
		}
	}
}

// pruneBatch selects the sequence numbers of one batch.
func pruneBatch(ctx context.Context, tx *store.WriteTx, sel string, args []any) ([]any, error) {
	rows, err := tx.QueryContext(ctx, sel, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var seqs []any
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, rows.Err()
}

// Size measures the history of the notebook database whose tables are
// qualified by prefix: actions, changes and an estimate of their bytes.
func Size(ctx context.Context, q Querier, prefix string) (actions, changes, bytes int64, err error) {
	var ab, cb int64
	rows, err := q.QueryContext(ctx, "SELECT (SELECT COUNT(*) FROM "+prefix+"_actions), "+
		"(SELECT COALESCE(SUM(LENGTH(summary) + LENGTH(inverse) + LENGTH(user_agent) + LENGTH(actor) + LENGTH(api_key) + LENGTH(client) + LENGTH(ip) + LENGTH(kind) + LENGTH(table_id) + 48), 0) FROM "+prefix+"_actions), "+
		"(SELECT COUNT(*) FROM "+prefix+"_changes), "+
		"(SELECT COALESCE(SUM(COALESCE(LENGTH(old), 0) + COALESCE(LENGTH(new), 0) + LENGTH(table_id) + LENGTH(record_id) + LENGTH(column_id) + 16), 0) FROM "+prefix+"_changes)")
	if err != nil {
		return 0, 0, 0, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&actions, &ab, &changes, &cb); err != nil {
			return 0, 0, 0, err
		}
	}
	return actions, changes, ab + cb, rows.Err()
}
