package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/browse"
	"github.com/cofferhq/coffer/backup/drill"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
)

// backups is the backup machinery of one process: the service of package
// backup, its locations, the worker that drives it and the drill source.
type backups struct {
	cfg     *backupConfig
	dataDir string
	st      *all.Store
	svc     *backup.Service
	primary location.Location
	second  *location.Location
	ledger  *schedule.Ledger
	worker  *schedule.Worker
	log     *slog.Logger
	tmp     string // where images and shipped bases are made
	close   func()
	// onRunFailure, when set, hears of a failed run (e-mail to operators).
	onRunFailure func(context.Context, *schedule.Run)
}

// openBackups opens the locations of cfg and the backup service on st,
// reading file blobs from files (nil: none). progress, when set, hears
// the byte progress of each snapshot.
func openBackups(ctx context.Context, st *all.Store, cfg *backupConfig, dataDir string, files blob.Store, log *slog.Logger, progress func(backup.Progress)) (*backups, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &backups{cfg: cfg, dataDir: dataDir, st: st, log: log}
	var err error
	if b.primary, err = openLocation(ctx, "primary", cfg.url, dataDir); err != nil {
		return nil, err
	}
	closers := []func() error{b.primary.Store.Close}
	if cfg.copyURL != "" {
		l, err := openLocation(ctx, "second", cfg.copyURL, dataDir)
		if err != nil {
			b.primary.Store.Close()
			return nil, err
		}
		b.second = &l
		closers = append(closers, l.Store.Close)
	}
	b.close = func() {
		st.CloseSnapshots()
		for _, c := range closers {
			c()
		}
	}
	tmp := filepath.Join(dataDir, "backup-tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		tmp = "" // PostgreSQL without a data directory: the system's
	}
	b.tmp = tmp
	b.svc = backup.New(st, backup.Config{Primary: b.primary, Second: b.second, Files: files, TempDir: tmp,
		Retention: cfg.policy(), Logger: log, Progress: progress})
	// Browsing (?snapshot=) and restoring read snapshots through it.
	st.SetSnapshots(&pointSource{SnapshotSource: browse.Source(b.svc), svc: b.svc, ring: st.Ring(), locs: b.locations(), tmp: tmp,
		off: pointOff(st.Storage, cfg.shipping())}, time.Local)
	b.ledger = schedule.NewLedger(st.Core)
	b.worker = schedule.New(b.ledger, b.jobs(), schedule.Config{At: cfg.atTime, Zone: time.Local, Logger: log,
		OnFailure: func(ctx context.Context, r *schedule.Run) {
			if b.onRunFailure != nil {
				b.onRunFailure(ctx, r)
			}
		}})
	return b, nil
}

// locations names the locations, the primary first.
func (b *backups) locations() []location.Location {
	out := []location.Location{b.primary}
	if b.second != nil {
		out = append(out, *b.second)
	}
	return out
}

// allNotebooks lists every notebook id of the instance.
func allNotebooks(ctx context.Context, st *all.Store) ([]string, error) {
	return drill.Notebooks(ctx, st.Core)
}

// jobs is the work of a backup run on b's service.
func (b *backups) jobs() schedule.Jobs {
	return schedule.Jobs{
		Notebooks: func(ctx context.Context) ([]string, error) { return allNotebooks(ctx, b.st) },
		Snapshot: func(ctx context.Context, nb, kind string, force bool) (schedule.Outcome, error) {
			if kind != backup.KindDaily {
				kind = backup.KindManual
			}
			prev, err := b.newestGood(ctx, nb)
			if err != nil {
				return schedule.Outcome{}, err
			}
			sn, err := b.svc.Snapshot(ctx, nb, kind, force)
			if nb != "" && coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return schedule.Outcome{Skipped: true}, nil // deleted since the run began
			}
			if err != nil {
				return schedule.Outcome{}, err
			}
			if sn.ID == prev {
				return schedule.Outcome{ID: sn.ID, Skipped: true}, nil
			}
			return schedule.Outcome{ID: sn.ID, Bytes: sn.Size}, nil
		},
		After: []schedule.Step{
			{Name: "replicate", Run: b.replicate},
			{Name: "keyring", Full: true, Run: func(ctx context.Context) error { _, err := b.svc.BackupKeyring(ctx); return err }},
			{Name: "prune", Full: true, Run: b.prune},
		},
	}
}

// checkNotebook refuses (ENOTFOUND) a notebook id the instance lacks.
func (b *backups) checkNotebook(ctx context.Context, nb string) error {
	ids, err := allNotebooks(ctx, b.st)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, nb) {
		return coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	return nil
}

// options are the options of a manual run of nb ("" = all).
func (b *backups) options(ctx context.Context, nb string, force bool) (schedule.Options, error) {
	o := schedule.Options{Kind: schedule.KindManual, Force: force}
	if nb != "" {
		if err := b.checkNotebook(ctx, nb); err != nil {
			return o, err
		}
		o.Notebooks = []string{nb}
	}
	return o, nil
}

// startNow starts a manual run in the server (until srvCtx ends) and
// returns the state of backups once it has started (or ended, or failed
// to start: ECONFLICT while another runs).
func (b *backups) startNow(srvCtx, rctx context.Context, nb string, force bool) (any, error) {
	o, err := b.options(rctx, nb, force)
	if err != nil {
		return nil, err
	}
	started := make(chan struct{})
	var once sync.Once
	o.Progress = func(schedule.Run) { once.Do(func() { close(started) }) }
	errc := make(chan error, 1)
	go func() {
		_, err := b.worker.Run(srvCtx, o)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return nil, err
		}
	case <-started:
	case <-rctx.Done():
		return nil, rctx.Err()
	}
	return b.report(rctx, true)
}

// newestGood returns the id of the newest good snapshot of nb, or "".
func (b *backups) newestGood(ctx context.Context, nb string) (string, error) {
	list, err := b.svc.List(ctx, nb)
	if err != nil {
		return "", err
	}
	for _, sn := range list {
		if sn.Status == backup.StatusGood {
			return sn.ID, nil
		}
	}
	return "", nil
}

// replicate copies to the second location the file blobs, then the
// snapshots, it lacks (what a failed copy at snapshot time left out),
// never deleting. The keyring's backups are left to the backup service:
// they must never reach a location that cannot forget a destroyed key.
func (b *backups) replicate(ctx context.Context) error {
	if b.second == nil {
		return nil
	}
	total := 0
	for _, prefix := range []string{"blobs/", "snapshots/"} {
		n, err := location.Replicate(ctx, b.primary, *b.second, prefix)
		total += n
		if err != nil {
			return err
		}
	}
	if total > 0 {
		b.log.Info("backup: objects copied to the second location", "objects", total)
	}
	return nil
}

// prune applies retention, then sweeps, logging what it did.
func (b *backups) prune(ctx context.Context) error {
	rep, err := b.svc.Prune(ctx)
	if err != nil {
		return err
	}
	if err := b.pruneShipped(ctx); err != nil {
		return err
	}
	b.log.Info("backup: pruned", "kept", rep.Kept, "marked", rep.Marked, "swept", rep.Swept, "not_swept", rep.Skipped)
	return nil
}

// startShipping ships, on SQLite, the write-ahead log of the notebooks
// that changed to every location each interval (backup/ship); stop ships
// a last round. Nothing on PostgreSQL (its WAL archiving is the
// database's own: docs/postgres-pitr.md) or when every is 0.
func (b *backups) startShipping(every time.Duration) (stop func(), err error) {
	sb, ok := b.st.Storage.(*sqlite.Backend)
	if !ok || every <= 0 {
		return func() {}, nil
	}
	var stores []blob.Store
	for _, l := range b.locations() {
		stores = append(stores, l.Store)
	}
	sh, err := ship.New(ship.Config{Backend: sb, Ring: b.st.Ring(), Stores: stores, Interval: every, TempDir: b.tmp, Logger: b.log})
	if err != nil {
		return nil, err
	}
	sh.Start()
	b.log.Info("write-ahead log shipping on", "every", every.String())
	return func() {
		if err := sh.Close(); err != nil {
			b.log.Warn("ship: the last round failed", "error", err.Error())
		}
	}, nil
}

// pruneShipped deletes the shipped WAL that no restore to a time since
// the newest good snapshot of its notebook needs (shipKeepFrom), in every
// location not under object lock.
func (b *backups) pruneShipped(ctx context.Context) error {
	for _, l := range b.locations() {
		if l.Locked {
			continue
		}
		nbs, err := ship.Notebooks(ctx, l.Store)
		if err != nil {
			return err
		}
		for _, nb := range nbs {
			list, err := b.svc.List(ctx, nb)
			if err != nil {
				return err
			}
			from := shipKeepFrom(list, b.cfg.shipEvery)
			if from.IsZero() {
				continue // no snapshot yet: the shipped WAL is all there is
			}
			if _, err := ship.Prune(ctx, l.Store, nb, from); err != nil {
				return err
			}
		}
	}
	return nil
}

// drillSource is what drills read: b's snapshots in every location.
func (b *backups) drillSource() drill.Source {
	return drill.FromService(b.svc, b.st.Core, b.locations())
}

// drillConfig is the drill configuration of b.
func (b *backups) drillConfig(alert func(context.Context, *drill.Drill)) drill.Config {
	return drill.Config{Logger: b.log, Alert: alert}
}

// startBackups sets up the backups of a server: browsing and restoring
// snapshots, the backup status and "backup now" for the API and, unless
// cfg.off, the daily backup worker, WAL shipping and restore drills,
// alerting the operators by e-mail (through sender) when a run or a
// drill fails. stop waits for them to stop.
func startBackups(ctx context.Context, st *all.Store, cfg *backupConfig, dataDir string, files blob.Store, sender *mail.Sender,
	publicURL string, log *slog.Logger, extra *api.Services) (stop func(), err error) {
	b, err := openBackups(ctx, st, cfg, dataDir, files, log, nil)
	if err != nil {
		return nil, err
	}
	if n, err := b.svc.Recover(ctx); err != nil {
		log.Warn("backup: cannot mark interrupted snapshots", "error", err.Error())
	} else if n > 0 {
		log.Warn("backup: snapshots interrupted by a stop were marked failed", "snapshots", n)
	}
	mailOps := func(ctx context.Context, what string, msg func(to string) mail.Message) {
		if sender == nil {
			log.Warn(what + " and no SMTP server is configured (--smtp-url): no operator was e-mailed")
			return
		}
		ops, err := drill.Operators(ctx, st.Core)
		if err != nil {
			log.Error(what+" and the operators could not be listed", "error", err.Error())
			return
		}
		for _, to := range ops {
			sender.Enqueue(msg(to))
		}
	}
	b.onRunFailure = func(ctx context.Context, r *schedule.Run) {
		mailOps(ctx, "a backup failed", func(to string) mail.Message { return schedule.AlertMessage(to, r, publicURL) })
	}
	extra.BackupStatus = func(ctx context.Context) (any, error) { return b.report(ctx, !cfg.off) }
	extra.Backups = st
	extra.BackupNow = func(rctx context.Context, nb string, force bool) (any, error) {
		return b.startNow(ctx, rctx, nb, force)
	}
	stopSweep := every(ctx, time.Minute, func(context.Context) { st.SweepSnapshots() })
	if cfg.off {
		log.Warn("backups are off in this server (--backup-off): no daily backup, no shipping, no restore drill here; browsing and restoring snapshots work")
		return func() {
			stopSweep()
			b.close()
		}, nil
	}
	stopShip, err := b.startShipping(cfg.shipEvery)
	if err != nil {
		stopSweep()
		b.close()
		return nil, err
	}
	stopWorker := b.worker.Start(ctx)
	stopDrills := drill.Start(ctx, b.ledger, b.drillSource(), cfg.every, b.drillConfig(func(ctx context.Context, d *drill.Drill) {
		mailOps(ctx, "a restore drill failed", func(to string) mail.Message { return drill.AlertMessage(to, d, publicURL) })
	}))
	if _, ok := st.Storage.(*sqlite.Backend); !ok && !strings.HasPrefix(cfg.url, "s3:") {
		log.Warn("backups go to a directory of this node (--backup-url): with several nodes on one PostgreSQL database, " +
			"whichever runs the backup keeps it; put them in shared storage (s3://…)")
	}
	where := describeLocation(cfg.url, dataDir)
	if b.second != nil {
		where += " and " + describeLocation(cfg.copyURL, dataDir)
	} else {
		log.Warn("backups have no second location (--backup-copy-url): one disk or bucket holds them all")
	}
	log.Info("backups on", "at", cfg.atTime.String(), "to", where, "drill_every", cfg.every.String())
	return func() {
		stopSweep()
		stopDrills()
		stopWorker()
		stopShip()
		b.close()
	}, nil
}
