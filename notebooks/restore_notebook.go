package notebooks

import (
	"context"
	"fmt"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Whole-notebook restores.
//
// As a copy: the snapshot is loaded into the storage of a new notebook
// owned by the caller (owners and admins only: they see every cell), named
// "<name> (restored <day>)". Its encrypted columns and files stay sealed
// under the original notebook's key and do not open in the copy.
//
// In place (owners only): a safety snapshot of the notebook is taken
// first; then every table of the snapshot that still exists is set back to
// it (as RestoreTable, one action each), tables deleted since come back
// as copies, and tables created since are deleted (to the trash). Columns
// added or deleted since are not changed back.

func sortIDs(ids []string) { slices.Sort(ids) }

// copyNotebook makes a new notebook from the snapshot.
func (s *Service) copyNotebook(ctx context.Context, nb *coffer.Notebook, sn *coffer.Snapshot, job *restoreJob) (*coffer.Restored, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if c.Notebooks != nil {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "this API key is limited to some notebooks and cannot create one")
	}
	_, a, err := s.mayRestore(ctx, nb.ID)
	if err != nil {
		return nil, err
	}
	if !a.AtLeast(access.RoleAdmin) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may copy a whole snapshot")
	}
	src, _, err := s.source()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s (restored %s)", nb.Name, sn.Day)
	if n, fe := catalog.CheckName("name", name); fe == nil {
		name = n
	} else {
		name = nb.Name
	}
	now := s.NowMicros()
	cp := &coffer.Notebook{ID: coffer.NewID(coffer.PrefixNotebook), Name: name, OwnerID: c.UserID, CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
	if err := src.Load(ctx, sn.ID, cp.ID); err != nil {
		_ = s.Storage.DropNotebook(context.WithoutCancel(ctx), cp.ID)
		return nil, s.Wrap("RestoreNotebook", err)
	}
	err = s.Write(ctx, s.Inst, "RestoreNotebook", func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"notebooks ("+catalog.NotebookCols+") VALUES (?, ?, ?, ?, ?)"),
			cp.ID, cp.Name, cp.OwnerID, now, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, ?, ?, ?, ?)"),
			cp.ID, access.PrincipalUser, c.UserID, access.RoleOwner, now); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventRestored, c.UserID, c.Email, pointDetail(ctx, fmt.Sprintf("restored notebook %s from snapshot %s as a copy, notebook %s", nb.ID, sn.ID, cp.ID)))
	})
	if err != nil {
		_ = s.Storage.DropNotebook(context.WithoutCancel(ctx), cp.ID)
		return nil, err
	}
	job.step()
	return &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}, Notebook: cp}, nil
}

// notebookInPlace sets a notebook back to the snapshot, table by table,
// after a safety snapshot.
func (s *Service) notebookInPlace(ctx context.Context, nb *coffer.Notebook, sn *coffer.Snapshot, job *restoreJob) (*coffer.Restored, error) {
	src, _, err := s.source()
	if err != nil {
		return nil, err
	}
	safety, err := src.Take(ctx, nb.ID, coffer.SnapshotSafety)
	if err != nil {
		return nil, s.Wrap("RestoreNotebook", err)
	}
	res := &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}, Safety: safety.ID}
	bctx, release, err := s.BrowseSnapshot(ctx, nb.ID, sn.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	old, err := s.FindTables(bctx, nb.ID)
	if err != nil {
		return nil, err
	}
	cur, err := s.FindTables(ctx, nb.ID)
	if err != nil {
		return nil, err
	}
	had := map[string]bool{}
	for _, t := range old {
		had[t.ID] = true
	}
	has := map[string]bool{}
	for _, t := range cur {
		has[t.ID] = true
	}
	if job != nil {
		job.mu.Lock()
		job.job.Total = len(old) + len(cur)
		job.mu.Unlock()
	}
	for _, t := range cur {
		if !had[t.ID] {
			if err := s.DeleteTable(ctx, nb.ID, t.ID); err != nil {
				return nil, err
			}
		}
		job.step()
	}
	for _, t := range old {
		st, err := s.readSnapTable(bctx, nb.ID, t.ID, nil)
		if err != nil {
			return nil, err
		}
		var r *coffer.Restored
		if has[t.ID] {
			summary := fmt.Sprintf("restored table %s from snapshot %s", t.Name, sn.ID)
			r, err = s.restoreInTable(ctx, nb.ID, st, false, nil, summary, func(r *restoreRun) error { return r.table() })
		} else {
			r, err = s.copyTable(ctx, nb.ID, st, sn, nil)
		}
		if err != nil {
			return nil, err
		}
		res.Created = append(res.Created, r.Created...)
		res.Updated = append(res.Updated, r.Updated...)
		res.Deleted = append(res.Deleted, r.Deleted...)
		job.step()
	}
	return res, s.auditRestore(ctx, fmt.Sprintf("restored notebook %s in place from snapshot %s (safety snapshot %s)", nb.ID, sn.ID, safety.ID))
}
