package notebooks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/files"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// The defaults of FileConfig.
const (
	DefaultMaxFileSize      = 100 << 20 // 100 MiB per file
	DefaultMaxNotebookBytes = 10 << 30  // 10 GiB of files per notebook
	DefaultMaxOwnerBytes    = 50 << 30  // 50 GiB over the notebooks of one owner
	DefaultDeletedGrace     = 7 * 24 * time.Hour
	DefaultUploadGrace      = time.Hour
)

// FileConfig is where file contents go and how much of them is allowed.
// Zero values take the defaults.
type FileConfig struct {
	// Blobs stores the sealed contents; nil refuses uploads and
	// downloads (EUNAVAILABLE).
	Blobs blob.Store
	// MaxFileSize bounds one file, MaxNotebookBytes the files of one
	// notebook, MaxOwnerBytes those of all the notebooks one account owns
	// (notebooks belong to an owner, not to an organization), in bytes of
	// plaintext; files deleted but not yet collected count.
	MaxFileSize, MaxNotebookBytes, MaxOwnerBytes int64
	// DeletedGrace is how long a file out of its cell keeps its blob (an
	// undo brings it back meanwhile); UploadGrace how long a blob with no
	// file row (an upload that never committed) is left alone.
	DeletedGrace, UploadGrace time.Duration
}

func (c FileConfig) withDefaults() FileConfig {
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxNotebookBytes <= 0 {
		c.MaxNotebookBytes = DefaultMaxNotebookBytes
	}
	if c.MaxOwnerBytes <= 0 {
		c.MaxOwnerBytes = DefaultMaxOwnerBytes
	}
	if c.DeletedGrace <= 0 {
		c.DeletedGrace = DefaultDeletedGrace
	}
	if c.UploadGrace <= 0 {
		c.UploadGrace = DefaultUploadGrace
	}
	return c
}

// fileState is the service's file configuration.
type fileState struct {
	mu  sync.RWMutex
	cfg FileConfig
	// owners holds a mutex per owner account: the last check of the
	// owner's limit and the commit of an upload run one at a time.
	owners sync.Map
}

// SetFiles sets where files are stored and their limits. Call it before
// serving.
func (s *Service) SetFiles(cfg FileConfig) {
	s.fs.mu.Lock()
	s.fs.cfg = cfg.withDefaults()
	s.fs.mu.Unlock()
}

// FileConfig returns the file configuration in force.
func (s *Service) FileConfig() FileConfig {
	s.fs.mu.RLock()
	defer s.fs.mu.RUnlock()
	if s.fs.cfg.MaxFileSize == 0 {
		return FileConfig{}.withDefaults()
	}
	return s.fs.cfg
}

func (s *Service) blobs() (blob.Store, error) {
	b := s.FileConfig().Blobs
	if b == nil {
		return nil, coffer.Errorf(coffer.EUNAVAILABLE, "file storage is not configured on this server")
	}
	return b, nil
}

// BlobKey is the blob key of a file: derived from ids only, never from
// the file's name.
func BlobKey(notebook, file string) string { return "files/" + notebook + "/" + file }

// fileAAD is the associated data of a file's sealed key.
func fileAAD(id string) string { return "file:" + id }

var errFileNotFound = coffer.Errorf(coffer.ENOTFOUND, "file not found")

// fileRow is a row of _files.
type fileRow struct {
	coffer.FileInfo
	blobKey   string
	fileKey   []byte
	deletedAt int64
}

const fileCols = "id, table_id, record_id, column_id, name, size, type, sha256, blob_key, file_key, uploaded_by, created_at, deleted_at"

func scanFile(row interface{ Scan(...any) error }, nb string) (*fileRow, error) {
	f := &fileRow{}
	var created int64
	err := row.Scan(&f.ID, &f.Table, &f.Record, &f.Column, &f.Name, &f.Size, &f.Type, &f.SHA256, &f.blobKey, &f.fileKey, &f.UploadedBy, &created, &f.deletedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errFileNotFound
	}
	if err != nil {
		return nil, err
	}
	f.Notebook, f.CreatedAt, f.URL = nb, store.FromMicros(created), coffer.FileURL(f.ID)
	return f, nil
}

func (s *Service) loadFile(ctx context.Context, q catalog.Querier, db *store.DB, nb, id string) (*fileRow, error) {
	return scanFile(q.QueryRowContext(ctx, s.Rebind("SELECT "+fileCols+" FROM "+db.Prefix+"_files WHERE id = ?"), id), nb)
}

// cellFiles reads the files a file cell lists, unmasked. With lock (in
// a write that changes the cell) the record's row stays locked until the
// write ends (PostgreSQL; SQLite has one writer), so that two changes of
// one cell never both start from the same list.
func (s *Service) cellFiles(ctx context.Context, q catalog.Querier, tm *catalog.TableMeta, cm *catalog.ColMeta, record string, lock bool) ([]coffer.File, bool, error) {
	var raw any
	suffix := ""
	if lock {
		suffix = s.Dialect.LockRows(true)
	}
	err := q.QueryRowContext(ctx, s.Rebind("SELECT "+cm.Phys+" FROM "+tm.SQL+" t WHERE t.id = ?"+suffix), record).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	list, ok := value.DecodeFiles(raw)
	if !ok {
		return nil, false, fmt.Errorf("file cell %s of %s: unreadable", cm.Column.ID, record)
	}
	return list, true, nil
}

func listsFile(list []coffer.File, id string) bool {
	return slices.ContainsFunc(list, func(f coffer.File) bool { return f.ID == id })
}

// fileColumn finds a file column of table tp the caller can see.
func fileColumn(tp *catalog.TablePlan, column string) (*catalog.ColMeta, error) {
	cm := tp.Visible(column)
	if cm == nil || cm.Column.Type != coffer.TypeFile {
		return nil, coffer.Invalid("not a file column", coffer.FieldError{Field: "column", Message: "is not a file column of this table"})
	}
	return cm, nil
}

// mayWriteCell checks, outside a write, that the caller may change column
// cm of record id (the row as it is now): the early refusal of an upload,
// before its content is read. The write checks again.
func (s *Service) mayWriteCell(ctx context.Context, q catalog.Querier, tm *catalog.TableMeta, tp *catalog.TablePlan, cm *catalog.ColMeta, id string) error {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return catalog.ErrRecordNotFound
	}
	if tp.Full() {
		var one int
		err := q.QueryRowContext(ctx, s.Rebind("SELECT 1 FROM "+tm.SQL+" WHERE id = ?"), id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return catalog.ErrRecordNotFound
		}
		return err
	}
	found, vals, err := s.CondsOn(ctx, q, tp, id)
	if err != nil {
		return err
	}
	if !found || !catalog.AnyOf(vals, catalog.AllConds(tp)) {
		return catalog.ErrRecordNotFound
	}
	if len(catalog.Keep(vals, tp.Decision.Writers([]string{cm.Column.ID}))) == 0 {
		return coffer.Errorf(coffer.EFORBIDDEN, "you may not change %s of this record", cm.Column.Name)
	}
	return nil
}

// filesBytes sums the sizes of a notebook's files, deleted ones not yet
// collected included.
func (s *Service) filesBytes(ctx context.Context, q catalog.Querier, db *store.DB) (int64, error) {
	var n sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT SUM(size) FROM "+db.Prefix+"_files").Scan(&n)
	return n.Int64, err
}

// ownerBytes sums the files of every notebook owner owns.
func (s *Service) ownerBytes(ctx context.Context, owner string) (int64, error) {
	ids, err := catalog.Strings(s.Inst.R.QueryContext(ctx, s.Rebind("SELECT id FROM "+s.Inst.Prefix+"notebooks WHERE owner_id = ?"), owner))
	if err != nil {
		return 0, err
	}
	var total int64
	for _, id := range ids {
		db, release, err := s.Storage.Notebook(ctx, id)
		if err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				continue
			}
			return 0, err
		}
		n, err := s.filesBytes(ctx, db.R, db)
		release()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// lockOwner serializes, across the notebooks of one owner, the last
// check of the owner's limit and the commit of an upload: a mutex per
// owner in this process (SQLite is one process), and on PostgreSQL, for
// several nodes, the owner's row of users locked in a short transaction
// of the instance database until release. Whoever takes it next sees
// the committed upload in the owner's total.
func (s *Service) lockOwner(ctx context.Context, owner string) (func(), error) {
	v, _ := s.fs.owners.LoadOrStore(owner, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	suffix := s.Dialect.LockRows(true)
	if suffix == "" {
		return mu.Unlock, nil
	}
	tx, err := s.Inst.W.BeginTx(ctx, nil)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	var one int
	err = tx.QueryRowContext(ctx, s.Rebind("SELECT 1 FROM "+s.Inst.Prefix+"users WHERE id = ?"+suffix), owner).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		tx.Rollback()
		mu.Unlock()
		return nil, err
	}
	return func() {
		tx.Rollback()
		mu.Unlock()
	}, nil
}

// limitErr is the error of an upload over a limit.
func limitErr(what string, limit int64) error {
	return coffer.Errorf(coffer.ETOOLARGE, "the file is larger than %s allows (%d bytes)", what, limit)
}

// sealedUpload is what putSealed stored.
type sealedUpload struct {
	size int64
	sum  [32]byte
	head []byte
}

// putSealed encrypts r in chunks under key into the blob key, reading at
// most max bytes (more is ETOOLARGE, and nothing stays stored). Memory
// stays flat: the plaintext is read into the sealed writer's chunk
// buffer, and each sealed chunk is written whole to the blob store's
// writer (blob.PutWith: the local store's file, without a pipe).
func putSealed(ctx context.Context, b blob.Store, bkey, fileID string, key []byte, r io.Reader, max int64, over error) (*sealedUpload, error) {
	out := &sealedUpload{}
	errOver := errors.New("over the limit")
	_, err := blob.PutWith(ctx, b, bkey, func(bw io.Writer) error {
		w, err := sealed.NewWriter(bw, key, fileID)
		if err != nil {
			return err
		}
		head := &headReader{r: &io.LimitedReader{R: r, N: max + 1}, n: files.SniffLen}
		n, err := w.ReadFrom(head)
		if err == nil && n > max {
			err = errOver
		}
		if err == nil {
			err = w.Close()
		} else {
			w.Abandon() // no write may outlive this function
		}
		if err == nil {
			out.size, out.sum, out.head = w.Size(), w.Sum(), head.b
		}
		return err
	})
	if err != nil {
		b.Delete(context.WithoutCancel(ctx), bkey)
		if errors.Is(err, errOver) {
			return nil, over
		}
		var ce *coffer.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		if ctx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, coffer.Errorf(coffer.EINVALID, "the upload was cut short")
		}
		return nil, &coffer.Error{Code: coffer.EINVALID, Message: "the upload could not be read", Op: "putSealed", Err: err}
	}
	return out, nil
}

// headReader reads r and keeps the first n bytes read.
type headReader struct {
	r io.Reader
	n int
	b []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	m, err := h.r.Read(p)
	if room := h.n - len(h.b); room > 0 && m > 0 {
		h.b = append(h.b, p[:min(room, m)]...)
	}
	return m, err
}

// UploadFile streams a file into a file cell.
func (s *Service) UploadFile(ctx context.Context, notebook, table, record, column string, up coffer.FileUpload) (*coffer.File, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.blobs()
	if err != nil {
		return nil, err
	}
	cfg := s.FileConfig()
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("UploadFile", err)
	}
	if err := store.Writable(ctx, true); err != nil { // a read-only API key: before any byte is read
		nc.Release()
		return nil, err
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return nil, err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return nil, err
	}
	cm, err := fileColumn(tp, column)
	if err != nil {
		return nil, err
	}
	if err := s.mayWriteCell(ctx, nc.DB.R, tm, tp, cm, record); err != nil {
		return nil, s.Wrap("UploadFile", err)
	}
	used, err := s.filesBytes(ctx, nc.DB.R, nc.DB)
	if err != nil {
		return nil, s.Wrap("UploadFile", err)
	}
	owned, err := s.ownerBytes(ctx, nc.Notebook.OwnerID)
	if err != nil {
		return nil, s.Wrap("UploadFile", err)
	}
	max, over := cfg.MaxFileSize, limitErr("the limit per file", cfg.MaxFileSize)
	if left := cfg.MaxNotebookBytes - used; left < max {
		max, over = left, coffer.Errorf(coffer.ETOOLARGE, "the notebook's files would pass its limit of %d bytes", cfg.MaxNotebookBytes)
	}
	if left := cfg.MaxOwnerBytes - owned; left < max {
		max, over = left, coffer.Errorf(coffer.ETOOLARGE, "the files of the notebooks of this owner would pass their limit of %d bytes", cfg.MaxOwnerBytes)
	}
	if max < 0 {
		return nil, over
	}

	id := coffer.NewFileID(nc.Notebook.ID)
	key := make([]byte, sealed.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, coffer.Internal("UploadFile", err)
	}
	wrapped, err := s.Keys.Seal(ctx, nc.Notebook.ID, fileAAD(id), key)
	if err != nil {
		return nil, s.Wrap("UploadFile", err)
	}
	bkey := BlobKey(nc.Notebook.ID, id)
	put, err := putSealed(ctx, b, bkey, id, key, up.Body, max, over)
	clear(key)
	if err != nil {
		return nil, err
	}
	f := coffer.File{ID: id, Name: files.CleanName(up.Name), Size: put.size, Type: files.DetectType(put.head, up.Type),
		SHA256: hex.EncodeToString(put.sum[:]), URL: coffer.FileURL(id)}
	// The owner's total is checked again, with the size known, under the
	// owner's lock held until the commit: parallel uploads into several
	// notebooks of one owner cannot pass the owner's limit together.
	unlock, err := s.lockOwner(ctx, nc.Notebook.OwnerID)
	if err != nil {
		b.Delete(context.WithoutCancel(ctx), bkey)
		return nil, s.Wrap("UploadFile", err)
	}
	defer unlock()
	if owned, err := s.ownerBytes(ctx, nc.Notebook.OwnerID); err != nil {
		b.Delete(context.WithoutCancel(ctx), bkey)
		return nil, s.Wrap("UploadFile", err)
	} else if owned+f.Size > cfg.MaxOwnerBytes {
		b.Delete(context.WithoutCancel(ctx), bkey)
		return nil, coffer.Errorf(coffer.ETOOLARGE, "the files of the notebooks of this owner would pass their limit of %d bytes", cfg.MaxOwnerBytes)
	}
	// Uploads to one notebook run one at a time (recordWriteLocked), so
	// that two cannot both pass the notebook's limit.
	err = s.recordWriteLocked(ctx, notebook, tm.Table.ID, "UploadFile", 1, true, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		cm, err := fileColumn(tp, cm.Column.ID)
		if err != nil {
			return nil, err
		}
		if used, err := s.filesBytes(ctx, tx, nc.DB); err != nil {
			return nil, err
		} else if used+f.Size > cfg.MaxNotebookBytes {
			return nil, coffer.Errorf(coffer.ETOOLARGE, "the notebook's files would pass its limit of %d bytes", cfg.MaxNotebookBytes)
		}
		list, found, err := s.cellFiles(ctx, tx, tm, cm, record, true)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, catalog.ErrRecordNotFound
		}
		if len(list) >= value.MaxFiles {
			return nil, coffer.Invalid("too many files", coffer.FieldError{Field: "file", Message: fmt.Sprintf("the cell already holds %d files, the most it can", value.MaxFiles)})
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+nc.DB.Prefix+"_files ("+fileCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"),
			f.ID, tm.Table.ID, record, cm.Column.ID, f.Name, f.Size, f.Type, f.SHA256, bkey, wrapped, c.UserID, s.NowMicros()); err != nil {
			return nil, err
		}
		rec.Begin(history.KindFileUpload, tm.Table.ID, fmt.Sprintf("uploaded %s to %s of a record in %s", f.Name, cm.Column.Name, tm.Table.Name))
		return s.setFiles(ctx, tx, rec, sc, tm, tp, by, record, cm, append(list, f))
	})
	if err != nil {
		b.Delete(context.WithoutCancel(ctx), bkey)
		return nil, err
	}
	return &f, nil
}

// filesKept refuses (EFILEGONE) assignments that list in a file cell a
// file the orphan collection removed: its row and its blob are gone, so
// an undo, redo, revert or restore would bring back an entry whose
// content cannot be read. The collection deletes a file's row before its
// blob, so a row found here means the blob is still kept.
func (s *Service) filesKept(ctx context.Context, q catalog.Querier, prefix string, as []catalog.Assignment) error {
	for _, a := range as {
		if a.Col.Column.Type != coffer.TypeFile || a.Value == nil {
			continue
		}
		list, ok := value.DecodeFiles(a.Value)
		if !ok {
			return fmt.Errorf("file cell %s: unreadable value", a.Col.Column.ID)
		}
		for _, f := range list {
			var one int
			err := q.QueryRowContext(ctx, s.Rebind("SELECT 1 FROM "+prefix+"_files WHERE id = ?"), f.ID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return coffer.Errorf(coffer.EFILEGONE, "the file %q of %s was removed for good after its grace period: its content is gone, so nothing was changed", f.Name, a.Col.Column.Name)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// setFiles writes a file cell as a change of the record, checked by the
// access engine like any write of that cell.
func (s *Service) setFiles(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by, record string, cm *catalog.ColMeta, list []coffer.File) ([]live.Event, error) {
	oe, err := s.updateAssignTx(ctx, tx, rec, sc, tm, tp, by, record, []catalog.Assignment{{Col: cm, Value: value.EncodeFiles(list)}}, 0, "")
	if err != nil {
		return nil, err
	}
	if oe != nil {
		return nil, singleError(oe)
	}
	var version int64
	if err := tx.QueryRowContext(ctx, s.Rebind("SELECT version FROM "+tm.SQL+" WHERE id = ?"), record).Scan(&version); err != nil {
		return nil, err
	}
	return []live.Event{{Record: record, Op: live.OpUpdate, Version: version, Cols: []string{cm.Column.ID}}}, nil
}

// DeleteFile removes a file from its cell.
func (s *Service) DeleteFile(ctx context.Context, id string) error {
	sf, err := s.visibleFile(ctx, "DeleteFile", id)
	if err != nil {
		return err
	}
	notebook, table, column, record, prefix := sf.nc.Notebook.ID, sf.tm.Table.ID, sf.cm.Column.ID, sf.row.Record, sf.nc.DB.Prefix
	sf.nc.Release()
	return s.recordWrite(ctx, notebook, table, "DeleteFile", 1, func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		cm := tp.Visible(column)
		if cm == nil || cm.Column.ID != column {
			return nil, errFileNotFound
		}
		r, err := s.ReadAs(ctx, tx, tm, tp, record)
		if err != nil {
			return nil, err
		}
		seen, _ := r.Fields[cm.Column.Name].([]coffer.File)
		list, _, err := s.cellFiles(ctx, tx, tm, cm, record, true)
		if err != nil {
			return nil, err
		}
		if !listsFile(seen, id) || !listsFile(list, id) {
			return nil, errFileNotFound
		}
		var name string
		list = slices.DeleteFunc(list, func(f coffer.File) bool {
			if f.ID == id {
				name = f.Name
				return true
			}
			return false
		})
		rec.Begin(history.KindFileDelete, tm.Table.ID, fmt.Sprintf("deleted %s from %s of a record in %s", name, cm.Column.Name, tm.Table.Name))
		evs, err := s.setFiles(ctx, tx, rec, sc, tm, tp, by, record, cm, list)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+prefix+"_files SET deleted_at = ? WHERE id = ?"), s.NowMicros(), id)
		return evs, err
	})
}
