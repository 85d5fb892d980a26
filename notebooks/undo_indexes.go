package notebooks

import (
	"encoding/json"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store/catalog"
)

// The inversions of declared indexes (indexes.go): a creation is inverted
// by dropping the index, a deletion by building it again, inside the
// inversion's transaction (on PostgreSQL that build blocks writes to the
// table while it runs, unlike CreateIndex). Both need the schema right on
// the table and every column of the index visible, as the change did.

// indexTable is the table of an index action with the caller's right to
// change its schema checked, and the index's columns visible to them.
func (inv *inversion) indexTable(payload json.RawMessage) (*catalog.TableMeta, catalog.IndexDef, error) {
	tableID, def, err := decodeIndexInverse(payload)
	if err != nil {
		return nil, def, fmt.Errorf("index inverse: %w", err)
	}
	tm := inv.sc.ByID[tableID]
	if tm == nil {
		return nil, def, coffer.Errorf(coffer.ECONFLICT, "the table of this action was deleted since: restore it first")
	}
	if err := inv.schemaRight(tm.Table.ID); err != nil {
		return nil, def, err
	}
	for _, k := range def.Keys {
		if tm.Column(k.Column) == nil || tm.Column(k.Column).Column.ID != k.Column {
			return nil, def, coffer.Errorf(coffer.ECONFLICT, "a column of the index was deleted since: restore it first")
		}
	}
	tp, err := inv.s.schemaPlan(inv.ctx, inv.nc, inv.tx, tm)
	if err != nil {
		return nil, def, err
	}
	if _, ok := indexAs(tm, tp, def); !ok {
		return nil, def, coffer.Errorf(coffer.EFORBIDDEN, "the index uses a column you may not see")
	}
	return tm, def, nil
}

// undeclareIndex inverts the creation of an index: it is dropped, if the
// table still has it.
func (inv *inversion) undeclareIndex(payload json.RawMessage) error {
	tm, def, err := inv.indexTable(payload)
	if err != nil {
		return err
	}
	i := indexOf(tm, def.ID)
	if i < 0 {
		return coffer.Errorf(coffer.ECONFLICT, "the index was deleted since")
	}
	if err := inv.s.dropIndexSQL(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm, i); err != nil {
		return err
	}
	inv.invertedAs(history.KindIndexDelete, history.IndexInverse{Table: tm.Table.ID, Index: history.MustJSON(def)})
	return nil
}

// redeclareIndex inverts the deletion of an index: it is built again with
// its id, unless the table has the same index (or too many) by now.
func (inv *inversion) redeclareIndex(payload json.RawMessage) error {
	tm, def, err := inv.indexTable(payload)
	if err != nil {
		return err
	}
	if indexOf(tm, def.ID) >= 0 {
		return coffer.Errorf(coffer.ECONFLICT, "the index exists already")
	}
	for _, d := range tm.Indexes {
		if d.SameKeys(def) {
			return coffer.Errorf(coffer.ECONFLICT, "the table has the same index again (%s): delete it first", d.ID)
		}
	}
	if len(tm.Indexes) >= coffer.MaxTableIndexes {
		return coffer.Errorf(coffer.ECONFLICT, "the table has %d declared indexes by now: delete one first", coffer.MaxTableIndexes)
	}
	ddl, ok := catalog.DeclaredIndexDDL(inv.s.Dialect, tm.SQL, tm.Table.Columns, def, false)
	if !ok {
		return coffer.Errorf(coffer.ECONFLICT, "a column of the index cannot be indexed any more")
	}
	if _, err := inv.tx.ExecContext(inv.ctx, ddl); err != nil {
		return err
	}
	if err := inv.s.setIndexes(inv.ctx, inv.tx, inv.nc.DB.Prefix, tm.Table.ID, append(append([]catalog.IndexDef(nil), tm.Indexes...), def)); err != nil {
		return err
	}
	inv.invertedAs(history.KindIndexCreate, history.IndexInverse{Table: tm.Table.ID, Index: history.MustJSON(def)})
	return nil
}
