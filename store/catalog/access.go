package catalog

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
)

// Rights is what a caller may do in one notebook: their role and the
// grants that apply to them. It is computed once per request (and cached
// briefly where one process owns the database).
type Rights struct {
	Subj   access.Subject
	Grants []access.Grant // only those that apply to the subject
	plans  planCache      // compiled per table
	gen    uint64         // Store.accessGen when it was computed
	ver    AccessVersions // the database's versions it was computed at
}

// AccessVersions are the notebook's access_version and the instance's
// access epoch, as read with the registry row; known is false where they
// were not read.
type AccessVersions struct {
	version, epoch int64
	known          bool
}

// WithAccessEpoch wraps the transaction of a change of group memberships:
// it moves the access epoch on in the same transaction, so that every
// node sharing the database recomputes rights at its next request.
func (s *Catalog) WithAccessEpoch(fn func(tx *store.WriteTx) error) func(tx *store.WriteTx) error {
	return func(tx *store.WriteTx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(context.Background(), s.Rebind("INSERT INTO "+s.Inst.Prefix+"access_epoch AS e (id, epoch) VALUES (1, 1) "+
			"ON CONFLICT (id) DO UPDATE SET epoch = e.epoch + 1"))
		return err
	}
}

// Role returns the caller's notebook role, "" for none.
func (a *Rights) Role() string { return a.Subj.Role }

// visible reports whether the notebook exists for the caller at all.
func (a *Rights) visible() bool { return a.Subj.Role != "" || len(a.Grants) > 0 }

// AtLeast reports whether the caller's role is r or stronger.
func (a *Rights) AtLeast(r string) bool { return access.MaxRole(a.Subj.Role, r) == a.Subj.Role }

// accessKey is the key of the access cache.
func accessKey(userID, nbID string) string { return userID + "|" + nbID }

// NotebookAccess resolves what the caller may do in nb: the owner named in
// the registry, the strongest role of the caller's own membership and
// their groups', and the grants for them, their groups or every member.
func (s *Catalog) NotebookAccess(ctx context.Context, q Querier, c *coffer.Caller, nb *coffer.Notebook, ver AccessVersions) (*Rights, error) {
	key := accessKey(c.UserID, nb.ID)
	now := s.Now()
	// Inside a write transaction the answer must be the transaction's own
	// (sharing changes check the caller's role there): no cache. Where
	// nodes share the database, a cached answer serves only while the
	// versions read with this request's registry row are those it was
	// computed at.
	_, inTx := q.(*store.WriteTx)
	cache := !inTx && (!s.Inst.Shared || ver.known)
	// The generation is read before anything else: an answer computed
	// while a change commits carries the old generation and is never used.
	gen := s.accessGen.Load()
	if cache {
		if a, ok := s.access.Get(key, now); ok && a.gen == gen && a.ver == ver {
			return a, nil
		}
	}
	a := &Rights{Subj: access.Subject{UserID: c.UserID, Email: c.Email}, gen: gen, ver: ver}
	p := s.Inst.Prefix
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT g.id, g.name, CASE WHEN EXISTS (SELECT 1 FROM "+p+"org_members o WHERE o.org_id = g.org_id AND o.user_id = ?) THEN 1 ELSE 0 END FROM "+
		p+"group_members gm JOIN "+p+"user_groups g ON g.id = gm.group_id WHERE gm.user_id = ? ORDER BY g.id"), nb.OwnerID, c.UserID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, name string
		var ownersOrg int
		if err := rows.Scan(&id, &name, &ownersOrg); err != nil {
			rows.Close()
			return nil, err
		}
		a.Subj.Groups = append(a.Subj.Groups, id)
		if ownersOrg == 1 {
			a.Subj.GroupNames = append(a.Subj.GroupNames, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if nb.OwnerID == c.UserID {
		a.Subj.Role = access.RoleOwner
	}
	rows, err = q.QueryContext(ctx, s.Rebind("SELECT principal_type, principal_id, role FROM "+p+"notebook_members WHERE notebook_id = ?"), nb.ID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pt, pid, role string
		if err := rows.Scan(&pt, &pid, &role); err != nil {
			rows.Close()
			return nil, err
		}
		if a.Subj.Applies(access.Principal{Type: pt, ID: pid}) && pt != access.PrincipalMembers {
			a.Subj.Role = access.MaxRole(a.Subj.Role, role)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	grants, err := s.LoadGrants(ctx, q, nb.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		if a.Subj.Applies(g.Principal) {
			a.Grants = append(a.Grants, g.Grant)
		}
	}
	if cache {
		s.access.Put(key, a, now)
	}
	return a, nil
}

// ForgetAccess drops the cached access of every caller to a notebook
// (after a change of its members, grants or views), or to every notebook
// when nbID is "" (after a change of groups). It also moves the access
// generation on, so an answer being computed while the change commits is
// never served from the cache: a change takes effect at the next request.
func (s *Catalog) ForgetAccess(nbID string) {
	s.accessGen.Add(1)
	s.access.Drop(func(k string, _ *Rights) bool { return nbID == "" || strings.HasSuffix(k, "|"+nbID) })
	s.shared.Drop(func(k string, _ *sharedNotebook) bool { return nbID == "" || k == nbID })
}

// StoredGrant is a grant row with its metadata.
type StoredGrant struct {
	access.Grant
	CreatedAt, UpdatedAt int64
}

// LoadGrants reads every grant of a notebook, oldest first.
func (s *Catalog) LoadGrants(ctx context.Context, q Querier, nbID string) ([]StoredGrant, error) {
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT id, principal_type, principal_id, table_id, view_id, rows_filter, column_rights, capabilities, created_at, updated_at FROM "+
		s.Inst.Prefix+"grants WHERE notebook_id = ? ORDER BY created_at, id"), nbID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredGrant
	for rows.Next() {
		var g StoredGrant
		var cols, caps string
		if err := rows.Scan(&g.ID, &g.Principal.Type, &g.Principal.ID, &g.TableID, &g.ViewID, &g.Rows, &cols, &caps, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(cols), &g.Columns); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(caps), &g.Capabilities); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ExprFields lists the field names (or ids) a filter expression names; none
// when it does not parse.
func ExprFields(src string) []string {
	e, err := filter.Parse(src)
	if err != nil || e == nil {
		return nil
	}
	return filter.FieldNames(e)
}

// namesSchema records the names a sort asks for; every name is a field.
type namesSchema struct{ names []string }

func (n *namesSchema) Field(name string) (*filter.Field, bool) {
	n.names = append(n.names, name)
	return &filter.Field{Name: name, Type: coffer.TypeText, SQL: "NULL"}, true
}

// sortFields lists the field names (or ids) a sort names.
func sortFields(src string) []string {
	var n namesSchema
	filter.ParseSort(src, &n)
	return n.names
}

// accessRefs are what the notebook's access rules refer to on one table:
// the names (name keys) used by the row conditions of grants on it (or on
// every table) and by the filters and sorts of views that scope grants,
// the columns (ids) those names and the scoping views' column lists
// resolve to, and the scoping views.
type accessRefs struct {
	Names map[string]bool
	Cols  map[string]bool
	Views map[string]bool
}

// AccessRefsOf collects the access references of tm from every grant of
// the notebook (not only the caller's: nobody may change what defines
// another's access either). q reads the notebook's views.
func (s *Catalog) AccessRefsOf(ctx context.Context, q Querier, prefix, nbID string, tm *TableMeta) (*accessRefs, error) {
	grants, err := s.LoadGrants(ctx, s.Inst.R, nbID)
	if err != nil {
		return nil, err
	}
	r := &accessRefs{Names: map[string]bool{}, Cols: map[string]bool{}, Views: map[string]bool{}}
	name := func(n string) {
		r.Names[NameKey(n)] = true
		if cm := tm.Column(n); cm != nil {
			r.Cols[cm.Column.ID] = true
		}
	}
	for _, g := range grants {
		if g.TableID != "" && g.TableID != tm.Table.ID {
			continue
		}
		for _, n := range ExprFields(g.Rows) {
			name(n)
		}
		if g.ViewID == "" || g.TableID == "" {
			continue
		}
		r.Views[g.ViewID] = true
		v, err := s.FindViewRaw(ctx, q, prefix, tm, g.ViewID)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range append(ExprFields(v.Filter), sortFields(v.Sort)...) {
			name(n)
		}
		for _, id := range v.Columns {
			r.Cols[id] = true
		}
	}
	return r, nil
}
