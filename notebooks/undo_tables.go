package notebooks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// The inversions of table actions and of view actions.

// dropTable inverts the creation of a table: it is deleted, with its
// records and views recorded, if it holds only the records the action
// wrote, as it wrote them.
func (inv *inversion) dropTable(payload json.RawMessage) error {
	var ti history.TableInverse
	if err := json.Unmarshal(payload, &ti); err != nil || ti.Table == nil {
		return fmt.Errorf("table inverse: %v", err)
	}
	tm := inv.sc.ByID[ti.Table.ID]
	if tm == nil {
		return coffer.Errorf(coffer.ECONFLICT, "the table was deleted since")
	}
	if err := inv.schemaRight(tm.Table.ID); err != nil {
		return err
	}
	if err := inv.mayDropTable(tm); err != nil {
		return err
	}
	wrote := map[string]*history.NetRecord{}
	for _, n := range history.Net(inv.target.Changes) {
		if n.Table == tm.Table.ID && n.After != nil {
			wrote[n.Record] = n
		}
	}
	var changed []conflictCell
	err := inv.s.eachRecord(inv.ctx, inv.tx, tm, func(r *coffer.Record) {
		n := wrote[r.ID]
		if n == nil {
			changed = append(changed, conflictCell{r.ID, ""})
			return
		}
		after := map[string]*string{}
		for _, c := range n.Cells {
			after[c.Column] = c.After
		}
		for _, cm := range tm.Cols {
			if !cm.Column.Type.Automatic() && !history.Same(history.Encode(r.Fields[cm.Column.Name]), after[cm.Column.ID]) {
				changed = append(changed, conflictCell{r.ID, cm.Column.Name})
			}
		}
	})
	if err != nil {
		return err
	}
	if err := inv.conflictRows(tm, changed); err != nil {
		return err
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	return inv.deleteTable(tm)
}

// conflictCell is a cell (column "" for the record) in conflict.
type conflictCell struct{ record, column string }

// conflictRows notes cells of tm in conflict: by record where the caller
// sees the row, once without it for the rows hidden from them.
func (inv *inversion) conflictRows(tm *catalog.TableMeta, cells []conflictCell) error {
	if len(cells) == 0 {
		return nil
	}
	ids := make([]string, 0, len(cells))
	for _, c := range cells {
		ids = append(ids, c.record)
	}
	seen := map[string]bool{}
	if inv.nc.Rights.AtLeast(access.RoleAdmin) {
		for _, id := range ids {
			seen[id] = true
		}
	} else {
		var err error
		if seen, err = inv.s.VisibleIDs(inv.ctx, inv.tx, inv.nc.Rights, inv.nc.DB.Prefix, tm, ids); err != nil {
			return err
		}
	}
	hidden := false
	for _, c := range cells {
		if seen[c.record] {
			inv.conflict(tm.Table.Name, c.record, c.column)
		} else if !hidden {
			hidden = true
			inv.conflict(tm.Table.Name, "", "")
		}
	}
	return nil
}

// mayDropTable refuses, as DeleteTable does, to drop a table that other
// tables link to, or whose views scope grants (to a caller who may not
// manage grants).
func (inv *inversion) mayDropTable(tm *catalog.TableMeta) error {
	for _, other := range inv.sc.Tables {
		for _, cm := range other.Cols {
			if other != tm && cm.Column.Type == coffer.TypeLink && cm.Column.Options.Table == tm.Table.ID {
				return coffer.Errorf(coffer.ECONFLICT, "column %q of table %q links to this table: delete that column first", cm.Column.Name, other.Table.Name)
			}
		}
	}
	if inv.nc.Rights.AtLeast(access.RoleAdmin) {
		return nil
	}
	refs, err := inv.s.AccessRefsOf(inv.ctx, inv.tx, inv.nc.DB.Prefix, inv.nc.Notebook.ID, tm)
	if err != nil {
		return err
	}
	for id := range refs.Views {
		if _, err := inv.s.FindViewRaw(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm, id); err == nil {
			return errScopingView
		}
	}
	return nil
}

// deleteTable drops table tm, recording its definition, views and
// records (as DeleteTable does).
func (inv *inversion) deleteTable(tm *catalog.TableMeta) error {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	kind, summary := inv.rec.Kind, inv.rec.Summary
	if err := s.recordTableDelete(ctx, tx, inv.nc, tm, inv.rec); err != nil {
		return err
	}
	var ti history.TableInverse
	if err := json.Unmarshal(inv.rec.Inverse, &ti); err != nil {
		return err
	}
	inv.rec.Kind, inv.rec.Summary = kind, summary
	inv.invertedAs(history.KindTableDelete, ti)
	inv.views = len(ti.Views) > 0
	for _, cm := range tm.Cols {
		if cm.Junction != "" {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+cm.Junction); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE "+tm.SQL); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+p+"_tables WHERE id = ?"), tm.Table.ID)
	return err
}

// reviveTable inverts the deletion of a table: it comes back with its id,
// columns, records (ids, creation and values, links included) and views.
func (inv *inversion) reviveTable(payload json.RawMessage) error {
	var ti history.TableInverse
	if err := json.Unmarshal(payload, &ti); err != nil || ti.Table == nil {
		return fmt.Errorf("table inverse: %v", err)
	}
	if err := inv.schemaRight(""); err != nil {
		return err
	}
	t := ti.Table
	if err := inv.mayReviveTable(t, ti.Views); err != nil {
		return err
	}
	nets := history.Net(inv.target.Changes)
	if err := inv.checkOutgoingLinks(t, nets); err != nil {
		return err
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	tm, err := inv.createTable(t)
	if err != nil {
		return err
	}
	var links []history.NetRecord
	for _, n := range nets {
		if n.Table != t.ID || !n.Deleted() {
			continue
		}
		if err := inv.insertRecord(tm, n); err != nil {
			return err
		}
		links = append(links, *n)
	}
	for _, n := range links {
		for _, c := range n.Cells {
			if cm := tm.Column(c.Column); cm != nil && cm.Junction != "" && c.Before != nil {
				if err := inv.writeCell(tm, cm.Column, n.Record, nil, c.Before); err != nil {
					return err
				}
			}
		}
	}
	if err := inv.insertViews(tm, ti.Views); err != nil {
		return err
	}
	inv.invertedAs(history.KindTableCreate, history.TableInverse{Table: t, Views: ti.Views})
	return nil
}

// mayReviveTable refuses to bring table t back when it exists, its name
// is taken, a table it links to is gone, or one of its views would scope
// a grant again (to a caller who may not manage grants).
func (inv *inversion) mayReviveTable(t *coffer.Table, views []*coffer.View) error {
	if inv.sc.ByID[t.ID] != nil {
		return coffer.Errorf(coffer.ECONFLICT, "the table exists again")
	}
	if _, err := inv.sc.Table(t.Name); err == nil {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: fmt.Sprintf("another table is named %q now: rename it first", t.Name),
			Cells: []coffer.CellRef{{Table: t.Name}}}
	}
	for _, c := range t.Columns {
		if c.Type == coffer.TypeLink && c.Options.Table != t.ID && inv.sc.ByID[c.Options.Table] == nil {
			return coffer.Errorf(coffer.ECONFLICT, "column %q links to a table that was deleted: restore that table first", c.Name)
		}
	}
	if inv.nc.Rights.AtLeast(access.RoleAdmin) || len(views) == 0 {
		return nil
	}
	grants, err := inv.s.LoadGrants(inv.ctx, inv.s.Inst.R, inv.nc.Notebook.ID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		for _, v := range views {
			if g.ViewID == v.ID {
				return errScopingView
			}
		}
	}
	return nil
}

// checkOutgoingLinks notes as conflicts the links of the table's records
// to records of other tables that no longer exist.
func (inv *inversion) checkOutgoingLinks(t *coffer.Table, nets []*history.NetRecord) error {
	for _, c := range t.Columns {
		target := inv.sc.ByID[c.Options.Table]
		if c.Type != coffer.TypeLink || c.Options.Table == t.ID || target == nil {
			continue
		}
		for _, n := range nets {
			for _, cell := range n.Cells {
				if n.Table != t.ID || cell.Column != c.ID || cell.Before == nil {
					continue
				}
				var ids []string
				if err := json.Unmarshal([]byte(*cell.Before), &ids); err != nil {
					return err
				}
				if len(ids) == 0 {
					continue
				}
				found, err := inv.s.existingIDs(inv.ctx, inv.tx, target, ids)
				if err != nil {
					return err
				}
				if len(found) < len(ids) {
					inv.conflict(t.Name, n.Record, c.Name)
				}
			}
		}
	}
	return nil
}

// createTable creates table t with its columns (their ids), as
// CreateTable does, and returns it from the catalogue reloaded.
func (inv *inversion) createTable(t *coffer.Table) (*catalog.TableMeta, error) {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	var pos int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) + 1 FROM "+p+"_tables").Scan(&pos); err != nil {
		return nil, err
	}
	layout, err := json.Marshal(t.Layout)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+p+"_tables (id, name, name_key, position, created_at, updated_at, layout) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		t.ID, t.Name, catalog.NameKey(t.Name), pos, t.CreatedAt.UnixMicro(), s.NowMicros(), string(layout)); err != nil {
		return nil, err
	}
	tableDDL, linkDDL := TableDDL(s.Dialect, p, t)
	for _, st := range append(tableDDL, linkDDL...) {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return nil, err
		}
	}
	for i, c := range t.Columns {
		if err := s.insertColumnRow(ctx, tx, p, t.ID, c, i+1); err != nil {
			return nil, err
		}
	}
	sc, err := s.SchemaTx(ctx, inv.nc.Notebook.ID, inv.nc.DB, tx)
	if err != nil {
		return nil, err
	}
	inv.sc = sc
	return sc.ByID[t.ID], nil
}

// insertRecord inserts a record of a table coming back with its id,
// creation metadata and values (links are written once every record is
// back), and records it.
func (inv *inversion) insertRecord(tm *catalog.TableMeta, n *history.NetRecord) error {
	s, ctx, tx := inv.s, inv.ctx, inv.tx
	var meta history.RecordMeta
	if err := json.Unmarshal([]byte(*n.Before), &meta); err != nil {
		return err
	}
	now := s.NowMicros()
	cols := []string{"id", "version", "created_at", "created_by", "updated_at", "updated_by"}
	args := []any{n.Record, 1, meta.CreatedAt, meta.CreatedBy, now, inv.by}
	var vals [][2]any
	for _, c := range n.Cells {
		cm := tm.Column(c.Column)
		if cm == nil || cm.Phys == "" || c.Before == nil {
			continue
		}
		raw, err := decodeCell(c.Before)
		if err != nil {
			return err
		}
		v, err := value.FromJSON(cm.Column, raw)
		if err != nil {
			return coffer.Errorf(coffer.ECONFLICT, "a value of column %q no longer fits it: %v", cm.Column.Name, err)
		}
		cols, args = append(cols, cm.Phys), append(args, v)
		if cm.Key != "" {
			cols, args = append(cols, cm.Key), append(args, catalog.KeyOf(v))
		}
		vals = append(vals, [2]any{cm.Column, v})
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+tm.SQL+" ("+strings.Join(cols, ", ")+") VALUES ("+catalog.Placeholders(len(args))+")"), args...); err != nil {
		return err
	}
	inv.rec.Created(tm.Table.ID, n.Record, meta)
	for _, cv := range vals {
		c := cv[0].(*coffer.Column)
		inv.rec.Cell(tm.Table.ID, n.Record, c.ID, nil, value.ToJSON(c, cv[1]))
	}
	return nil
}

// insertViews stores the views of a table coming back, with their ids.
func (inv *inversion) insertViews(tm *catalog.TableMeta, views []*coffer.View) error {
	for _, v := range views {
		if err := inv.insertView(v); err != nil {
			return err
		}
	}
	return nil
}

// insertView stores view v as it was, with its id.
func (inv *inversion) insertView(v *coffer.View) error {
	s := inv.s
	cols, _ := json.Marshal(v.Columns)
	if v.Columns == nil {
		cols = []byte("[]")
	}
	_, err := inv.tx.ExecContext(inv.ctx, s.Rebind("INSERT INTO "+inv.nc.DB.Prefix+"_views (id, table_id, name, name_key, filter, sort, columns, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		v.ID, v.TableID, v.Name, catalog.NameKey(v.Name), v.Filter, v.Sort, string(cols), v.CreatedAt.UnixMicro(), s.NowMicros())
	inv.views = true
	return err
}

// renameTable inverts a table's rename or layout change, if it still has
// the name and layout the action gave it and its old name is free.
func (inv *inversion) renameTable(payload json.RawMessage) error {
	var ti history.TableInverse
	if err := json.Unmarshal(payload, &ti); err != nil || ti.Table == nil || ti.Next == nil {
		return fmt.Errorf("table inverse: %v", err)
	}
	tm := inv.sc.ByID[ti.Table.ID]
	if tm == nil {
		return coffer.Errorf(coffer.ECONFLICT, "the table was deleted since")
	}
	if err := inv.schemaRight(tm.Table.ID); err != nil {
		return err
	}
	if tm.Table.Name != ti.Next.Name || !sameLayout(tm, tm.Table.Layout, ti.Next.Layout) {
		inv.conflict(tm.Table.Name, "", "")
	}
	if other, err := inv.sc.Table(ti.Table.Name); err == nil && other != tm {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: fmt.Sprintf("another table is named %q now: rename it first", ti.Table.Name),
			Cells: []coffer.CellRef{{Table: ti.Table.Name}}}
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	layout := layoutAs(ti.Table.Layout, tm.Cols)
	text, err := json.Marshal(layout)
	if err != nil {
		return err
	}
	s, now := inv.s, inv.s.NowMicros()
	if _, err := inv.tx.ExecContext(inv.ctx, s.Rebind("UPDATE "+inv.nc.DB.Prefix+"_tables SET name = ?, name_key = ?, layout = ?, updated_at = ? WHERE id = ?"),
		ti.Table.Name, catalog.NameKey(ti.Table.Name), string(text), now, tm.Table.ID); err != nil {
		return err
	}
	t := *tm.Table
	t.Name, t.Layout = ti.Table.Name, layout
	inv.invertedAs(history.KindTableUpdate, history.TableInverse{Table: tm.Table, Next: &t})
	return nil
}

// invertView inverts a view's creation (deleting it), deletion (bringing
// it back with its id) or change (its definition before), if the view is
// still as the action left it. Views need the editor role or the schema
// right on the table, and one that scopes a grant changes only by those
// who manage grants.
func (inv *inversion) invertView(eff string, payload json.RawMessage) error {
	var vi history.ViewInverse
	if err := json.Unmarshal(payload, &vi); err != nil {
		return err
	}
	v := vi.After
	if v == nil {
		v = vi.Before
	}
	if v == nil {
		return fmt.Errorf("view inverse: no view")
	}
	tm, err := inv.viewTable(v.ID)
	if err != nil {
		return err
	}
	now, err := inv.s.FindViewRaw(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm, v.ID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		now, err = nil, nil
	}
	if err != nil {
		return err
	}
	if (vi.After == nil) != (now == nil) || (now != nil && !sameView(now, vi.After)) {
		inv.viewConflict(tm, now, v)
	}
	if vi.Before != nil {
		if other, err := inv.s.LookupView(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm, vi.Before.Name); err == nil && other.ID != v.ID {
			return viewNameTaken(vi.Before.Name)
		}
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	return inv.setView(tm, now, vi.Before)
}

// viewConflict notes a view that is no longer as the action left it.
func (inv *inversion) viewConflict(tm *catalog.TableMeta, now, v *coffer.View) {
	name := v.Name
	if now != nil {
		name = now.Name
	}
	if len(inv.conflicts) < maxConflicts {
		inv.conflicts = append(inv.conflicts, coffer.CellRef{Table: tm.Table.Name, View: name})
	}
}

// viewTable is the table of a view action, with the caller's right to
// change its views checked, and the view's own if it scopes a grant.
func (inv *inversion) viewTable(viewID string) (*catalog.TableMeta, error) {
	tm := inv.sc.ByID[inv.target.Table]
	if tm == nil {
		return nil, coffer.Errorf(coffer.ECONFLICT, "the table of this view was deleted since: restore it first")
	}
	nc := inv.nc
	tp, err := inv.s.PlanWith(inv.ctx, nc.Rights, nc.DB.Prefix, inv.tx, tm)
	if err != nil {
		return nil, err
	}
	if !nc.Rights.AtLeast(access.RoleEditor) && !tp.Decision.Can(access.CapSchema) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "saving views needs the editor role or the schema right in this notebook")
	}
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return tm, nil
	}
	grants, err := inv.s.LoadGrants(inv.ctx, inv.s.Inst.R, nc.Notebook.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		if g.ViewID == viewID {
			return nil, errScopingView
		}
	}
	return tm, nil
}

// setView makes the view now (nil: none) become want (nil: deleted), and
// records the change.
func (inv *inversion) setView(tm *catalog.TableMeta, now, want *coffer.View) error {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	inv.views = true
	var err error
	switch {
	case want == nil && now != nil:
		_, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+p+"_views WHERE id = ?"), now.ID)
	case want != nil && now == nil:
		err = inv.insertView(want)
	case want != nil:
		cols, _ := json.Marshal(want.Columns)
		_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"_views SET name = ?, name_key = ?, filter = ?, sort = ?, columns = ?, updated_at = ? WHERE id = ?"),
			want.Name, catalog.NameKey(want.Name), want.Filter, want.Sort, string(cols), s.NowMicros(), want.ID)
	}
	if err != nil {
		return err
	}
	kind := history.KindViewUpdate
	switch {
	case now == nil:
		kind = history.KindViewCreate
	case want == nil:
		kind = history.KindViewDelete
	}
	inv.rec.Inverse = history.MustJSON(history.Inverted{Kind: kind, Payload: history.MustJSON(history.ViewInverse{Before: now, After: want})})
	return nil
}

// sameView reports whether two views have the same definition.
func sameView(a, b *coffer.View) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Filter == b.Filter && a.Sort == b.Sort && slices.Equal(a.Columns, b.Columns)
}
