package notebooks

// The orphan collection of files.

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// CollectFiles is the orphan collection of files, for every notebook:
// a file that its cell no longer lists (deleted, its record or column
// deleted) is marked deleted; one marked longer than DeletedGrace ago
// loses its blob, its links and its row; one listed again (an undo) is
// unmarked. Then blobs under "files/" with no file row, older than
// UploadGrace (uploads that never committed), are deleted. It returns
// the number of blobs deleted.
func (s *Service) CollectFiles(ctx context.Context) (int, error) {
	b, err := s.blobs()
	if err != nil {
		return 0, err
	}
	cfg := s.FileConfig()
	ids, err := catalog.Strings(s.Inst.R.QueryContext(ctx, "SELECT id FROM "+s.Inst.Prefix+"notebooks ORDER BY id"))
	if err != nil {
		return 0, s.Wrap("CollectFiles", err)
	}
	deleted := 0
	for _, nb := range ids {
		n, err := s.collectNotebook(ctx, b, cfg, nb)
		deleted += n
		if err != nil {
			return deleted, s.Wrap("CollectFiles", err)
		}
	}
	known := map[string]bool{}
	for _, nb := range ids {
		known[nb] = true
	}
	n, err := blob.Collect(ctx, b, "files/", s.Now().Add(-cfg.UploadGrace), func(key string) (bool, error) {
		parts := strings.Split(key, "/")
		if len(parts) != 3 || !known[parts[1]] {
			return false, nil
		}
		db, release, err := s.Storage.Notebook(ctx, parts[1])
		if err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return false, nil
			}
			return false, err
		}
		defer release()
		var one int
		err = db.R.QueryRowContext(ctx, s.Rebind("SELECT 1 FROM "+db.Prefix+"_files WHERE id = ?"), parts[2]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return deleted + n, s.Wrap("CollectFiles", err)
}

// collectNotebook runs the collection of one notebook's files.
func (s *Service) collectNotebook(ctx context.Context, b blob.Store, cfg FileConfig, nb string) (int, error) {
	db, release, err := s.Storage.Notebook(ctx, nb)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return 0, nil
		}
		return 0, err
	}
	defer release()
	now := s.NowMicros()
	var doomed []*fileRow
	err = s.Write(ctx, db, "CollectFiles", func(tx *store.WriteTx) error {
		doomed = nil
		sc, err := s.LoadSchema(ctx, nb, db.Prefix, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+fileCols+" FROM "+db.Prefix+"_files")
		if err != nil {
			return err
		}
		var all []*fileRow
		for rows.Next() {
			f, err := scanFile(rows, nb)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range all {
			listed := false
			if tm := sc.ByID[f.Table]; tm != nil {
				if cm := tm.Column(f.Column); cm != nil && cm.Column.ID == f.Column {
					list, _, err := s.cellFiles(ctx, tx, tm, cm, f.Record, false)
					if err != nil {
						return err
					}
					listed = listsFile(list, f.ID)
				}
			}
			var mark any
			switch {
			case listed && f.deletedAt != 0:
				mark = int64(0)
			case !listed && f.deletedAt == 0:
				mark = now
			case !listed && f.deletedAt <= now-cfg.DeletedGrace.Microseconds():
				doomed = append(doomed, f)
			}
			if mark != nil {
				if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+db.Prefix+"_files SET deleted_at = ? WHERE id = ?"), mark, f.ID); err != nil {
					return err
				}
			}
		}
		for _, f := range doomed {
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+db.Prefix+"_file_links WHERE file_id = ?"), f.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+db.Prefix+"_files WHERE id = ?"), f.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// The rows go first: a blob whose row is gone is an orphan the next
	// collection removes if this delete fails.
	n := 0
	for _, f := range doomed {
		// Only this notebook's own blobs: a notebook restored as a copy
		// holds rows naming the original's (which stay the original's).
		if f.blobKey != BlobKey(nb, f.ID) {
			continue
		}
		if err := b.Delete(ctx, f.blobKey); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
