package audit

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of a Checkpointer.
const (
	DefaultEvery    = 1000
	DefaultInterval = 10 * time.Minute
)

// Checkpointer signs a checkpoint every Every new entries or every
// Interval when there are new entries, and a last one when it stops.
type Checkpointer struct {
	Log      *Log
	Key      *Key
	Sink     Sink
	Every    int64         // entries; 0 = DefaultEvery
	Interval time.Duration // 0 = DefaultInterval
	Logger   *slog.Logger  // failures; nil = none
}

// Run signs checkpoints until ctx ends. Call Final after the last write.
func (c *Checkpointer) Run(ctx context.Context) {
	every, interval := c.Every, c.Interval
	if every <= 0 {
		every = DefaultEvery
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.sign(ctx)
		case <-c.Log.Appended():
			if n, err := c.Log.pending(ctx); err == nil && n >= every {
				c.sign(ctx)
			}
		}
	}
}

// Final signs the checkpoint of a clean shutdown (if there are new
// entries).
func (c *Checkpointer) Final(ctx context.Context) error {
	_, err := c.Log.Checkpoint(ctx, c.Key, c.Sink)
	return err
}

func (c *Checkpointer) sign(ctx context.Context) {
	if _, err := c.Log.Checkpoint(ctx, c.Key, c.Sink); err != nil && c.Logger != nil && ctx.Err() == nil {
		c.Logger.Error("audit checkpoint failed", "err", err)
	}
}

// pending returns the number of entries not covered by a checkpoint.
func (l *Log) pending(ctx context.Context) (int64, error) {
	var n int64
	err := l.core.Inst.R.QueryRowContext(ctx, "SELECT COALESCE((SELECT size FROM "+l.table("audit_head")+" WHERE id = 1), 0) - "+
		"COALESCE((SELECT MAX(size) FROM "+l.table("audit_checkpoints")+"), 0)").Scan(&n)
	return n, err
}
