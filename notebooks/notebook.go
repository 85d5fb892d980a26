package notebooks

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// CreateNotebook creates a notebook owned by the caller. The storage is
// created first and the registry row last, so a crash in between leaves at
// most an unreferenced empty database, never a registered notebook without
// storage.
func (s *Service) CreateNotebook(ctx context.Context, name string) (*coffer.Notebook, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	if c.Notebooks != nil {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "this API key is limited to some notebooks and cannot create one")
	}
	n, fe := catalog.CheckName("name", name)
	if fe != nil {
		return nil, coffer.Invalid("the notebook is not valid", *fe)
	}
	now := s.NowMicros()
	nb := &coffer.Notebook{ID: coffer.NewID(coffer.PrefixNotebook), Name: n, OwnerID: c.UserID, CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
	if err := s.Storage.CreateNotebook(ctx, nb.ID); err != nil {
		return nil, s.Wrap("CreateNotebook", err)
	}
	err = s.Write(ctx, s.Inst, "CreateNotebook", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"notebooks ("+catalog.NotebookCols+") VALUES (?, ?, ?, ?, ?)"),
			nb.ID, nb.Name, nb.OwnerID, now, now)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, ?, ?, ?, ?)"),
			nb.ID, access.PrincipalUser, c.UserID, access.RoleOwner, now)
		return err
	})
	if err != nil {
		_ = s.Storage.DropNotebook(context.WithoutCancel(ctx), nb.ID)
		return nil, err
	}
	return nb, nil
}

// FindNotebooks lists the caller's notebooks by name.
func (s *Service) FindNotebooks(ctx context.Context) ([]*coffer.Notebook, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	p := s.Inst.Prefix
	mine := func(alias string) string {
		return "((" + alias + ".principal_type = 'user' AND " + alias + ".principal_id = ?) OR (" + alias + ".principal_type = 'group' AND " +
			alias + ".principal_id IN (SELECT group_id FROM " + p + "group_members WHERE user_id = ?)))"
	}
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind("SELECT "+catalog.NotebookCols+" FROM "+p+"notebooks n WHERE n.owner_id = ? OR "+
		"EXISTS (SELECT 1 FROM "+p+"notebook_members m WHERE m.notebook_id = n.id AND "+mine("m")+") OR "+
		"EXISTS (SELECT 1 FROM "+p+"grants g WHERE g.notebook_id = n.id AND "+mine("g")+") ORDER BY name, id"),
		c.UserID, c.UserID, c.UserID, c.UserID, c.UserID)
	if err != nil {
		return nil, s.Wrap("FindNotebooks", err)
	}
	defer rows.Close()
	out := []*coffer.Notebook{}
	for rows.Next() {
		nb, err := catalog.ScanNotebook(rows)
		if err != nil {
			return nil, s.Wrap("FindNotebooks", err)
		}
		if c.CanReach(nb.ID) {
			out = append(out, nb)
		}
	}
	return out, s.Wrap("FindNotebooks", rows.Err())
}

// FindNotebook returns one notebook.
func (s *Service) FindNotebook(ctx context.Context, id string) (*coffer.Notebook, error) {
	nb, err := s.LookupNotebook(ctx, s.Inst.R, id)
	if err == nil {
		s.noteOpen(ctx, id)
	}
	return nb, s.Wrap("FindNotebook", err)
}

// UpdateNotebook renames a notebook.
func (s *Service) UpdateNotebook(ctx context.Context, id string, upd coffer.NotebookUpdate) (*coffer.Notebook, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	var nb *coffer.Notebook
	err := s.Write(ctx, s.Inst, "UpdateNotebook", func(tx *store.WriteTx) error {
		var err error
		var a *catalog.Rights
		if nb, a, err = s.FindNotebookAccess(ctx, tx, id); err != nil {
			return err
		}
		if !a.AtLeast(access.RoleAdmin) {
			return coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may rename it")
		}
		if upd.Name == nil {
			return nil
		}
		n, fe := catalog.CheckName("name", *upd.Name)
		if fe != nil {
			return coffer.Invalid("the notebook is not valid", *fe)
		}
		now := s.NowMicros()
		nb.Name, nb.UpdatedAt = n, store.FromMicros(now)
		_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebooks SET name = ?, updated_at = ? WHERE id = ?"), n, now, id)
		return err
	})
	s.ForgetNotebook(id)
	if err != nil {
		return nil, err
	}
	return nb, nil
}

// DeleteNotebook unregisters a notebook and shreds its data keys in one
// transaction (what was sealed under them never opens again from this
// database or a copy made after), then removes its storage.
func (s *Service) DeleteNotebook(ctx context.Context, id string) error {
	if err := store.Writable(ctx, true); err != nil {
		return err
	}
	err := s.Write(ctx, s.Inst, "DeleteNotebook", func(tx *store.WriteTx) error {
		_, a, err := s.FindNotebookAccess(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.Role() != access.RoleOwner {
			return coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may delete it")
		}
		if _, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"notebooks WHERE id = ?"), id); err != nil {
			return err
		}
		if err := s.Keys.ShredTx(ctx, tx, id); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventKeysShredded, "", "", "notebook "+id)
	})
	if err != nil {
		return err
	}
	s.Keys.Forget(id)
	s.ForgetNotebook(id)
	s.Schemas.Invalidate(id)
	s.dropSandboxes(id) // snapshot.go
	return s.Wrap("DeleteNotebook", s.Storage.DropNotebook(context.WithoutCancel(ctx), id))
}
