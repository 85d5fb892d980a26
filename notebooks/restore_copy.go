package notebooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/value"
)

// The files of a notebook restored as a copy. A file's id names its
// notebook (coffer.FileNotebook), its content is sealed under a key of its
// own bound to its id, and that key is wrapped under the notebook's key.
// So each file the copy holds becomes a new file of the copy: a new id of
// the copy, its content read under the original's key and sealed again
// under a new key wrapped under the copy's key, into a blob of the copy;
// the cells that list it name the new id. The copy then owes nothing to
// the original: deleting (shredding) the original leaves it whole.
// Files deleted before the snapshot (in the original's trash) are not
// carried over. The copy's history still names the original's file ids.

// rekeyCopy gives the copy cp (loaded, not yet registered) files of its
// own, from notebook nb's snapshot sn. It returns the blobs it wrote, for
// removal if the copy fails after.
func (s *Service) rekeyCopy(ctx context.Context, nb, sn, cp string) (written []string, err error) {
	db, release, err := s.Storage.Notebook(ctx, cp)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := db.R.QueryContext(ctx, "SELECT "+fileCols+" FROM "+db.Prefix+"_files")
	if err != nil {
		return nil, err
	}
	var list []*fileRow
	for rows.Next() {
		f, err := scanFile(rows, nb)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	renamed := map[string]string{}
	type newRow struct {
		id, bkey string
		wrapped  []byte
	}
	var rekeyed []newRow
	var old []string
	defer func() {
		if err != nil {
			if b, berr := s.blobs(); berr == nil {
				for _, k := range written {
					_ = b.Delete(context.WithoutCancel(ctx), k)
				}
			}
			written = nil
		}
	}()
	for _, f := range list {
		if f.deletedAt != 0 {
			continue
		}
		id := coffer.NewFileID(cp)
		bkey, wrapped, err := s.resealFile(ctx, nb, sn, cp, f, id)
		if err != nil {
			return written, err
		}
		written = append(written, bkey)
		renamed[f.ID] = id
		rekeyed = append(rekeyed, newRow{id, bkey, wrapped})
		old = append(old, f.ID)
	}
	sc, err := s.LoadSchema(ctx, cp, db.Prefix, db.R)
	if err != nil {
		return written, err
	}
	err = s.Write(ctx, db, "RestoreNotebook", func(tx *store.WriteTx) error {
		p := db.Prefix
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+p+"_files WHERE deleted_at <> 0"); err != nil {
			return err
		}
		for i, r := range rekeyed {
			if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"_files SET id = ?, blob_key = ?, file_key = ? WHERE id = ?"), r.id, r.bkey, r.wrapped, old[i]); err != nil {
				return err
			}
		}
		for _, tm := range sc.Tables {
			for _, cm := range tm.Cols {
				if cm.Column.Type != coffer.TypeFile || cm.Phys == "" {
					continue
				}
				if err := s.renameCellFiles(ctx, tx, tm.SQL, cm.Phys, renamed); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return written, err
}

// renameCellFiles rewrites the file cells of column phys of table (SQL
// names) to the files' new ids.
func (s *Service) renameCellFiles(ctx context.Context, tx *store.WriteTx, table, phys string, renamed map[string]string) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, "+phys+" FROM "+table+" WHERE "+phys+" IS NOT NULL")
	if err != nil {
		return err
	}
	type cell struct {
		id string
		v  any
	}
	var cells []cell
	for rows.Next() {
		var id string
		var v any
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return err
		}
		files, ok := value.DecodeFiles(v)
		if !ok || len(files) == 0 {
			continue
		}
		kept := files[:0]
		for _, f := range files {
			if n := renamed[f.ID]; n != "" {
				f.ID = n
				kept = append(kept, f)
			}
		}
		cells = append(cells, cell{id, value.EncodeFiles(kept)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cells {
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+table+" SET "+phys+" = ? WHERE id = ?"), c.v, c.id); err != nil {
			return err
		}
	}
	return nil
}

// resealFile reads file f of notebook nb (from the files store, or from
// snapshot sn's blobs when the store lost it) and seals it again as file
// id of notebook cp; it returns the new blob's key and the new file key
// wrapped under cp's key.
func (s *Service) resealFile(ctx context.Context, nb, sn, cp string, f *fileRow, id string) (string, []byte, error) {
	b, err := s.blobs()
	if err != nil {
		return "", nil, err
	}
	open := func(off, n int64) (io.ReadCloser, error) { return b.Open(ctx, f.blobKey, off, n) }
	if _, err := b.Stat(ctx, f.blobKey); coffer.ErrorCode(err) == coffer.ENOTFOUND {
		src, _, err := s.source()
		if err != nil {
			return "", nil, err
		}
		fs, ok := src.(coffer.SnapshotFiles)
		if !ok {
			return "", nil, coffer.Errorf(coffer.ENOTFOUND, "a file of the snapshot is lost and the snapshot does not keep files")
		}
		macKey, err := s.Keys.Derive(ctx, nb, blobIDPurpose)
		if err != nil {
			return "", nil, err
		}
		cid := blobs.ContentID(macKey, f.ID, f.SHA256)
		clear(macKey)
		rc, err := fs.FetchFile(ctx, sn, cid)
		if err != nil {
			return "", nil, err
		}
		data, err := io.ReadAll(io.LimitReader(rc, sealed.SealedSize(f.Size)+1))
		rc.Close()
		if err != nil {
			return "", nil, err
		}
		open = func(off, n int64) (io.ReadCloser, error) {
			if off < 0 || off > int64(len(data)) {
				return nil, errors.New("read outside the file")
			}
			end := int64(len(data))
			if n >= 0 && off+n < end {
				end = off + n
			}
			return io.NopCloser(bytes.NewReader(data[off:end])), nil
		}
	} else if err != nil {
		return "", nil, err
	}
	key, err := s.Keys.Open(ctx, nb, fileAAD(f.ID), f.fileKey)
	if err != nil {
		return "", nil, s.integrity(f, err)
	}
	rd, err := sealed.NewReader(open, sealed.SealedSize(f.Size), key, f.ID)
	clear(key)
	if err != nil {
		return "", nil, s.integrity(f, err)
	}
	nkey := make([]byte, sealed.KeySize)
	if _, err := rand.Read(nkey); err != nil {
		return "", nil, err
	}
	defer clear(nkey)
	wrapped, err := s.Keys.Seal(ctx, cp, fileAAD(id), nkey)
	if err != nil {
		return "", nil, err
	}
	bkey := BlobKey(cp, id)
	plain, err := rd.ReadRange(0, f.Size)
	if err != nil {
		return "", nil, s.integrity(f, err)
	}
	defer plain.Close()
	put, err := putSealed(ctx, b, bkey, id, nkey, plain, f.Size, coffer.Errorf(coffer.EINTEGRITY, "a file is longer than recorded"))
	if err != nil {
		return "", nil, err
	}
	if put.size != f.Size || hex.EncodeToString(put.sum[:]) != f.SHA256 {
		_ = b.Delete(context.WithoutCancel(ctx), bkey)
		return "", nil, s.integrity(f, sealed.ErrIntegrity)
	}
	return bkey, wrapped, nil
}
