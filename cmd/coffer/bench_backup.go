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
	"database/sql"
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

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/value"
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

	snapTook  time.Duration
	phases    []phaseRate // the writer's rate in each phase of the snapshot
	snapshot  *backup.Snapshot
	imageSize int64 // bytes of the sealed image in the location

	imageTook, loadTook time.Duration // whole restore: decrypted image, loaded into new storage
	restoredRows        int64

	recordCold time.Duration // one record: image decrypted, opened, the record read and written back
	recordWarm time.Duration // one record from an image already decrypted: opened, read, written back

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
	if res.size, err = notebookBytes(ctx, env, nb.id); err != nil {
		return err
	}
	fmt.Fprintf(out, "backup: snapshot of %s while %d writers run…\n", fmtSize(res.size), w.g.concurrency)
	var snapErr error
	res.during, err = w.runWhile(ctx, func() {
		start := time.Now()
		phases.mark("start")
		res.snapshot, snapErr = svc.Snapshot(ctx, nb.id, backup.KindManual, true)
		res.snapTook = time.Since(start)
		phases.mark("end")
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

	if err := res.restoreWhole(ctx, env, svc); err != nil {
		return err
	}
	return res.restoreRecord(ctx, env, svc, nb)
}

// restoreWhole decrypts the snapshot's image and loads it into new storage
// on the live backend, then checks that it holds the snapshot's rows.
func (res *backupResult) restoreWhole(ctx context.Context, env *benchEnv, svc *backup.Service) error {
	start := time.Now()
	path, cleanup, err := svc.Image(ctx, res.snapshot.ID, "")
	if err != nil {
		return fmt.Errorf("backup: image: %w", err)
	}
	defer cleanup()
	res.imageTook = time.Since(start)
	storage := coffer.NewID(coffer.PrefixNotebook)
	start = time.Now()
	if err := svc.Load(ctx, path, storage); err != nil {
		return fmt.Errorf("backup: load: %w", err)
	}
	res.loadTook = time.Since(start)
	defer env.backend.DropNotebook(context.WithoutCancel(ctx), storage)
	db, release, err := env.backend.Notebook(ctx, storage)
	if err != nil {
		return err
	}
	defer release()
	res.restoredRows = 0
	for _, t := range res.snapshot.Tables {
		if strings.HasPrefix(t.Table, "t_") {
			var n int64
			if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM "+db.Prefix+`"`+t.Table+`"`).Scan(&n); err != nil {
				return err
			}
			if n != t.Rows {
				return fmt.Errorf("backup: restored table %s has %d rows, the snapshot %d", t.Table, n, t.Rows)
			}
			res.restoredRows += n
		}
	}
	if res.restoredRows < int64(res.rows) {
		return fmt.Errorf("backup: the restored notebook has %d records, %d were loaded before the snapshot", res.restoredRows, res.rows)
	}
	return nil
}

// restoreRecord changes one record loaded before the snapshot, then puts
// it back as it was in the snapshot, twice: from the location (the image
// decrypted first: cold) and from the image that decryption left (warm).
// Each restore reads the record's row in the image and writes its fields
// through the store, as an update, and the record must read back as it
// was.
func (res *backupResult) restoreRecord(ctx context.Context, env *benchEnv, svc *backup.Service, nb *backupNotebook) error {
	owner := env.owner(ctx)
	id := nb.ids[len(nb.ids)/2]
	want, err := env.st.FindRecord(owner, nb.id, nb.table.ID, id)
	if err != nil {
		return err
	}
	var path string
	for _, cold := range []bool{true, false} {
		if _, err := env.st.UpdateRecord(owner, nb.id, nb.table.ID, id, map[string]any{"Title": "changed after the snapshot", "Amount": 0}, 0); err != nil {
			return err
		}
		start := time.Now()
		if cold {
			var cleanup func()
			if path, cleanup, err = svc.Image(ctx, res.snapshot.ID, ""); err != nil {
				return err
			}
			defer cleanup()
		}
		if err := restoreOneRecord(ctx, env, path, nb, id); err != nil {
			return fmt.Errorf("backup: restore one record: %w", err)
		}
		took := time.Since(start)
		if cold {
			res.recordCold = took
		} else {
			res.recordWarm = took
		}
		got, err := env.st.FindRecord(owner, nb.id, nb.table.ID, id)
		if err != nil {
			return err
		}
		if fmt.Sprint(got.Fields) != fmt.Sprint(want.Fields) {
			return fmt.Errorf("backup: the restored record reads %v, it was %v", got.Fields, want.Fields)
		}
	}
	return nil
}

// restoreOneRecord opens the image read-only, reads record id's row in
// the table and writes its fields back through the store.
func restoreOneRecord(ctx context.Context, env *benchEnv, image string, nb *backupNotebook, id string) error {
	img, err := sql.Open("sqlite", "file:"+image+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer img.Close()
	var cols []*coffer.Column
	var names []string
	for _, c := range nb.table.Columns {
		cols = append(cols, c)
		names = append(names, `"c_`+strings.TrimPrefix(c.ID, coffer.PrefixColumn)+`"`)
	}
	row := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range row {
		ptrs[i] = &row[i]
	}
	q := "SELECT " + strings.Join(names, ", ") + ` FROM "t_` + strings.TrimPrefix(nb.table.ID, coffer.PrefixTable) + `" WHERE id = ?`
	if err := img.QueryRowContext(ctx, q, id).Scan(ptrs...); err != nil {
		return err
	}
	fields := make(map[string]any, len(cols))
	for i, c := range cols {
		fields[c.Name] = value.ToJSON(c, row[i])
	}
	_, err = env.st.UpdateRecord(env.owner(ctx), nb.id, nb.table.ID, id, fields, 0)
	return err
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
	if total := r.ops + r.errors; total == 0 || float64(r.errors) > maxErrorShare*float64(total) {
		return r, fmt.Errorf("bench backup writer: %d of %d writes failed, first: %v", r.errors, total, r.firstErr)
	}
	return r, nil
}

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
// "end"; the time before the first phase is named "begin".
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
		if d > 0 {
			out = append(out, phaseRate{name, d, float64(b.ops-a.ops) / d.Seconds()})
		}
	}
	return out
}
