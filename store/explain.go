package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
)

// Explain says what a user may do on a table, and why.
//
// It runs the engine itself (access.Decide and access.Compile) so that the
// answer is what enforcement does: with a record, each condition is
// evaluated by the database on that record with the SQL that enforcement
// uses, not by a second evaluator that could disagree.
func (s *shSvc) Explain(ctx context.Context, notebook string, q coffer.ExplainQuery) (*coffer.AccessExplanation, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return nil, s.wrap("Explain", err)
	}
	defer nc.release()
	manager := nc.acc.atLeast(access.RoleAdmin)
	self := q.User == "" || q.User == "me" || q.User == c.UserID
	if !manager {
		if !self {
			return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may explain another user's access")
		}
		if q.Record != "" {
			return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may explain access to one record")
		}
	}
	acc := nc.acc
	if !self {
		if !coffer.ValidID(coffer.PrefixUser, q.User) {
			return nil, errUserNotFound
		}
		var email string
		err := s.inst.R.QueryRowContext(ctx, s.q("SELECT email FROM "+s.inst.Prefix+"users WHERE id = ?"), q.User).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errUserNotFound
		}
		if err != nil {
			return nil, s.wrap("Explain", err)
		}
		if acc, err = s.notebookAccess(ctx, s.inst.R, &coffer.Caller{UserID: q.User, Email: email}, nc.nb, accessVersions{}); err != nil {
			return nil, s.wrap("Explain", err)
		}
	}
	tm, err := nc.schema.table(q.Table)
	if err != nil {
		return nil, err
	}
	colIDs := make([]string, len(tm.cols))
	for i, cm := range tm.cols {
		colIDs[i] = cm.c.ID
	}
	views := map[string]*coffer.View{}
	t := access.Table{ID: tm.t.ID, Columns: colIDs, View: func(id string) (*coffer.View, bool) {
		if v, ok := views[id]; ok {
			return v, v != nil
		}
		v, err := s.findViewRaw(ctx, nc.db.R, nc.db.Prefix, tm, id)
		if err != nil {
			v = nil
		}
		views[id] = v
		return v, v != nil
	}}
	d := access.Decide(acc.subj, acc.grants, t)
	if !manager && !d.Visible() {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "table not found")
	}
	conds := d.Conds
	if d.Full {
		conds = []access.Cond{{Source: "role:" + d.Role, Cols: map[string]access.Right{"*": access.Write}, Caps: access.Capabilities}}
	}

	out := &coffer.AccessExplanation{
		User:         coffer.ExplainedUser{ID: acc.subj.UserID, Email: acc.subj.Email, Groups: append([]string{}, acc.subj.Groups...)},
		Table:        tm.t.ID,
		Role:         acc.subj.Role,
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
		if err := s.explainRecord(ctx, nc, tm, d, acc.subj, id, matches); err != nil {
			return nil, err
		}
	}
	stored, err := s.loadGrants(ctx, s.inst.R, nc.nb.ID)
	if err != nil {
		return nil, s.wrap("Explain", err)
	}
	byID := map[string]storedGrant{}
	for _, g := range stored {
		byID[g.ID] = g
	}
	for i, cd := range conds {
		src := coffer.AccessSource{Source: cd.Source, Conditional: cd.Expr != nil}
		if g, ok := byID[cd.Source]; ok {
			src.Grant = grantOut(nc.nb.ID, g)
			if !manager {
				hideColumns(src.Grant, tm, d)
			}
		}
		if q.Record != "" {
			m := matches[i]
			src.Matches = &m
		}
		out.Sources = append(out.Sources, src)
		out.Visible = out.Visible || matches[i]
	}
	for _, cm := range tm.cols {
		if !manager && !d.Filterable(cm.c.ID) {
			// Hidden from the caller in every row: to them, no column.
			continue
		}
		ca := coffer.ColumnAccess{Column: cm.c.ID, Name: cm.c.Name, Access: coffer.AccessHidden, ReadBy: []string{}, WriteBy: []string{}}
		for i, cd := range conds {
			if !matches[i] {
				continue
			}
			switch cd.Right(cm.c.ID) {
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
		out.Columns = append(out.Columns, ca)
	}
	for _, cp := range access.Capabilities {
		for i, cd := range conds {
			if matches[i] && containsCap(cd.Caps, cp) {
				out.Capabilities[string(cp)] = append(out.Capabilities[string(cp)], cd.Source)
			}
		}
	}
	return out, nil
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
func (s *shSvc) explainRecord(ctx context.Context, nc *nbConn, tm *tableMeta, d *access.Decision, subj access.Subject, id string, matches []bool) error {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return errRecordNotFound
	}
	var sel []string
	var args []any
	if d.Full {
		sel = append(sel, "1")
	} else {
		p := access.Compile(d, tm, subj.Env(), s.d, "t")
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
	err := nc.db.R.QueryRowContext(ctx, s.q("SELECT "+strings.Join(sel, ", ")+" FROM "+tm.sql+" t WHERE t.id = ?"), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errRecordNotFound
	}
	if err != nil {
		return s.wrap("Explain", err)
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
func hideColumns(g *coffer.Grant, tm *tableMeta, d *access.Decision) {
	hidden := func(name string) bool {
		cm := tm.column(name)
		return cm != nil && !d.Filterable(cm.c.ID)
	}
	for k := range g.Columns {
		if k != "*" && (tm.column(k) == nil || hidden(k)) {
			delete(g.Columns, k)
		}
	}
	for _, n := range exprFields(g.Rows) {
		if hidden(n) {
			g.Rows = ""
			break
		}
	}
}
