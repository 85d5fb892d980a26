package notebooks

// Downloads: which file a caller may see, and its content opened and checked.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/store/catalog"
)

// seenFile is a file the caller may read, with what serves it.
type seenFile struct {
	row *fileRow
	nc  *catalog.Conn
	tm  *catalog.TableMeta
	tp  *catalog.TablePlan
	cm  *catalog.ColMeta
}

// visibleFile finds file id as the caller sees it: its notebook, table,
// column and row visible, its cell readable there and listing it. Any
// failure is ENOTFOUND, as for a missing file. The caller releases nc.
func (s *Service) visibleFile(ctx context.Context, op, id string) (*seenFile, error) {
	nb := coffer.FileNotebook(id)
	if nb == "" {
		return nil, errFileNotFound
	}
	nc, err := s.OpenNotebook(ctx, nb)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, errFileNotFound
		}
		return nil, s.Wrap(op, err)
	}
	sf, err := s.visibleIn(ctx, nc, nc.DB.R, id)
	if err != nil {
		nc.Release()
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, errFileNotFound
		}
		return nil, s.Wrap(op, err)
	}
	return sf, nil
}

func (s *Service) visibleIn(ctx context.Context, nc *catalog.Conn, q catalog.Querier, id string) (*seenFile, error) {
	row, err := s.loadFile(ctx, q, nc.DB, nc.Notebook.ID, id)
	if err != nil {
		return nil, err
	}
	tm := nc.Schema.ByID[row.Table]
	if tm == nil {
		return nil, errFileNotFound
	}
	tp, err := s.Plan(ctx, nc, q, tm)
	if err != nil {
		return nil, err
	}
	cm := tp.Visible(row.Column)
	if cm == nil || cm.Column.ID != row.Column || cm.Column.Type != coffer.TypeFile {
		return nil, errFileNotFound
	}
	r, err := s.ReadAs(ctx, q, tm, tp, row.Record)
	if err != nil {
		return nil, err
	}
	list, _ := r.Fields[cm.Column.Name].([]coffer.File)
	if !listsFile(list, id) {
		return nil, errFileNotFound
	}
	return &seenFile{row: row, nc: nc, tm: tm, tp: tp, cm: cm}, nil
}

// StatFile returns a file's metadata to a caller who may read its cell.
func (s *Service) StatFile(ctx context.Context, id string) (*coffer.FileInfo, error) {
	sf, err := s.visibleFile(ctx, "StatFile", id)
	if err != nil {
		return nil, err
	}
	sf.nc.Release()
	info := sf.row.FileInfo
	return &info, nil
}

// OpenFile opens a file for a caller who may read its cell, and records
// the download in the notebook's access records.
func (s *Service) OpenFile(ctx context.Context, id string, offset, length int64) (*coffer.Download, error) {
	sf, err := s.visibleFile(ctx, "OpenFile", id)
	if err != nil {
		return nil, err
	}
	defer sf.nc.Release()
	d, err := s.openContent(ctx, sf.nc.Notebook.ID, sf.row, offset, length)
	if err != nil {
		return nil, err
	}
	s.note(ctx, sf.nc, coffer.AccessFileDownload, sf.tm.Table.ID, "file "+id+" column "+sf.cm.Column.ID, sf.row.Record)
	return d, nil
}

// openContent unwraps a file's key and opens its plaintext from offset,
// length bytes (< 0: to the end). The first chunk read is checked before
// it returns: a tampered file is EINTEGRITY here, before any byte is
// given; later chunks are checked as they are read.
func (s *Service) openContent(ctx context.Context, nb string, row *fileRow, offset, length int64) (*coffer.Download, error) {
	b, err := s.blobs()
	if err != nil {
		return nil, err
	}
	if length < 0 {
		length = row.Size - offset
	}
	if offset < 0 || offset > row.Size || length < 0 || offset+length > row.Size || (offset == row.Size && row.Size > 0) {
		return nil, coffer.Errorf(coffer.ERANGE, "the file has %d bytes", row.Size)
	}
	key, err := s.Keys.Open(ctx, nb, fileAAD(row.ID), row.fileKey)
	if err != nil {
		return nil, s.integrity(row, err)
	}
	rd, err := sealed.NewReader(func(off, n int64) (io.ReadCloser, error) {
		return b.Open(ctx, row.blobKey, off, n)
	}, sealed.SealedSize(row.Size), key, row.ID)
	clear(key)
	if err != nil {
		return nil, s.integrity(row, err)
	}
	if rd.Size() != row.Size {
		return nil, s.integrity(row, fmt.Errorf("sealed size %d, recorded %d", rd.Size(), row.Size))
	}
	rc, err := rd.ReadRange(offset, length)
	if err != nil {
		return nil, s.integrity(row, err)
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	if length > 0 {
		if _, err := br.Peek(1); err != nil {
			rc.Close()
			return nil, s.integrity(row, err)
		}
	}
	info := row.FileInfo
	return &coffer.Download{Info: &info, Offset: offset, Length: length, Body: &integrityReader{br: br, c: rc, s: s, row: row}}, nil
}

// integrity turns a failure to open a file's content into EINTEGRITY (or
// the store's own error), logged with the file's id.
func (s *Service) integrity(row *fileRow, err error) error {
	if errors.Is(err, sealed.ErrIntegrity) || coffer.ErrorCode(err) == coffer.EINTEGRITY {
		return &coffer.Error{Code: coffer.EINTEGRITY, Message: "the file's stored content failed its integrity check", Op: "file " + row.ID, Err: err}
	}
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		// The row is there but its blob is not: the content was lost.
		return &coffer.Error{Code: coffer.EINTEGRITY, Message: "the file's stored content is missing", Op: "file " + row.ID, Err: err}
	}
	var ce *coffer.Error
	if errors.As(err, &ce) {
		return err
	}
	return coffer.Internal("file "+row.ID, err)
}

// integrityReader reads a download, turning a failure of a later chunk
// into EINTEGRITY.
type integrityReader struct {
	br  *bufio.Reader
	c   io.Closer
	s   *Service
	row *fileRow
}

func (r *integrityReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.integrity(r.row, err)
	}
	return n, err
}

func (r *integrityReader) Close() error { return r.c.Close() }
