package storetest

import (
	"context"

	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func init() { historyGroups = append(historyGroups, group{"Undo", testUndo}) }

// testUndo covers undo and redo: round trips that restore exact values
// (single writes, batches, links, schema changes, a dropped column with
// its values, a deleted table with its rows, links and views), compare
// and set with force, whose actions are undone, access, the stack per
// client session and its time window; the trash of records, columns and
// tables, with its access rules.
func testUndo(t *testing.T, open Opener) {
	s := open(t)
	t.Run("Records", func(t *testing.T) { testUndoRecords(t, s) })
	t.Run("Batch", func(t *testing.T) { testUndoBatch(t, s) })
	t.Run("Links", func(t *testing.T) { testUndoLinks(t, s) })
	t.Run("Conflict", func(t *testing.T) { testUndoConflict(t, s) })
	t.Run("OnlyMine", func(t *testing.T) { testUndoOnlyMine(t, s) })
	t.Run("LostWriteAccess", func(t *testing.T) { testUndoLostAccess(t, s) })
	t.Run("Sessions", func(t *testing.T) { testUndoSessions(t, s) })
	t.Run("Grants", func(t *testing.T) { testUndoGrants(t, s) })
	t.Run("RowMoved", func(t *testing.T) { testUndoRowMoved(t, s) })
	t.Run("Concurrent", func(t *testing.T) { testUndoConcurrent(t, s) })
	t.Run("Columns", func(t *testing.T) { testUndoColumns(t, s) })
	t.Run("ColumnCreateConflict", func(t *testing.T) { testUndoColumnCreateConflict(t, s) })
	t.Run("Tables", func(t *testing.T) { testUndoTables(t, s) })
	t.Run("Views", func(t *testing.T) { testUndoViews(t, s) })
	t.Run("Window", func(t *testing.T) { testUndoWindow(t, open) })
	t.Run("Revert", func(t *testing.T) { testUndoRevert(t, open(t)) })
	t.Run("RandomWalk", func(t *testing.T) { testUndoRandomWalk(t, s) })
	t.Run("CompareAndSet", func(t *testing.T) { testUndoCompareAndSet(t, s) })
	t.Run("Trash", func(t *testing.T) { testTrash(t, s) })
	t.Run("TrashLinks", func(t *testing.T) { testTrashLinks(t, s) })
	t.Run("SchemaTrash", func(t *testing.T) { testSchemaTrash(t, s) })
}

// sessionContext returns a context whose caller is u in client session sid.
func sessionContext(u *coffer.User, sid string) context.Context {
	return coffer.WithCaller(context.Background(), &coffer.Caller{UserID: u.ID, Email: u.Email, Name: u.Name, SessionID: sid})
}

// mustUndo undoes (or redoes) and fails the test on any error.
func mustUndo(tb testing.TB, ctx context.Context, s coffer.UndoService, notebook string, redo bool) *coffer.ActionDone {
	tb.Helper()
	f := s.Undo
	if redo {
		f = s.Redo
	}
	d, err := f(ctx, notebook, coffer.UndoOptions{})
	if err != nil {
		tb.Fatalf("undo (redo %v): %v (cells %v, fields %v)", redo, err, coffer.ErrorCells(err), coffer.ErrorFields(err))
	}
	return d
}

// wantRecord fails unless record id of table reads exactly as want
// (fields, id, creation).
func wantRecord(tb testing.TB, ctx context.Context, s *all.Store, notebook, table string, want *coffer.Record) {
	tb.Helper()
	got, err := s.FindRecord(ctx, notebook, table, want.ID)
	if err != nil {
		tb.Fatalf("FindRecord(%s): %v", want.ID, err)
	}
	if g, w := mustJSON(tb, got.Fields), mustJSON(tb, want.Fields); g != w {
		tb.Errorf("record %s fields = %s, want %s", want.ID, g, w)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedBy != want.CreatedBy {
		tb.Errorf("record %s created %v by %s, want %v by %s", want.ID, got.CreatedAt, got.CreatedBy, want.CreatedAt, want.CreatedBy)
	}
}

// wantGone fails unless record id of table does not exist.
func wantGone(tb testing.TB, ctx context.Context, s *all.Store, notebook, table, id string) {
	tb.Helper()
	_, err := s.FindRecord(ctx, notebook, table, id)
	wantCode(tb, err, coffer.ENOTFOUND)
}

func testUndoRecords(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo records")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber, precision(2)),
		col("Tags", coffer.TypeMultiSelect, choices("a", "b")), col("Born", coffer.TypeDateTime))
	r := MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Age": "36.25", "Tags": []any{"b", "a"}, "Born": "1815-12-10T08:00:00Z"})
	created := MustFindRecord(t, ctx, s, nb, "People", r.ID)
	if _, err := s.UpdateRecord(ctx, nb, "People", r.ID, map[string]any{"Name": "Ada L.", "Tags": nil}, 0); err != nil {
		t.Fatal(err)
	}
	changed := MustFindRecord(t, ctx, s, nb, "People", r.ID)
	d := mustUndo(t, ctx, s, nb, false)
	if d.Kind != "undo" || d.Of == 0 || d.Seq <= d.Of || len(d.Records) != 1 || d.Records[0].Record != r.ID {
		t.Errorf("undo answered %+v", d)
	}
	wantRecord(t, ctx, s, nb, "People", created)
	mustUndo(t, ctx, s, nb, true)
	wantRecord(t, ctx, s, nb, "People", changed)
	mustUndo(t, ctx, s, nb, false)
	mustUndo(t, ctx, s, nb, false) // the creation
	wantGone(t, ctx, s, nb, "People", r.ID)
	mustUndo(t, ctx, s, nb, true) // back, with its id and creation
	wantRecord(t, ctx, s, nb, "People", created)
	mustUndo(t, ctx, s, nb, true)
	wantRecord(t, ctx, s, nb, "People", changed)
	_, err := s.Redo(ctx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ENOTHINGTOREDO)

	// A delete comes back with everything; a new action clears redo.
	if err := s.DeleteRecord(ctx, nb, "People", r.ID, 0); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, ctx, s, nb, false)
	wantRecord(t, ctx, s, nb, "People", changed)
	MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Grace"})
	_, err = s.Redo(ctx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ENOTHINGTOREDO)
}

func testUndoBatch(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo batch")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber))
	a := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "a", "N": 1})
	b := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "b", "N": 2})
	a, b = MustFindRecord(t, ctx, s, nb, "T", a.ID), MustFindRecord(t, ctx, s, nb, "T", b.ID)
	res, err := s.Batch(ctx, nb, "T", []coffer.BatchOp{
		{Op: coffer.OpUpdate, ID: a.ID, Fields: map[string]any{"N": 10}},
		{Op: coffer.OpCreate, Fields: map[string]any{"Name": "c"}},
		{Op: coffer.OpUpdate, ID: a.ID, Fields: map[string]any{"Name": "A"}},
		{Op: coffer.OpDelete, ID: b.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Results[1].ID
	after := MustFindRecord(t, ctx, s, nb, "T", a.ID)
	cRec := MustFindRecord(t, ctx, s, nb, "T", c)
	d := mustUndo(t, ctx, s, nb, false)
	if len(d.Records) != 3 {
		t.Errorf("undo of a batch touched %v, want 3 records", d.Records)
	}
	wantRecord(t, ctx, s, nb, "T", a)
	wantRecord(t, ctx, s, nb, "T", b)
	wantGone(t, ctx, s, nb, "T", c)
	mustUndo(t, ctx, s, nb, true)
	wantRecord(t, ctx, s, nb, "T", after)
	wantRecord(t, ctx, s, nb, "T", cRec)
	wantGone(t, ctx, s, nb, "T", b.ID)
}

func testUndoLinks(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo links")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "Authors", col("Name", coffer.TypeText))
	authors, _ := s.FindTable(ctx, nb, "Authors")
	MustTable(t, ctx, s, nb, "Books", col("Title", coffer.TypeText), col("By", coffer.TypeLink, linkTo(authors.ID, true)))
	x := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "X"})
	y := MustRecord(t, ctx, s, nb, "Authors", map[string]any{"Name": "Y"})
	book := MustRecord(t, ctx, s, nb, "Books", map[string]any{"Title": "T", "By": []any{y.ID, x.ID}})
	book = MustFindRecord(t, ctx, s, nb, "Books", book.ID)
	xr := MustFindRecord(t, ctx, s, nb, "Authors", x.ID)
	if err := s.DeleteRecord(ctx, nb, "Authors", y.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got := MustFindRecord(t, ctx, s, nb, "Books", book.ID).Fields["By"]; !slices.Equal(got.([]string), []string{x.ID}) {
		t.Fatalf("after the delete, By = %v", got)
	}
	mustUndo(t, ctx, s, nb, false)
	wantRecord(t, ctx, s, nb, "Books", book) // the link back, in its place
	wantRecord(t, ctx, s, nb, "Authors", xr)
	mustUndo(t, ctx, s, nb, true)
	wantGone(t, ctx, s, nb, "Authors", y.ID)
}

func testUndoConflict(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo conflict")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Team", coffer.TypeText))
	r := MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Team": "red"})
	if _, err := s.UpdateRecord(ctx, nb, "People", r.ID, map[string]any{"Name": "Alice", "Team": "blue"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(bobCtx, nb, "People", r.ID, map[string]any{"Name": "Bob's"}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Undo(ctx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ECONFLICT)
	if cells := coffer.ErrorCells(err); len(cells) != 1 || cells[0] != (coffer.CellRef{Table: "People", Record: r.ID, Column: "Name"}) {
		t.Errorf("conflict cells = %+v, want People/%s/Name", cells, r.ID)
	}
	got := MustFindRecord(t, ctx, s, nb, "People", r.ID)
	if got.Fields["Name"] != "Bob's" || got.Fields["Team"] != "blue" {
		t.Errorf("a refused undo changed the record: %v", got.Fields)
	}
	d, err := s.Undo(ctx, nb, coffer.UndoOptions{Force: true})
	if !wantCode(t, err, "") {
		return
	}
	got = MustFindRecord(t, ctx, s, nb, "People", r.ID)
	if got.Fields["Name"] != "Ada" || got.Fields["Team"] != "red" {
		t.Errorf("a forced undo left %v", got.Fields)
	}
	// The forced undo is an action like any other: redo gives back what
	// it overwrote, Bob's value included.
	if rd := mustUndo(t, ctx, s, nb, true); rd.Of != d.Of {
		t.Errorf("redo of %d, want of %d", rd.Of, d.Of)
	}
	got = MustFindRecord(t, ctx, s, nb, "People", r.ID)
	if got.Fields["Name"] != "Bob's" || got.Fields["Team"] != "blue" {
		t.Errorf("redo left %v", got.Fields)
	}
}

func testUndoOnlyMine(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo mine")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText))
	_, err := s.Undo(bobCtx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ENOTHINGTOUNDO)
	r1 := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "one"})
	r2 := MustRecord(t, bobCtx, s, nb, "T", map[string]any{"Name": "two"})
	mustUndo(t, ctx, s, nb, false) // Alice's creation, not Bob's later one
	wantGone(t, ctx, s, nb, "T", r1.ID)
	MustFindRecord(t, ctx, s, nb, "T", r2.ID)
	mustUndo(t, bobCtx, s, nb, false)
	wantGone(t, ctx, s, nb, "T", r2.ID)
}

func testUndoLostAccess(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo access")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText))
	r := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "one"})
	if _, err := s.UpdateRecord(bobCtx, nb, "T", r.ID, map[string]any{"Name": "bob"}, 0); err != nil {
		t.Fatal(err)
	}
	b := MustRecord(t, bobCtx, s, nb, "T", map[string]any{"Name": "bob's"})
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Undo(bobCtx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.Undo(bobCtx, nb, coffer.UndoOptions{Force: true})
	wantCode(t, err, coffer.EFORBIDDEN)
	MustFindRecord(t, ctx, s, nb, "T", b.ID)
	if got := MustFindRecord(t, ctx, s, nb, "T", r.ID); got.Fields["Name"] != "bob" {
		t.Errorf("a refused undo changed the record: %v", got.Fields)
	}
	// With write access back, the same undo passes.
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, bobCtx, s, nb, false)
	wantGone(t, ctx, s, nb, "T", b.ID)
}

func testUndoSessions(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo sessions")
	nb := st.nb
	one, two := sessionContext(st.u, "ses_one"), sessionContext(st.u, "ses_two")
	MustTable(t, one, s, nb, "T", col("A", coffer.TypeText), col("B", coffer.TypeText))
	r := MustRecord(t, st.ctx, s, nb, "T", map[string]any{"A": "a0", "B": "b0"})
	if _, err := s.UpdateRecord(one, nb, "T", r.ID, map[string]any{"A": "a1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(two, nb, "T", r.ID, map[string]any{"B": "b1"}, 0); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, one, s, nb, false) // session one's change, though two's is newer
	if got := MustFindRecord(t, one, s, nb, "T", r.ID).Fields; got["A"] != "a0" || got["B"] != "b1" {
		t.Errorf("after undo in session one: %v", got)
	}
	_, err := s.Redo(two, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ENOTHINGTOREDO)
	mustUndo(t, two, s, nb, false)
	if got := MustFindRecord(t, one, s, nb, "T", r.ID).Fields; got["A"] != "a0" || got["B"] != "b0" {
		t.Errorf("after undo in session two: %v", got)
	}
}

func testUndoWindow(t *testing.T, open Opener) {
	s := open(t)
	clk := newClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s.Now = clk.Now
	st := newSetup(t, s, "Undo window")
	MustTable(t, st.ctx, s, st.nb, "T", col("Name", coffer.TypeText))
	clk.Add(24*time.Hour + time.Second)
	_, err := s.Undo(st.ctx, st.nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.ENOTHINGTOUNDO)
}

// testUndoGrants: an editor whose right comes from a grant scoped to a
// view undoes there; an undo that would write a column hidden from the
// caller now is refused without naming it, and hidden cells stay as they
// are.
func testUndoGrants(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo grants")
	ctx, nb := st.ctx, st.nb
	veraCtx, vera := MustUser(t, s)
	MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Team", coffer.TypeText), col("Salary", coffer.TypeNumber))
	if _, err := s.CreateView(ctx, nb, "People", coffer.ViewInput{Name: "Reds", Filter: `Team = "red"`, Columns: []string{"Name", "Team"}}); err != nil {
		t.Fatal(err)
	}
	table, view := "People", "Reds"
	g, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: vera.ID}, Table: &table, View: &view,
		Columns: map[string]string{"*": "write"}, Capabilities: []string{"create", "delete"}})
	if err != nil {
		t.Fatal(err)
	}
	r := MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Team": "red", "Salary": 10})
	if _, err := s.UpdateRecord(veraCtx, nb, "People", r.ID, map[string]any{"Name": "Ada L."}, 0); err != nil {
		t.Fatal(err)
	}
	mine := MustRecord(t, veraCtx, s, nb, "People", map[string]any{"Name": "Vera's", "Team": "red"})
	mustUndo(t, veraCtx, s, nb, false)
	wantGone(t, ctx, s, nb, "People", mine.ID)
	mustUndo(t, veraCtx, s, nb, false)
	if got := MustFindRecord(t, ctx, s, nb, "People", r.ID).Fields; got["Name"] != "Ada" || fmt.Sprint(got["Salary"]) != "10" {
		t.Errorf("after Vera's undo: %v", got)
	}
	mustUndo(t, veraCtx, s, nb, true)
	// The owner narrows the grant to Team: Vera's redone change of Name
	// can no longer be undone by her.
	if _, err := s.UpdateGrant(ctx, nb, g.ID, coffer.GrantUpdate{Columns: map[string]string{"*": "none", "Team": "write"}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Undo(veraCtx, nb, coffer.UndoOptions{Force: true})
	wantCode(t, err, coffer.EFORBIDDEN)
	if msg := coffer.ErrorMessage(err); strings.Contains(msg, "Name") {
		t.Errorf("the refusal names the hidden column: %q", msg)
	}
	if got := MustFindRecord(t, ctx, s, nb, "People", r.ID).Fields; got["Name"] != "Ada L." {
		t.Errorf("a refused undo changed the record: %v", got)
	}
}

// testUndoRowMoved: a grant gives write where Team = "red"; once the
// owner moves the record out of those rows (and changes the cell the
// grantee wrote), the grantee's undo is refused as forbidden, before any
// comparison could tell them about the cell they no longer see.
func testUndoRowMoved(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo row moved")
	ctx, nb := st.ctx, st.nb
	gusCtx, gus := MustUser(t, s)
	MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Team", coffer.TypeText), col("Salary", coffer.TypeNumber))
	table := "People"
	if _, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: gus.ID}, Table: &table,
		Rows: `Team = "red"`, Columns: map[string]string{"*": "write"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: gus.ID}, Table: &table,
		Columns: map[string]string{"Name": "read"}}); err != nil {
		t.Fatal(err)
	}
	r := MustRecord(t, ctx, s, nb, "People", map[string]any{"Name": "Ada", "Team": "red", "Salary": 10})
	if _, err := s.UpdateRecord(gusCtx, nb, "People", r.ID, map[string]any{"Salary": 11}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(ctx, nb, "People", r.ID, map[string]any{"Team": "blue", "Salary": 12}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Undo(gusCtx, nb, coffer.UndoOptions{})
	wantCode(t, err, coffer.EFORBIDDEN)
	if len(coffer.ErrorCells(err)) != 0 {
		t.Errorf("the refusal lists cells: %v", coffer.ErrorCells(err))
	}
}

// testUndoConcurrent: several undos at once in one session with one
// action on its stack undo it once.
func testUndoConcurrent(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo concurrent")
	ctx, nb := st.ctx, st.nb
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, bob.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText))
	r := MustRecord(t, bobCtx, s, nb, "T", map[string]any{"Name": "bob's"})
	const n = 6
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Undo(bobCtx, nb, coffer.UndoOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			ok++
		case coffer.ENOTHINGTOUNDO, coffer.ECONFLICT:
		default:
			t.Errorf("concurrent undo: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent undos succeeded, want 1", ok)
	}
	wantGone(t, ctx, s, nb, "T", r.ID)
	mustUndo(t, bobCtx, s, nb, true)
	MustFindRecord(t, ctx, s, nb, "T", r.ID)
}

// testUndoRevert: a revert is one action of its author: undo gives back
// the values it overwrote, records it deleted and deletes those it
// brought back; redo reverts again.
func testUndoRevert(t *testing.T, s *all.Store) {
	st := newSetup(t, s, "Undo revert")
	ctx, nb := st.ctx, st.nb
	MustTable(t, ctx, s, nb, "T", col("Name", coffer.TypeText))
	a := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "a"})
	gone := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "gone"})
	time0 := s.Now()
	clk := newClock(time0.Add(time.Second))
	s.Now = clk.Now
	if _, err := s.UpdateRecord(ctx, nb, "T", a.ID, map[string]any{"Name": "A"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(ctx, nb, "T", gone.ID, 0); err != nil {
		t.Fatal(err)
	}
	later := MustRecord(t, ctx, s, nb, "T", map[string]any{"Name": "later"})
	clk.Add(time.Second)
	res, err := s.RevertTable(ctx, nb, "T", coffer.RevertInput{To: &coffer.AsOf{Time: time0.Add(time.Millisecond)}})
	if err != nil || len(res.Updated)+len(res.Restored)+len(res.Deleted) != 3 {
		t.Fatalf("RevertTable = %+v, %v", res, err)
	}
	mustUndo(t, ctx, s, nb, false)
	if got := MustFindRecord(t, ctx, s, nb, "T", a.ID).Fields["Name"]; got != "A" {
		t.Errorf("after undoing the revert, Name = %v", got)
	}
	wantGone(t, ctx, s, nb, "T", gone.ID)
	MustFindRecord(t, ctx, s, nb, "T", later.ID)
	mustUndo(t, ctx, s, nb, true)
	if got := MustFindRecord(t, ctx, s, nb, "T", a.ID).Fields["Name"]; got != "a" {
		t.Errorf("after redoing the revert, Name = %v", got)
	}
	MustFindRecord(t, ctx, s, nb, "T", gone.ID)
	wantGone(t, ctx, s, nb, "T", later.ID)
}
