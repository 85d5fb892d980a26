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
// "<name> (restored <day>)". Its files become files of its own, sealed
// under its key (restore_copy.go). Its encrypted columns do not open: their
// associated data names the original notebook, and they cannot be sealed
// again without their password.
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
	// Until it is registered, the copy is storage that a crash would leave
	// behind: it holds a lease as sandboxes do (snapshot_lease.go).
	if err := s.takeLease(ctx, cp.ID); err != nil {
		return nil, s.Wrap("RestoreNotebook", err)
	}
	defer s.dropLease(ctx, cp.ID)
	if err := src.Load(ctx, sn.ID, cp.ID); err != nil {
		_ = s.Storage.DropNotebook(context.WithoutCancel(ctx), cp.ID)
		return nil, s.Wrap("RestoreNotebook", err)
	}
	written, err := s.rekeyCopy(ctx, nb.ID, sn.ID, cp.ID)
	if err != nil {
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
		if b, berr := s.blobs(); berr == nil {
			for _, k := range written {
				_ = b.Delete(context.WithoutCancel(ctx), k)
			}
		}
		return nil, err
	}
	job.step()
	return &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}, Notebook: cp}, nil
}

// RestoreHook runs in a whole-notebook restore in place after each table
// it sets back (its id); an error fails the restore there. For tests.
type RestoreHook func(table string) error

// SetRestoreHook installs (nil: removes) the restore hook; for tests only.
func (s *Service) SetRestoreHook(h RestoreHook) {
	s.bk.mu.Lock()
	s.bk.hook = h
	s.bk.mu.Unlock()
}

// notebookInPlace sets a notebook back to the snapshot after a safety
// snapshot, in one transaction on the notebook's database: every table
// deleted, created and set back runs in it through its ordinary code
// (nested writes, store.WithWriteTx), so a failure anywhere leaves the
// notebook exactly as it was. Live events of the tables set back may be
// sent before the whole commits.
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
	nc, err := s.OpenNotebook(ctx, nb.ID)
	if err != nil {
		return nil, s.Wrap("RestoreNotebook", err)
	}
	// Held until the restore's write ends: released, the handle could be
	// closed (a small notebook pool makes room for the sandbox) under
	// the transaction.
	defer nc.Release()
	db := nc.DB
	s.bk.mu.Lock()
	hook := s.bk.hook
	s.bk.mu.Unlock()
	err = s.Write(ctx, db, "RestoreNotebook", func(tx *store.WriteTx) error {
		r := &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}}
		tctx := store.WithWriteTx(ctx, db, tx)
		cur, err := s.FindTables(tctx, nb.ID)
		if err != nil {
			return err
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
			job.job.Total, job.job.Done = len(old)+len(cur), 0
			job.mu.Unlock()
		}
		for _, t := range cur {
			if !had[t.ID] {
				if err := s.DeleteTable(tctx, nb.ID, t.ID); err != nil {
					return err
				}
			}
			job.step()
		}
		for _, t := range old {
			st, err := s.readSnapTable(bctx, nb.ID, t.ID, nil)
			if err != nil {
				return err
			}
			var one *coffer.Restored
			if has[t.ID] {
				summary := fmt.Sprintf("restored table %s from snapshot %s", t.Name, sn.ID)
				one, err = s.restoreInTable(tctx, nb.ID, st, false, nil, summary, func(r *restoreRun) error { return r.table() })
			} else {
				one, err = s.copyTable(tctx, nb.ID, st, sn, nil)
			}
			if err != nil {
				return err
			}
			r.Created = append(r.Created, one.Created...)
			r.Updated = append(r.Updated, one.Updated...)
			r.Deleted = append(r.Deleted, one.Deleted...)
			r.Kept = append(r.Kept, one.Kept...)
			if hook != nil {
				if err := hook(t.ID); err != nil {
					return err
				}
			}
			job.step()
		}
		res.Created, res.Updated, res.Deleted, res.Kept = r.Created, r.Updated, r.Deleted, r.Kept
		return nil
	})
	// Schemas read inside the transaction are not the catalogue's if it
	// rolled back; read it again either way.
	s.Schemas.Invalidate(nb.ID)
	if err != nil {
		return nil, err
	}
	return res, s.auditRestore(ctx, fmt.Sprintf("restored notebook %s in place from snapshot %s (safety snapshot %s)", nb.ID, sn.ID, safety.ID))
}
