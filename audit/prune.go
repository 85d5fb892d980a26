package audit

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/store"
)

// Prune deletes the entries recorded before the time before, but only a
// whole checkpointed prefix of the log: entries [first, K) where K is the
// size of the largest checkpoint whose entries all precede before. Their
// stored hashes stay (they hold no personal data), so Verify still
// recomputes the tree and checks every checkpoint; the next checkpoint
// records the range dropped. It returns that range (from == to: nothing
// to drop).
func (l *Log) Prune(ctx context.Context, before time.Time) (from, to int64, err error) {
	err = l.core.Write(ctx, l.core.Inst, "audit.Prune", func(tx *store.WriteTx) error {
		h, err := l.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		from, to = h.first, h.first
		// The first entry kept for its time: nothing at or after it goes.
		var bound int64
		if err := tx.QueryRowContext(ctx, l.core.Rebind("SELECT COALESCE(MIN(idx), ?) FROM "+l.table("audit_entries")+" WHERE at >= ?"),
			h.size, before.UnixMicro()).Scan(&bound); err != nil {
			return err
		}
		var k int64
		if err := tx.QueryRowContext(ctx, l.core.Rebind("SELECT COALESCE(MAX(size), 0) FROM "+l.table("audit_checkpoints")+" WHERE size <= ?"),
			bound).Scan(&k); err != nil {
			return err
		}
		if k <= h.first {
			return nil
		}
		if _, err := tx.ExecContext(ctx, l.core.Rebind("DELETE FROM "+l.table("audit_entries")+" WHERE idx < ?"), k); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, l.core.Rebind("UPDATE "+l.table("audit_head")+" SET first_idx = ? WHERE id = 1"), k); err != nil {
			return err
		}
		to = k
		return nil
	})
	return from, to, err
}
