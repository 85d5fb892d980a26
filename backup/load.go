package backup

// Loading an image into live storage.

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer"
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
// that exists already is ECONFLICT.
func (s *Service) Load(ctx context.Context, imagePath, storageID string) (err error) {
	if !coffer.ValidID(coffer.PrefixNotebook, storageID) {
		return coffer.Errorf(coffer.EINVALID, "a storage id is a notebook id")
	}
	im, err := openImage(imagePath)
	if err != nil {
		return coffer.Internal("backup.Load", err)
	}
	defer im.Close()
	if bad, err := im.integrity(ctx); err != nil || len(bad) > 0 {
		return integrityErr("the image fails SQLite's integrity check")
	}
	if err := s.checkMigration(ctx, im); err != nil {
		return err
	}
	live := s.st.Storage
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
