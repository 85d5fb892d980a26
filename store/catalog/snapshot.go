package catalog

import (
	"context"
	"database/sql"

	"github.com/cofferhq/coffer"
)

// openSnapshot opens notebook sr.Notebook as the snapshot loaded into the
// sandbox storage sr.Storage: the registry row and the caller's rights are
// the live notebook's, read afresh (never more than the caller may see
// today), the schema and data are the snapshot's. Writes under such a
// context are refused (store.Writable).
func (s *Catalog) openSnapshot(ctx context.Context, sr *coffer.SnapshotRead) (*Conn, error) {
	nb, acc, err := s.FindNotebookAccess(ctx, s.Inst.R, sr.Notebook)
	if err != nil {
		return nil, err
	}
	db, release, err := s.Storage.Notebook(ctx, sr.Storage)
	if err != nil {
		return nil, err
	}
	// Loaded for each request (not cached under the sandbox's id): the
	// tables then carry the live notebook's id.
	var sc *Schema
	err = s.ReadTx(ctx, db.R, "loadSchema", func(tx *sql.Tx) error {
		var err error
		sc, err = s.LoadSchema(ctx, sr.Notebook, db.Prefix, tx)
		return err
	})
	if err != nil {
		release()
		return nil, err
	}
	return &Conn{Notebook: nb, Rights: acc, DB: db, Schema: sc, Release: release}, nil
}
