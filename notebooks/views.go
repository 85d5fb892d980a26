package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// errScopingView refuses a change to a view that scopes a grant (or its
// deletion, with its table) to someone who may not manage grants.
var errScopingView = coffer.Errorf(coffer.EFORBIDDEN, "this view scopes a grant: only the notebook's owners and admins, who manage grants, may change or delete it")

// checkView validates a view's filter, sort and columns against the table
// and returns the column ids.
func (s *Service) checkView(tp *catalog.TablePlan, name, filterSrc, sortSrc string, columns []string) (string, []string, error) {
	// The caller's view of the table: columns hidden from them are unknown.
	sch := filter.Schema(tp.Schema())
	var errs []coffer.FieldError
	n, fe := catalog.CheckName("name", name)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if e, err := filter.Parse(filterSrc); coffer.ErrorCode(err) == coffer.ETOOCOMPLEX {
		return "", nil, err // over a cap: its own code
	} else if err != nil {
		errs = append(errs, coffer.ErrorFields(err)...)
	} else if e != nil {
		// @user values are resolved per caller when the view is used; any
		// values check the expression here.
		if _, _, err := filter.Compile(e, sch, filter.Env{UserID: "x", UserEmail: "x@x.x"}, s.Dialect); err != nil {
			errs = append(errs, coffer.ErrorFields(err)...)
		}
	}
	if _, err := filter.ParseSort(sortSrc, sch); err != nil {
		errs = append(errs, coffer.ErrorFields(err)...)
	}
	ids := []string{}
	seen := map[string]bool{}
	for i, c := range columns {
		cm := tp.Visible(c)
		if cm == nil {
			errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("columns[%d]", i), Message: "is not a column of this table"})
			continue
		}
		if !seen[cm.Column.ID] {
			seen[cm.Column.ID] = true
			ids = append(ids, cm.Column.ID)
		}
	}
	if len(errs) > 0 {
		return "", nil, coffer.Invalid("the view is not valid", errs...)
	}
	return n, ids, nil
}

// viewWrite opens the notebook and table and runs fn in a write
// transaction, with the caller's view of the table.
func (s *Service) viewWrite(ctx context.Context, notebook, table, op string, fn func(tx *store.WriteTx, vw *viewWriter) error) error {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return s.Wrap(op, err)
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return err
	}
	// Editors save views; otherwise the schema right on this very table.
	if !nc.Rights.AtLeast(access.RoleEditor) && !tp.Decision.Can(access.CapSchema) {
		return coffer.Errorf(coffer.EFORBIDDEN, "saving views needs the editor role or the schema right in this notebook")
	}
	// Grants may be scoped to views: compiled rights are recomputed, here
	// at once and, through the notebook's access_version, on every node.
	defer s.ForgetAccess(notebook)
	vw := &viewWriter{s: s, nc: nc, tm: tm, tp: tp, prefix: nc.DB.Prefix}
	err = s.Write(ctx, nc.DB, op, func(tx *store.WriteTx) error {
		vw.rec = &history.Recorder{}
		if err := fn(tx, vw); err != nil {
			return err
		}
		_, err := s.record(ctx, tx, nc.DB, nc.Schema, vw.rec)
		return err
	})
	if err != nil {
		return err
	}
	return s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebooks SET access_version = access_version + 1 WHERE id = ?"), notebook)
		return err
	})
}

// viewWriter is what a view change needs: the table and the caller's
// view of it.
type viewWriter struct {
	s      *Service
	nc     *catalog.Conn
	tm     *catalog.TableMeta
	tp     *catalog.TablePlan
	prefix string
	rec    *history.Recorder // the change, for history
}

// recordView records a view change: the view before (nil when created)
// and after (nil when deleted).
func (vw *viewWriter) recordView(kind string, before, after *coffer.View) {
	name := ""
	if after != nil {
		name = after.Name
	} else if before != nil {
		name = before.Name
	}
	verb := map[string]string{history.KindViewCreate: "created", history.KindViewUpdate: "changed", history.KindViewDelete: "deleted"}[kind]
	vw.rec.Begin(kind, vw.tm.Table.ID, fmt.Sprintf("%s view %s of table %s", verb, name, vw.tm.Table.Name))
	vw.rec.Inverse = history.MustJSON(history.ViewInverse{Before: before, After: after})
}

// existing finds a view the caller may change: one they cannot see answers
// ENOTFOUND like a missing one; one that scopes a grant changes only by
// those who may manage grants (the right to change what defines access is
// the right to grant it), whatever else they may do.
func (vw *viewWriter) existing(ctx context.Context, tx *store.WriteTx, view string) (*coffer.View, error) {
	v, err := vw.s.LookupView(ctx, tx, vw.prefix, vw.tm, view)
	if err != nil {
		return nil, err
	}
	if !vw.tp.Full() && !vw.s.viewUsable(vw.tp, v) {
		return nil, catalog.ErrViewNotFound
	}
	if !vw.nc.Rights.AtLeast(access.RoleAdmin) {
		grants, err := vw.s.LoadGrants(ctx, vw.s.Inst.R, vw.nc.Notebook.ID)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			if g.ViewID == v.ID {
				return nil, errScopingView
			}
		}
	}
	return v, nil
}

// viewAs returns a view as the caller sees it: without the columns hidden
// from them, and not at all (false: the caller is told ENOTFOUND, as for a
// missing view) when its filter or sort uses a column hidden from them in
// every row, or a link column whose table they see in part.
func (s *Service) viewAs(tp *catalog.TablePlan, v *coffer.View) (*coffer.View, bool) {
	if tp.Full() {
		return v, true
	}
	if !s.viewUsable(tp, v) {
		return nil, false
	}
	out := *v
	out.Columns = []string{}
	for _, id := range v.Columns {
		if _, ok := tp.Fields[id]; ok {
			out.Columns = append(out.Columns, id)
		}
	}
	return &out, true
}

// viewUsable reports whether a view's filter and sort compile against the
// caller's view of the table wherever they compile against the table
// itself (a view made stale by a schema change stays shown, as to anyone).
func (s *Service) viewUsable(tp *catalog.TablePlan, v *coffer.View) bool {
	sch := tp.Schema()
	env := filter.Env{UserID: "x", UserEmail: "x@x.x"}
	if e, err := filter.Parse(v.Filter); err == nil && e != nil {
		if _, _, err := filter.Compile(e, tp.Table, env, s.Dialect); err == nil {
			if _, _, err := filter.Compile(e, sch, env, s.Dialect); err != nil {
				return false
			}
		}
	}
	if _, err := filter.ParseSort(v.Sort, tp.Table); err == nil {
		if _, err := filter.ParseSort(v.Sort, sch); err != nil {
			return false
		}
	}
	return sch.Check("view") == nil
}

func viewNameTaken(name string) error {
	return &coffer.Error{Code: coffer.ECONFLICT, Message: "a view with this name already exists",
		Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another view of the table"}}}
}

// CreateView saves a view.
func (s *Service) CreateView(ctx context.Context, notebook, table string, in coffer.ViewInput) (*coffer.View, error) {
	var out *coffer.View
	err := s.viewWrite(ctx, notebook, table, "CreateView", func(tx *store.WriteTx, vw *viewWriter) error {
		prefix, tm := vw.prefix, vw.tm
		name, ids, err := s.checkView(vw.tp, in.Name, in.Filter, in.Sort, in.Columns)
		if err != nil {
			return err
		}
		if _, err := s.LookupView(ctx, tx, prefix, tm, name); err == nil {
			return viewNameTaken(name)
		}
		now := s.NowMicros()
		v := &coffer.View{ID: coffer.NewID(coffer.PrefixView), TableID: tm.Table.ID, Name: name, Filter: in.Filter, Sort: in.Sort, Columns: ids,
			CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
		cols, _ := json.Marshal(ids)
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+prefix+"_views (id, table_id, name, name_key, filter, sort, columns, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			v.ID, v.TableID, v.Name, catalog.NameKey(v.Name), v.Filter, v.Sort, string(cols), now, now); err != nil {
			return err
		}
		vw.recordView(history.KindViewCreate, nil, v)
		out, _ = s.viewAs(vw.tp, v)
		return nil
	})
	return out, err
}

// FindViews lists the views of a table by name.
func (s *Service) FindViews(ctx context.Context, notebook, table string) ([]*coffer.View, error) {
	nc, tp, err := s.openPlan(ctx, "FindViews", notebook, table)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	tm := tp.Table
	rows, err := nc.DB.R.QueryContext(ctx, s.Rebind("SELECT "+catalog.ViewCols+" FROM "+nc.DB.Prefix+"_views WHERE table_id = ? ORDER BY name_key, id"), tm.Table.ID)
	if err != nil {
		return nil, s.Wrap("FindViews", err)
	}
	defer rows.Close()
	out := []*coffer.View{}
	for rows.Next() {
		v, err := catalog.ScanView(rows)
		if err != nil {
			return nil, s.Wrap("FindViews", err)
		}
		if v, ok := s.viewAs(tp, v); ok {
			out = append(out, v)
		}
	}
	return out, s.Wrap("FindViews", rows.Err())
}

// FindView returns one view.
func (s *Service) FindView(ctx context.Context, notebook, table, view string) (*coffer.View, error) {
	nc, tp, err := s.openPlan(ctx, "FindView", notebook, table)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	tm := tp.Table
	v, err := s.LookupView(ctx, nc.DB.R, nc.DB.Prefix, tm, view)
	if err != nil {
		return nil, s.Wrap("FindView", err)
	}
	v, ok := s.viewAs(tp, v)
	if !ok {
		return nil, catalog.ErrViewNotFound
	}
	return v, nil
}

// UpdateView changes a view.
func (s *Service) UpdateView(ctx context.Context, notebook, table, view string, upd coffer.ViewUpdate) (*coffer.View, error) {
	var out *coffer.View
	err := s.viewWrite(ctx, notebook, table, "UpdateView", func(tx *store.WriteTx, vw *viewWriter) error {
		prefix, tm := vw.prefix, vw.tm
		v, err := vw.existing(ctx, tx, view)
		if err != nil {
			return err
		}
		before := *v
		before.Columns = slices.Clone(v.Columns)
		// Columns of the view hidden from the caller stay as they are
		// unless they give the list anew.
		var kept []string
		for _, id := range v.Columns {
			if vw.tp.Visible(id) == nil {
				kept = append(kept, id)
			}
		}
		if upd.Name != nil {
			v.Name = *upd.Name
		}
		if upd.Filter != nil {
			v.Filter = *upd.Filter
		}
		if upd.Sort != nil {
			v.Sort = *upd.Sort
		}
		if upd.Columns != nil {
			v.Columns = *upd.Columns
			kept = nil
		} else {
			seen, _ := s.viewAs(vw.tp, v)
			v.Columns = seen.Columns
		}
		name, ids, err := s.checkView(vw.tp, v.Name, v.Filter, v.Sort, v.Columns)
		if err != nil {
			return err
		}
		ids = append(ids, kept...)
		if other, err := s.LookupView(ctx, tx, prefix, tm, name); err == nil && other.ID != v.ID {
			return viewNameTaken(name)
		}
		now := s.NowMicros()
		v.Name, v.Columns, v.UpdatedAt = name, ids, store.FromMicros(now)
		cols, _ := json.Marshal(ids)
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+prefix+"_views SET name = ?, name_key = ?, filter = ?, sort = ?, columns = ?, updated_at = ? WHERE id = ?"),
			v.Name, catalog.NameKey(v.Name), v.Filter, v.Sort, string(cols), now, v.ID); err != nil {
			return err
		}
		vw.recordView(history.KindViewUpdate, &before, v)
		out, _ = s.viewAs(vw.tp, v)
		return nil
	})
	return out, err
}

// DeleteView deletes a view.
func (s *Service) DeleteView(ctx context.Context, notebook, table, view string) error {
	return s.viewWrite(ctx, notebook, table, "DeleteView", func(tx *store.WriteTx, vw *viewWriter) error {
		v, err := vw.existing(ctx, tx, view)
		if err != nil {
			return err
		}
		vw.recordView(history.KindViewDelete, v, nil)
		_, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+vw.prefix+"_views WHERE id = ?"), v.ID)
		return err
	})
}
