package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
)

// checkName validates the name of a notebook, table, column or view.
func checkName(field, name string) (string, *coffer.FieldError) {
	n, msg := coffer.CheckName(name, 200)
	if msg != "" {
		return "", &coffer.FieldError{Field: field, Message: msg}
	}
	return n, nil
}

// nameKey is the form under which names are unique: case-insensitive.
func nameKey(name string) string { return strings.ToLower(name) }

func scanNotebook(row interface{ Scan(...any) error }) (*coffer.Notebook, error) {
	var nb coffer.Notebook
	var created, updated int64
	if err := row.Scan(&nb.ID, &nb.Name, &nb.OwnerID, &created, &updated); err != nil {
		return nil, err
	}
	nb.CreatedAt, nb.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &nb, nil
}

const notebookCols = "id, name, owner_id, created_at, updated_at"

var errNotebookNotFound = coffer.Errorf(coffer.ENOTFOUND, "notebook not found")

// CreateNotebook creates a notebook owned by the caller. The storage is
// created first and the registry row last, so a crash in between leaves at
// most an unreferenced empty database, never a registered notebook without
// storage.
func (s *Store) CreateNotebook(ctx context.Context, name string) (*coffer.Notebook, error) {
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
func (s *Store) FindNotebooks(ctx context.Context) ([]*coffer.Notebook, error) {
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

// findNotebook returns a notebook the caller can see, or ENOTFOUND.
func (s *Store) findNotebook(ctx context.Context, q querier, id string) (*coffer.Notebook, error) {
	nb, _, err := s.findNotebookAccess(ctx, q, id)
	return nb, err
}

// findNotebookAccess returns a notebook the caller can see and what they
// may do in it, or ENOTFOUND.
func (s *Store) findNotebookAccess(ctx context.Context, q querier, id string) (*coffer.Notebook, *nbAccess, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, nil, errNotebookNotFound
	}
	nb, err := scanNotebook(q.QueryRowContext(ctx, s.q("SELECT "+notebookCols+" FROM "+s.inst.Prefix+"notebooks WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotebookNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	a, err := s.visible(ctx, q, c, nb)
	return nb, a, err
}

// visible returns what the caller may do in nb, or ENOTFOUND when the
// notebook does not exist for them: no role, no grant, or outside their
// API key's notebooks. They then get exactly the answer of a notebook
// that does not exist.
func (s *Store) visible(ctx context.Context, q querier, c *coffer.Caller, nb *coffer.Notebook, ver ...accessVersions) (*nbAccess, error) {
	if !c.CanReach(nb.ID) {
		return nil, errNotebookNotFound
	}
	var v accessVersions
	if len(ver) > 0 {
		v = ver[0]
	}
	a, err := s.notebookAccess(ctx, q, c, nb, v)
	if err != nil {
		return nil, err
	}
	if !a.visible() {
		return nil, errNotebookNotFound
	}
	return a, nil
}

// FindNotebook returns one notebook.
func (s *Store) FindNotebook(ctx context.Context, id string) (*coffer.Notebook, error) {
	nb, err := s.findNotebook(ctx, s.inst.R, id)
	return nb, s.wrap("FindNotebook", err)
}

// UpdateNotebook renames a notebook.
func (s *Store) UpdateNotebook(ctx context.Context, id string, upd coffer.NotebookUpdate) (*coffer.Notebook, error) {
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
func (s *Store) DeleteNotebook(ctx context.Context, id string) error {
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

// nbConn is an open notebook for one service call.
type nbConn struct {
	nb      *coffer.Notebook
	acc     *nbAccess // what the caller may do in it
	db      *DB
	schema  *schema
	release func()
}

// cachedNotebook is findNotebookAccess through the registry cache, for
// reads (read from the database each time where the database is shared).
func (s *Store) cachedNotebook(ctx context.Context, id string) (*coffer.Notebook, *nbAccess, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	if !s.inst.Shared {
		if nb, ok := s.notebooks.get(id, now); ok {
			a, err := s.visible(ctx, s.inst.R, c, nb)
			return nb, a, err
		}
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, nil, errNotebookNotFound
	}
	row, err := s.inst.queryRow(ctx, s.q("SELECT "+notebookCols+" FROM "+s.inst.Prefix+"notebooks WHERE id = ?"), id)
	if err != nil {
		return nil, nil, err
	}
	nb, err := scanNotebook(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotebookNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if !s.inst.Shared {
		s.notebooks.put(id, nb, now)
	}
	a, err := s.visible(ctx, s.inst.R, c, nb)
	return nb, a, err
}

func (s *Store) forgetNotebook(id string) {
	s.notebooks.drop(func(k string, _ *coffer.Notebook) bool { return k == id })
}

// openNotebook checks that the caller can see the notebook, opens its
// database and loads its schema (cached until the next schema change; on
// a shared database, checked against the catalogue's version first).
func (s *Store) openNotebook(ctx context.Context, id string) (*nbConn, error) {
	if s.inst.Shared {
		return s.openSharedNotebook(ctx, id)
	}
	nb, acc, err := s.cachedNotebook(ctx, id)
	if err != nil {
		return nil, err
	}
	db, release, err := s.b.Notebook(ctx, id)
	if err != nil {
		return nil, err
	}
	sc, err := s.nbs.get(ctx, s, id, db, -1)
	if err != nil {
		release()
		return nil, err
	}
	return &nbConn{nb: nb, acc: acc, db: db, schema: sc, release: release}, nil
}

// openSharedNotebook is openNotebook on a database shared by several nodes,
// where nothing may be cached without a check: the registry row and the
// notebook's schema version are read in one query (one round trip), and
// the cached schema is used only if its version is current.
func (s *Store) openSharedNotebook(ctx context.Context, id string) (*nbConn, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, errNotebookNotFound
	}
	db, release, err := s.b.Notebook(ctx, id)
	if err != nil {
		return nil, err
	}
	var nb coffer.Notebook
	var created, updated, version int64
	ver := accessVersions{known: true}
	err = db.R.QueryRowContext(ctx, s.q("SELECT "+notebookCols+", (SELECT version FROM "+db.Prefix+"_schema_version), access_version, "+
		"COALESCE((SELECT epoch FROM "+s.inst.Prefix+"access_epoch WHERE id = 1), 0) FROM "+
		s.inst.Prefix+"notebooks WHERE id = ?"), id).Scan(&nb.ID, &nb.Name, &nb.OwnerID, &created, &updated, &version, &ver.version, &ver.epoch)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = errNotebookNotFound
	case err != nil:
		// Another node may have deleted the notebook, schema and all: the
		// registry then says so.
		if _, _, ferr := s.cachedNotebook(ctx, id); coffer.ErrorCode(ferr) == coffer.ENOTFOUND {
			err = ferr
		} else {
			err = s.wrap("openNotebook", err)
		}
	}
	var acc *nbAccess
	if err == nil {
		nb.CreatedAt, nb.UpdatedAt = fromMicros(created), fromMicros(updated)
		acc, err = s.visible(ctx, s.inst.R, c, &nb, ver)
	}
	if err != nil {
		release()
		return nil, err
	}
	sc, err := s.nbs.get(ctx, s, id, db, version)
	if err != nil {
		release()
		return nil, err
	}
	return &nbConn{nb: &nb, acc: acc, db: db, schema: sc, release: release}, nil
}
