package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

const restoreUsage = `Usage:
  coffer restore --notebook N --snapshot S|--at TIME [--table T] [--record R]… [--as-copy] [--preview] [--as EMAIL]
      restore from a snapshot (see coffer backup list): the whole notebook
      (in place, after an automatic safety snapshot, or --as-copy a new
      notebook), one table (in place, or --as-copy a new table), or chosen
      records (upsert; --preview shows the changes and writes nothing).
      Each restore is an action in the notebook's history and an event of
      the audit log, done as the notebook's owner (or --as, who needs the
      restore right). --at restores to a moment instead, from the write-ahead
      log the server ships (SQLite, --ship-every). Works beside a running
      server on the same --data.
  coffer restore --instance --from <location URL>
      disaster recovery onto an empty machine: into an empty --data (or
      --db), with the master key file of the lost instance in place
      (COFFER_MASTER_KEY_FILE or <data>/master.key), and its audit.key (and
      audit-checkpoints) in --data. Reads the keyring's
      backup and the newest good snapshot of the instance, then of every
      notebook, from the location (a directory: file:///…, or s3://…).
Both take the storage flags (--data or --db) and the location flags of
the server (--backup-url, --backup-copy-url, --blob-url).
`

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newBackupCmd("restore", stderr)
	flagsUsage := c.fs.Usage
	c.fs.Usage = func() {
		fmt.Fprint(c.fs.Output(), restoreUsage+"\n")
		flagsUsage()
	}
	if len(args) > 0 && args[0] == "help" {
		c.fs.SetOutput(stdout)
		c.fs.Usage()
		return nil
	}
	nb := c.fs.String("notebook", "", "the notebook to restore into (its id)")
	snap := c.fs.String("snapshot", "", "the snapshot to restore from (its id, see coffer backup list)")
	at := c.fs.String("at", "", "instead of --snapshot: the moment to restore to, from the shipped write-ahead log (RFC 3339, e.g. 2026-05-01T10:30:00Z; SQLite)")
	table := c.fs.String("table", "", "restore only this table (its id or name)")
	var records []string
	c.fs.Func("record", "restore only this record of --table (its id; repeat the flag for several)", func(s string) error {
		records = append(records, s)
		return nil
	})
	asCopy := c.fs.Bool("as-copy", false, "restore beside the live notebook or table, as a new one, instead of replacing it")
	preview := c.fs.Bool("preview", false, "with --record: show what would change, write nothing")
	as := c.fs.String("as", "", "the account (e-mail) the restore is done as: it needs the restore right (default: the notebook's owner)")
	instance := c.fs.Bool("instance", false, "disaster recovery: restore a whole instance into an empty --data or --db")
	from := c.fs.String("from", "", "with --instance: the backup location to restore from (file:///dir or s3://…)")
	if err := c.parse(args); err != nil {
		return err
	}
	if *instance {
		return cmdRestoreInstance(ctx, c, *from, stdout, stderr)
	}
	var atTime *time.Time
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil || *snap != "" {
			return fmt.Errorf("--at takes a time such as 2026-05-01T10:30:00Z, instead of --snapshot")
		}
		atTime = &t
	}
	if *nb == "" || (*snap == "" && atTime == nil) {
		fmt.Fprint(stderr, restoreUsage)
		return errUsage
	}
	b, done, err := c.openParsed(ctx, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	in := coffer.RestoreInput{Snapshot: *snap, At: atTime, Table: *table, Preview: *preview}
	if records != nil {
		in.Records = records
	}
	if *asCopy {
		in.Mode = coffer.RestoreCopy
	}
	return restoreNotebook(ctx, b, *nb, *as, in, stdout)
}

// cmdRestoreInstance restores a whole instance from a location into empty
// storage: the keyring's backup, the newest good instance snapshot, then
// the newest good snapshot of every notebook.
func cmdRestoreInstance(ctx context.Context, c *backupCmd, from string, stdout, stderr io.Writer) error {
	if from == "" {
		return fmt.Errorf("restore --instance needs --from <location URL>: the directory (file:///…) or bucket (s3://…) the backups are in")
	}
	keyPath := c.sc.masterKeyPath()
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore --instance needs the master key file of the lost instance at %s (or COFFER_MASTER_KEY_FILE): "+
			"backups are sealed under keys it wraps; without it they cannot be read", keyPath)
	}
	if _, err := os.Stat(filepath.Join(c.sc.dataDir, audit.KeyFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore --instance needs the audit log's signing key of the lost instance at %s: the restored log's checkpoints "+
			"are signed with it, and a server refuses another key. Copy %s (and %s, the checkpoints kept outside the database) there",
			filepath.Join(c.sc.dataDir, audit.KeyFile), audit.KeyFile, audit.CheckpointsFile)
	}
	if c.sc.dbURL == "" {
		if _, err := os.Stat(filepath.Join(c.sc.dataDir, "coffer.db")); err == nil {
			return fmt.Errorf("restore --instance restores into an empty data directory, and %s holds an instance: use another --data", c.sc.dataDir)
		}
	}
	st, closeStore, err := openCLIStore(ctx, c.sc, "restore", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	if n, err := st.CountUsers(ctx); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("restore --instance restores into empty storage, and this one has %d account(s)", n)
	}
	loc, err := openLocation(ctx, "primary", from, c.sc.dataDir)
	if err != nil {
		return err
	}
	defer loc.Store.Close()
	start := time.Now()
	tmp, err := os.MkdirTemp(tmpBase(c.sc.dataDir), "restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	svc := backup.New(st, backup.Config{Primary: loc, TempDir: tmp})
	rep, err := restoreInstance(ctx, st, svc, loc, tmp, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the instance from snapshot %s and %d notebook(s) in %s", rep.instance, rep.notebooks, time.Since(start).Round(time.Millisecond))
	if len(rep.missing) > 0 {
		fmt.Fprintf(stdout, "; %d notebook(s) had no usable snapshot and are empty: %v", len(rep.missing), rep.missing)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "file contents are not in this restore: copy the files store (--blob-url) from its own backup, or restore each file from a snapshot\n")
	return nil
}

// tmpBase is where restores decrypt images: inside the data directory
// (0700) when there is one.
func tmpBase(dataDir string) string {
	if fi, err := os.Stat(dataDir); err == nil && fi.IsDir() {
		return dataDir
	}
	return ""
}

type instanceRestore struct {
	instance  string
	notebooks int
	missing   []string
}

// restoreInstance does the work of cmdRestoreInstance on the opened,
// empty store st.
func restoreInstance(ctx context.Context, st *all.Store, svc *backup.Service, loc location.Location, tmp string, stdout io.Writer) (*instanceRestore, error) {
	kb, err := svc.LatestKeyring(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read the keyring's backup: %w", err)
	}
	n, err := st.Ring().Import(ctx, kb.Keys)
	if err != nil {
		return nil, fmt.Errorf("restore the keyring (is this the master key file of the lost instance?): %w", err)
	}
	fmt.Fprintf(stdout, "restored %d data key(s) from the keyring backup of %s\n", n, kb.TakenAt.Local().Format(time.RFC3339))
	ad, err := svc.Adopt(ctx, "")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "found %d snapshot(s) in %s", ad.Adopted, loc.Name)
	if len(ad.Unusable) > 0 {
		fmt.Fprintf(stdout, "; %d unusable (keys destroyed or damaged)", len(ad.Unusable))
	}
	fmt.Fprintln(stdout)
	var inst *backup.Snapshot
	list, err := svc.List(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, sn := range list {
		if sn.Status == backup.StatusGood {
			inst = sn
			break
		}
	}
	if inst == nil {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "the location holds no usable snapshot of the instance")
	}
	if err := loadInstanceImage(ctx, st, svc, inst.ID); err != nil {
		return nil, fmt.Errorf("instance snapshot %s: %w", inst.ID, err)
	}
	fmt.Fprintf(stdout, "restored the instance database from snapshot %s of %s\n", inst.ID, inst.StartedAt.Local().Format(time.RFC3339))
	rep := &instanceRestore{instance: inst.ID}
	nbs, err := allNotebooks(ctx, st)
	if err != nil {
		return nil, err
	}
	for i, nb := range nbs {
		snaps, err := svc.List(ctx, nb)
		if err != nil {
			return nil, err
		}
		var done bool
		for _, sn := range snaps {
			if sn.Status != backup.StatusGood {
				continue
			}
			if err := loadNotebook(ctx, svc, sn.ID, nb); err != nil {
				fmt.Fprintf(stdout, "notebook %s: snapshot %s failed (%s), trying an older one\n", nb, sn.ID, describe(err))
				continue
			}
			fmt.Fprintf(stdout, "%d/%d notebook %s from snapshot %s of %s\n", i+1, len(nbs), nb, sn.ID, sn.StartedAt.Local().Format(time.RFC3339))
			done = true
			break
		}
		if !done {
			if err := st.Backend().CreateNotebook(ctx, nb); err != nil {
				return nil, err
			}
			rep.missing = append(rep.missing, nb)
			continue
		}
		rep.notebooks++
	}
	return rep, nil
}

// loadNotebook decrypts snapshot id and loads it as notebook nb.
func loadNotebook(ctx context.Context, svc *backup.Service, id, nb string) error {
	path, cleanup, err := svc.Image(ctx, id, "")
	if err != nil {
		return err
	}
	defer cleanup()
	return svc.Load(ctx, path, nb)
}

// loadInstanceImage loads the instance image of snapshot id into st's
// empty instance database (whatever its backend), but for the data keys,
// which the keyring backup restored.
func loadInstanceImage(ctx context.Context, st *all.Store, svc *backup.Service, id string) error {
	path, cleanup, err := svc.Image(ctx, id, "")
	if err != nil {
		return err
	}
	defer cleanup()
	// Opening the empty store left markers (instance_secrets) that the
	// image holds too: the image's win.
	err = st.Write(ctx, st.Inst, "restore", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM "+st.Inst.Prefix+"instance_secrets")
		return err
	})
	if err != nil {
		return err
	}
	return svc.LoadInstance(ctx, path)
}
