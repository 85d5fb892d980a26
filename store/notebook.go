package store

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
)

// CreateNotebook creates a notebook owned by the caller. The storage is
// created first and the registry row last, so a crash in between leaves at
// most an unreferenced empty database, never a registered notebook without
// storage.
func (s *nbSvc) CreateNotebook(ctx context.Context, name string) (*coffer.Notebook, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := writable(ctx, true); err != nil {
		return nil, err
	}
	if c.Notebooks != nil {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "this API key is limited to some notebooks and cannot create one")
	}
	n, fe := checkName("name", name)
	if fe != nil {
		return nil, coffer.Invalid("the notebook is not valid", *fe)
	}
	now := s.now()
	nb := &coffer.Notebook{ID: coffer.NewID(coffer.PrefixNotebook), Name: n, OwnerID: c.UserID, CreatedAt: fromMicros(now), UpdatedAt: fromMicros(now)}
	if err := s.b.CreateNotebook(ctx, nb.ID); err != nil {
		return nil, s.wrap("CreateNotebook", err)
	}
	err = s.write(ctx, s.inst, "CreateNotebook", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO "+s.inst.Prefix+"notebooks ("+notebookCols+") VALUES (?, ?, ?, ?, ?)"),
			nb.ID, nb.Name, nb.OwnerID, now, now)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q("INSERT INTO "+s.inst.Prefix+"notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, ?, ?, ?, ?)"),
			nb.ID, access.PrincipalUser, c.UserID, access.RoleOwner, now)
		return err
	})
	if err != nil {
		_ = s.b.DropNotebook(context.WithoutCancel(ctx), nb.ID)
		return nil, err
	}
	return nb, nil
}

// FindNotebooks lists the caller's notebooks by name.
func (s *nbSvc) FindNotebooks(ctx context.Context) ([]*coffer.Notebook, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	p := s.inst.Prefix
	mine := func(alias string) string {
		return "((" + alias + ".principal_type = 'user' AND " + alias + ".principal_id = ?) OR (" + alias + ".principal_type = 'group' AND " +
			alias + ".principal_id IN (SELECT group_id FROM " + p + "group_members WHERE user_id = ?)))"
	}
	rows, err := s.inst.R.QueryContext(ctx, s.q("SELECT "+notebookCols+" FROM "+p+"notebooks n WHERE n.owner_id = ? OR "+
		"EXISTS (SELECT 1 FROM "+p+"notebook_members m WHERE m.notebook_id = n.id AND "+mine("m")+") OR "+
		"EXISTS (SELECT 1 FROM "+p+"grants g WHERE g.notebook_id = n.id AND "+mine("g")+") ORDER BY name, id"),
		c.UserID, c.UserID, c.UserID, c.UserID, c.UserID)
	if err != nil {
		return nil, s.wrap("FindNotebooks", err)
	}
	defer rows.Close()
	out := []*coffer.Notebook{}
	for rows.Next() {
		nb, err := scanNotebook(rows)
		if err != nil {
			return nil, s.wrap("FindNotebooks", err)
		}
		if c.CanReach(nb.ID) {
			out = append(out, nb)
		}
	}
	return out, s.wrap("FindNotebooks", rows.Err())
}

// FindNotebook returns one notebook.
func (s *nbSvc) FindNotebook(ctx context.Context, id string) (*coffer.Notebook, error) {
	nb, err := s.findNotebook(ctx, s.inst.R, id)
	return nb, s.wrap("FindNotebook", err)
}

// UpdateNotebook renames a notebook.
func (s *nbSvc) UpdateNotebook(ctx context.Context, id string, upd coffer.NotebookUpdate) (*coffer.Notebook, error) {
	if err := writable(ctx, true); err != nil {
		return nil, err
	}
	var nb *coffer.Notebook
	err := s.write(ctx, s.inst, "UpdateNotebook", func(tx *wtx) error {
		var err error
		var a *nbAccess
		if nb, a, err = s.findNotebookAccess(ctx, tx, id); err != nil {
			return err
		}
		if !a.atLeast(access.RoleAdmin) {
			return coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may rename it")
		}
		if upd.Name == nil {
			return nil
		}
		n, fe := checkName("name", *upd.Name)
		if fe != nil {
			return coffer.Invalid("the notebook is not valid", *fe)
		}
		now := s.now()
		nb.Name, nb.UpdatedAt = n, fromMicros(now)
		_, err = tx.ExecContext(ctx, s.q("UPDATE "+s.inst.Prefix+"notebooks SET name = ?, updated_at = ? WHERE id = ?"), n, now, id)
		return err
	})
	s.forgetNotebook(id)
	if err != nil {
		return nil, err
	}
	return nb, nil
}

// DeleteNotebook unregisters a notebook, then removes its storage.
func (s *nbSvc) DeleteNotebook(ctx context.Context, id string) error {
	if err := writable(ctx, true); err != nil {
		return err
	}
	err := s.write(ctx, s.inst, "DeleteNotebook", func(tx *wtx) error {
		_, a, err := s.findNotebookAccess(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.role() != access.RoleOwner {
			return coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may delete it")
		}
		_, err = tx.ExecContext(ctx, s.q("DELETE FROM "+s.inst.Prefix+"notebooks WHERE id = ?"), id)
		return err
	})
	if err != nil {
		return err
	}
	s.forgetNotebook(id)
	s.nbs.invalidate(id)
	return s.wrap("DeleteNotebook", s.b.DropNotebook(context.WithoutCancel(ctx), id))
}
