package catalog

import (
	"context"
	"database/sql"
	"maps"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
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
	if err := s.markGone(ctx, sr.Notebook, sc); err != nil {
		release()
		return nil, err
	}
	return &Conn{Notebook: nb, Rights: acc, DB: db, Schema: sc, Release: release}, nil
}

// markGone marks in the snapshot's schema sc the tables and columns that
// the live notebook no longer has, and gives it the live notebook's
// settings. Grants cannot name what no longer
// exists, so, to everyone but owners and admins, those are hidden
// (compilePlan): a grant never shows through a snapshot what it could
// not show today.
func (s *Catalog) markGone(ctx context.Context, notebook string, sc *Schema) error {
	db, release, err := s.Storage.Notebook(ctx, notebook)
	if err != nil {
		return err
	}
	defer release()
	live, err := s.Schemas.get(ctx, s, notebook, db, -1)
	if err != nil {
		return err
	}
	// Today's switches apply too: reads of a snapshot are access records
	// when the notebook's access records are on today.
	sc.Settings = live.Settings
	sc.gone = map[string]bool{}
	for _, tm := range sc.Tables {
		ltm := live.ByID[tm.Table.ID]
		if ltm == nil {
			sc.gone[tm.Table.ID] = true
			continue
		}
		for _, cm := range tm.Cols {
			if ltm.Column(cm.Column.ID) == nil {
				sc.gone[cm.Column.ID] = true
			}
		}
	}
	return nil
}

// hideGone takes out of a decision on a snapshot's table what the live
// notebook no longer has (see markGone); owners and admins keep all.
func hideGone(dec *access.Decision, tm *TableMeta) {
	gone := tm.Schema.gone
	if dec.Full || len(gone) == 0 {
		return
	}
	if gone[tm.Table.ID] {
		dec.Conds = nil
		return
	}
	for i := range dec.Conds {
		cols := maps.Clone(dec.Conds[i].Cols)
		if cols == nil {
			cols = map[string]access.Right{}
		}
		for _, cm := range tm.Cols {
			if gone[cm.Column.ID] {
				cols[cm.Column.ID] = access.None
			}
		}
		dec.Conds[i].Cols = cols
	}
}
