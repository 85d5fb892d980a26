package drill

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/store"
)

const drillCols = "id, seq, status, started_at, finished_at, restore_us, notebooks, blobs, blob_bytes, report, error"

// List returns the latest drills, newest first, at most limit.
func List(ctx context.Context, core *store.Core, limit int) ([]*Drill, error) {
	rows, err := core.Inst.R.QueryContext(ctx, core.Rebind("SELECT "+drillCols+" FROM "+core.Inst.Prefix+"backup_drills ORDER BY started_at DESC, id DESC LIMIT ?"), limit)
	if err != nil {
		return nil, core.Wrap("drill.List", err)
	}
	defer rows.Close()
	var out []*Drill
	for rows.Next() {
		var d Drill
		var started, restore int64
		var fin sql.NullInt64
		var report string
		if err := rows.Scan(&d.ID, &d.Seq, &d.Status, &started, &fin, &restore, &d.Notebooks, &d.Blobs, &d.BlobBytes, &report, &d.Error); err != nil {
			return nil, core.Wrap("drill.List", err)
		}
		d.StartedAt, d.RestoreTime = store.FromMicros(started), time.Duration(restore)*time.Microsecond
		if fin.Valid {
			t := store.FromMicros(fin.Int64)
			d.FinishedAt = &t
		}
		if report != "" {
			_ = json.Unmarshal([]byte(report), &d.Checks)
		}
		out = append(out, &d)
	}
	return out, core.Wrap("drill.List", rows.Err())
}

// Last returns the newest finished drill, or nil.
func Last(ctx context.Context, core *store.Core) (*Drill, error) {
	ds, err := List(ctx, core, 20)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Status != schedule.StatusRunning {
			return d, nil
		}
	}
	return nil, nil
}

// NextAfter returns when the next drill is due: every after the start of
// the last finished one; at once when none ran yet.
func NextAfter(last *Drill, every time.Duration, now time.Time) time.Time {
	if last == nil {
		return now
	}
	return last.StartedAt.Add(every)
}

// Start runs a drill whenever one is due (every after the last), until
// ctx ends or stop is called. A drill that finds no snapshot yet is not
// recorded; it is tried again an hour later.
func Start(ctx context.Context, l *schedule.Ledger, src Source, every time.Duration, cfg Config) (stop func()) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var notBefore time.Time
		for ctx.Err() == nil {
			last, err := Last(ctx, l.Core())
			if err != nil {
				cfg.Logger.Warn("restore drills: cannot read the last drill", "error", err.Error())
				sleep(ctx, time.Minute)
				continue
			}
			now := l.Core().Now()
			next := NextAfter(last, every, now)
			if next.Before(notBefore) {
				next = notBefore
			}
			if wait := next.Sub(now); wait > 0 {
				sleep(ctx, min(wait, time.Minute))
				continue
			}
			ts, err := src.Targets(ctx)
			if err == nil && len(ts) == 0 {
				notBefore = now.Add(time.Hour)
				continue
			}
			if _, err := Run(ctx, l, src, cfg); err != nil && ctx.Err() == nil {
				if !errors.Is(err, schedule.ErrBusy) {
					cfg.Logger.Error("restore drill did not run", "error", err.Error())
				}
				sleep(ctx, time.Minute)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Operators returns the e-mail addresses of the active instance operators.
func Operators(ctx context.Context, core *store.Core) ([]string, error) {
	rows, err := core.Inst.R.QueryContext(ctx, "SELECT email FROM "+core.Inst.Prefix+"users WHERE operator AND deactivated_at IS NULL ORDER BY email")
	if err != nil {
		return nil, core.Wrap("drill.Operators", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, core.Wrap("drill.Operators", err)
		}
		out = append(out, e)
	}
	return out, core.Wrap("drill.Operators", rows.Err())
}

// AlertMessage is the e-mail of a failed drill to one operator. It names
// snapshots, locations and notebook ids, never data.
func AlertMessage(to string, d *Drill, publicURL string) mail.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "A backup restore drill of your Coffer instance %s failed.\n\n", publicURL)
	fmt.Fprintf(&b, "Drill %s (number %d), started %s UTC.\n\n", d.ID, d.Seq, d.StartedAt.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "What failed:\n")
	n := 0
	for _, c := range d.Checks {
		if c.OK {
			continue
		}
		if n++; n > 20 {
			fmt.Fprintf(&b, "  …\n")
			break
		}
		what := c.Step + " from location " + c.Location
		if c.Snapshot != "" {
			what += ", " + nameOf(c.Notebook) + ", snapshot " + c.Snapshot
		}
		fmt.Fprintf(&b, "  - %s: %s\n", what, oneLine(c.Error))
	}
	if n == 0 {
		fmt.Fprintf(&b, "  - %s\n", oneLine(d.Error))
	}
	fmt.Fprintf(&b, "\nYour backups may not be restorable. Check with `coffer backup status` and\n"+
		"`coffer backup verify`, fix the cause, then run `coffer backup drill` again.\n")
	return mail.Message{To: to, Subject: "Coffer: a backup restore drill failed", Text: b.String(), Kind: "backup_drill_failed"}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// MailAlert returns the Alert that e-mails every active instance operator
// through sender (nil: no e-mail, the failure is only logged).
func MailAlert(core *store.Core, sender *mail.Sender, publicURL string, log *slog.Logger) func(context.Context, *Drill) {
	return func(ctx context.Context, d *Drill) {
		if sender == nil {
			log.Warn("a restore drill failed and no SMTP server is configured (--smtp-url): no operator was e-mailed", "drill", d.ID)
			return
		}
		ops, err := Operators(ctx, core)
		if err != nil {
			log.Error("a restore drill failed and the operators could not be listed", "drill", d.ID, "error", err.Error())
			return
		}
		for _, to := range ops {
			sender.Enqueue(AlertMessage(to, d, publicURL))
		}
	}
}
