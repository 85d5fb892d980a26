package notebooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
)

// Compile-time check that the service reads history.
var _ coffer.HistoryService = (*Service)(nil)

// NotebookSettings returns a notebook's settings to anyone who sees it.
func (s *Service) NotebookSettings(ctx context.Context, notebook string) (*coffer.NotebookSettings, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("NotebookSettings", err)
	}
	defer nc.Release()
	st := nc.Schema.Settings
	return &st, nil
}

// UpdateNotebookSettings changes a notebook's settings (its owners only),
// in the catalogue's version row: the version moves on, so every node
// reloads the schema, and with it the settings, at its next request.
func (s *Service) UpdateNotebookSettings(ctx context.Context, notebook string, upd coffer.NotebookSettingsUpdate) (*coffer.NotebookSettings, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("UpdateNotebookSettings", err)
	}
	defer nc.Release()
	if nc.Rights.Role() != access.RoleOwner {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may change its settings")
	}
	if d := upd.HistoryRetentionDays; d != nil && (*d < 0 || *d > coffer.MaxHistoryRetentionDays) {
		return nil, coffer.Invalid("the settings are not valid", coffer.FieldError{Field: "history_retention_days",
			Message: fmt.Sprintf("must be between 0 (history is kept) and %d", coffer.MaxHistoryRetentionDays)})
	}
	var out coffer.NotebookSettings
	err = s.Write(ctx, nc.DB, "UpdateNotebookSettings", func(tx *store.WriteTx) error {
		if err := s.LockSchema(ctx, nc.DB, tx); err != nil {
			return err
		}
		var hist, acc int64
		if err := tx.QueryRowContext(ctx, "SELECT history, history_days, access_log FROM "+nc.DB.Prefix+"_schema_version").Scan(&hist, &out.HistoryRetentionDays, &acc); err != nil {
			return err
		}
		out.History, out.AccessLog = hist != 0, acc != 0
		if upd.History != nil {
			out.History = *upd.History
		}
		if upd.HistoryRetentionDays != nil {
			out.HistoryRetentionDays = *upd.HistoryRetentionDays
		}
		if upd.AccessLog != nil {
			out.AccessLog = *upd.AccessLog
		}
		if out.History && hist == 0 {
			// Back on: the actions while it was off are kept a day, for
			// undo only; the history is whole from the latest one on.
			if _, err := tx.ExecContext(ctx, "UPDATE "+nc.DB.Prefix+"_schema_version SET history_from = (SELECT COALESCE(max(seq), 0) FROM "+nc.DB.Prefix+"_actions)"); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+nc.DB.Prefix+"_schema_version SET history = ?, history_days = ?, access_log = ?, version = version + 1"),
			boolInt(out.History), out.HistoryRetentionDays, boolInt(out.AccessLog))
		return err
	})
	s.Schemas.Invalidate(notebook)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// HistorySize tells a notebook's owners how much history it keeps.
func (s *Service) HistorySize(ctx context.Context, notebook string) (*coffer.HistorySize, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("HistorySize", err)
	}
	defer nc.Release()
	if nc.Rights.Role() != access.RoleOwner {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may see the size of its history")
	}
	var out coffer.HistorySize
	out.Actions, out.Changes, out.Bytes, err = history.Size(ctx, nc.DB.R, nc.DB.Prefix)
	if err != nil {
		return nil, s.Wrap("HistorySize", err)
	}
	return &out, nil
}

// PruneHistory deletes, in every notebook, the history older than the
// notebook's retention and the actions kept only for undo older than
// history.UndoWindow, in batches (history.Prune), at the store's clock.
// It acts for no caller: the server runs it periodically, and `coffer
// history prune` on demand. It returns the number of actions deleted; a
// notebook that fails does not stop the others.
func (s *Service) PruneHistory(ctx context.Context) (int64, error) {
	rows, err := s.Inst.R.QueryContext(ctx, "SELECT id FROM "+s.Inst.Prefix+"notebooks ORDER BY id")
	if err != nil {
		return 0, s.Wrap("PruneHistory", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, s.Wrap("PruneHistory", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.Wrap("PruneHistory", err)
	}
	var total int64
	var errs []error
	for _, id := range ids {
		n, err := s.pruneNotebook(ctx, id)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("notebook %s: %w", id, err))
		}
	}
	return total, s.Wrap("PruneHistory", errors.Join(errs...))
}

// pruneNotebook prunes the history of one notebook.
func (s *Service) pruneNotebook(ctx context.Context, id string) (int64, error) {
	db, release, err := s.Storage.Notebook(ctx, id)
	if err != nil {
		return 0, err
	}
	defer release()
	var days int
	err = db.R.QueryRowContext(ctx, "SELECT history_days FROM "+db.Prefix+"_schema_version").Scan(&days)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	hb, ub := history.Cutoffs(s.Now(), days)
	return history.Prune(ctx, s.Core, db, hb, ub, 0)
}
