package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/drill"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/blob/bloburl"
)

const backupUsage = `Usage:
  coffer backup now [--notebook N] [--force]
      snapshot now: the instance and every changed notebook (or one notebook),
      with a progress bar; works beside a running server on the same --data
  coffer backup list [--notebook N] [--json]
      the snapshots of the instance and every notebook (or of one notebook)
  coffer backup status [--json]
      the last and next run, sizes, locations, the last restore drill
  coffer backup verify [--snapshot S] [--location L]
      check snapshots (manifest, integrity check, row counts and hashes):
      one, or the newest good one of the instance and of every notebook,
      in one location or all
  coffer backup drill
      run a restore drill now (the server runs one every --drill-every)
Every command takes the storage flags (--data or --db) and the location
flags of the server (--backup-url, --backup-copy-url, --blob-url, or their
COFFER_ variables). See also: coffer restore --help.
`

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, backupUsage)
		return errUsage
	}
	switch args[0] {
	case "now":
		return cmdBackupNow(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdBackupList(ctx, args[1:], stdout, stderr)
	case "status":
		return cmdBackupStatus(ctx, args[1:], stdout, stderr)
	case "verify":
		return cmdBackupVerify(ctx, args[1:], stdout, stderr)
	case "drill":
		return cmdBackupDrill(ctx, args[1:], stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, backupUsage)
		return nil
	}
	fmt.Fprint(stderr, backupUsage)
	return errUsage
}

// backupCmd is what every backup command opens: the storage, the file
// blobs and the backup locations.
type backupCmd struct {
	fs      *flag.FlagSet
	sc      *storeConfig
	bc      *backupConfig
	blobURL *string
}

func newBackupCmd(name string, stderr io.Writer) *backupCmd {
	c := &backupCmd{fs: newFlagSet(name, stderr)}
	c.sc = storeFlags(c.fs)
	c.bc = backupFlags(c.fs, false)
	c.blobURL = c.fs.String("blob-url", env("COFFER_BLOB_URL", ""), "where the server keeps file contents (COFFER_BLOB_URL), as for coffer serve")
	return c
}

// parse reads and checks the command's flags.
func (c *backupCmd) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", c.fs.Name(), c.fs.Arg(0))
	}
	return c.bc.check()
}

// open parses args and opens the backup machinery; close releases it.
func (c *backupCmd) open(ctx context.Context, args []string, stderr io.Writer, progress func(backup.Progress)) (*backups, func(), error) {
	if err := c.parse(args); err != nil {
		return nil, nil, err
	}
	return c.openParsed(ctx, stderr, progress)
}

// openParsed opens the backup machinery once the flags are parsed.
func (c *backupCmd) openParsed(ctx context.Context, stderr io.Writer, progress func(backup.Progress)) (*backups, func(), error) {
	st, closeStore, err := openCLIStore(ctx, c.sc, c.fs.Name(), stderr)
	if err != nil {
		return nil, nil, err
	}
	files, err := bloburl.Open(ctx, *c.blobURL, c.sc.dataDir)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	b, err := openBackups(ctx, st, c.bc, c.sc.dataDir, files, nil, progress)
	if err != nil {
		files.Close()
		closeStore()
		return nil, nil, err
	}
	return b, func() { b.close(); files.Close(); closeStore() }, nil
}

func cmdBackupNow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("backup now", stderr)
	nb := c.fs.String("notebook", "", "only this notebook (its id)")
	force := c.fs.Bool("force", false, "snapshot even notebooks unchanged since their last snapshot")
	p := newProgressPrinter(stdout)
	b, done, err := c.open(ctx, args, stderr, p.snapshot)
	if err != nil {
		return err
	}
	defer done()
	if _, err := b.svc.Recover(ctx); err != nil {
		return err
	}
	o, err := b.options(ctx, *nb, *force)
	if err != nil {
		return err
	}
	o.Progress = p.update
	r, err := b.worker.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d new snapshot(s) (%s), %d unchanged, %d failed, in %s\n", r.Status, r.Taken, humanBytes(r.Bytes), r.Skipped, r.Failed,
		r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond))
	if r.Status != schedule.StatusGood {
		return fmt.Errorf("the backup failed: %s", r.Error)
	}
	return nil
}

// snapshotJSON is a snapshot as `backup list --json` prints it.
type snapshotJSON struct {
	ID         string     `json:"id"`
	Notebook   string     `json:"notebook"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	Size       int64      `json:"size"`
	Rows       int64      `json:"rows"`
	Blobs      int        `json:"blobs"`
	BlobBytes  int64      `json:"blob_bytes"`
	Locations  []string   `json:"locations"`
	Error      string     `json:"error,omitempty"`
}

func toJSON(sn *backup.Snapshot) snapshotJSON {
	return snapshotJSON{ID: sn.ID, Notebook: sn.Notebook, Kind: sn.Kind, Status: sn.Status, StartedAt: sn.StartedAt, FinishedAt: sn.FinishedAt,
		VerifiedAt: sn.VerifiedAt, Size: sn.Size, Rows: sn.Rows, Blobs: sn.Blobs, BlobBytes: sn.BlobBytes, Locations: sn.Locations, Error: sn.Error}
}

// snapshots lists the snapshots of nb, or of the instance and every notebook.
func (b *backups) snapshots(ctx context.Context, nb string) ([]*backup.Snapshot, error) {
	nbs := []string{nb}
	if nb == "" {
		all, err := allNotebooks(ctx, b.st)
		if err != nil {
			return nil, err
		}
		nbs = append([]string{""}, all...)
	}
	var out []*backup.Snapshot
	for _, n := range nbs {
		l, err := b.svc.List(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

func cmdBackupList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("backup list", stderr)
	nb := c.fs.String("notebook", "", "only this notebook's snapshots (its id)")
	asJSON := c.fs.Bool("json", false, "print JSON")
	b, done, err := c.open(ctx, args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	list, err := b.snapshots(ctx, *nb)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]snapshotJSON, 0, len(list))
		for _, sn := range list {
			out = append(out, toJSON(sn))
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"snapshots": out})
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no snapshots yet: run `coffer backup now`")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT\tNOTEBOOK\tKIND\tSTATUS\tTAKEN\tSIZE\tROWS\tFILES\tVERIFIED\tLOCATIONS")
	for _, sn := range list {
		name := sn.Notebook
		if name == "" {
			name = "instance"
		}
		ver := "-"
		if sn.VerifiedAt != nil {
			ver = sn.VerifiedAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", sn.ID, name, sn.Kind, sn.Status, sn.StartedAt.Local().Format("2006-01-02 15:04:05"),
			humanBytes(sn.Size), sn.Rows, sn.Blobs, ver, strings.Join(sn.Locations, ","))
	}
	return tw.Flush()
}

// backupReport is `backup status` and GET /api/v1/backups/status.
type backupReport struct {
	Enabled bool `json:"enabled"`
	*schedule.Status
	Locations []locationReport `json:"locations"`
	Retention struct {
		Days   int `json:"days"`
		Months int `json:"months"`
	} `json:"retention"`
	Snapshots     int          `json:"snapshots"`
	SnapshotBytes int64        `json:"snapshot_bytes"`
	DrillEvery    string       `json:"drill_every"`
	NextDrill     time.Time    `json:"next_drill,omitzero"`
	LastDrill     *drill.Drill `json:"last_drill,omitempty"`
}

type locationReport struct {
	Name   string `json:"name"`
	Where  string `json:"where"`
	Locked bool   `json:"locked"`
}

// report gathers the status of b's backups; enabled says whether the
// worker runs (in the server).
func (b *backups) report(ctx context.Context, enabled bool) (*backupReport, error) {
	ws, err := b.worker.Status(ctx)
	if err != nil {
		return nil, err
	}
	r := &backupReport{Enabled: enabled, Status: ws, DrillEvery: b.cfg.every.String()}
	if !enabled {
		r.Next = time.Time{}
	}
	r.Locations = append(r.Locations, locationReport{"primary", describeLocation(b.cfg.url, b.dataDir), b.primary.Locked})
	if b.second != nil {
		r.Locations = append(r.Locations, locationReport{"second", describeLocation(b.cfg.copyURL, b.dataDir), b.second.Locked})
	}
	r.Retention.Days, r.Retention.Months = b.cfg.days, b.cfg.months
	list, err := b.snapshots(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, sn := range list {
		if sn.Status == backup.StatusGood {
			r.Snapshots++
			r.SnapshotBytes += sn.Size
		}
	}
	if r.LastDrill, err = drill.Last(ctx, b.st.Core); err != nil {
		return nil, err
	}
	if enabled {
		r.NextDrill = drill.NextAfter(r.LastDrill, b.cfg.every, time.Now())
	}
	return r, nil
}

func cmdBackupStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("backup status", stderr)
	asJSON := c.fs.Bool("json", false, "print JSON")
	b, done, err := c.open(ctx, args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	r, err := b.report(ctx, true)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	printReport(stdout, r)
	return nil
}

func printReport(w io.Writer, r *backupReport) {
	when := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }
	if r.Running != nil {
		fmt.Fprintf(w, "running:    %s run %s since %s: %d/%d, %s, %s\n", r.Running.Kind, r.Running.ID, when(r.Running.StartedAt),
			r.Running.Done, r.Running.Total, what(*r.Running), humanBytes(r.Running.Bytes))
	}
	if r.Last != nil {
		fmt.Fprintf(w, "last run:   %s\n", schedule.Describe(r.Last))
	} else {
		fmt.Fprintln(w, "last run:   none yet")
	}
	if r.LastGood != nil && (r.Last == nil || r.LastGood.ID != r.Last.ID) {
		fmt.Fprintf(w, "last good:  %s\n", when(r.LastGood.StartedAt))
	}
	if !r.Next.IsZero() {
		fmt.Fprintf(w, "next run:   %s (daily at %s, %s)\n", when(r.Next), r.At, r.Zone)
	}
	fmt.Fprintf(w, "snapshots:  %d good, %s; kept %d days and %d months\n", r.Snapshots, humanBytes(r.SnapshotBytes), r.Retention.Days, r.Retention.Months)
	for _, l := range r.Locations {
		lock := ""
		if l.Locked {
			lock = " (object lock: cannot delete)"
		}
		fmt.Fprintf(w, "location:   %s %s%s\n", l.Name, l.Where, lock)
	}
	if len(r.Locations) < 2 {
		fmt.Fprintln(w, "WARNING: no second location (--backup-copy-url): one disk or bucket holds every backup")
	}
	if d := r.LastDrill; d != nil {
		fmt.Fprintf(w, "last drill: %s %s at %s: %d notebook restore(s), longest %s; %d file blob(s) read\n", d.Status, d.ID, when(d.StartedAt),
			d.Notebooks, d.RestoreTime.Round(time.Millisecond), d.Blobs)
		if d.Error != "" {
			fmt.Fprintf(w, "            %s\n", d.Error)
		}
	} else {
		fmt.Fprintln(w, "last drill: none yet")
	}
	if !r.NextDrill.IsZero() {
		fmt.Fprintf(w, "next drill: %s (every %s)\n", when(r.NextDrill), r.DrillEvery)
	}
}

func cmdBackupVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("backup verify", stderr)
	snap := c.fs.String("snapshot", "", "only this snapshot (default: the newest good snapshot of the instance and of every notebook)")
	loc := c.fs.String("location", "", "only this location: primary or second (default: every location)")
	b, done, err := c.open(ctx, args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	var locs []string
	for _, l := range b.locations() {
		if *loc == "" || *loc == l.Name {
			locs = append(locs, l.Name)
		}
	}
	if len(locs) == 0 {
		return coffer.Errorf(coffer.EINVALID, "no location %q: primary, or second when --backup-copy-url is set", *loc)
	}
	var ids []string
	if *snap != "" {
		ids = []string{*snap}
	} else {
		ts, err := b.drillSource().Targets(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			ids = append(ids, t.Snapshot)
		}
	}
	if len(ids) == 0 {
		fmt.Fprintln(stdout, "no good snapshot to verify: run `coffer backup now`")
		return nil
	}
	bad := 0
	for _, id := range ids {
		for _, l := range locs {
			rep, err := b.svc.Verify(ctx, id, l)
			blobProblems := ""
			if err == nil && rep.OK && rep.Blobs > 0 {
				blobProblems = checkBlobs(ctx, b.svc, id, l)
			}
			switch {
			case err != nil:
				bad++
				fmt.Fprintf(stdout, "FAIL %s in %s: %s\n", id, l, describe(err))
			case !rep.OK:
				bad++
				fmt.Fprintf(stdout, "FAIL %s in %s: %s\n", id, l, strings.Join(rep.Problems, "; "))
			case blobProblems != "":
				bad++
				fmt.Fprintf(stdout, "FAIL %s in %s: %s\n", id, l, blobProblems)
			default:
				fmt.Fprintf(stdout, "ok   %s in %s: %d table(s), %d row(s), %s, %d file blob(s), %s\n", id, l, rep.Tables, rep.Rows, humanBytes(rep.Size),
					rep.Blobs, rep.Took.Round(time.Millisecond))
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d check(s) failed", bad)
	}
	return nil
}

// checkBlobs decrypts every file blob of snapshot id in location loc
// (backup.Service.CheckBlobs) and says what failed, naming file ids only;
// "" when all are intact.
func checkBlobs(ctx context.Context, svc *backup.Service, id, loc string) string {
	m, err := svc.Manifest(ctx, id, loc)
	if err != nil {
		return describe(err)
	}
	rep, err := svc.CheckBlobs(ctx, id, loc, m.Blobs)
	if err != nil {
		return describe(err)
	}
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.Error())
	}
	return strings.Join(out, "; ")
}

func cmdBackupDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("backup drill", stderr)
	b, done, err := c.open(ctx, args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	d, err := drill.Run(ctx, b.ledger, b.drillSource(), b.drillConfig(nil))
	if err != nil {
		return err
	}
	for _, ch := range d.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		what := ch.Step + " " + ch.Location
		if ch.Snapshot != "" {
			what += " " + ch.Snapshot
		}
		if ch.Step == "blobs" {
			what += fmt.Sprintf(" (%d read)", ch.Count)
		}
		line := fmt.Sprintf("%s %s %s", mark, what, ch.Took.Round(time.Millisecond))
		if ch.Error != "" {
			line += ": " + ch.Error
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "drill %s: %s; %d notebook restore(s), longest %s; %d file blob(s) read\n", d.ID, d.Status, d.Notebooks,
		d.RestoreTime.Round(time.Millisecond), d.Blobs)
	if d.Status != schedule.StatusGood {
		return fmt.Errorf("the drill failed: %s", d.Error)
	}
	return nil
}
