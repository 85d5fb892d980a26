package notebooks

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// The inversions of schema actions: columns (created, changed, deleted)
// and tables (created, renamed, deleted). Each checks the schema right as
// the original change did, compares the catalogue and the values with
// what the action left, and records what it does so that it can be
// inverted in turn (Inverted names the kind of change it made).

// schemaRight refuses a schema inversion to a caller without the schema
// right: on table tableID, or on the whole notebook for "" (as creating
// a table needs).
func (inv *inversion) schemaRight(tableID string) error {
	nc := inv.nc
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return nil
	}
	refuse := coffer.Errorf(coffer.EFORBIDDEN, "changing tables and columns needs the schema right in this notebook (owners and admins have it)")
	if tableID == "" {
		for _, g := range nc.Rights.Grants {
			if g.TableID == "" && slices.Contains(g.Capabilities, access.CapSchema) {
				return nil
			}
		}
		return refuse
	}
	tm := inv.sc.ByID[tableID]
	if tm == nil {
		return coffer.Errorf(coffer.ENOTFOUND, "table not found")
	}
	tp, err := inv.s.PlanWith(inv.ctx, nc.Rights, nc.DB.Prefix, inv.tx, tm)
	if err != nil {
		return err
	}
	if !tp.Decision.Can(access.CapSchema) {
		return refuse
	}
	return nil
}

// changedTable is the table of a column action, with the caller's schema
// right on it checked.
func (inv *inversion) changedTable() (*catalog.TableMeta, error) {
	tm := inv.sc.ByID[inv.target.Table]
	if tm == nil {
		return nil, coffer.Errorf(coffer.ECONFLICT, "the table of this action was deleted since: restore it first")
	}
	return tm, inv.schemaRight(tm.Table.ID)
}

// invertedAs sets the Inverse of the inversion's action: it made a change
// of kind k, inverted in turn with payload.
func (inv *inversion) invertedAs(k string, payload any) {
	inv.rec.Inverse = history.MustJSON(history.Inverted{Kind: k, Payload: history.MustJSON(payload)})
	inv.schema = true
}

// columnCells returns the net change of each record's cell of column id
// in the target's changes.
func (inv *inversion) columnCells(id string) map[string]history.Cell {
	out := map[string]history.Cell{}
	for _, n := range history.Net(inv.target.Changes) {
		for _, c := range n.Cells {
			if c.Column == id {
				out[n.Record] = c
			}
		}
	}
	return out
}

// dropColumn inverts the creation of a column: it is deleted, with its
// values recorded, if it holds only values the action wrote.
func (inv *inversion) dropColumn(payload json.RawMessage) error {
	var ci history.ColumnInverse
	if err := json.Unmarshal(payload, &ci); err != nil {
		return err
	}
	tm, err := inv.changedTable()
	if err != nil {
		return err
	}
	cm, err := inv.visibleColumn(tm, ci.Column.ID)
	if err != nil {
		return err
	}
	if err := inv.s.guardAccessRefs(inv.ctx, inv.nc, inv.tx, tm, cm, ""); err != nil {
		return err
	}
	wrote := inv.columnCells(cm.Column.ID)
	var changed []string
	err = inv.s.eachRecord(inv.ctx, inv.tx, tm, func(r *coffer.Record) {
		if !cm.Column.Type.Automatic() && !history.Same(history.Encode(r.Fields[cm.Column.Name]), wrote[r.ID].After) {
			changed = append(changed, r.ID)
		}
	})
	if err != nil {
		return err
	}
	if err := inv.conflictCells(tm, cm, changed); err != nil {
		return err
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	return inv.deleteColumn(tm, cm)
}

// visibleColumn finds a column of tm by id as the caller sees it: a
// column deleted since is a conflict; one hidden from them refuses.
func (inv *inversion) visibleColumn(tm *catalog.TableMeta, id string) (*catalog.ColMeta, error) {
	cm := tm.Column(id)
	if cm == nil || cm.Column.ID != id {
		return nil, coffer.Errorf(coffer.ECONFLICT, "the column of this action was deleted since")
	}
	tp, err := inv.s.schemaPlan(inv.ctx, inv.nc, inv.tx, tm)
	if err != nil {
		return nil, err
	}
	if tp != nil && tp.Visible(id) == nil {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "you may no longer change this column")
	}
	return cm, nil
}

// conflictCells notes the cells of column cm in records ids as conflicts:
// by record where the caller sees the row, without it elsewhere.
func (inv *inversion) conflictCells(tm *catalog.TableMeta, cm *catalog.ColMeta, ids []string) error {
	if len(ids) == 0 {
		return nil
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
	for _, id := range ids {
		if seen[id] {
			inv.conflict(tm.Table.Name, id, cm.Column.Name)
		} else if !hidden {
			hidden = true
			inv.conflict(tm.Table.Name, "", cm.Column.Name)
		}
	}
	return nil
}

// deleteColumn deletes column cm of tm, recording its definition,
// position and values.
func (inv *inversion) deleteColumn(tm *catalog.TableMeta, cm *catalog.ColMeta) error {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	var pos int
	if err := tx.QueryRowContext(ctx, s.Rebind("SELECT position FROM "+p+"_columns WHERE id = ?"), cm.Column.ID).Scan(&pos); err != nil {
		return err
	}
	if !cm.Column.Type.Automatic() {
		err := s.eachRecord(ctx, tx, tm, func(r *coffer.Record) {
			inv.rec.Cell(tm.Table.ID, r.ID, cm.Column.ID, r.Fields[cm.Column.Name], nil)
		})
		if err != nil {
			return err
		}
	}
	inv.invertedAs(history.KindColumnDelete, history.ColumnInverse{Column: cm.Column, Position: pos})
	if err := s.dropColumnSQL(ctx, tx, p, tm, cm); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+p+"_columns WHERE id = ?"), cm.Column.ID); err != nil {
		return err
	}
	return s.touchTable(ctx, tx, p, tm.Table.ID)
}

// reviveColumn inverts the deletion of a column: it comes back with its
// id, definition, position and the values it held, in the records that
// still exist (the others are conflicts).
func (inv *inversion) reviveColumn(payload json.RawMessage) error {
	var ci history.ColumnInverse
	if err := json.Unmarshal(payload, &ci); err != nil {
		return err
	}
	tm, err := inv.changedTable()
	if err != nil {
		return err
	}
	c := ci.Column
	if err := inv.mayAddColumn(tm, c); err != nil {
		return err
	}
	cells := inv.columnCells(c.ID)
	var ids []string
	for id, cell := range cells {
		if cell.Before != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	exist := map[string]bool{}
	if len(ids) > 0 {
		if exist, err = inv.s.existingIDs(inv.ctx, inv.tx, tm, ids); err != nil {
			return err
		}
	}
	var back []string
	for _, id := range ids {
		if exist[id] {
			back = append(back, id)
		} else {
			inv.conflict(tm.Table.Name, id, "")
		}
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	if err := inv.addColumn(tm, c, ci.Position); err != nil {
		return err
	}
	for _, id := range back {
		if err := inv.writeCell(tm, c, id, nil, cells[id].Before); err != nil {
			return err
		}
	}
	inv.invertedAs(history.KindColumnCreate, history.ColumnInverse{Column: c, Position: ci.Position})
	return inv.s.touchTable(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm.Table.ID)
}

// mayAddColumn refuses to bring column c back to tm when it exists, its
// name is taken, the access rules name it (to a caller who may not
// manage grants), the table is full, or the table it links to is gone.
func (inv *inversion) mayAddColumn(tm *catalog.TableMeta, c *coffer.Column) error {
	if cm := tm.Column(c.ID); cm != nil && cm.Column.ID == c.ID {
		return coffer.Errorf(coffer.ECONFLICT, "the column exists again")
	}
	if tm.Column(c.Name) != nil {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: fmt.Sprintf("table %q has another column named %q now: rename it first", tm.Table.Name, c.Name),
			Cells: []coffer.CellRef{{Table: tm.Table.Name, Column: c.Name}}}
	}
	if err := inv.s.guardAccessRefs(inv.ctx, inv.nc, inv.tx, tm, nil, c.Name); err != nil {
		return err
	}
	if tp, err := inv.s.schemaPlan(inv.ctx, inv.nc, inv.tx, tm); err != nil {
		return err
	} else if tp != nil && !tp.Decision.Filterable(c.ID) {
		return coffer.Errorf(coffer.EFORBIDDEN, "you may not bring back a column your access does not let you read")
	}
	if len(tm.Cols) >= MaxColumns {
		return coffer.Errorf(coffer.EINVALID, "a table has at most %d columns", MaxColumns)
	}
	if c.Type == coffer.TypeLink && c.Options.Table != tm.Table.ID && inv.sc.ByID[c.Options.Table] == nil {
		return coffer.Errorf(coffer.ECONFLICT, "the table this column links to was deleted: restore it first")
	}
	return nil
}

// addColumn creates column c of tm again, at position pos.
func (inv *inversion) addColumn(tm *catalog.TableMeta, c *coffer.Column, pos int) error {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	// Deletes leave gaps: the position is usually free. When another
	// column took it, the columns from there move one place on.
	var taken int
	if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+p+"_columns WHERE table_id = ? AND position = ?"), tm.Table.ID, pos).Scan(&taken); err != nil {
		return err
	}
	if taken > 0 {
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"_columns SET position = position + 1 WHERE table_id = ? AND position >= ?"), tm.Table.ID, pos); err != nil {
			return err
		}
	}
	if err := s.insertColumnRow(ctx, tx, p, tm.Table.ID, c, pos); err != nil {
		return err
	}
	_, err := s.addColumnSQL(ctx, tx, p, tm.Table.ID, c, false)
	return err
}

// writeCell stores a recorded value (JSON text) in the cell of column c
// of record id, which holds prev (API form), without touching the
// record's version, and records it. Links keep the targets that still
// exist.
func (inv *inversion) writeCell(tm *catalog.TableMeta, c *coffer.Column, id string, prev any, text *string) error {
	s, ctx, tx := inv.s, inv.ctx, inv.tx
	if history.Same(history.Encode(prev), text) {
		return nil
	}
	raw, err := decodeCell(text)
	if err != nil {
		return err
	}
	v, err := value.FromJSON(c, raw)
	if err != nil {
		return coffer.Errorf(coffer.ECONFLICT, "a value of column %q no longer fits it: %v", c.Name, err)
	}
	if c.Type == coffer.TypeLink {
		return inv.writeLinkCell(tm, c, id, v)
	}
	set, args := catalog.SQLColumn(c.ID)+" = ?", []any{v}
	if catalog.Keyed(c) {
		set += ", " + catalog.SQLKey(c.ID) + " = ?"
		args = append(args, catalog.KeyOf(v))
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+tm.SQL+" SET "+set+" WHERE id = ?"), append(args, id)...); err != nil {
		return err
	}
	inv.rec.Cell(tm.Table.ID, id, c.ID, prev, value.ToJSON(c, v))
	return nil
}

// writeLinkCell stores the links of record id in link column c, to the
// targets that still exist.
func (inv *inversion) writeLinkCell(tm *catalog.TableMeta, c *coffer.Column, id string, v any) error {
	s, ctx, tx := inv.s, inv.ctx, inv.tx
	ids, _ := v.([]string)
	target := inv.sc.ByID[c.Options.Table]
	if c.Options.Table == tm.Table.ID {
		target = tm
	}
	if target == nil || len(ids) == 0 {
		return nil
	}
	found, err := s.existingIDs(ctx, tx, target, ids)
	if err != nil {
		return err
	}
	var kept []string
	junction := catalog.SQLJunction(inv.nc.DB.Prefix, c.ID)
	for _, dst := range ids {
		if !found[dst] {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+junction+" (src, dst, pos) VALUES (?, ?, ?)"), id, dst, len(kept)); err != nil {
			return err
		}
		kept = append(kept, dst)
	}
	if len(kept) > 0 {
		inv.rec.Cell(tm.Table.ID, id, c.ID, nil, kept)
	}
	return nil
}

// revertColumn inverts a change of a column (name, type, options): it
// gets its definition back and the values the change converted, if the
// column and those cells are still as the change left them.
func (inv *inversion) revertColumn(payload json.RawMessage) error {
	var ci history.ColumnInverse
	if err := json.Unmarshal(payload, &ci); err != nil || ci.Next == nil {
		return fmt.Errorf("column inverse: %v", err)
	}
	tm, err := inv.changedTable()
	if err != nil {
		return err
	}
	cm, err := inv.visibleColumn(tm, ci.Column.ID)
	if err != nil {
		return err
	}
	old, now := ci.Column, cm.Column
	if now.Name != ci.Next.Name || now.Type != ci.Next.Type || !optionsEqual(now.Options, ci.Next.Options) {
		inv.conflict(tm.Table.Name, "", now.Name)
	}
	if other := tm.Column(old.Name); other != nil && other != cm {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: fmt.Sprintf("table %q has another column named %q now: rename it first", tm.Table.Name, old.Name),
			Cells: []coffer.CellRef{{Table: tm.Table.Name, Column: old.Name}}}
	}
	if err := inv.s.guardAccessRefs(inv.ctx, inv.nc, inv.tx, tm, cm, old.Name); err != nil {
		return err
	}
	cells := inv.columnCells(old.ID)
	if err := inv.compareColumn(tm, cm, cells); err != nil {
		return err
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	return inv.setColumn(tm, cm, old, cells)
}

// compareColumn notes the cells of cm that no longer hold what the
// action wrote.
func (inv *inversion) compareColumn(tm *catalog.TableMeta, cm *catalog.ColMeta, cells map[string]history.Cell) error {
	if len(cells) == 0 {
		return nil
	}
	var changed []string
	err := inv.s.eachRecord(inv.ctx, inv.tx, tm, func(r *coffer.Record) {
		if c, ok := cells[r.ID]; ok && !history.Same(history.Encode(r.Fields[cm.Column.Name]), c.After) {
			changed = append(changed, r.ID)
		}
	})
	if err != nil {
		return err
	}
	return inv.conflictCells(tm, cm, changed)
}

// setColumn gives column cm its definition old again, converting every
// value, then gives the cells the action converted their exact values.
func (inv *inversion) setColumn(tm *catalog.TableMeta, cm *catalog.ColMeta, old *coffer.Column, cells map[string]history.Cell) error {
	s, ctx, tx, p := inv.s, inv.ctx, inv.tx, inv.nc.DB.Prefix
	tp, err := s.schemaPlan(ctx, inv.nc, tx, tm)
	if err != nil {
		return err
	}
	if err := s.convertColumn(ctx, tx, inv.rec, p, tm, cm, old, tp); err != nil {
		return err
	}
	if old.Type != coffer.TypeLink && !old.Type.Automatic() {
		ids := make([]string, 0, len(cells))
		for id := range cells {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			var stored any
			err := tx.QueryRowContext(ctx, s.Rebind("SELECT "+catalog.SQLColumn(old.ID)+" FROM "+tm.SQL+" WHERE id = ?"), id).Scan(&stored)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if err := inv.writeCell(tm, old, id, value.ToJSON(old, stored), cells[id].Before); err != nil {
				return err
			}
		}
	}
	opts, err := json.Marshal(old.Options)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"_columns SET name = ?, name_key = ?, type = ?, options = ?, sort_key = ? WHERE id = ?"),
		old.Name, catalog.NameKey(old.Name), string(old.Type), string(opts), catalog.KeyFormat(old), old.ID); err != nil {
		return err
	}
	inv.invertedAs(history.KindColumnUpdate, history.ColumnInverse{Column: cm.Column, Next: old})
	return s.touchTable(ctx, tx, p, tm.Table.ID)
}
