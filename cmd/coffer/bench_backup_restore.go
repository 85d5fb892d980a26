package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/browse"
)

// restoreWhole decrypts the snapshot's image and loads it into new storage
// on the live backend, then checks that it holds the snapshot's rows.
func (res *backupResult) restoreWhole(ctx context.Context, cfg benchConfig, env *benchEnv, svc *backup.Service) error {
	stopProfile := profileStep(cfg, "backup restore")
	defer stopProfile()
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
	stopProfile()
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

// restoreRecord changes one record loaded before the snapshot, then
// restores it from the snapshot through the restore service (coffer's
// BackupService.Restore of chosen records: an upsert through the ordinary
// write path, one undoable action, an audit event), twice: first with no
// sandbox, so that the restore loads the snapshot into one (image
// decrypted, loaded into storage of its own: what the first restore from
// a snapshot costs), then again with that sandbox loaded (what each next
// record from the same snapshot costs, for SnapshotIdle). Each time the
// record must read back as it was.
func (res *backupResult) restoreRecord(ctx context.Context, env *benchEnv, svc *backup.Service, nb *backupNotebook) error {
	env.st.SetSnapshots(browse.Source(svc), time.Local)
	defer env.st.CloseSnapshots()
	owner := env.owner(ctx)
	id := nb.ids[len(nb.ids)/2]
	want, err := env.st.FindRecord(owner, nb.id, nb.table.ID, id)
	if err != nil {
		return err
	}
	for _, first := range []bool{true, false} {
		if _, err := env.st.UpdateRecord(owner, nb.id, nb.table.ID, id, map[string]any{"Title": "changed after the snapshot", "Amount": 0}, 0); err != nil {
			return err
		}
		start := time.Now()
		job, err := env.st.Restore(owner, nb.id, coffer.RestoreInput{Snapshot: res.snapshot.ID, Table: nb.table.ID, Records: []string{id}})
		if err != nil {
			return fmt.Errorf("backup: restore one record: %w", err)
		}
		took := time.Since(start)
		if job.Status != "done" || job.Result == nil || len(job.Result.Updated) != 1 {
			return fmt.Errorf("backup: restore one record: job %s, result %+v", job.Status, job.Result)
		}
		if first {
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
