package notebooks

import (
	"context"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// blobIDPurpose is the purpose of the key under which backups name file
// blobs (content ids), as package backup derives it.
const blobIDPurpose = "backup blob ids"

// RestoreFile brings one file back from a snapshot: its sealed content
// into the files store (from the snapshot's blobs, when the files store no
// longer has it), its row, and its place in its cell (appended to the
// cell's files through the ordinary write path, as one undoable action).
// The caller must be able to read that cell in the snapshot and write it
// today. ENOTFOUND for a file the snapshot does not hold or shows them.
func (s *Service) RestoreFile(ctx context.Context, notebook, snapshot, fileID string) (*coffer.Restored, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	bctx, release, err := s.BrowseSnapshot(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	defer release()
	if !strings.HasPrefix(fileID, coffer.PrefixFile) || !validSnapshotID(fileID) {
		return nil, errFileNotFound
	}
	nc, err := s.OpenNotebook(bctx, notebook)
	if err != nil {
		return nil, err
	}
	old, err := s.loadFile(bctx, nc.DB.R, nc.DB, notebook, fileID)
	nc.Release()
	if err != nil {
		return nil, err
	}
	if old.deletedAt != 0 {
		return nil, errFileNotFound // already deleted at snapshot time
	}
	st, err := s.readSnapTable(bctx, notebook, old.Table, []string{old.Record})
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, errFileNotFound
		}
		return nil, err
	}
	if row := st.visible[old.Record]; row == nil || !row.canRead(old.Column) {
		return nil, errFileNotFound
	}
	// Today's rights before anything is written, the blob included.
	if err := s.mayRestoreFileInto(ctx, notebook, old); err != nil {
		return nil, err
	}
	b, err := s.blobs()
	if err != nil {
		return nil, err
	}
	if _, err := b.Stat(ctx, old.blobKey); coffer.ErrorCode(err) == coffer.ENOTFOUND {
		src, _, err := s.source()
		if err != nil {
			return nil, err
		}
		fs, ok := src.(coffer.SnapshotFiles)
		if !ok {
			return nil, coffer.Errorf(coffer.ENOTFOUND, "this snapshot does not keep files")
		}
		macKey, err := s.Keys.Derive(ctx, notebook, blobIDPurpose)
		if err != nil {
			return nil, s.Wrap("RestoreFile", err)
		}
		cid := blobs.ContentID(macKey, fileID, old.SHA256)
		clear(macKey)
		rc, err := fs.FetchFile(ctx, snapshot, cid)
		if err != nil {
			return nil, s.Wrap("RestoreFile", err)
		}
		_, err = b.Put(ctx, old.blobKey, rc)
		rc.Close()
		if err != nil {
			return nil, s.Wrap("RestoreFile", err)
		}
	} else if err != nil {
		return nil, s.Wrap("RestoreFile", err)
	}
	res := &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}}
	err = s.recordWriteLocked(ctx, notebook, old.Table, "RestoreFile", 1, true, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		cm, err := fileColumn(tp, old.Column)
		if err != nil {
			return nil, catalog.ErrRecordNotFound
		}
		list, found, err := s.cellFiles(ctx, tx, tm, cm, old.Record, true)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, coffer.Errorf(coffer.ENOTFOUND, "the file's record no longer exists: restore the record first")
		}
		p := tp.Prefix
		cur, err := scanFile(tx.QueryRowContext(ctx, s.Rebind("SELECT "+fileCols+" FROM "+p+"_files WHERE id = ?"), fileID), notebook)
		switch {
		case coffer.ErrorCode(err) == coffer.ENOTFOUND:
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+p+"_files ("+fileCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"),
				old.ID, old.Table, old.Record, old.Column, old.Name, old.Size, old.Type, old.SHA256, old.blobKey, old.fileKey, old.UploadedBy, old.CreatedAt.UnixMicro()); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		case cur.deletedAt != 0:
			if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"_files SET deleted_at = 0 WHERE id = ?"), fileID); err != nil {
				return nil, err
			}
		}
		for _, f := range list {
			if f.ID == fileID {
				return nil, nil // in its cell already
			}
		}
		rec.Begin(history.KindRevert, tm.Table.ID, fmt.Sprintf("restored %s to %s of a record in %s from snapshot %s", old.Name, cm.Column.Name, tm.Table.Name, snapshot))
		res.Updated = append(res.Updated, old.Record)
		return s.setFiles(ctx, tx, rec, sc, tm, tp, by, old.Record, cm, append(list, old.File))
	})
	if err != nil {
		return nil, err
	}
	return res, s.auditRestore(ctx, fmt.Sprintf("restored file %s of notebook %s from snapshot %s", fileID, notebook, snapshot))
}

// mayRestoreFileInto checks, before a file restore writes anything, that
// the caller may change the file's cell today (the write checks again).
func (s *Service) mayRestoreFileInto(ctx context.Context, notebook string, f *fileRow) error {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return err
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(f.Table)
	if err != nil {
		return err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return err
	}
	cm, err := fileColumn(tp, f.Column)
	if err != nil {
		return catalog.ErrRecordNotFound
	}
	err = s.mayWriteCell(ctx, nc.DB.R, tm, tp, cm, f.Record)
	if err == catalog.ErrRecordNotFound {
		return coffer.Errorf(coffer.ENOTFOUND, "the file's record no longer exists: restore the record first")
	}
	return err
}
