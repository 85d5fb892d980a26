package notebooks

// Capability links: made, listed, revoked and opened.

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/files"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// linkRights checks that the caller may manage the links of a file: an
// owner or admin of the notebook, or a grantee with the share capability
// under a condition that matches the file's row (who may read the cell,
// as visibleFile checked).
func (s *Service) linkRights(ctx context.Context, sf *seenFile) error {
	if sf.tp.Full() {
		return nil
	}
	found, vals, err := s.CondsOn(ctx, sf.nc.DB.R, sf.tp, sf.row.Record)
	if err != nil {
		return err
	}
	if !found || !catalog.AnyOf(vals, sf.tp.Decision.With(access.CapShare)) {
		return coffer.Errorf(coffer.EFORBIDDEN, "links to files of this table need the share capability")
	}
	return nil
}

// MaxFileLinks bounds the live links of one file.
const MaxFileLinks = 100

// CreateFileLink makes a capability link to a file.
func (s *Service) CreateFileLink(ctx context.Context, id string, in coffer.FileLinkInput) (*coffer.FileLink, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	sf, err := s.visibleFile(ctx, "CreateFileLink", id)
	if err != nil {
		return nil, err
	}
	defer sf.nc.Release()
	if err := s.linkRights(ctx, sf); err != nil {
		return nil, err
	}
	now := s.NowMicros()
	var errs []coffer.FieldError
	var expires, max int64
	if in.ExpiresAt != nil {
		if expires = in.ExpiresAt.UnixMicro(); expires <= now {
			errs = append(errs, coffer.FieldError{Field: "expires_at", Message: "must be in the future"})
		}
	}
	if in.MaxDownloads != nil {
		if max = *in.MaxDownloads; max < 1 || max > 1_000_000 {
			errs = append(errs, coffer.FieldError{Field: "max_downloads", Message: "must be between 1 and 1000000"})
		}
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the link is not valid", errs...)
	}
	token := files.NewToken(strings.TrimPrefix(sf.nc.Notebook.ID, coffer.PrefixNotebook))
	l := &coffer.FileLink{ID: coffer.NewID(coffer.PrefixFileLink), File: id, URL: "/f/" + token, CreatedBy: c.UserID, CreatedAt: store.FromMicros(now)}
	if in.ExpiresAt != nil {
		t := store.FromMicros(expires)
		l.ExpiresAt = &t
	}
	if in.MaxDownloads != nil {
		l.MaxDownloads = &max
	}
	prefix := sf.nc.DB.Prefix
	err = s.Write(ctx, sf.nc.DB, "CreateFileLink", func(tx *store.WriteTx) error {
		// The file's row stays locked until the write ends (PostgreSQL;
		// SQLite has one writer), so that parallel creations count one
		// after the other and never pass MaxFileLinks together.
		var one int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT 1 FROM "+prefix+"_files WHERE id = ?"+s.Dialect.LockRows(true)), id).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errFileNotFound
			}
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT COUNT(*) FROM "+prefix+"_file_links WHERE file_id = ? AND revoked_at = 0"), id).Scan(&n); err != nil {
			return err
		}
		if n >= MaxFileLinks {
			return coffer.Errorf(coffer.ECONFLICT, "a file has at most %d links: revoke one first", MaxFileLinks)
		}
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+prefix+"_file_links (id, file_id, token_hash, expires_at, max_downloads, downloads, created_by, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0)"),
			l.ID, id, files.HashToken(token), expires, max, c.UserID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// FindFileLinks lists a file's links that are not revoked.
func (s *Service) FindFileLinks(ctx context.Context, id string) ([]*coffer.FileLink, error) {
	sf, err := s.visibleFile(ctx, "FindFileLinks", id)
	if err != nil {
		return nil, err
	}
	defer sf.nc.Release()
	if err := s.linkRights(ctx, sf); err != nil {
		return nil, err
	}
	rows, err := sf.nc.DB.R.QueryContext(ctx, s.Rebind("SELECT id, expires_at, max_downloads, downloads, created_by, created_at FROM "+sf.nc.DB.Prefix+"_file_links WHERE file_id = ? AND revoked_at = 0 ORDER BY id"), id)
	if err != nil {
		return nil, s.Wrap("FindFileLinks", err)
	}
	defer rows.Close()
	out := []*coffer.FileLink{}
	for rows.Next() {
		l := &coffer.FileLink{File: id}
		var expires, max, created int64
		if err := rows.Scan(&l.ID, &expires, &max, &l.Downloads, &l.CreatedBy, &created); err != nil {
			return nil, s.Wrap("FindFileLinks", err)
		}
		if expires > 0 {
			t := store.FromMicros(expires)
			l.ExpiresAt = &t
		}
		if max > 0 {
			l.MaxDownloads = &max
		}
		l.CreatedAt = store.FromMicros(created)
		out = append(out, l)
	}
	return out, s.Wrap("FindFileLinks", rows.Err())
}

// DeleteFileLink revokes a link.
func (s *Service) DeleteFileLink(ctx context.Context, id, link string) error {
	sf, err := s.visibleFile(ctx, "DeleteFileLink", id)
	if err != nil {
		return err
	}
	defer sf.nc.Release()
	if err := s.linkRights(ctx, sf); err != nil {
		return err
	}
	return s.Write(ctx, sf.nc.DB, "DeleteFileLink", func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+sf.nc.DB.Prefix+"_file_links SET revoked_at = ? WHERE id = ? AND file_id = ? AND revoked_at = 0"), s.NowMicros(), link, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = coffer.Errorf(coffer.ENOTFOUND, "link not found")
			}
			return err
		}
		return nil
	})
}

// OpenFileLink opens the file of a capability link.
func (s *Service) OpenFileLink(ctx context.Context, token string, offset, length int64, head bool) (*coffer.Download, error) {
	notFound := coffer.Errorf(coffer.ENOTFOUND, "link not found")
	part := files.TokenNotebook(token)
	if part == "" {
		return nil, notFound
	}
	nb := coffer.PrefixNotebook + part
	// The registry row, whoever may see it: the link is the right.
	if _, err := catalog.ScanNotebook(s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT "+catalog.NotebookCols+" FROM "+s.Inst.Prefix+"notebooks WHERE id = ?"), nb)); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound
		}
		return nil, s.Wrap("OpenFileLink", err)
	}
	db, release, err := s.Storage.Notebook(ctx, nb)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, notFound
		}
		return nil, s.Wrap("OpenFileLink", err)
	}
	defer release()
	var row *fileRow
	var linkID string
	var logged bool
	err = s.Write(ctx, db, "OpenFileLink", func(tx *store.WriteTx) error {
		var fileID string
		var expires, max, downloads, revoked int64
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT id, file_id, expires_at, max_downloads, downloads, revoked_at FROM "+db.Prefix+"_file_links WHERE token_hash = ?"),
			files.HashToken(token)).Scan(&linkID, &fileID, &expires, &max, &downloads, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return err
		}
		now := s.NowMicros()
		if revoked != 0 || expires != 0 && expires <= now || max != 0 && downloads >= max {
			return notFound
		}
		if row, err = s.loadFile(ctx, tx, db, nb, fileID); err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return notFound
			}
			return err
		}
		sc, err := s.LoadSchema(ctx, nb, db.Prefix, tx)
		if err != nil {
			return err
		}
		tm := sc.ByID[row.Table]
		if tm == nil {
			return notFound
		}
		cm := tm.Column(row.Column)
		if cm == nil || cm.Column.ID != row.Column {
			return notFound
		}
		list, _, err := s.cellFiles(ctx, tx, tm, cm, row.Record, false)
		if err != nil {
			return err
		}
		if !listsFile(list, row.ID) {
			return notFound
		}
		logged = sc.Settings.AccessLog
		if head {
			return nil
		}
		// Counted in the same statement that checks the bound: parallel
		// downloads never pass max_downloads.
		res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+db.Prefix+"_file_links SET downloads = downloads + 1 WHERE id = ? AND revoked_at = 0 AND (max_downloads = 0 OR downloads < max_downloads)"), linkID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = notFound
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if head {
		if length < 0 {
			length = row.Size - offset
		}
		info := row.FileInfo
		return &coffer.Download{Info: &info, Offset: offset, Length: length}, nil
	}
	d, err := s.openContent(ctx, nb, row, offset, length)
	if err != nil {
		return nil, err
	}
	if logged {
		cl := coffer.ClientFrom(ctx)
		ip := cl.IP
		if ip == "" {
			ip = "-"
		}
		s.accessQueue().Add(accesslog.Entry{Notebook: nb, At: s.NowMicros(), Kind: coffer.AccessFileDownload, IP: ip, UserAgent: cl.UserAgent,
			Table: row.Table, Record: row.Record, Detail: "file " + row.ID + " column " + row.Column + " link " + linkID})
	}
	return d, nil
}
