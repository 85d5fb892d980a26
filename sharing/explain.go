package sharing

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Explain says what a user may do on a table, and why.
//
// It runs the engine itself (access.Decide and access.Compile) so that the
// answer is what enforcement does: with a record, each condition is
// evaluated by the database on that record with the SQL that enforcement
// uses, not by a second evaluator that could disagree.
func (s *Service) Explain(ctx context.Context, notebook string, q coffer.ExplainQuery) (*coffer.AccessExplanation, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("Explain", err)
	}
	defer nc.Release()
	manager := nc.Rights.AtLeast(access.RoleAdmin)
	self := q.User == "" || q.User == "me" || q.User == c.UserID
	if !manager {
		if !self {
			return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may explain another user's access")
		}
		if q.Record != "" {
			return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may explain access to one record")
		}
	}
	acc, err := s.explainedAccess(ctx, nc, q.User, self)
	if err != nil {
		return nil, err
	}
	tm, err := nc.Schema.Table(q.Table)
	if err != nil {
		return nil, err
	}
	t := s.accessTable(ctx, nc, tm)
	d := access.Decide(acc.Subj, acc.Grants, t)
	if !manager && !d.Visible() {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "table not found")
	}
	conds := d.Conds
	if d.Full {
		conds = []access.Cond{{Source: "role:" + d.Role, Cols: map[string]access.Right{"*": access.Write}, Caps: access.Capabilities}}
	}

	out := &coffer.AccessExplanation{
		User:         coffer.ExplainedUser{ID: acc.Subj.UserID, Email: acc.Subj.Email, Groups: append([]string{}, acc.Subj.Groups...)},
		Table:        tm.Table.ID,
		Role:         acc.Subj.Role,
		Sources:      []coffer.AccessSource{},
		Columns:      []coffer.ColumnAccess{},
		Capabilities: map[string][]string{},
	}
	// matches[i] says whether condition i applies (to the record, or to
	// some rows when there is no record).
	matches := make([]bool, len(conds))
	for i := range matches {
		matches[i] = true
	}
	if q.Record != "" {
		id := q.Record
		out.Record = &id
		if err := s.explainRecord(ctx, nc, tm, d, acc.Subj, id, matches); err != nil {
			return nil, err
		}
	}
	stored, err := s.LoadGrants(ctx, s.Inst.R, nc.Notebook.ID)
	if err != nil {
		return nil, s.Wrap("Explain", err)
	}
	out.Sources, out.Visible = explainSources(nc.Notebook.ID, stored, tm, d, conds, matches, manager, q.Record != "")
	out.Columns = explainColumns(tm, d, conds, matches, manager)
	for _, cp := range access.Capabilities {
		for i, cd := range conds {
			if matches[i] && containsCap(cd.Caps, cp) {
				out.Capabilities[string(cp)] = append(out.Capabilities[string(cp)], cd.Source)
			}
		}
	}
	return out, nil
}

// explainedAccess returns the access whose explanation is asked: the
// caller's own (self), or that of user, read afresh.
func (s *Service) explainedAccess(ctx context.Context, nc *catalog.Conn, user string, self bool) (*catalog.Rights, error) {
	if self {
		return nc.Rights, nil
	}
	if !coffer.ValidID(coffer.PrefixUser, user) {
		return nil, catalog.ErrUserNotFound
	}
	var email string
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT email FROM "+s.Inst.Prefix+"users WHERE id = ?"), user).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, catalog.ErrUserNotFound
	}
	if err != nil {
		return nil, s.Wrap("Explain", err)
	}
	acc, err := s.NotebookAccess(ctx, s.Inst.R, &coffer.Caller{UserID: user, Email: email}, nc.Notebook, catalog.AccessVersions{})
	if err != nil {
		return nil, s.Wrap("Explain", err)
	}
	return acc, nil
}

// accessTable describes table tm to the access engine, views read on
// demand (once each).
func (s *Service) accessTable(ctx context.Context, nc *catalog.Conn, tm *catalog.TableMeta) access.Table {
	colIDs := make([]string, len(tm.Cols))
	for i, cm := range tm.Cols {
		colIDs[i] = cm.Column.ID
	}
	views := map[string]*coffer.View{}
	t := access.Table{ID: tm.Table.ID, Columns: colIDs, View: func(id string) (*coffer.View, bool) {
		if v, ok := views[id]; ok {
			return v, v != nil
		}
		v, err := s.FindViewRaw(ctx, nc.DB.R, nc.DB.Prefix, tm, id)
		if err != nil {
			v = nil
		}
		views[id] = v
		return v, v != nil
	}}
	return t
}

// explainSources lists the conditions that give access, each with its
// grant when it comes from one, and whether any matches.
func explainSources(notebook string, stored []catalog.StoredGrant, tm *catalog.TableMeta, d *access.Decision, conds []access.Cond, matches []bool, manager, forRecord bool) (sources []coffer.AccessSource, visible bool) {
	sources = []coffer.AccessSource{}
	byID := map[string]catalog.StoredGrant{}
	for _, g := range stored {
		byID[g.ID] = g
	}
	for i, cd := range conds {
		src := coffer.AccessSource{Source: cd.Source, Conditional: cd.Expr != nil}
		if g, ok := byID[cd.Source]; ok {
			src.Grant = grantOut(notebook, g)
			if !manager {
				hideColumns(src.Grant, tm, d)
			}
		}
		if forRecord {
			m := matches[i]
			src.Matches = &m
		}
		sources = append(sources, src)
		visible = visible || matches[i]
	}
	return sources, visible
}

// explainColumns says, column by column, who may read and write it among
// the conditions that match; columns hidden from a caller who is not a
// manager are left out.
func explainColumns(tm *catalog.TableMeta, d *access.Decision, conds []access.Cond, matches []bool, manager bool) []coffer.ColumnAccess {
	out := []coffer.ColumnAccess{}
	for _, cm := range tm.Cols {
		if !manager && !d.Filterable(cm.Column.ID) {
			// Hidden from the caller in every row: to them, no column.
			continue
		}
		ca := coffer.ColumnAccess{Column: cm.Column.ID, Name: cm.Column.Name, Access: coffer.AccessHidden, ReadBy: []string{}, WriteBy: []string{}}
		for i, cd := range conds {
			if !matches[i] {
				continue
			}
			switch cd.Right(cm.Column.ID) {
			case access.Write:
				ca.WriteBy = append(ca.WriteBy, cd.Source)
				ca.ReadBy = append(ca.ReadBy, cd.Source)
			case access.Read:
				ca.ReadBy = append(ca.ReadBy, cd.Source)
			}
		}
		switch {
		case len(ca.WriteBy) > 0:
			ca.Access = coffer.AccessWrite
		case len(ca.ReadBy) > 0:
			ca.Access = coffer.AccessRead
		}
		out = append(out, ca)
	}
	return out
}

func containsCap(caps []access.Capability, c access.Capability) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

// explainRecord evaluates every condition of d on one record, with the
// SQL that enforcement compiles (a stale condition matches nothing), and
// sets matches. ENOTFOUND when the record does not exist.
func (s *Service) explainRecord(ctx context.Context, nc *catalog.Conn, tm *catalog.TableMeta, d *access.Decision, subj access.Subject, id string, matches []bool) error {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return catalog.ErrRecordNotFound
	}
	var sel []string
	var args []any
	if d.Full {
		sel = append(sel, "1")
	} else {
		p := access.Compile(d, tm, subj.Env(), s.Dialect, "t")
		for i := range d.Conds {
			cond, a := p.Cond(i)
			sel = append(sel, "CASE WHEN "+cond+" THEN 1 ELSE 0 END")
			args = append(args, a...)
		}
	}
	if len(sel) == 0 {
		sel = append(sel, "1")
	}
	args = append(args, id)
	vals := make([]int64, len(sel))
	dest := make([]any, len(sel))
	for i := range vals {
		dest[i] = &vals[i]
	}
	err := nc.DB.R.QueryRowContext(ctx, s.Rebind("SELECT "+strings.Join(sel, ", ")+" FROM "+tm.SQL+" t WHERE t.id = ?"), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.ErrRecordNotFound
	}
	if err != nil {
		return s.Wrap("Explain", err)
	}
	if !d.Full {
		for i := range d.Conds {
			matches[i] = vals[i] == 1
		}
	}
	return nil
}

// hideColumns removes from a grant shown to a caller who may not manage
// grants what names the columns hidden from them in every row (d is their
// decision): their rights on such columns, and a row condition that names
// one (shown as "", the grant still marked conditional).
func hideColumns(g *coffer.Grant, tm *catalog.TableMeta, d *access.Decision) {
	hidden := func(name string) bool {
		cm := tm.Column(name)
		return cm != nil && !d.Filterable(cm.Column.ID)
	}
	for k := range g.Columns {
		if k != "*" && (tm.Column(k) == nil || hidden(k)) {
			delete(g.Columns, k)
		}
	}
	for _, n := range catalog.ExprFields(g.Rows) {
		if hidden(n) {
			g.Rows = ""
			break
		}
	}
}
