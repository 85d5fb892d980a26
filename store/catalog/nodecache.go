package catalog

import (
	"context"
	"database/sql"
	"errors"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// sharedNotebook is what opening a notebook on a shared database reads in
// its one query: the registry row, the notebook's schema version and the
// access versions. A node caches it while it hears invalidations (see
// store.Invalidations): any change of the row, its members, grants or
// access-scoping views (which move access_version), its schema (which
// moves _schema_version) or of group memberships (which move the access
// epoch) sends one, and drops it.
type sharedNotebook struct {
	nb      coffer.Notebook
	version int64 // _schema_version
	ver     AccessVersions
}

// invalidate drops what the catalogue cached that an invalidation names.
// Rights and schemas are checked against the versions of sharedNotebook,
// so dropping that is enough for them; a notebook's rights are dropped
// too, to free them early.
func (s *Catalog) invalidate(kind, id string) {
	switch kind {
	case "":
		s.shared.Drop(func(string, *sharedNotebook) bool { return true })
		s.DropCaches()
	case store.InvalidNotebook:
		s.shared.Drop(func(k string, _ *sharedNotebook) bool { return k == id })
		s.ForgetNotebook(id)
		s.ForgetAccess(id)
	case store.InvalidDataKey:
		s.Keys.Invalidate(id)
	case store.InvalidAccess, store.InvalidUser:
		// Group memberships, or a user (whose email grants may name).
		s.shared.Drop(func(string, *sharedNotebook) bool { return true })
		s.ForgetAccess("")
	}
}

// sharedState returns the registry row and versions of notebook id, from
// the cache when this node hears invalidations and fresh is false,
// otherwise (and on a miss) in one query on db, the notebook's database.
// cached says whether it came from the cache.
func (s *Catalog) sharedState(ctx context.Context, id string, db *store.DB, fresh bool) (st *sharedNotebook, cached bool, err error) {
	cache := s.Caches.Usable()
	now := s.Now()
	gen := s.shared.Gen()
	if cache && !fresh {
		if st, ok := s.shared.Get(id, now); ok {
			return st, true, nil
		}
	}
	st, err = s.loadSharedState(ctx, id, db)
	if err == nil && cache {
		s.shared.PutIf(id, st, now, gen)
	}
	return st, false, err
}

// loadSharedState reads the registry row and versions of notebook id.
func (s *Catalog) loadSharedState(ctx context.Context, id string, db *store.DB) (*sharedNotebook, error) {
	st := &sharedNotebook{ver: AccessVersions{known: true}}
	var created, updated int64
	err := db.R.QueryRowContext(ctx, s.Rebind("SELECT "+NotebookCols+", (SELECT version FROM "+db.Prefix+"_schema_version), access_version, "+
		"COALESCE((SELECT epoch FROM "+s.Inst.Prefix+"access_epoch WHERE id = 1), 0) FROM "+
		s.Inst.Prefix+"notebooks WHERE id = ?"), id).Scan(&st.nb.ID, &st.nb.Name, &st.nb.OwnerID, &created, &updated, &st.version, &st.ver.version, &st.ver.epoch)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotebookNotFound
	case err != nil:
		// Another node may have deleted the notebook, schema and all: the
		// registry then says so.
		if _, _, ferr := s.cachedNotebook(ctx, id); coffer.ErrorCode(ferr) == coffer.ENOTFOUND {
			return nil, ferr
		}
		return nil, s.Wrap("openNotebook", err)
	}
	st.nb.CreatedAt, st.nb.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return st, nil
}
