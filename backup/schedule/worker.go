package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer/mail"
)

// LeaseName is the lease a backup run holds.
const LeaseName = "backup"

// Outcome is what one snapshot did.
type Outcome struct {
	ID      string // the snapshot (the previous one when Skipped)
	Skipped bool   // the notebook had not changed since its last snapshot
	Bytes   int64  // size of the new snapshot
}

// Step is work done after the snapshots (replicate, keyring, prune).
type Step struct {
	Name string
	// Full: only in a run of everything, not in a run of chosen notebooks.
	Full bool
	Run  func(ctx context.Context) error
}

// Jobs is the work of a run, given by the backup service.
type Jobs struct {
	// Notebooks lists every notebook to back up.
	Notebooks func(ctx context.Context) ([]string, error)
	// Snapshot snapshots one notebook ("" = the instance database).
	Snapshot func(ctx context.Context, notebook, kind string, force bool) (Outcome, error)
	// After runs in order once the snapshots are done, even when some
	// failed.
	After []Step
}

// Config tunes a Worker; zero values take the defaults.
type Config struct {
	At   TimeOfDay      // when the daily run starts (default 04:00)
	Zone *time.Location // the instance's time zone (default time.Local)
	// Between two snapshots the worker pauses as long as the last one
	// took, at least MinPause and at most MaxPause (defaults 100 ms and
	// 10 s), so it takes at most about half of one core from the
	// server's requests. A negative MinPause means no pause (tests).
	MinPause, MaxPause time.Duration
	Lease              time.Duration // lease length, renewed while running (default 10 min)
	Logger             *slog.Logger
	// OnFailure, when set, is called (in the worker's goroutine) with a
	// run that ended failed: to alert the operators.
	OnFailure func(ctx context.Context, r *Run)
}

// Worker runs backups: daily from Start, or now with Run.
type Worker struct {
	l    *Ledger
	jobs Jobs
	cfg  Config

	mu   sync.Mutex
	live *Run          // the run in progress in this process
	next time.Time     // the next daily run, once Start computed it
	took time.Duration // the last snapshot's duration, for the pause after it
}

// New returns a worker on the ledger l doing jobs.
func New(l *Ledger, jobs Jobs, cfg Config) *Worker {
	if cfg.At == (TimeOfDay{}) {
		cfg.At = TimeOfDay{Hour: 4}
	}
	if cfg.Zone == nil {
		cfg.Zone = time.Local
	}
	if cfg.MinPause == 0 {
		cfg.MinPause = 100 * time.Millisecond
	}
	if cfg.MaxPause == 0 {
		cfg.MaxPause = 10 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{l: l, jobs: jobs, cfg: cfg}
}

// Options choose what Run backs up.
type Options struct {
	Kind string // KindDaily or KindManual (default)
	// Notebooks, when not nil, limits the run to these notebooks (the
	// instance database and the Full steps are left out).
	Notebooks []string
	Force     bool // snapshot even unchanged notebooks
	// Progress, when set, is called with a copy of the run after each
	// change of its progress.
	Progress func(Run)
}

// Run backs up now, under the lease (ECONFLICT wrapping ErrBusy when
// another process runs a backup), and returns the finished run. A
// snapshot that fails does not stop the others; the run is then failed.
// The error is only for a run that could not start or be recorded.
func (w *Worker) Run(ctx context.Context, o Options) (*Run, error) {
	if o.Kind == "" {
		o.Kind = KindManual
	}
	if err := w.l.Acquire(ctx, LeaseName, w.cfg.Lease); err != nil {
		return nil, err
	}
	defer w.l.Release(context.WithoutCancel(ctx), LeaseName)
	stopRenew := w.renew(ctx)
	defer stopRenew()
	r, err := w.l.begin(ctx, o.Kind)
	if err != nil {
		return nil, err
	}
	w.setLive(r)
	defer w.setLive(nil)
	log := w.cfg.Logger.With("run", r.ID, "kind", r.Kind)
	log.Info("backup started")
	var problems []string
	fail := func(what string, err error) {
		problems = append(problems, what+": "+err.Error())
		log.Error("backup step failed", "step", what, "error", err.Error())
	}
	progress := func() {
		if err := w.l.save(ctx, r); err != nil && ctx.Err() == nil {
			log.Warn("backup progress not recorded", "error", err.Error())
		}
		w.setLive(r)
		if o.Progress != nil {
			o.Progress(*r)
		}
	}

	targets := o.Notebooks
	full := targets == nil
	if full {
		nbs, err := w.jobs.Notebooks(ctx)
		if err != nil {
			fail("list notebooks", err)
		}
		// The instance last: its image then registers every notebook
		// snapshotted before it (what a disaster recovery loads).
		targets = append(nbs, "")
	}
	r.Total = len(targets)
	progress()
	for i, nb := range targets {
		if ctx.Err() != nil {
			break
		}
		if i > 0 {
			w.pause(ctx)
		}
		r.Current = nb
		if nb == "" {
			r.Current = "instance"
		}
		progress()
		start := time.Now()
		out, err := w.jobs.Snapshot(ctx, nb, o.Kind, o.Force)
		w.lastTook(time.Since(start))
		r.Done++
		switch {
		case err != nil:
			r.Failed++
			fail("snapshot "+r.Current, err)
		case out.Skipped:
			r.Skipped++
		default:
			r.Taken++
			r.Bytes += out.Bytes
		}
	}
	r.Current = ""
	for _, s := range w.jobs.After {
		if ctx.Err() != nil {
			break
		}
		if s.Full && !full {
			continue
		}
		r.Phase = s.Name
		progress()
		if err := s.Run(ctx); err != nil {
			fail(s.Name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		fail("run", errors.New("stopped before the end (the server is shutting down)"))
	}
	fin := w.l.core.Now().UTC()
	r.FinishedAt = &fin
	r.Phase = "done"
	r.Status = StatusGood
	if len(problems) > 0 {
		r.Status = StatusFailed
		r.Error = strings.Join(problems, "; ")
		if len(r.Error) > 2000 {
			r.Error = r.Error[:2000] + "…"
		}
	}
	if err := w.l.save(context.WithoutCancel(ctx), r); err != nil {
		return r, err
	}
	if o.Progress != nil {
		o.Progress(*r)
	}
	log.Info("backup finished", "status", r.Status, "taken", r.Taken, "skipped", r.Skipped, "failed", r.Failed, "bytes", r.Bytes,
		"seconds", fin.Sub(r.StartedAt).Seconds())
	if r.Status == StatusFailed && w.cfg.OnFailure != nil {
		w.cfg.OnFailure(context.WithoutCancel(ctx), r)
	}
	return r, nil
}

// renew keeps the lease while a run goes on.
func (w *Worker) renew(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.l.Acquire(ctx, LeaseName, w.cfg.Lease); err != nil && ctx.Err() == nil {
					w.cfg.Logger.Warn("backup lease not renewed", "error", err.Error())
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (w *Worker) lastTook(d time.Duration) {
	w.mu.Lock()
	w.took = d
	w.mu.Unlock()
}

// pause waits between two snapshots, yielding to the server's load.
func (w *Worker) pause(ctx context.Context) {
	if w.cfg.MinPause < 0 {
		return
	}
	w.mu.Lock()
	d := w.took
	w.mu.Unlock()
	d = min(max(d, w.cfg.MinPause), w.cfg.MaxPause)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *Worker) setLive(r *Run) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r == nil {
		w.live = nil
		return
	}
	c := *r
	w.live = &c
}

// Status is what `backup status` and the API show of the worker.
type Status struct {
	// Running is the run in progress: in this process, else the one
	// another process recorded (nil when none runs).
	Running *Run `json:"running,omitempty"`
	// Last is the newest finished run (any kind), LastGood the newest good one.
	Last     *Run `json:"last,omitempty"`
	LastGood *Run `json:"last_good,omitempty"`
	// Next is the next daily run (zero when the worker is off).
	Next time.Time `json:"next,omitzero"`
	At   string    `json:"at"`
	Zone string    `json:"zone"`
}

// Status returns the live progress and the latest runs.
func (w *Worker) Status(ctx context.Context) (*Status, error) {
	zone, _ := w.l.core.Now().In(w.cfg.Zone).Zone()
	if name := w.cfg.Zone.String(); name != "Local" {
		zone = name
	}
	st := &Status{At: w.cfg.At.String(), Zone: zone}
	w.mu.Lock()
	if w.live != nil {
		c := *w.live
		st.Running = &c
	}
	st.Next = w.next
	w.mu.Unlock()
	runs, err := w.l.Runs(ctx, 50)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		switch {
		case r.Status == StatusRunning:
			if st.Running == nil && time.Since(r.UpdatedAt) < w.cfg.Lease {
				st.Running = r
			}
		case st.Last == nil:
			st.Last = r
		}
		if st.LastGood == nil && r.Status == StatusGood {
			st.LastGood = r
		}
	}
	if st.Next.IsZero() {
		last, err := w.l.LastStart(ctx, KindDaily)
		if err != nil {
			return nil, err
		}
		st.Next = Next(w.cfg.At, w.cfg.Zone, last, w.l.core.Now())
	}
	return st, nil
}

// Start runs the daily backup in a goroutine until ctx ends or stop is
// called (stop waits for a run in progress to stop).
func (w *Worker) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx)
	}()
	return func() { cancel(); <-done }
}

// loop waits for each daily run and runs it. It wakes at least once a
// minute, so that a changed clock (or a run finished by another process)
// is seen.
func (w *Worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		last, err := w.l.LastStart(ctx, KindDaily)
		if err != nil {
			w.cfg.Logger.Warn("backup schedule: cannot read the last run", "error", err.Error())
			sleep(ctx, time.Minute)
			continue
		}
		now := w.l.core.Now()
		next := Next(w.cfg.At, w.cfg.Zone, last, now)
		w.mu.Lock()
		w.next = next
		w.mu.Unlock()
		if wait := next.Sub(now); wait > 0 {
			sleep(ctx, min(wait, time.Minute))
			continue
		}
		if _, err := w.Run(ctx, Options{Kind: KindDaily}); err != nil {
			if !errors.Is(err, ErrBusy) && ctx.Err() == nil {
				w.cfg.Logger.Error("daily backup did not run", "error", err.Error())
			}
			sleep(ctx, time.Minute)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Describe formats a run on one line for people.
func Describe(r *Run) string {
	s := fmt.Sprintf("%s %s run %s at %s: %d new, %d unchanged, %d failed, %d bytes", r.Status, r.Kind, r.ID,
		r.StartedAt.Format(time.RFC3339), r.Taken, r.Skipped, r.Failed, r.Bytes)
	if r.Error != "" {
		s += " (" + r.Error + ")"
	}
	return s
}

// AlertMessage is the e-mail to one operator about a failed run. It names
// notebooks by id and steps, never data.
func AlertMessage(to string, r *Run, publicURL string) mail.Message {
	text := fmt.Sprintf("The %s backup of your Coffer instance %s failed.\n\n"+
		"Run %s, started %s UTC: %d new snapshot(s), %d unchanged, %d failed.\n\nWhat failed: %s\n\n"+
		"Check with `coffer backup status`, fix the cause, then run `coffer backup now`.\n",
		r.Kind, publicURL, r.ID, r.StartedAt.UTC().Format("2006-01-02 15:04"), r.Taken, r.Skipped, r.Failed, strings.Join(strings.Fields(r.Error), " "))
	return mail.Message{To: to, Subject: "Coffer: a backup failed", Text: text, Kind: "backup_failed"}
}
