// Package drill runs restore drills: on its own, weekly by default, it
// restores a rotating sample of notebooks from every backup location into
// a sandbox (a throwaway storage, dropped afterwards), checks each
// snapshot (manifest, integrity check, row counts and hashes), and reads
// a rotating slice of the file blobs so that every blob is read once per
// cycle of drills: decrypted with its file's key and checked against the
// file's SHA-256 (backup.Service.CheckBlobs), so a changed byte is found. It records the measured restore time and the outcome
// (backup_drills, instance migration 0014), and alerts the instance
// operators by e-mail when a drill fails.
package drill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/store"
)

// LeaseName is the lease a drill holds (see schedule.Ledger).
const LeaseName = "drill"

// Target is the newest good snapshot of the instance (Notebook "") or of
// a notebook, and the file blobs it references.
type Target struct {
	Notebook string
	Snapshot string
	Blobs    []blobs.Entry
}

// Source is what a drill needs of the backup service (package backup).
type Source interface {
	// Targets returns the newest good snapshot of the instance and of
	// each notebook.
	Targets(ctx context.Context) ([]Target, error)
	// Locations names the backup locations, the primary first.
	Locations() []string
	// Verify checks a snapshot in a location: its manifest, the image's
	// integrity check, row counts and hashes.
	Verify(ctx context.Context, snapshot, location string) error
	// Restore loads a notebook snapshot from a location into the storage
	// named sandbox (replacing one a dead drill left there); drop removes
	// it.
	Restore(ctx context.Context, snapshot, location, sandbox string) (drop func(context.Context) error, err error)
	// CheckBlobs reads the file blobs entries of snapshot in a location
	// to their end, decrypted with their files' keys, and checks their
	// content (see backup.Service.CheckBlobs). It returns one error per
	// entry, nil for a good blob; an error naming a file names it by id
	// only. err is for blobs it could not check at all.
	CheckBlobs(ctx context.Context, snapshot, location string, entries []blobs.Entry) (bad []error, err error)
}

// Check is one thing a drill checked.
type Check struct {
	Step     string        `json:"step"` // verify, restore, blobs
	Notebook string        `json:"notebook,omitempty"`
	Snapshot string        `json:"snapshot,omitempty"`
	Location string        `json:"location"`
	OK       bool          `json:"ok"`
	Took     time.Duration `json:"took_ns"`
	Count    int           `json:"count,omitempty"` // blobs read
	Error    string        `json:"error,omitempty"`
}

// Drill is one drill's record.
type Drill struct {
	ID         string     `json:"id"`
	Seq        int        `json:"seq"`
	Status     string     `json:"status"` // running, good, failed (schedule.Status*)
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// RestoreTime is the longest time a whole notebook took to restore
	// into the sandbox: the measured recovery time of one notebook.
	RestoreTime time.Duration `json:"restore_ns"`
	Notebooks   int           `json:"notebooks"` // notebooks restored (per location)
	Blobs       int           `json:"blobs"`     // file blobs read (per location)
	BlobBytes   int64         `json:"blob_bytes"`
	Checks      []Check       `json:"checks"`
	Error       string        `json:"error,omitempty"`
}

// Config tunes drills; zero values take the defaults.
type Config struct {
	Sample int // notebooks restored per drill (default 3)
	Cycle  int // drills in which every blob is read once (default 4)
	Logger *slog.Logger
	// Alert, when set, is told of a failed drill (see MailAlert).
	Alert func(ctx context.Context, d *Drill)
	// Sandbox names the throwaway storage of a restore of snapshot from
	// location (default SandboxID).
	Sandbox func(snapshot, location string) string
}

func (c Config) withDefaults() Config {
	if c.Sample <= 0 {
		c.Sample = 3
	}
	if c.Cycle <= 0 {
		c.Cycle = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Sandbox == nil {
		c.Sandbox = SandboxID
	}
	return c
}

// SandboxID is the storage id a drill restores snapshot from location
// into: a notebook id no notebook has, derived from both, so that a
// sandbox left behind by a process that died mid-drill is found and
// dropped by the next drill of the same snapshot.
func SandboxID(snapshot, location string) string {
	h := sha256.Sum256([]byte("coffer drill sandbox\x00" + snapshot + "\x00" + location))
	return coffer.PrefixNotebook + hex.EncodeToString(h[:13])
}

// Sample returns the notebooks (ids sorted) that drill number seq
// restores: k of them, consecutive from seq·k, wrapping, so that
// successive drills go round every notebook.
func Sample(notebooks []string, seq, k int) []string {
	n := len(notebooks)
	if n == 0 || k <= 0 {
		return nil
	}
	k = min(k, n)
	out := make([]string, 0, k)
	for i := range k {
		out = append(out, notebooks[(seq*k+i)%n])
	}
	return out
}

// InSlice reports whether drill number seq reads the blob of content id
// cid, in a cycle of cycle drills: each blob in exactly one drill of
// every cycle.
func InSlice(cid string, seq, cycle int) bool {
	if cycle <= 1 {
		return true
	}
	h := fnv.New32a()
	io.WriteString(h, cid)
	return int(h.Sum32()%uint32(cycle)) == seq%cycle
}

// ErrNothing is the error of a drill with no good snapshot to check: no
// backup has run yet. Such a drill is not recorded.
var ErrNothing = coffer.Errorf(coffer.ENOTFOUND, "there is no good snapshot to drill: run a backup first (coffer backup now)")

// Run runs one drill now, under the drill lease (ECONFLICT wrapping
// schedule.ErrBusy when another process runs one), records it and
// returns it. A failed drill is not an error; the error is for a drill
// that could not run or be recorded.
func Run(ctx context.Context, l *schedule.Ledger, src Source, cfg Config) (*Drill, error) {
	cfg = cfg.withDefaults()
	if ts, err := src.Targets(ctx); err != nil {
		return nil, err
	} else if len(ts) == 0 {
		return nil, ErrNothing
	}
	if err := l.Acquire(ctx, LeaseName, time.Hour); err != nil {
		return nil, err
	}
	defer l.Release(context.WithoutCancel(ctx), LeaseName)
	rec := recorder{l.Core()}
	d, err := rec.begin(ctx)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("drill", d.ID, "seq", d.Seq)
	log.Info("restore drill started")
	run(ctx, d, src, cfg)
	fin := l.Core().Now().UTC()
	d.FinishedAt = &fin
	d.Status = schedule.StatusGood
	var bad []string
	for _, c := range d.Checks {
		if !c.OK {
			what := c.Step + " " + c.Location
			if c.Notebook != "" || c.Snapshot != "" {
				what += " " + nameOf(c.Notebook) + " snapshot " + c.Snapshot
			}
			bad = append(bad, what+": "+c.Error)
		}
	}
	if d.Error != "" {
		bad = append([]string{d.Error}, bad...)
	}
	if len(bad) > 0 {
		d.Status = schedule.StatusFailed
		d.Error = strings.Join(bad, "; ")
		if len(d.Error) > 4000 {
			d.Error = d.Error[:4000] + "…"
		}
	}
	if err := rec.finish(context.WithoutCancel(ctx), d); err != nil {
		return d, err
	}
	log.Info("restore drill finished", "status", d.Status, "notebooks", d.Notebooks, "blobs", d.Blobs,
		"restore_seconds", d.RestoreTime.Seconds())
	if d.Status == schedule.StatusFailed {
		log.Error("restore drill failed", "error", d.Error)
		if cfg.Alert != nil {
			cfg.Alert(context.WithoutCancel(ctx), d)
		}
	}
	return d, nil
}

func nameOf(nb string) string {
	if nb == "" {
		return "instance"
	}
	return "notebook " + nb
}

// run does the checks of drill d.
func run(ctx context.Context, d *Drill, src Source, cfg Config) {
	targets, err := src.Targets(ctx)
	if err != nil {
		d.Error = "list the snapshots: " + err.Error()
		return
	}
	if len(targets) == 0 {
		d.Error = "there is no good snapshot to drill: has a backup run yet?"
		return
	}
	byNotebook := map[string]Target{}
	var ids []string
	for _, t := range targets {
		byNotebook[t.Notebook] = t
		if t.Notebook != "" {
			ids = append(ids, t.Notebook)
		}
	}
	slices.Sort(ids)
	sample := Sample(ids, d.Seq, cfg.Sample)
	check := func(c Check, f func() error) Check {
		start := time.Now()
		err := f()
		c.Took, c.OK = time.Since(start), err == nil
		if err != nil {
			c.Error = coffer.ErrorMessage(err)
			if c.Error == "" || coffer.ErrorCode(err) == coffer.EINTERNAL {
				c.Error = err.Error()
			}
		}
		d.Checks = append(d.Checks, c)
		return c
	}
	for _, loc := range src.Locations() {
		if inst, ok := byNotebook[""]; ok {
			check(Check{Step: "verify", Snapshot: inst.Snapshot, Location: loc}, func() error { return src.Verify(ctx, inst.Snapshot, loc) })
		}
		for _, nb := range sample {
			t := byNotebook[nb]
			base := Check{Notebook: nb, Snapshot: t.Snapshot, Location: loc}
			c := base
			c.Step = "verify"
			if !check(c, func() error { return src.Verify(ctx, t.Snapshot, loc) }).OK {
				continue
			}
			c = base
			c.Step = "restore"
			var drop func(context.Context) error
			c = check(c, func() (err error) {
				drop, err = src.Restore(ctx, t.Snapshot, loc, cfg.Sandbox(t.Snapshot, loc))
				return err
			})
			if drop != nil {
				if err := drop(context.WithoutCancel(ctx)); err != nil {
					cfg.Logger.Warn("restore drill: a sandbox was not dropped", "error", err.Error())
				}
			}
			if c.OK {
				d.Notebooks++
				d.RestoreTime = max(d.RestoreTime, c.Took)
			}
		}
		// The blobs of this drill's slice, each object range once.
		n := 0
		var size int64
		c := check(Check{Step: "blobs", Location: loc}, func() error {
			seen := map[blobs.Entry]bool{}
			var errs []error
			for _, t := range targets {
				var slice []blobs.Entry
				for _, e := range t.Blobs {
					if seen[e] || !InSlice(e.ContentID, d.Seq, cfg.Cycle) {
						continue
					}
					seen[e] = true
					slice = append(slice, e)
				}
				if len(slice) == 0 {
					continue
				}
				bad, err := src.CheckBlobs(ctx, t.Snapshot, loc, slice)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s snapshot %s: %s", nameOf(t.Notebook), t.Snapshot, errText(err)))
					continue
				}
				for i, e := range slice {
					if i < len(bad) && bad[i] != nil {
						if len(errs) < 10 {
							errs = append(errs, fmt.Errorf("%s snapshot %s: %s", nameOf(t.Notebook), t.Snapshot, errText(bad[i])))
						}
						continue
					}
					n++
					size += e.Length
				}
			}
			return errors.Join(errs...)
		})
		c.Count = n
		d.Checks[len(d.Checks)-1] = c
		d.Blobs += n
		d.BlobBytes += size
	}
}

// errText is err as text for a check's error: a coded error's message
// (kept as text, since a coded error wrapped in a join would hide the
// rest), the whole text of another.
func errText(err error) string {
	if coffer.ErrorCode(err) == coffer.EINTERNAL {
		return err.Error()
	}
	return coffer.ErrorMessage(err)
}

// recorder keeps drills in backup_drills.
type recorder struct{ core *store.Core }

func (r recorder) t() string { return r.core.Inst.Prefix + "backup_drills" }

func (r recorder) begin(ctx context.Context) (*Drill, error) {
	now := r.core.Now().UTC()
	d := &Drill{ID: coffer.NewID("drl_"), Status: schedule.StatusRunning, StartedAt: now}
	err := r.core.Write(ctx, r.core.Inst, "drill.begin", func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, r.core.Rebind("UPDATE "+r.t()+" SET status = ?, finished_at = started_at, error = ? WHERE status = ?"),
			schedule.StatusInterrupted, "the process running it stopped before the end", schedule.StatusRunning); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), -1) + 1 FROM "+r.t()).Scan(&d.Seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, r.core.Rebind("INSERT INTO "+r.t()+" (id, seq, status, started_at) VALUES (?, ?, ?, ?)"),
			d.ID, d.Seq, d.Status, now.UnixMicro())
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (r recorder) finish(ctx context.Context, d *Drill) error {
	report, err := json.Marshal(d.Checks)
	if err != nil {
		return err
	}
	return r.core.Write(ctx, r.core.Inst, "drill.finish", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, r.core.Rebind("UPDATE "+r.t()+" SET status = ?, finished_at = ?, restore_us = ?, notebooks = ?, blobs = ?, blob_bytes = ?, report = ?, error = ? WHERE id = ?"),
			d.Status, d.FinishedAt.UnixMicro(), d.RestoreTime.Microseconds(), d.Notebooks, d.Blobs, d.BlobBytes, string(report), d.Error, d.ID)
		return err
	})
}
