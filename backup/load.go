package backup

// Loading an image into live storage.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/transfer"
)

// Load creates the notebook storage storageID (a notebook id, "nb_…",
// unused) on the live backend, whichever it is, and fills it with the
// notebook image at imagePath (from Image): catalogue, history, access
// records, file metadata and every row, as they were at snapshot time.
// It registers nothing in the instance (no notebook row, no members):
// the caller (browse, restore, drills) decides what the storage becomes,
// and drops it when done. On failure the storage is dropped again.
// An image from another Coffer schema version is EINVALID; a storage
// that exists already is ECONFLICT. The image must be authenticated (from
// Image, or ship.RestoreAt): Load does not run SQLite's integrity_check.
// On SQLite it may take the image's file as the notebook's: the caller
// must not use imagePath afterwards (its cleanup still works).
func (s *Service) Load(ctx context.Context, imagePath, storageID string) (err error) {
	defer func() { err = s.st.Wrap("backup.Load", err) }()
	if !coffer.ValidID(coffer.PrefixNotebook, storageID) {
		return coffer.Errorf(coffer.EINVALID, "a storage id is a notebook id")
	}
	im, err := openImage(imagePath)
	if err != nil {
		return coffer.Internal("backup.Load", err)
	}
	defer im.Close()
	// No integrity_check here: the image is authenticated (Image's chunk
	// tags, or ship.RestoreAt's own check), and the check reads the whole
	// database, most of a load's time. Verify and drills run it.
	if err := s.checkMigration(ctx, im); err != nil {
		return err
	}
	live := s.st.Storage
	if lite, ok := live.(*sqlite.Backend); ok {
		im.Close()
		// An image is a SQLite notebook database: it becomes the
		// notebook's file as it is.
		return placeImage(ctx, lite, imagePath, storageID)
	}
	if err := live.CreateNotebook(ctx, storageID); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = live.DropNotebook(context.WithoutCancel(ctx), storageID)
		}
	}()
	dst, release, err := live.Notebook(ctx, storageID)
	if err != nil {
		return err
	}
	defer release()
	if err := transfer.CopyNotebook(ctx, sqliteDialect, im.db, live.Dialect(), dst); err != nil {
		return coffer.Internal("backup.Load", fmt.Errorf("copy image: %w", err))
	}
	return nil
}

// placeImage makes the image at path the database file of notebook
// storageID in the SQLite backend b (never over an existing one, mode
// 0600, synced with its directory), then opens it through b. On the same
// file system the image becomes the file as it is (a link, which fails
// if the file exists; the image's own name then goes): no copy of the
// whole database. Elsewhere it is copied. Callers must not use path after.
func placeImage(ctx context.Context, b *sqlite.Backend, path, storageID string) (err error) {
	dst := filepath.Join(b.Dir(), "notebooks", storageID+".db")
	var out *os.File
	linkErr := os.Link(path, dst)
	switch {
	case linkErr == nil:
		_ = os.Remove(path)
		out, err = os.OpenFile(dst, os.O_WRONLY, 0)
	case os.IsExist(linkErr):
		return coffer.Errorf(coffer.ECONFLICT, "notebook storage already exists")
	default:
		out, err = os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if os.IsExist(err) {
			return coffer.Errorf(coffer.ECONFLICT, "notebook storage already exists")
		}
	}
	if err != nil {
		if linkErr == nil {
			_ = os.Remove(dst)
		}
		return coffer.Internal("backup.Load", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			_ = b.DropNotebook(context.WithoutCancel(ctx), storageID)
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(dst + suffix)
			}
		}
	}()
	if linkErr != nil {
		if err := copyFile(ctx, out, path); err != nil {
			return coffer.Internal("backup.Load", err)
		}
	}
	if err := out.Sync(); err != nil {
		return coffer.Internal("backup.Load", err)
	}
	if err := out.Close(); err != nil {
		return coffer.Internal("backup.Load", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return coffer.Internal("backup.Load", err)
	}
	_, release, err := b.Notebook(ctx, storageID)
	if err != nil {
		return err
	}
	release()
	return nil
}

// copyFile copies the file at path into out.
func copyFile(ctx context.Context, out *os.File, path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(out, blob.ContextReader(ctx, in))
	return err
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkMigration refuses an image whose notebook migrations are not the
// ones this Coffer applies.
func (s *Service) checkMigration(ctx context.Context, im *image) error {
	_, got, err := im.versions(ctx, "nb")
	if err != nil {
		return integrityErr("the image is not a notebook database")
	}
	want, err := s.notebookMigration(ctx)
	if err != nil {
		return err
	}
	if got != want {
		return coffer.Errorf(coffer.EINVALID, "the snapshot has notebook schema %d, this Coffer has %d: load it with a Coffer of its version", got, want)
	}
	return nil
}

// notebookMigration returns the newest notebook migration of the SQLite
// backend (what every image carries), learnt once from a scratch notebook.
func (s *Service) notebookMigration(ctx context.Context) (int, error) {
	s.migOnce.Lock()
	defer s.migOnce.Unlock()
	if s.migration > 0 {
		return s.migration, nil
	}
	dir, cleanup, err := s.tempDir()
	if err != nil {
		return 0, err
	}
	defer cleanup()
	v, err := scratchMigration(ctx, dir)
	if err != nil {
		return 0, coffer.Internal("backup.Load", err)
	}
	s.migration = v
	return v, nil
}

// LoadInstance fills the live instance database, which must be empty of
// accounts, notebooks and every other instance row (data keys and the
// backup catalogue aside), with the instance image at imagePath (from
// Image): disaster recovery onto an empty machine. Restore the keyring
// first (LatestKeyring, keyring.Ring.Import) and adopt the location's
// snapshots (Adopt); then load each notebook's newest snapshot with Load,
// its storage id being its notebook id. A non-empty instance is
// ECONFLICT; an image of another schema version EINVALID.
func (s *Service) LoadInstance(ctx context.Context, imagePath string) (err error) {
	defer func() { err = s.st.Wrap("backup.LoadInstance", err) }()
	im, err := openImage(imagePath)
	if err != nil {
		return coffer.Internal("backup.LoadInstance", err)
	}
	defer im.Close()
	if bad, err := im.integrity(ctx); err != nil || len(bad) > 0 {
		return integrityErr("the image fails SQLite's integrity check")
	}
	live := s.st.Storage
	if err := transfer.InstanceEmpty(ctx, live.Instance(), skipInstance...); err != nil {
		return coffer.Errorf(coffer.ECONFLICT, "the instance is not empty: disaster recovery loads into an empty one")
	}
	_, got, err := im.versions(ctx, "")
	if err != nil {
		return integrityErr("the image is not an instance database")
	}
	var want int
	if err := live.Instance().R.QueryRowContext(ctx, "SELECT max(version) FROM "+live.Instance().Prefix+"schema_migrations").Scan(&want); err != nil {
		return coffer.Internal("backup.LoadInstance", err)
	}
	if got != want {
		return coffer.Errorf(coffer.EINVALID, "the snapshot has instance schema %d, this Coffer has %d: load it with a Coffer of its version", got, want)
	}
	if err := transfer.CopyInstance(ctx, sqliteDialect, im.db, live.Dialect(), live.Instance(), skipInstance...); err != nil {
		return coffer.Internal("backup.LoadInstance", err)
	}
	s.st.DropCaches()
	return nil
}
