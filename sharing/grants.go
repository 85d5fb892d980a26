package sharing

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

var errGrantNotFound = coffer.Errorf(coffer.ENOTFOUND, "grant not found")

// maxLinkID bounds the opaque id of a share-link principal.
const maxLinkID = 200

// systemSchema is the filter schema of a grant on every table: the system
// fields that every table has (id, created_at, created_by, updated_at,
// updated_by) and no user column.
type systemSchema map[string]*filter.Field

func (s systemSchema) Field(name string) (*filter.Field, bool) {
	f, ok := s[name]
	return f, ok
}

// grantDraft is a grant as requested: names or ids, not yet checked.
type grantDraft struct {
	principal coffer.Principal
	table     *string
	view      *string
	rows      string
	columns   map[string]string
	caps      []string
}

// resolveGrant checks a draft against the notebook's schema and returns
// the grant with ids. A table that is not in the notebook is ENOTFOUND
// (as every id of another notebook); everything else wrong in the body is
// EINVALID with one field error per problem.
func (s *Service) resolveGrant(ctx context.Context, nc *catalog.Conn, d grantDraft) (access.Grant, error) {
	var errs []coffer.FieldError
	g := access.Grant{
		Principal: access.Principal{Type: d.principal.Type, ID: d.principal.ID},
		Rows:      strings.TrimSpace(d.rows),
		Columns:   map[string]access.Right{},
	}
	errs = append(errs, checkPrincipalID(g.Principal)...)
	var tm *catalog.TableMeta
	if d.table != nil {
		var err error
		if tm, err = nc.Schema.Table(*d.table); err != nil {
			return g, err
		}
		g.TableID = tm.Table.ID
	}
	if d.view != nil {
		if tm == nil {
			errs = append(errs, coffer.FieldError{Field: "view", Message: "needs a table: a view scope is a view of one table"})
		} else if v, err := s.LookupView(ctx, nc.DB.R, nc.DB.Prefix, tm, *d.view); err == nil {
			g.ViewID = v.ID
		} else if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			errs = append(errs, coffer.FieldError{Field: "view", Message: fmt.Sprintf("is not a view of the table %q", tm.Table.Name)})
		} else {
			return g, err
		}
	}
	errs = append(errs, grantColumns(g, tm, d.columns)...)
	g.Capabilities = []access.Capability{}
	for _, c := range d.caps {
		if !slices.Contains(g.Capabilities, access.Capability(c)) {
			g.Capabilities = append(g.Capabilities, access.Capability(c))
		}
	}
	var sch filter.Schema = systemSchema(catalog.SystemFields())
	if tm != nil {
		sch = tm
	}
	for _, fe := range access.CheckGrant(g, sch) {
		if strings.HasPrefix(fe.Field, "capabilities[") {
			// Report the index in the request, not in the deduplicated list.
			for i, c := range d.caps {
				if !slices.Contains(access.Capabilities, access.Capability(c)) {
					errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("capabilities[%d]", i), Message: fe.Message})
				}
			}
			continue
		}
		errs = append(errs, fe)
	}
	if tm == nil && g.Rows != "" && !hasField(errs, "rows") {
		errs = append(errs, s.checkRowsEverywhere(nc, g.Rows)...)
	}
	errs = dedupeCapErrors(errs)
	if len(errs) > 0 {
		return g, coffer.Invalid("the grant is not valid", errs...)
	}
	return g, nil
}

// checkPrincipalID checks the form of a grant's principal id.
func checkPrincipalID(p access.Principal) []coffer.FieldError {
	var errs []coffer.FieldError
	switch p.Type {
	case access.PrincipalUser:
		if p.ID != "" && !coffer.ValidID(coffer.PrefixUser, p.ID) {
			errs = append(errs, coffer.FieldError{Field: "principal.id", Message: "must be a user id (usr_…)"})
		}
	case access.PrincipalGroup:
		if p.ID != "" && !coffer.ValidID(coffer.PrefixGroup, p.ID) {
			errs = append(errs, coffer.FieldError{Field: "principal.id", Message: "must be a group id (grp_…)"})
		}
	case access.PrincipalLink:
		id := p.ID
		if utf8.RuneCountInString(id) > maxLinkID || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, coffer.FieldError{Field: "principal.id", Message: fmt.Sprintf("must be at most %d characters, without control characters", maxLinkID)})
		}
	}
	return errs
}

// grantColumns fills g.Columns from the columns as requested (ids or
// names, "*" for every column; nil: read on every column), with one field
// error per problem.
func grantColumns(g access.Grant, tm *catalog.TableMeta, cols map[string]string) []coffer.FieldError {
	var errs []coffer.FieldError
	if cols == nil {
		cols = map[string]string{"*": string(access.Read)}
	}
	keyOf := map[string]string{} // column id → key as written, for errors
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		r := access.Right(cols[k])
		if r != access.None && r != access.Read && r != access.Write {
			errs = append(errs, coffer.FieldError{Field: "columns." + k, Message: "must be none, read or write"})
			continue
		}
		if k == "*" {
			g.Columns["*"] = r
			continue
		}
		if tm == nil {
			errs = append(errs, coffer.FieldError{Field: "columns." + k, Message: `a grant on every table takes only the default "*"`})
			continue
		}
		cm := tm.Column(k)
		if cm == nil {
			errs = append(errs, coffer.FieldError{Field: "columns." + k, Message: fmt.Sprintf("is not a column of the table %q", tm.Table.Name)})
			continue
		}
		if prev, dup := keyOf[cm.Column.ID]; dup {
			errs = append(errs, coffer.FieldError{Field: "columns." + k, Message: fmt.Sprintf("names the same column as %q", prev)})
			continue
		}
		keyOf[cm.Column.ID] = k
		g.Columns[cm.Column.ID] = r
	}
	return errs
}

// checkRowsEverywhere checks a row condition of a grant on every table: a
// condition on system fields holds on every table, unless a table has a
// column of the same name that it does not fit.
func (s *Service) checkRowsEverywhere(nc *catalog.Conn, rows string) []coffer.FieldError {
	// A condition on system fields holds on every table, unless a
	// table has a column of the same name that it does not fit.
	if e, err := filter.Parse(rows); err == nil && e != nil {
		for _, t := range nc.Schema.Tables {
			if _, _, err := filter.Compile(e, t, filter.Env{UserID: "x", UserEmail: "x@example.com"}, s.Dialect); err != nil {
				return []coffer.FieldError{{Field: "rows", Message: fmt.Sprintf("does not fit the table %q: %s", t.Table.Name, coffer.ErrorMessage(err))}}
			}
		}
	}
	return nil
}

func hasField(errs []coffer.FieldError, field string) bool {
	for _, fe := range errs {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// dedupeCapErrors drops repeated field errors (CheckGrant reports each bad
// capability, which resolveGrant maps back to the request's indexes).
func dedupeCapErrors(errs []coffer.FieldError) []coffer.FieldError {
	seen := map[coffer.FieldError]bool{}
	out := errs[:0]
	for _, fe := range errs {
		if !seen[fe] {
			seen[fe] = true
			out = append(out, fe)
		}
	}
	return out
}

// checkGrantPrincipal checks, in the transaction, that a grant's user or
// group exists (EINVALID otherwise: the id is part of the body) and that
// the organization's policy allows sharing with it.
func (s *Service) checkGrantPrincipal(ctx context.Context, tx *store.WriteTx, nb *coffer.Notebook, p access.Principal) error {
	switch p.Type {
	case access.PrincipalUser, access.PrincipalGroup:
		if _, _, err := s.principalName(ctx, tx, p); coffer.ErrorCode(err) == coffer.ENOTFOUND {
			what := "an active user of this instance"
			if p.Type == access.PrincipalGroup {
				what = "an existing group"
			}
			return coffer.Invalid("the grant is not valid", coffer.FieldError{Field: "principal.id", Message: "is not " + what})
		} else if err != nil {
			return err
		}
	}
	return s.checkSharingPolicy(ctx, tx, nb, p)
}

// grantOut turns a stored grant into its API form.
func grantOut(nbID string, g catalog.StoredGrant) *coffer.Grant {
	out := &coffer.Grant{
		ID: g.ID, NotebookID: nbID,
		Principal:    coffer.Principal{Type: g.Principal.Type, ID: g.Principal.ID},
		Rows:         g.Rows,
		Columns:      map[string]string{},
		Capabilities: []string{},
		CreatedAt:    store.FromMicros(g.CreatedAt), UpdatedAt: store.FromMicros(g.UpdatedAt),
	}
	if g.TableID != "" {
		t := g.TableID
		out.Table = &t
	}
	if g.ViewID != "" {
		v := g.ViewID
		out.View = &v
	}
	for k, r := range g.Columns {
		out.Columns[k] = string(r)
	}
	for _, c := range g.Capabilities {
		out.Capabilities = append(out.Capabilities, string(c))
	}
	return out
}

// saveGrant inserts or replaces a grant row.
func (s *Service) saveGrant(ctx context.Context, tx *store.WriteTx, nbID string, g catalog.StoredGrant, insert bool) error {
	cols, err := json.Marshal(g.Columns)
	if err != nil {
		return err
	}
	caps, err := json.Marshal(g.Capabilities)
	if err != nil {
		return err
	}
	if insert {
		_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"grants (id, notebook_id, principal_type, principal_id, table_id, view_id, rows_filter, column_rights, capabilities, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			g.ID, nbID, g.Principal.Type, g.Principal.ID, g.TableID, g.ViewID, g.Rows, string(cols), string(caps), g.CreatedAt, g.UpdatedAt)
		return err
	}
	_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"grants SET principal_type = ?, principal_id = ?, table_id = ?, view_id = ?, rows_filter = ?, column_rights = ?, capabilities = ?, updated_at = ? WHERE id = ? AND notebook_id = ?"),
		g.Principal.Type, g.Principal.ID, g.TableID, g.ViewID, g.Rows, string(cols), string(caps), g.UpdatedAt, g.ID, nbID)
	return err
}

// openForGrants opens a notebook for a grant change: its schema resolves
// names. Callers who are not owners or admins are refused before their
// request is looked at.
func (s *Service) openForGrants(ctx context.Context, notebook string) (*catalog.Conn, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, err
	}
	if err := requireManager(nc.Rights); err != nil {
		nc.Release()
		return nil, err
	}
	return nc, nil
}

// CreateGrant adds a grant to a notebook.
func (s *Service) CreateGrant(ctx context.Context, notebook string, in coffer.GrantInput) (*coffer.Grant, error) {
	nc, err := s.openForGrants(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("CreateGrant", err)
	}
	defer nc.Release()
	var out *coffer.Grant
	err = s.sharingTx(ctx, notebook, "CreateGrant", func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error {
		if err := requireManager(a); err != nil {
			return err
		}
		g, err := s.resolveGrant(ctx, nc, grantDraft{principal: in.Principal, table: in.Table, view: in.View, rows: in.Rows, columns: in.Columns, caps: in.Capabilities})
		if err != nil {
			return err
		}
		if err := s.checkGrantPrincipal(ctx, tx, nb, g.Principal); err != nil {
			return err
		}
		now := s.NowMicros()
		g.ID = coffer.NewID(coffer.PrefixGrant)
		sg := catalog.StoredGrant{Grant: g, CreatedAt: now, UpdatedAt: now}
		if err := s.saveGrant(ctx, tx, nb.ID, sg, true); err != nil {
			return err
		}
		out = grantOut(nb.ID, sg)
		return nil
	})
	return out, err
}

// FindGrants lists a notebook's grants.
func (s *Service) FindGrants(ctx context.Context, notebook string) ([]*coffer.Grant, error) {
	out := []*coffer.Grant{}
	err := s.ReadTx(ctx, s.Inst.R, "FindGrants", func(tx *sql.Tx) error {
		nb, a, err := s.FindNotebookAccess(ctx, tx, notebook)
		if err != nil {
			return err
		}
		if err := requireManager(a); err != nil {
			return err
		}
		gs, err := s.LoadGrants(ctx, tx, nb.ID)
		for _, g := range gs {
			out = append(out, grantOut(nb.ID, g))
		}
		return err
	})
	return out, err
}

// findGrant returns one grant of the notebook, or ENOTFOUND.
func (s *Service) findGrant(ctx context.Context, q catalog.Querier, nbID, id string) (catalog.StoredGrant, error) {
	if !coffer.ValidID(coffer.PrefixGrant, id) {
		return catalog.StoredGrant{}, errGrantNotFound
	}
	gs, err := s.LoadGrants(ctx, q, nbID)
	if err != nil {
		return catalog.StoredGrant{}, err
	}
	for _, g := range gs {
		if g.ID == id {
			return g, nil
		}
	}
	return catalog.StoredGrant{}, errGrantNotFound
}

// FindGrant returns one grant.
func (s *Service) FindGrant(ctx context.Context, notebook, id string) (*coffer.Grant, error) {
	var out *coffer.Grant
	err := s.ReadTx(ctx, s.Inst.R, "FindGrant", func(tx *sql.Tx) error {
		nb, a, err := s.FindNotebookAccess(ctx, tx, notebook)
		if err != nil {
			return err
		}
		if err := requireManager(a); err != nil {
			return err
		}
		g, err := s.findGrant(ctx, tx, nb.ID, id)
		if err != nil {
			return err
		}
		out = grantOut(nb.ID, g)
		return nil
	})
	return out, err
}

// UpdateGrant changes a grant.
func (s *Service) UpdateGrant(ctx context.Context, notebook, id string, upd coffer.GrantUpdate) (*coffer.Grant, error) {
	nc, err := s.openForGrants(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("UpdateGrant", err)
	}
	defer nc.Release()
	var out *coffer.Grant
	err = s.sharingTx(ctx, notebook, "UpdateGrant", func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error {
		if err := requireManager(a); err != nil {
			return err
		}
		cur, err := s.findGrant(ctx, tx, nb.ID, id)
		if err != nil {
			return err
		}
		d := grantDraft{principal: coffer.Principal{Type: cur.Principal.Type, ID: cur.Principal.ID}, rows: cur.Rows, columns: map[string]string{}}
		if cur.TableID != "" {
			t := cur.TableID
			d.table = &t
		}
		if cur.ViewID != "" {
			v := cur.ViewID
			d.view = &v
		}
		for _, c := range cur.Capabilities {
			d.caps = append(d.caps, string(c))
		}
		var tm *catalog.TableMeta
		if cur.TableID != "" {
			tm = nc.Schema.ByID[cur.TableID]
		}
		for k, r := range cur.Columns {
			// Rights on columns deleted since are dropped, unless the
			// Table changes (then new column rights are needed anyway).
			if k == "*" || upd.Table.Set || (tm != nil && tm.Column(k) != nil) {
				d.columns[k] = string(r)
			}
		}
		if upd.Principal != nil {
			d.principal = *upd.Principal
		}
		if upd.Table.Set {
			d.table = upd.Table.Value
		}
		if upd.View.Set {
			d.view = upd.View.Value
		}
		if upd.Rows != nil {
			d.rows = *upd.Rows
		}
		if upd.Columns != nil {
			d.columns = upd.Columns
		}
		if upd.Capabilities != nil {
			d.caps = *upd.Capabilities
		}
		g, err := s.resolveGrant(ctx, nc, d)
		if err != nil {
			return err
		}
		if err := s.checkGrantPrincipal(ctx, tx, nb, g.Principal); err != nil {
			return err
		}
		g.ID = cur.ID
		sg := catalog.StoredGrant{Grant: g, CreatedAt: cur.CreatedAt, UpdatedAt: s.NowMicros()}
		if err := s.saveGrant(ctx, tx, nb.ID, sg, false); err != nil {
			return err
		}
		out = grantOut(nb.ID, sg)
		return nil
	})
	return out, err
}

// DeleteGrant deletes a grant.
func (s *Service) DeleteGrant(ctx context.Context, notebook, id string) error {
	return s.sharingTx(ctx, notebook, "DeleteGrant", func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error {
		if err := requireManager(a); err != nil {
			return err
		}
		if !coffer.ValidID(coffer.PrefixGrant, id) {
			return errGrantNotFound
		}
		res, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"grants WHERE id = ? AND notebook_id = ?"), id, nb.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errGrantNotFound
		}
		return nil
	})
}
