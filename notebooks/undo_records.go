package notebooks

import (
	"encoding/json"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store/catalog"
)

// recordStep is what inverting an action does to one record: bring it
// back (live.OpCreate), change cells back (OpUpdate) or delete it again
// (OpDelete).
type recordStep struct {
	tp     *catalog.TablePlan
	id     string
	op     string
	fields map[string]any // by column id, in the form a write takes
	links  map[string]any // link cells of a record brought back: written once every record is back
	meta   history.RecordMeta
}

// invertRecords inverts changes of records (creates, updates, deletes,
// batches, reverts, restores): every record goes back to its state before
// the action where it is still in the state the action left it in. It
// checks every record first (access, then compare and set), then brings
// records back, changes cells, and deletes records last, each through the
// write paths of the caller's plan.
func (inv *inversion) invertRecords() error {
	plans := map[string]*catalog.TablePlan{}
	var steps []*recordStep
	nets := history.Net(inv.target.Changes)
	inv.reviving = map[string]bool{}
	for _, n := range nets {
		if n.Deleted() {
			inv.reviving[n.Record] = true // links to it are written once it is back
		}
	}
	for _, n := range nets {
		tp, err := inv.recordPlan(plans, n.Table)
		if err != nil {
			return err
		}
		var st *recordStep
		switch {
		case n.Created():
			st, err = inv.checkUncreate(tp, n)
		case n.Deleted():
			st, err = inv.checkRevive(tp, n)
		default:
			st, err = inv.checkCells(tp, n)
		}
		if err != nil {
			return err
		}
		if st != nil {
			steps = append(steps, st)
		}
	}
	if err := inv.refuse(); err != nil {
		return err
	}
	return inv.applySteps(steps)
}

// applySteps writes the checked steps: records back first, then their
// links and the changed cells, then the deletes.
func (inv *inversion) applySteps(steps []*recordStep) error {
	s, ctx, tx := inv.s, inv.ctx, inv.tx
	for _, st := range steps {
		if st.op != live.OpCreate {
			continue
		}
		oe, err := s.recreateTx(ctx, tx, inv.rec, inv.sc, st.tp.Table, st.tp, inv.by, st.id, st.meta, st.fields, "")
		if err != nil || oe != nil {
			return orOpError(err, oe)
		}
		inv.event(st.tp, st.id, live.OpCreate, nil)
	}
	for _, st := range steps {
		fields := st.fields
		if st.op == live.OpCreate {
			fields = st.links
		}
		if st.op == live.OpDelete || len(fields) == 0 {
			continue
		}
		oe, err := s.updateTx(ctx, tx, inv.rec, inv.sc, st.tp.Table, st.tp, inv.by, st.id, fields, 0, "")
		if err != nil || oe != nil {
			return orOpError(err, oe)
		}
		if st.op == live.OpUpdate { // a record brought back has its create event
			inv.event(st.tp, st.id, live.OpUpdate, fields)
		}
	}
	for _, st := range steps {
		if st.op != live.OpDelete {
			continue
		}
		oe, err := s.deleteTx(ctx, tx, inv.rec, st.tp.Table, st.tp, st.id, 0, "")
		if err != nil || oe != nil {
			return orOpError(err, oe)
		}
		inv.event(st.tp, st.id, live.OpDelete, nil)
	}
	return nil
}

func orOpError(err error, oe *catalog.OpError) error {
	if err != nil {
		return err
	}
	return undoOpError(oe)
}

// event notes the live event of a record write of the inversion.
func (inv *inversion) event(tp *catalog.TablePlan, id, op string, fields map[string]any) {
	e := live.Event{Notebook: inv.nc.Notebook.ID, Table: tp.Table.Table.ID, Record: id, Op: op}
	if op != live.OpDelete {
		var v int64
		if err := inv.tx.QueryRowContext(inv.ctx, inv.s.Rebind("SELECT version FROM "+tp.Table.SQL+" WHERE id = ?"), id).Scan(&v); err == nil {
			e.Version = v
		}
	}
	if op == live.OpUpdate {
		e.Cols = setColumns(tp.Table, fields)
	}
	inv.events = append(inv.events, e)
}

// checkUncreate checks the deletion of a record the action created: the
// caller may delete it, and it still holds, in every cell they may read,
// what the action wrote.
func (inv *inversion) checkUncreate(tp *catalog.TablePlan, n *history.NetRecord) (*recordStep, error) {
	name := tp.Table.Table.Name
	sees, vals, err := inv.seesRecord(tp, n.Record)
	if err != nil {
		return nil, err
	}
	if !sees {
		inv.conflict(name, n.Record, "")
		return nil, nil
	}
	if !tp.Full() && !catalog.AnyOf(vals, tp.Decision.With(access.CapDelete)) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "you may no longer delete record %s of table %q", n.Record, name)
	}
	cur, err := inv.s.rawRecord(inv.ctx, inv.tx, tp.Table, n.Record)
	if err != nil {
		return nil, err
	}
	wrote := map[string]*string{}
	for _, c := range n.Cells {
		wrote[c.Column] = c.After
	}
	for _, cm := range tp.Cols {
		if cm.Column.Type.Automatic() || !readableHere(tp, vals, cm.Column.ID) {
			continue // cells the caller may not read here are deleted with the record, unseen
		}
		if !history.Same(history.Encode(cur.Fields[cm.Column.Name]), wrote[cm.Column.ID]) {
			inv.conflict(name, n.Record, cm.Column.Name)
		}
	}
	return &recordStep{tp: tp, id: n.Record, op: live.OpDelete}, nil
}

// checkRevive checks bringing back a record the action deleted: it does
// not exist again, and the caller may write every value it held.
func (inv *inversion) checkRevive(tp *catalog.TablePlan, n *history.NetRecord) (*recordStep, error) {
	tm := tp.Table
	found, err := inv.s.existingIDs(inv.ctx, inv.tx, tm, []string{n.Record})
	if err != nil {
		return nil, err
	}
	if found[n.Record] {
		inv.conflict(tm.Table.Name, n.Record, "")
		return nil, nil
	}
	st := &recordStep{tp: tp, id: n.Record, op: live.OpCreate, fields: map[string]any{}, links: map[string]any{}}
	if err := json.Unmarshal([]byte(*n.Before), &st.meta); err != nil {
		return nil, err
	}
	for _, c := range n.Cells {
		if c.Before == nil {
			continue
		}
		cm, v, err := inv.cellBack(tp, n.Record, c)
		if err != nil || cm == nil {
			return nil, err
		}
		if cm.Junction != "" {
			st.links[cm.Column.ID] = v
		} else {
			st.fields[cm.Column.ID] = v
		}
	}
	return st, nil
}

// checkCells checks changing back the cells of a record the action
// changed: the record is still there for the caller, and each cell still
// holds what the action wrote (or already what it held before).
func (inv *inversion) checkCells(tp *catalog.TablePlan, n *history.NetRecord) (*recordStep, error) {
	name := tp.Table.Table.Name
	sees, vals, err := inv.seesRecord(tp, n.Record)
	if err != nil {
		return nil, err
	}
	if !sees {
		inv.conflict(name, n.Record, "")
		return nil, nil
	}
	if err := inv.mayWriteCells(tp, vals, n); err != nil {
		return nil, err
	}
	cur, err := inv.s.rawRecord(inv.ctx, inv.tx, tp.Table, n.Record)
	if err != nil {
		return nil, err
	}
	st := &recordStep{tp: tp, id: n.Record, op: live.OpUpdate, fields: map[string]any{}}
	for _, c := range n.Cells {
		cm, v, err := inv.cellBack(tp, n.Record, c)
		if err != nil {
			return nil, err
		}
		if cm == nil {
			continue
		}
		now := history.Encode(cur.Fields[cm.Column.Name])
		switch {
		case history.Same(now, c.Before):
			continue // already as it was
		case !history.Same(now, c.After):
			inv.conflict(name, n.Record, cm.Column.Name)
		}
		st.fields[cm.Column.ID] = v
	}
	if len(st.fields) == 0 {
		return nil, nil
	}
	return st, nil
}

// mayWriteCells refuses, before comparing any value, to change back cells
// of a record the caller may not write there now (updateTx's rule: one
// condition that holds on the record gives write on every cell), without
// naming them.
func (inv *inversion) mayWriteCells(tp *catalog.TablePlan, vals []bool, n *history.NetRecord) error {
	if tp.Full() {
		return nil
	}
	var cols []string
	for _, c := range n.Cells {
		if cm := tp.Visible(c.Column); cm != nil && cm.Column.ID == c.Column {
			cols = append(cols, c.Column)
		}
	}
	if len(cols) > 0 && len(catalog.Keep(vals, tp.Decision.Writers(cols))) == 0 {
		return coffer.Errorf(coffer.EFORBIDDEN, "you may no longer change some of the cells of this action in table %q", tp.Table.Table.Name)
	}
	return nil
}

// cellBack finds the column of a recorded cell and decodes its value
// before the action. A column deleted since is a conflict (nil column);
// one hidden from the caller refuses the inversion, without naming it.
// A link's targets that no longer exist (for the caller) are a conflict,
// and dropped when forced.
func (inv *inversion) cellBack(tp *catalog.TablePlan, record string, c history.Cell) (*catalog.ColMeta, any, error) {
	tm := tp.Table
	cm := tm.Column(c.Column)
	if cm == nil || cm.Column.ID != c.Column {
		inv.conflict(tm.Table.Name, record, "")
		return nil, nil, nil
	}
	if tp.Visible(cm.Column.ID) == nil {
		return nil, nil, coffer.Errorf(coffer.EFORBIDDEN, "you may no longer change some of the cells of this action in table %q", tm.Table.Name)
	}
	v, err := decodeCell(c.Before)
	if err != nil || cm.Junction == "" || v == nil {
		return cm, v, err
	}
	ids, err := inv.liveTargets(tp, cm, v)
	if err != nil {
		return nil, nil, err
	}
	if list, _ := v.([]any); len(ids) != len(list) {
		inv.conflict(tm.Table.Name, record, cm.Column.Name)
		v = ids
	}
	return cm, v, nil
}

// liveTargets returns the targets of a recorded link value that still
// exist and that the caller may see, in order.
func (inv *inversion) liveTargets(tp *catalog.TablePlan, cm *catalog.ColMeta, v any) ([]any, error) {
	list, _ := v.([]any)
	var want []string
	for _, x := range list {
		if id, ok := x.(string); ok {
			want = append(want, id)
		}
	}
	target := inv.sc.ByID[cm.Column.Options.Table]
	if target == nil || len(want) == 0 {
		return []any{}, nil
	}
	var found map[string]bool

	var err error
	if tp.Full() {
		found, err = inv.s.existingIDs(inv.ctx, inv.tx, target, want)
	} else {
		found, err = inv.s.VisibleIDs(inv.ctx, inv.tx, tp.Rights, tp.Prefix, target, want)
	}
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, id := range want {
		if (found[id] || inv.reviving[id]) && !slices.Contains(out, any(id)) {
			out = append(out, id)
		}
	}
	return out, nil
}
