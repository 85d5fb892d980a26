package backup

// Images: the plaintext SQLite database of a snapshot, made from the live
// backend without blocking its writers, and read back.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/transfer"
)

// sqliteDialect is the dialect of every image. The SQLite backend's
// Dialect method does not use its receiver.
var sqliteDialect = (*sqlite.Backend)(nil).Dialect()

// skipInstance are the instance tables an image leaves out: data keys
// live only in the keyring (and its own backup, keys.go); the catalogue
// of backups describes the locations, which hold it (Adopt); the backup
// worker's runs and leases are the old machine's running state.
var skipInstance = []string{"data_keys", "backup_snapshots", "backup_runs", "backup_leases"}

// makeImage writes the image of notebook ("" for the instance) into a new
// file under dir and returns its path. It reads the live database in one
// snapshot and never blocks its writers: on SQLite with VACUUM INTO on a
// read connection, on PostgreSQL in one repeatable-read, read-only
// transaction copied into a SQLite database made by the SQLite backend's
// migrations.
func (s *Service) makeImage(ctx context.Context, notebook, dir string) (string, error) {
	live := s.st.Storage
	if live.Dialect().Name() == "sqlite" {
		path := filepath.Join(dir, "image.db")
		db := live.Instance()
		if notebook != "" {
			nb, release, err := live.Notebook(ctx, notebook)
			if err != nil {
				return "", err
			}
			defer release()
			db = nb
		}
		if err := vacuumInto(ctx, db.R, path); err != nil {
			return "", err
		}
		if notebook == "" {
			if err := dropKeys(ctx, path); err != nil {
				return "", err
			}
		}
		return path, nil
	}
	b, err := sqlite.Open(ctx, filepath.Join(dir, "image"), sqlite.Options{Readers: 1, Synchronous: "NORMAL", MaxOpenNotebooks: 1})
	if err != nil {
		return "", err
	}
	closeOnce := sync.OnceValue(b.Close) // Close must not run twice
	defer closeOnce()
	if notebook == "" {
		if err := transfer.CopyInstance(ctx, live.Dialect(), live.Instance(), b.Dialect(), b.Instance(), skipInstance...); err != nil {
			return "", err
		}
		return filepath.Join(b.Dir(), "coffer.db"), closeOnce()
	}
	if err := b.CreateNotebook(ctx, notebook); err != nil {
		return "", err
	}
	dst, release, err := b.Notebook(ctx, notebook)
	if err != nil {
		return "", err
	}
	src, srelease, err := live.Notebook(ctx, notebook)
	if err != nil {
		release()
		return "", err
	}
	err = transfer.CopyNotebook(ctx, live.Dialect(), src, b.Dialect(), dst)
	srelease()
	release()
	if err != nil {
		return "", err
	}
	// Closing the last connection checkpoints the WAL into the file.
	return filepath.Join(b.Dir(), "notebooks", notebook+".db"), closeOnce()
}

// vacuumInto writes the database of pool r into a new file at path with
// VACUUM INTO, on one of r's read connections: it reads one snapshot in
// a read transaction and never takes the write lock, so writers go on.
// The readers run with query_only, which VACUUM INTO (writing another
// file) trips over: it is lifted on that connection for the statement,
// and the connection is discarded if it cannot be set back.
func vacuumInto(ctx context.Context, r *sql.DB, path string) error {
	conn, err := r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "VACUUM INTO ?", path)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only = 1"); rerr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if err != nil {
		return fmt.Errorf("vacuum into: %w", err)
	}
	return nil
}

// dropKeys deletes the data keys from an instance image, overwriting
// their bytes (secure_delete) and vacuuming so no free page keeps them.
func dropKeys(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA secure_delete = ON", "DELETE FROM data_keys", "VACUUM"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("image: %s: %w", q, err)
		}
	}
	return db.Close()
}

// image is an image opened read-only.
type image struct {
	db *store.DB
}

// openImage opens the image at path read-only (immutable: nothing, not
// even a WAL or a lock file, is written beside it).
func openImage(path string) (*image, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &image{db: &store.DB{R: db, W: db}}, nil
}

func (im *image) Close() error { return im.db.R.Close() }

// integrity runs SQLite's integrity_check and returns its complaints.
func (im *image) integrity(ctx context.Context) ([]string, error) {
	rows, err := im.db.R.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			out = append(out, line)
		}
	}
	return out, rows.Err()
}

// sums returns the row count and hash (under newHash) of every table of
// the image of notebook ("" for the instance).
func (im *image) sums(ctx context.Context, notebook string, newHash func() hash.Hash) ([]TableSum, int64, error) {
	var ts []transfer.Sum
	var err error
	if notebook == "" {
		ts, err = transfer.InstanceSums(ctx, sqliteDialect, im.db, newHash, skipInstance...)
	} else {
		ts, err = transfer.NotebookSums(ctx, sqliteDialect, im.db, newHash)
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]TableSum, len(ts))
	var rows int64
	for i, t := range ts {
		out[i] = TableSum{Table: t.Name, Rows: t.Rows, Hash: t.Checksum}
		rows += t.Rows
	}
	return out, rows, nil
}

// versions returns the image's catalogue version (a notebook's; 0 for
// the instance) and its newest applied migration.
func (im *image) versions(ctx context.Context, notebook string) (schema int64, migration int, err error) {
	if err := im.db.R.QueryRowContext(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations").Scan(&migration); err != nil {
		return 0, 0, err
	}
	if notebook != "" {
		if err := im.db.R.QueryRowContext(ctx, "SELECT version FROM _schema_version").Scan(&schema); err != nil {
			return 0, 0, err
		}
	}
	return schema, migration, nil
}

// fileRefs returns the files of a notebook image that are not deleted:
// the blobs a snapshot must hold.
func (im *image) fileRefs(ctx context.Context) ([]fileRef, error) {
	rows, err := im.db.R.QueryContext(ctx, "SELECT id, sha256, blob_key, size FROM _files WHERE deleted_at = 0 ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fileRef
	for rows.Next() {
		var f fileRef
		if err := rows.Scan(&f.id, &f.sha256, &f.blobKey, &f.size); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

type fileRef struct {
	id, sha256, blobKey string
	size                int64 // plaintext
}

// fingerprintSQL reads what changes whenever a notebook's content does:
// every write is an action (history on or off), schema changes move the
// catalogue version, and access records, files, links and watch rules
// have their own rows and times. Two equal fingerprints mean nothing was
// written in between (an action's time is later than every earlier one's,
// so a pruned and reused sequence number still changes it).
const fingerprintSQL = `SELECT
 (SELECT version FROM {p}_schema_version), (SELECT history FROM {p}_schema_version), (SELECT history_days FROM {p}_schema_version),
 (SELECT access_log FROM {p}_schema_version), (SELECT history_from FROM {p}_schema_version),
 (SELECT count(*) FROM {p}_actions), (SELECT COALESCE(max(seq), 0) FROM {p}_actions), (SELECT COALESCE(max(at), 0) FROM {p}_actions),
 (SELECT count(*) FROM {p}_access_log), (SELECT COALESCE(max(seq), 0) FROM {p}_access_log),
 (SELECT count(*) FROM {p}_files), (SELECT COALESCE(max(created_at), 0) FROM {p}_files), (SELECT COALESCE(max(deleted_at), 0) FROM {p}_files),
 (SELECT count(*) FROM {p}_file_links), (SELECT COALESCE(max(created_at), 0) FROM {p}_file_links), (SELECT COALESCE(max(revoked_at), 0) FROM {p}_file_links), (SELECT COALESCE(sum(downloads), 0) FROM {p}_file_links),
 (SELECT count(*) FROM {p}_watches), (SELECT COALESCE(max(updated_at), 0) FROM {p}_watches),
 (SELECT count(*) FROM {p}_tables), (SELECT COALESCE(max(updated_at), 0) FROM {p}_tables), (SELECT count(*) FROM {p}_columns),
 (SELECT count(*) FROM {p}_views), (SELECT COALESCE(max(updated_at), 0) FROM {p}_views)`

// fingerprint returns the fingerprint of the notebook database db
// (tables qualified by prefix): hex SHA-256 of fingerprintSQL's values.
func fingerprint(ctx context.Context, db *sql.DB, prefix string) (string, error) {
	q := replacePrefix(fingerprintSQL, prefix)
	vals := make([]sql.NullInt64, 24)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := db.QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, v := range vals {
		fmt.Fprintf(h, "%t:%d;", v.Valid, v.Int64)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func replacePrefix(q, prefix string) string {
	out := make([]byte, 0, len(q)+32*len(prefix))
	for i := 0; i < len(q); i++ {
		if i+3 <= len(q) && q[i:i+3] == "{p}" {
			out = append(out, prefix...)
			i += 2
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// liveFingerprint is the fingerprint of a live notebook.
func (s *Service) liveFingerprint(ctx context.Context, notebook string) (string, error) {
	db, release, err := s.st.Storage.Notebook(ctx, notebook)
	if err != nil {
		return "", err
	}
	defer release()
	return fingerprint(ctx, db.R, db.Prefix)
}

// tempDir makes a private directory for one call's images.
func (s *Service) tempDir() (string, func(), error) {
	if err := os.MkdirAll(s.cfg.TempDir, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(s.cfg.TempDir, "coffer-backup-")
	if err != nil {
		return "", nil, coffer.Internal("backup", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// scratchMigration makes a notebook with the SQLite backend's migrations
// under dir and returns its newest migration.
func scratchMigration(ctx context.Context, dir string) (int, error) {
	b, err := sqlite.Open(ctx, dir, sqlite.Options{Readers: 1, Synchronous: "NORMAL"})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := b.CreateNotebook(ctx, id); err != nil {
		return 0, err
	}
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		return 0, err
	}
	defer release()
	var v int
	err = db.R.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v)
	return v, err
}
