package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// undoWalk is a random walk of actions on one table (records, batches,
// links between its records, columns added, renamed, retyped and
// deleted), with the table's state after each.
type undoWalk struct {
	t      *testing.T
	s      *all.Store
	st     *setup
	rnd    *rand.Rand
	ids    []string // records that exist
	states []string
}

// testUndoRandomWalk makes random actions, then undoes every one of them,
// checking after each undo that the table is exactly as it was before the
// action (columns, records, ids, creation, values, links), then redoes
// them all, checking each state again.
func testUndoRandomWalk(t *testing.T, s *all.Store) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			st := newSetup(t, s, fmt.Sprintf("Undo walk %d", seed))
			tbl := MustTable(t, st.ctx, s, st.nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber, precision(1)),
				col("Tags", coffer.TypeMultiSelect, choices("a", "b", "c")))
			if _, err := s.CreateColumn(st.ctx, st.nb, "T", col("Link", coffer.TypeLink, linkTo(tbl.ID, true))); err != nil {
				t.Fatal(err)
			}
			w := &undoWalk{t: t, s: s, st: st, rnd: rand.New(rand.NewPCG(seed, 7))}
			w.states = append(w.states, w.state())
			for i := 0; i < 40; i++ {
				w.step()
				// A write that changes nothing (values set to what they
				// were) is no action.
				if now := w.state(); now != w.states[len(w.states)-1] {
					w.states = append(w.states, now)
				}
			}
			steps := len(w.states) - 1
			for i := steps; i > 0; i-- {
				d := mustUndo(t, st.ctx, s, st.nb, false)
				if got := w.state(); got != w.states[i-1] {
					t.Logf("the undo: %+v", d)
					t.Fatalf("after undoing action %d:\n got %s\nwant %s", i, got, w.states[i-1])
				}
			}
			for i := 1; i <= steps; i++ {
				d := mustUndo(t, st.ctx, s, st.nb, true)
				if got := w.state(); got != w.states[i] {
					t.Logf("the redo: %+v", d)
					t.Fatalf("after redoing action %d:\n got %s\nwant %s", i, got, w.states[i])
				}
			}
		})
	}
}

// state is the table as JSON: columns, then records by id with their
// creation and values; it also refreshes the ids of existing records.
func (w *undoWalk) state() string {
	w.t.Helper()
	tbl, err := w.s.FindTable(w.st.ctx, w.st.nb, "T")
	if err != nil {
		w.t.Fatal(err)
	}
	recs := MustListAll(w.t, w.st.ctx, w.s, w.st.nb, "T", coffer.ListQuery{Sort: "id", Limit: 1000})
	type rec struct {
		ID        string
		CreatedAt int64
		CreatedBy string
		Fields    map[string]any
	}
	out := make([]rec, len(recs))
	w.ids = w.ids[:0]
	for i, r := range recs {
		out[i] = rec{r.ID, r.CreatedAt.UnixMicro(), r.CreatedBy, r.Fields}
		w.ids = append(w.ids, r.ID)
	}
	return mustJSON(w.t, tbl.Columns) + "\n" + mustJSON(w.t, out)
}

// columns returns the table's user columns.
func (w *undoWalk) columns() []*coffer.Column {
	tbl, err := w.s.FindTable(w.st.ctx, w.st.nb, "T")
	if err != nil {
		w.t.Fatal(err)
	}
	return tbl.Columns
}

// fields returns random values for some columns.
func (w *undoWalk) fields() map[string]any {
	out := map[string]any{}
	for _, c := range w.columns() {
		if w.rnd.IntN(3) == 0 {
			continue
		}
		out[c.Name] = w.value(c)
	}
	return out
}

func (w *undoWalk) value(c *coffer.Column) any {
	if w.rnd.IntN(5) == 0 {
		return nil
	}
	switch c.Type {
	case coffer.TypeNumber:
		return fmt.Sprintf("%d.%d", w.rnd.IntN(100), w.rnd.IntN(10))
	case coffer.TypeMultiSelect:
		var tags []any
		for _, x := range []string{"a", "b", "c"} {
			if w.rnd.IntN(2) == 0 {
				tags = append(tags, x)
			}
		}
		return tags
	case coffer.TypeLink:
		var to []any
		for _, id := range w.ids {
			if w.rnd.IntN(3) == 0 {
				to = append(to, id)
			}
		}
		return to
	}
	return fmt.Sprintf("v%d", w.rnd.IntN(1000))
}

// step makes one random action.
func (w *undoWalk) step() {
	t, s, ctx, nb := w.t, w.s, w.st.ctx, w.st.nb
	t.Helper()
	var err error
	switch k := w.rnd.IntN(10); {
	case k < 3 || len(w.ids) == 0:
		_, err = s.CreateRecord(ctx, nb, "T", w.fields())
	case k < 5:
		_, err = s.UpdateRecord(ctx, nb, "T", w.ids[w.rnd.IntN(len(w.ids))], w.someFields(), 0)
	case k < 6:
		err = s.DeleteRecord(ctx, nb, "T", w.ids[w.rnd.IntN(len(w.ids))], 0)
	case k < 8:
		_, err = s.Batch(ctx, nb, "T", w.batch())
	default:
		err = w.schemaStep()
	}
	if err != nil {
		t.Fatalf("step: %v (fields %v)", err, coffer.ErrorFields(err))
	}
}

// someFields returns random values for at least one column.
func (w *undoWalk) someFields() map[string]any {
	if f := w.fields(); len(f) > 0 {
		return f
	}
	c := w.columns()[0]
	return map[string]any{c.Name: w.value(c)}
}

// batch returns a few operations on distinct records: a create, updates,
// then deletes (no operation links to a record the batch deletes).
func (w *undoWalk) batch() []coffer.BatchOp {
	ids := slices.Clone(w.ids)
	w.rnd.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:min(3, len(ids))]
	var updates, deletes []string
	for i, id := range ids {
		if i%2 == 0 {
			updates = append(updates, id)
		} else {
			deletes = append(deletes, id)
		}
	}
	all := w.ids
	w.ids = slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(deletes, id) })
	defer func() { w.ids = all }()
	ops := []coffer.BatchOp{{Op: coffer.OpCreate, Fields: w.fields()}}
	for _, id := range updates {
		ops = append(ops, coffer.BatchOp{Op: coffer.OpUpdate, ID: id, Fields: w.someFields()})
	}
	for _, id := range deletes {
		ops = append(ops, coffer.BatchOp{Op: coffer.OpDelete, ID: id})
	}
	return ops
}

// schemaStep adds, renames, retypes (number to text) or deletes a
// column; always one action.
func (w *undoWalk) schemaStep() error {
	s, ctx, nb := w.s, w.st.ctx, w.st.nb
	cols := w.columns()
	c := cols[w.rnd.IntN(len(cols))]
	k := w.rnd.IntN(4)
	switch {
	case k == 1:
		name := fmt.Sprintf("R%d", w.rnd.IntN(1000000))
		_, err := s.UpdateColumn(ctx, nb, "T", c.ID, coffer.ColumnUpdate{Name: &name})
		return err
	case k == 2 && c.Type == coffer.TypeNumber:
		typ := coffer.TypeText
		_, err := s.UpdateColumn(ctx, nb, "T", c.ID, coffer.ColumnUpdate{Type: &typ})
		return err
	case k == 3 && len(cols) > 2:
		return s.DeleteColumn(ctx, nb, "T", c.ID)
	}
	_, err := s.CreateColumn(ctx, nb, "T", col(fmt.Sprintf("C%d", w.rnd.IntN(1000000)), coffer.TypeNumber, precision(1)))
	return err
}
