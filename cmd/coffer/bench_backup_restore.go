package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/value"
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
