package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Run states.
const (
	StatusRunning     = "running"
	StatusGood        = "good"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted" // its process stopped (or was killed) before the end
)

// Run kinds.
const (
	KindDaily  = "daily"  // the worker's run
	KindManual = "manual" // `coffer backup now`
)

// Run is one backup run: its progress while it runs, then its outcome.
type Run struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Phase is "snapshots", then the name of each step after them
	// ("replicate", "keyring", "prune"); Current the notebook in hand
	// ("instance" for the instance database).
	Phase   string `json:"phase"`
	Current string `json:"current,omitempty"`
	// Done of Total snapshots were attempted: Taken new ones, Skipped
	// unchanged ones, Failed failures. Bytes is the size of the new ones.
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Taken   int    `json:"taken"`
	Skipped int    `json:"skipped"`
	Failed  int    `json:"failed"`
	Bytes   int64  `json:"bytes"`
	Error   string `json:"error,omitempty"`
}

// Ledger keeps runs and leases in the instance database (migration 0014).
type Ledger struct {
	core   *store.Core
	holder string
}

// NewLedger returns the ledger on core's instance database. Its leases
// are held in the name of this process.
func NewLedger(core *store.Core) *Ledger {
	host, _ := os.Hostname()
	return &Ledger{core: core, holder: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), coffer.NewID(""))}
}

// Core returns the storage core of the ledger.
func (l *Ledger) Core() *store.Core { return l.core }

func (l *Ledger) t(name string) string { return l.core.Inst.Prefix + name }

// ErrBusy is the cause of the ECONFLICT error of a job whose lease another
// process holds.
var ErrBusy = errors.New("schedule: another process holds the lease")

// Acquire takes (or renews) the lease name for ttl. It returns an
// ECONFLICT error wrapping ErrBusy while another holder's lease runs.
func (l *Ledger) Acquire(ctx context.Context, name string, ttl time.Duration) error {
	now := l.core.NowMicros()
	var n int64
	err := l.core.Write(ctx, l.core.Inst, "schedule.Acquire", func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.t("backup_leases")+" AS l (name, holder, until) VALUES (?, ?, ?) "+
			"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE l.until < ? OR l.holder = ?"),
			name, l.holder, now+ttl.Microseconds(), now, l.holder)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "a " + name + " is already running (in another process or on another node); try again when it has finished", Err: ErrBusy}
	}
	return nil
}

// Release gives the lease name up, if this process holds it.
func (l *Ledger) Release(ctx context.Context, name string) error {
	return l.core.Write(ctx, l.core.Inst, "schedule.Release", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, l.core.Rebind("DELETE FROM "+l.t("backup_leases")+" WHERE name = ? AND holder = ?"), name, l.holder)
		return err
	})
}

// begin records a new run of kind, marking interrupted the runs left
// running by a process that stopped (the caller holds the lease, so no
// other run is alive).
func (l *Ledger) begin(ctx context.Context, kind string) (*Run, error) {
	now := l.core.Now().UTC()
	r := &Run{ID: coffer.NewID("run_"), Kind: kind, Status: StatusRunning, StartedAt: now, UpdatedAt: now, Phase: "snapshots"}
	err := l.core.Write(ctx, l.core.Inst, "schedule.begin", func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, l.core.Rebind("UPDATE "+l.t("backup_runs")+" SET status = ?, finished_at = updated_at, error = ? WHERE status = ?"),
			StatusInterrupted, "the process running it stopped before the end", StatusRunning); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.t("backup_runs")+" (id, kind, status, started_at, updated_at, phase) VALUES (?, ?, ?, ?, ?, ?)"),
			r.ID, r.Kind, r.Status, now.UnixMicro(), now.UnixMicro(), r.Phase)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// save writes r's progress (and outcome, once finished).
func (l *Ledger) save(ctx context.Context, r *Run) error {
	r.UpdatedAt = l.core.Now().UTC()
	var fin any
	if r.FinishedAt != nil {
		fin = r.FinishedAt.UnixMicro()
	}
	return l.core.Write(ctx, l.core.Inst, "schedule.save", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, l.core.Rebind("UPDATE "+l.t("backup_runs")+" SET status = ?, updated_at = ?, finished_at = ?, phase = ?, current = ?, "+
			"done = ?, total = ?, taken = ?, skipped = ?, failed = ?, bytes = ?, error = ? WHERE id = ?"),
			r.Status, r.UpdatedAt.UnixMicro(), fin, r.Phase, r.Current, r.Done, r.Total, r.Taken, r.Skipped, r.Failed, r.Bytes, r.Error, r.ID)
		return err
	})
}

const runCols = "id, kind, status, started_at, updated_at, finished_at, phase, current, done, total, taken, skipped, failed, bytes, error"

func scanRun(sc interface{ Scan(...any) error }) (*Run, error) {
	var r Run
	var started, updated int64
	var fin sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Kind, &r.Status, &started, &updated, &fin, &r.Phase, &r.Current, &r.Done, &r.Total, &r.Taken, &r.Skipped, &r.Failed, &r.Bytes, &r.Error); err != nil {
		return nil, err
	}
	r.StartedAt, r.UpdatedAt = store.FromMicros(started), store.FromMicros(updated)
	if fin.Valid {
		t := store.FromMicros(fin.Int64)
		r.FinishedAt = &t
	}
	return &r, nil
}

// Runs returns the latest runs, newest first, at most limit.
func (l *Ledger) Runs(ctx context.Context, limit int) ([]*Run, error) {
	rows, err := l.core.Inst.R.QueryContext(ctx, l.core.Rebind("SELECT "+runCols+" FROM "+l.t("backup_runs")+" ORDER BY started_at DESC, id DESC LIMIT ?"), limit)
	if err != nil {
		return nil, l.core.Wrap("schedule.Runs", err)
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, l.core.Wrap("schedule.Runs", err)
		}
		out = append(out, r)
	}
	return out, l.core.Wrap("schedule.Runs", rows.Err())
}

// LastStart returns the start of the newest finished run of kind (good
// or failed, not interrupted), or zero.
func (l *Ledger) LastStart(ctx context.Context, kind string) (time.Time, error) {
	var us sql.NullInt64
	err := l.core.Inst.R.QueryRowContext(ctx, l.core.Rebind("SELECT MAX(started_at) FROM "+l.t("backup_runs")+" WHERE kind = ? AND status IN (?, ?)"),
		kind, StatusGood, StatusFailed).Scan(&us)
	if err != nil || !us.Valid {
		return time.Time{}, l.core.Wrap("schedule.LastStart", err)
	}
	return store.FromMicros(us.Int64), nil
}
