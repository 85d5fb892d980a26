package main

// The backup workloads of coffer bench (issue 17, "Performance"), in one
// run on the bench's backend: a notebook of --backup-size filled through
// the store; the rate of a steady writer (HTTP creates into that notebook)
// alone, then while the notebook is snapshotted and sealed into a local
// backup location, then alone again; the restore of the whole notebook
// from that snapshot (decrypted image, then loaded into new storage); the
// restore of one record; a file store of --backup-files backed up twice,
// the second time unchanged; and the recovery point and time objectives
// these give.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/local"
)

// The backup targets (issue 17, "Performance"), for a notebook of
// backupTargetSize bytes.
const (
	backupTargetSize  = 1 << 30
	snapshotMax       = 30 * time.Second
	writerMinShare    = 0.8
	restoreMax        = 60 * time.Second
	recordRestoreMax  = 2 * time.Second
	unchangedMaxShare = 0.01
	snapshotOnlyRPO   = 24 * time.Hour // one snapshot a day
	rpoMax            = time.Minute    // "losing at most about a minute of work"
)

// backupWriters is the number of clients of the steady writer: a few
// people typing into the notebook, not a load test.
const backupWriters = 4

// writerRun is what the steady writer did over one period.
type writerRun struct {
	ops, errors int
	firstErr    error
	elapsed     time.Duration
}

func (w writerRun) rate() float64 {
	if w.elapsed <= 0 {
		return 0
	}
	return float64(w.ops) / w.elapsed.Seconds()
}

// backupResult is what the backup workloads measured.
type backupResult struct {
	postgres bool
	size     int64 // bytes of the notebook's database when the snapshot began
	rows     int   // records loaded
	fillTook time.Duration

	writers               int       // clients of the steady writer
	before, during, after writerRun // the steady writer alone, during the snapshot, alone again
	spin                  writerRun // the steady writer beside one goroutine that only spins: what losing a core costs

	snapTook  time.Duration
	pressure  string      // the machine's CPU and I/O pressure as the snapshot ended ("" where unknown)
	phases    []phaseRate // the writer's rate in each phase of the snapshot
	snapshot  *backup.Snapshot
	imageSize int64 // bytes of the sealed image in the location

	imageTook, loadTook time.Duration // whole restore: decrypted image, loaded into new storage
	restoredRows        int64

	recordCold time.Duration // one record through the restore service, the snapshot loaded into a sandbox first
	recordWarm time.Duration // one record through the restore service, the sandbox already loaded

	files *filesBackupResult // nil when --backup-files is 0

	ship    *shipResult   // WAL shipping (SQLite), nil when not measured
	rpo     time.Duration // measured (shipped) or the snapshot interval
	rpoNote string
}

// normal is the writer's normal rate: the mean of its runs alone before
// and after the snapshot.
func (b *backupResult) normal() float64 { return (b.before.rate() + b.after.rate()) / 2 }

// runBackupBench runs the backup workloads; progress goes to out, the
// figures to rep.backup.
func runBackupBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport, out io.Writer) error {
	if cfg.backupSize <= 0 && cfg.backupFiles <= 0 {
		return nil
	}
	dir, err := os.MkdirTemp(env.dataDir, "backup-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res := &backupResult{postgres: cfg.db != ""}
	if cfg.backupSize > 0 {
		if err := runNotebookBackup(ctx, cfg, env, dir, res, out); err != nil {
			return err
		}
	}
	if cfg.backupFiles > 0 {
		fmt.Fprintf(out, "backup: writing a file store of %s and backing it up twice…\n", fmtSize(cfg.backupFiles))
		if res.files, err = runFileStoreBackup(ctx, filepath.Join(dir, "filestore"), cfg.backupFiles); err != nil {
			return err
		}
	}
	if !res.postgres {
		fmt.Fprintf(out, "backup: shipping the WAL of a notebook every %s under a steady writer…\n", cfg.shipEvery)
	}
	if res.ship, err = runShipBench(ctx, env, dir, cfg.shipEvery); err != nil {
		return err
	}
	switch {
	case res.ship != nil:
		res.rpo = res.ship.worst()
		res.rpoNote = fmt.Sprintf("WAL shipped every %s: the oldest acknowledged write missing from a point-in-time restore, worst of %d random moments; median %s; bound: the interval",
			res.ship.interval, len(res.ship.losses), fmtDur(res.ship.median()))
	case res.postgres:
		res.rpo, res.rpoNote = snapshotOnlyRPO, "snapshots only (one a day); PostgreSQL's WAL archiving (archive_timeout=60s, see docs) is the operator's and not measured here"
	}
	rep.backup = res
	return nil
}

// runNotebookBackup fills the notebook, then measures the writer, the
// snapshot and both restores.
func runNotebookBackup(ctx context.Context, cfg benchConfig, env *benchEnv, dir string, res *backupResult, out io.Writer) error {
	fmt.Fprintf(out, "backup: filling a notebook to %s through the store's batches…\n", fmtSize(cfg.backupSize))
	start := time.Now()
	nb, err := fillBackupNotebook(ctx, env, cfg.backupSize)
	if err != nil {
		return err
	}
	res.fillTook, res.rows = time.Since(start), nb.rows
	fmt.Fprintf(out, "backup: %d records in %s\n", nb.rows, res.fillTook.Round(time.Millisecond))

	primary, err := local.Open(filepath.Join(dir, "primary"))
	if err != nil {
		return err
	}
	defer primary.Close()
	files, err := local.Open(filepath.Join(dir, "nbfiles"))
	if err != nil {
		return err
	}
	defer files.Close()
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	phases := &phaseLog{}
	svc := backup.New(env.st, backup.Config{Primary: location.New("primary", primary), Files: files, TempDir: tmp, Progress: phases.progress})

	w := &steadyWriter{g: loadGen{concurrency: min(cfg.concurrency, backupWriters)}, op: phases.counted(env.backupWriterOp(nb))}
	res.writers = w.g.concurrency
	if _, _, err := w.g.drive(ctx, min(cfg.duration/10, 500*time.Millisecond), w.op); err != nil { // warm-up, as loadGen.run's
		return err
	}
	if res.before, err = w.run(ctx, cfg.duration); err != nil {
		return err
	}
	if res.spin, err = w.runWhile(ctx, func() { spinFor(ctx, cfg.duration) }); err != nil {
		return err
	}
	if res.size, err = notebookBytes(ctx, env, nb.id); err != nil {
		return err
	}
	fmt.Fprintf(out, "backup: snapshot of %s while %d writers run…\n", fmtSize(res.size), w.g.concurrency)
	var snapErr error
	res.during, err = w.runWhile(ctx, func() {
		stopProfile := profileStep(cfg, "backup snapshot")
		start := time.Now()
		phases.mark("start")
		res.snapshot, snapErr = svc.Snapshot(ctx, nb.id, backup.KindManual, true)
		res.snapTook = time.Since(start)
		phases.mark("end")
		stopProfile()
		res.pressure = pressure()
	})
	res.phases = phases.rates()
	if err = errors.Join(snapErr, err); err != nil {
		return err
	}
	if res.snapshot.Status != backup.StatusGood {
		return fmt.Errorf("backup: snapshot %s ended %s: %s", res.snapshot.ID, res.snapshot.Status, res.snapshot.Error)
	}
	if res.after, err = w.run(ctx, cfg.duration); err != nil {
		return err
	}
	res.imageSize = res.snapshot.Size

	if err := res.restoreWhole(ctx, cfg, env, svc); err != nil {
		return err
	}
	return res.restoreRecord(ctx, env, svc, nb)
}

// steadyWriter is the writer that runs beside the snapshot: loadGen's
// goroutines, each creating records back to back.
type steadyWriter struct {
	g  loadGen
	op opFunc
}

// run measures the writer alone for d.
func (w *steadyWriter) run(ctx context.Context, d time.Duration) (writerRun, error) {
	return w.runWhile(ctx, func() {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	})
}

// runWhile measures the writer for as long as fn runs.
func (w *steadyWriter) runWhile(ctx context.Context, fn func()) (writerRun, error) {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan writerRun, 1)
	go func() {
		lat, errs, _ := w.g.drive(wctx, 24*time.Hour, w.op)
		done <- writerRun{ops: lat.ops, errors: errs.n, firstErr: errs.first, elapsed: lat.elapsed}
	}()
	fn()
	stop()
	r := <-done
	if err := ctx.Err(); err != nil {
		return r, err
	}
	// No write at all is a measure (a rate of 0), not a failure: on a
	// loaded machine a short window may see none finish.
	if total := r.ops + r.errors; float64(r.errors) > maxErrorShare*float64(total) {
		return r, fmt.Errorf("bench backup writer: %d of %d writes failed, first: %v", r.errors, total, r.firstErr)
	}
	return r, nil
}

// profileStep starts a CPU profile of one step when --cpuprofile is set
// (<dir>/<step>.pprof); the returned function stops it, once however
// often it is called. A profile that cannot start is skipped: the step is
// measured all the same.
func profileStep(cfg benchConfig, step string) func() {
	if cfg.profileDir == "" {
		return func() {}
	}
	stop, err := startCPUProfile(cfg.profileDir, step)
	if err != nil {
		return func() {}
	}
	return sync.OnceFunc(stop)
}

// pressure is the share of the last 10 s in which some task waited for a
// CPU and for I/O (Linux pressure stall information), as "cpu 90%, io 5%";
// "" where /proc/pressure is not readable. On a shared machine it says
// how much of what the bench measured is others' load.
func pressure() string {
	var parts []string
	for _, res := range []string{"cpu", "io"} {
		b, err := os.ReadFile("/proc/pressure/" + res)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(b), "\n")
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "avg10="); ok && strings.HasPrefix(line, "some ") {
				parts = append(parts, res+" "+v+"%")
			}
		}
	}
	return strings.Join(parts, ", ")
}

// spinFor keeps one goroutine busy computing for d (or until ctx ends).
func spinFor(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for i := range 100_000 {
			x = x*6364136223846793005 + uint64(i)
		}
	}
	spinSink.Store(x)
}

// spinSink keeps spinFor's result, so that its loop is not optimised away.
var spinSink atomic.Uint64

// fmtSize prints a size in bytes in MB or GB (powers of 1024, as the flags).
func fmtSize(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// phaseLog notes when a snapshot enters each phase (backup.Progress) and
// how many writes had succeeded by then, so the writer's rate can be told
// per phase: making the image, sealing it, its blobs.
type phaseLog struct {
	acked atomic.Int64
	mu    sync.Mutex
	on    bool
	marks []phaseMark
}

type phaseMark struct {
	phase string
	at    time.Time
	ops   int64
}

// phaseRate is the writer's rate over one phase of a snapshot.
type phaseRate struct {
	phase string
	took  time.Duration
	rate  float64
}

// counted wraps op to count its successes.
func (l *phaseLog) counted(op opFunc) opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		err := op(ctx, rng)
		if err == nil {
			l.acked.Add(1)
		}
		return err
	}
}

// mark notes phase now: "start" begins a log, "end" closes it.
func (l *phaseLog) mark(phase string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if phase == "start" {
		l.on, l.marks = true, nil
	}
	if !l.on || len(l.marks) > 0 && l.marks[len(l.marks)-1].phase == phase {
		return
	}
	l.marks = append(l.marks, phaseMark{phase, time.Now(), l.acked.Load()})
	if phase == "end" {
		l.on = false
	}
}

// progress is the snapshot service's Progress callback.
func (l *phaseLog) progress(p backup.Progress) { l.mark(p.Phase) }

// rates returns the writer's rate in each phase between "start" and
// "end" that lasted 10 ms or more (too short to measure a rate); the time
// before the first phase is named "begin".
func (l *phaseLog) rates() []phaseRate {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []phaseRate
	for i := 1; i < len(l.marks); i++ {
		a, b := l.marks[i-1], l.marks[i]
		name := a.phase
		if name == "start" {
			name = "begin"
		}
		d := b.at.Sub(a.at)
		if d >= 10*time.Millisecond {
			out = append(out, phaseRate{name, d, float64(b.ops-a.ops) / d.Seconds()})
		}
	}
	return out
}
