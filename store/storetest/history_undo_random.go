package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// undoWalk is a random walk of actions on a table T (records, batches,
// links between its records, columns added, renamed, retyped and
// deleted, views) and on tables linking to it (created, renamed, given
// records, deleted), with the notebook's state after each.
type undoWalk struct {
	t      *testing.T
	s      *all.Store
	st     *setup
	rnd    *rand.Rand
	table  string   // T's id
	ids    []string // records of T that exist
	states []string
}

// testUndoRandomWalk makes random actions, then undoes every one of them,
// checking after each undo that the notebook is exactly as it was before
// the action (tables, columns and their order, views, records, ids,
// creation, values, links), then redoes them all, checking each state
// again. (Run with more seeds when changing undo: 40 pass on both
// backends.)
func testUndoRandomWalk(t *testing.T, s *all.Store) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			st := newSetup(t, s, fmt.Sprintf("Undo walk %d", seed))
			tbl := MustTable(t, st.ctx, s, st.nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber, precision(1)),
				col("Tags", coffer.TypeMultiSelect, choices("a", "b", "c")))
			if _, err := s.CreateColumn(st.ctx, st.nb, "T", col("Link", coffer.TypeLink, linkTo(tbl.ID, true))); err != nil {
				t.Fatal(err)
			}
			w := &undoWalk{t: t, s: s, st: st, table: tbl.ID, rnd: rand.New(rand.NewPCG(seed, 7))}
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

// state is the notebook as JSON: each table (columns, views, then records
// by id with their creation and values); it also refreshes the ids of the
// existing records of T.
func (w *undoWalk) state() string {
	w.t.Helper()
	ctx, nb := w.st.ctx, w.st.nb
	tables, err := w.s.FindTables(ctx, nb)
	if err != nil {
		w.t.Fatal(err)
	}
	type rec struct {
		ID        string
		CreatedAt int64
		CreatedBy string
		Fields    map[string]any
	}
	out := ""
	for _, tbl := range tables {
		views, err := w.s.FindViews(ctx, nb, tbl.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		recs := MustListAll(w.t, ctx, w.s, nb, tbl.ID, coffer.ListQuery{Sort: "id", Limit: 1000})
		rs := make([]rec, len(recs))
		for i, r := range recs {
			rs[i] = rec{r.ID, r.CreatedAt.UnixMicro(), r.CreatedBy, r.Fields}
		}
		if tbl.Name == "T" {
			w.ids = ids(recs)
		}
		vs := make([][]any, len(views))
		for i, v := range views {
			vs[i] = []any{v.ID, v.Name, v.Filter, v.Sort, v.Columns}
		}
		out += tbl.ID + " " + tbl.Name + "\n" + mustJSON(w.t, tbl.Columns) + "\n" + mustJSON(w.t, vs) + "\n" + mustJSON(w.t, rs) + "\n"
	}
	return out
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
// column, changes a view, or creates, renames or deletes another table;
// always one action.
func (w *undoWalk) schemaStep() error {
	s, ctx, nb := w.s, w.st.ctx, w.st.nb
	cols := w.columns()
	c := cols[w.rnd.IntN(len(cols))]
	k := w.rnd.IntN(6)
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
	case k == 4:
		return w.viewStep()
	case k == 5:
		return w.tableStep()
	}
	_, err := s.CreateColumn(ctx, nb, "T", col(fmt.Sprintf("C%d", w.rnd.IntN(1000000)), coffer.TypeNumber, precision(1)))
	return err
}

// viewStep creates, changes or deletes a view of T.
func (w *undoWalk) viewStep() error {
	s, ctx, nb := w.s, w.st.ctx, w.st.nb
	views, err := s.FindViews(ctx, nb, "T")
	if err != nil {
		return err
	}
	name := fmt.Sprintf("V%d", w.rnd.IntN(1000000))
	if len(views) == 0 || w.rnd.IntN(3) == 0 {
		_, err := s.CreateView(ctx, nb, "T", coffer.ViewInput{Name: name, Sort: "-created_at"})
		return err
	}
	v := views[w.rnd.IntN(len(views))]
	if w.rnd.IntN(2) == 0 {
		return s.DeleteView(ctx, nb, "T", v.ID)
	}
	sort := "id"
	_, err = s.UpdateView(ctx, nb, "T", v.ID, coffer.ViewUpdate{Name: &name, Sort: &sort})
	return err
}

// tableStep creates a table linking to T with a view, or renames or
// deletes (with its records, links and views) one made before.
func (w *undoWalk) tableStep() error {
	s, ctx, nb := w.s, w.st.ctx, w.st.nb
	tables, err := s.FindTables(ctx, nb)
	if err != nil {
		return err
	}
	var others []*coffer.Table
	for _, t := range tables {
		if t.Name != "T" {
			others = append(others, t)
		}
	}
	if len(others) == 0 || w.rnd.IntN(3) == 0 {
		_, err := s.CreateTable(ctx, nb, coffer.TableInput{Name: fmt.Sprintf("U%d", w.rnd.IntN(1000000)),
			Columns: []coffer.ColumnInput{col("A", coffer.TypeText), col("To", coffer.TypeLink, linkTo(w.table, true))}})
		return err
	}
	u := others[w.rnd.IntN(len(others))]
	switch w.rnd.IntN(3) {
	case 0:
		name := fmt.Sprintf("U%d", w.rnd.IntN(1000000))
		_, err := s.UpdateTable(ctx, nb, u.ID, coffer.TableUpdate{Name: &name})
		return err
	case 1:
		var to []any
		for _, id := range w.ids {
			if w.rnd.IntN(2) == 0 {
				to = append(to, id)
			}
		}
		_, err := s.CreateRecord(ctx, nb, u.ID, map[string]any{"A": fmt.Sprint(w.rnd.IntN(100)), "To": to})
		return err
	}
	return s.DeleteTable(ctx, nb, u.ID)
}

// testUndoCompareAndSet: Alice changes random cells, Bob sometimes
// changes random cells after her, then Alice undoes. The undo must be
// refused with a conflict, changing nothing, exactly when Bob changed one
// of her cells; otherwise (or forced) her cells get back their values and
// every other cell, Bob's included, stays as it was.
func testUndoCompareAndSet(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo CAS")
	ctx, nb := st.ctx, st.nb
	aliceCtx, alice := MustUser(t, s)
	bobCtx, bob := MustUser(t, s)
	for _, u := range []*coffer.User{alice, bob} {
		if _, err := s.PutMember(ctx, nb, u.ID, coffer.MemberInput{Role: "editor"}); err != nil {
			t.Fatal(err)
		}
	}
	cols := []string{"A", "B", "C"}
	MustTable(t, ctx, s, nb, "T", col("A", coffer.TypeText), col("B", coffer.TypeText), col("C", coffer.TypeText))
	var recs []string
	for i := 0; i < 4; i++ {
		recs = append(recs, MustRecord(t, ctx, s, nb, "T", map[string]any{"A": "a", "B": "b", "C": "c"}).ID)
	}
	snapshot := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, r := range MustListAll(t, ctx, s, nb, "T", coffer.ListQuery{Limit: 100}) {
			out[r.ID] = r.Fields
		}
		return out
	}
	rnd := rand.New(rand.NewPCG(11, 13))
	n := 0
	change := func() (string, map[string]any) {
		f := map[string]any{}
		for _, c := range cols {
			if rnd.IntN(2) == 0 {
				n++
				f[c] = fmt.Sprintf("v%d", n)
			}
		}
		if len(f) == 0 {
			n++
			f[cols[rnd.IntN(len(cols))]] = fmt.Sprintf("v%d", n)
		}
		return recs[rnd.IntN(len(recs))], f
	}
	for i := 0; i < 40; i++ {
		before := snapshot()
		ra, fa := change()
		if _, err := s.UpdateRecord(aliceCtx, nb, "T", ra, fa, 0); err != nil {
			t.Fatal(err)
		}
		clash := false
		if rnd.IntN(2) == 0 {
			rb, fb := change()
			if _, err := s.UpdateRecord(bobCtx, nb, "T", rb, fb, 0); err != nil {
				t.Fatal(err)
			}
			for c := range fb {
				_, mine := fa[c]
				clash = clash || (rb == ra && mine)
			}
		}
		s0 := snapshot()
		force := rnd.IntN(2) == 0
		_, err := s.Undo(aliceCtx, nb, coffer.UndoOptions{Force: force})
		after := snapshot()
		if clash && !force {
			wantCode(t, err, coffer.ECONFLICT)
			if mustJSON(t, after) != mustJSON(t, s0) {
				t.Fatalf("step %d: a refused undo changed the table", i)
			}
			continue
		}
		if !wantCode(t, err, "") {
			t.Fatalf("step %d: undo refused without a clash", i)
		}
		want := s0
		for c := range fa {
			want[ra][c] = before[ra][c]
		}
		if g, w := mustJSON(t, after), mustJSON(t, want); g != w {
			t.Fatalf("step %d: after the undo\n got %s\nwant %s", i, g, w)
		}
	}
}
