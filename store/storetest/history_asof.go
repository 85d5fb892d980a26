package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func init() { historyGroups = append(historyGroups, group{"AsOf", testAsOf}) }

// testAsOf is the suite of time travel and revert: a record and a table
// read at past moments (by time and by history sequence number), the
// property check against a model of the recorded actions
// (history_asof_prop.go), reverts that keep later changes to other cells,
// and the access rules of now on the past state.
func testAsOf(t *testing.T, open Opener) {
	t.Run("Record", func(t *testing.T) { testAsOfRecord(t, open(t)) })
	t.Run("List", func(t *testing.T) { testAsOfList(t, open(t)) })
	t.Run("Property", func(t *testing.T) { testAsOfProperty(t, open(t)) })
	t.Run("RevertRecord", func(t *testing.T) { testRevertRecord(t, open(t)) })
	t.Run("RevertTable", func(t *testing.T) { testRevertTable(t, open(t)) })
	t.Run("Access", func(t *testing.T) { testAsOfAccess(t, open(t)) })
	t.Run("AccessProperty", func(t *testing.T) { testAsOfAccessProperty(t, open(t)) })
	t.Run("Bound", func(t *testing.T) { testAsOfBound(t, open(t)) })
	t.Run("Horizon", func(t *testing.T) { testAsOfHorizon(t, open(t)) })
}

// asOfFixture is a store on a settable clock, one owner, one notebook
// and one table People (Name text, Age number).
type asOfFixture struct {
	*setup
	clk *clock
	tbl *coffer.Table
}

func newAsOfFixture(t *testing.T, s *all.Store) *asOfFixture {
	t.Helper()
	clk := newClock(time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC))
	s.Now = clk.Now
	f := &asOfFixture{setup: newSetup(t, s, "Time travel"), clk: clk}
	f.tbl = MustTable(t, f.ctx, s, f.nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber))
	return f
}

// tick moves the clock on by a second and returns the new time.
func (f *asOfFixture) tick() time.Time {
	f.clk.Add(time.Second)
	return f.clk.Now()
}

// at is a moment half a second after t.
func at(t time.Time) *coffer.AsOf { return &coffer.AsOf{Time: t.Add(500 * time.Millisecond)} }

// wantFieldsJSON fails unless the record's fields encode as want.
func wantFieldsJSON(t *testing.T, where string, r *coffer.Record, want map[string]any) {
	t.Helper()
	got, _ := json.Marshal(r.Fields)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("%s: fields = %s, want %s", where, got, exp)
	}
}

func testAsOfRecord(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	t1 := f.tick()
	r := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "Ada", "Age": 30})
	t2 := f.tick()
	if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Age": 31}, 0); err != nil {
		t.Fatal(err)
	}
	t3 := f.tick()
	if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Name": "Ada L."}, 0); err != nil {
		t.Fatal(err)
	}
	t4 := f.tick()
	if err := s.DeleteRecord(ctx, f.nb, "People", r.ID, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		when time.Time
		want map[string]any
	}{
		{"after create", t1, map[string]any{"Name": "Ada", "Age": json.Number("30")}},
		{"after first update", t2, map[string]any{"Name": "Ada", "Age": json.Number("31")}},
		{"after second update", t3, map[string]any{"Name": "Ada L.", "Age": json.Number("31")}},
	} {
		got, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(c.when))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantFieldsJSON(t, c.name, got, c.want)
		if !got.CreatedAt.Equal(r.CreatedAt) || got.CreatedBy != f.u.ID {
			t.Errorf("%s: created %v by %s, want %v by %s", c.name, got.CreatedAt, got.CreatedBy, r.CreatedAt, f.u.ID)
		}
	}
	_, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t4))
	wantCode(t, err, coffer.ENOTFOUND) // deleted by then
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", r.ID, &coffer.AsOf{Time: t1.Add(-time.Millisecond)})
	wantCode(t, err, coffer.ENOTFOUND) // not yet created
	_, err = s.FindRecord(ctx, f.nb, "People", r.ID)
	wantCode(t, err, coffer.ENOTFOUND)

	// By sequence number: the moment a list names is the same moment.
	l, err := s.FindRecordsAsOf(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t2)})
	if err != nil || l.AsOf == nil || l.AsOf.At == nil {
		t.Fatalf("list as of t2: %+v, %v", l, err)
	}
	if !l.AsOf.At.Equal(t2) {
		t.Errorf("list as of t2 shows the action at %v, want %v", l.AsOf.At, t2)
	}
	got, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, &coffer.AsOf{Seq: l.AsOf.Seq})
	if err != nil {
		t.Fatal(err)
	}
	wantFieldsJSON(t, "by sequence number", got, map[string]any{"Name": "Ada", "Age": json.Number("31")})
	if got.Version != 2 || !got.UpdatedAt.Equal(t2) {
		t.Errorf("by sequence number: version %d updated %v, want 2 and %v", got.Version, got.UpdatedAt, t2)
	}
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", r.ID, &coffer.AsOf{Seq: l.AsOf.Seq + 1000})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "as_of")
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", "rec_nope", at(t2))
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.FindRecordAsOf(ctx, f.nb, "Nope", r.ID, at(t2))
	wantCode(t, err, coffer.ENOTFOUND)
}

func testAsOfList(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	t1 := f.tick()
	var recs []*coffer.Record
	for i, n := range []string{"bob", "Alice", "carol", "Dave"} {
		recs = append(recs, MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": n, "Age": 20 + 10*i}))
	}
	t2 := f.tick() // the changes below happen at t2
	// Now: everyone is 50, Alice is gone, Eve is new.
	for i, r := range recs {
		if i == 1 {
			if err := s.DeleteRecord(ctx, f.nb, "People", r.ID, 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Age": 50}, 0); err != nil {
			t.Fatal(err)
		}
	}
	MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "Eve", "Age": 50})
	f.tick()

	q := coffer.ListQuery{AsOf: at(t1), Filter: "Age >= 30", Sort: "Name", Limit: 1, Count: true}
	got := MustListAll(t, ctx, s, f.nb, "People", q)
	if want := []string{"Alice", "carol", "Dave"}; !slicesEqual(names(got), want) {
		t.Errorf("as of t1, Age >= 30 by Name, one per page: %v, want %v (collation order, the past ages)", names(got), want)
	}
	l := MustList(t, ctx, s, f.nb, "People", q)
	if l.Total == nil || *l.Total != 3 {
		t.Errorf("as of t1: total %v, want 3", l.Total)
	}
	got = MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Sort: "-Age"})
	if want := []string{"Dave", "carol", "Alice", "bob"}; !slicesEqual(names(got), want) {
		t.Errorf("as of t1 by -Age: %v, want %v", names(got), want)
	}
	got = MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Filter: "Age = 50"})
	if want := []string{"Dave"}; !slicesEqual(names(got), want) {
		t.Errorf("as of t1 (before the updates) Age = 50: %v, want %v", names(got), want)
	}
	now := MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{Filter: "Age = 50", Sort: "Name"})
	past := MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: &coffer.AsOf{Time: f.clk.Now()}, Filter: "Age = 50", Sort: "Name"})
	if !slicesEqual(names(now), names(past)) {
		t.Errorf("as of now: %v, the list now: %v", names(past), names(now))
	}
	// A view's filter, sort and columns apply to the past state too.
	if _, err := s.CreateView(ctx, f.nb, "People", coffer.ViewInput{Name: "Older", Filter: "Age >= 30", Sort: "-Age", Columns: []string{"Name"}}); err != nil {
		t.Fatal(err)
	}
	got = MustListAll(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: at(t1), View: "Older"})
	if want := []string{"Dave", "carol", "Alice"}; !slicesEqual(names(got), want) || len(got[0].Fields) != 1 {
		t.Errorf("as of t1 through the view: %v (fields %v), want %v with Name only", names(got), got[0].Fields, want)
	}
	// Cursors belong to their moment and sort.
	l = MustList(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Limit: 1})
	if l.NextCursor == nil {
		t.Fatal("as of t1, limit 1: no next cursor")
	}
	_, err := s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t2), Limit: 1, Cursor: *l.NextCursor, Sort: "Name"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{Limit: 1, Cursor: *l.NextCursor})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Filter: "Nope = 1"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Sort: "Nope"})
	wantCode(t, err, coffer.EINVALID)
	_, err = s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t1), Limit: 5000})
	wantCode(t, err, coffer.EINVALID)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// member adds a user to the notebook with a role and returns their context.
func (f *asOfFixture) member(t *testing.T, role string) (context.Context, *coffer.User) {
	t.Helper()
	ctx, u := MustUser(t, f.s)
	if _, err := f.s.PutMember(f.ctx, f.nb, u.ID, coffer.MemberInput{Role: role}); err != nil {
		t.Fatal(err)
	}
	return ctx, u
}

// testAsOfBound: a table rebuilt at a past moment considers at most the
// bound of records, those of now and those deleted since; over it,
// lists and table reverts answer as_of_too_large, a record read does not.
func testAsOfBound(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	s.SetAsOfLimit(3)
	ctx := f.ctx
	f.tick()
	a := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "a"})
	MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "b"})
	t1 := f.clk.Now()
	f.tick()
	MustList(t, ctx, s, f.nb, "People", coffer.ListQuery{AsOf: at(t1)})
	if err := s.DeleteRecord(ctx, f.nb, "People", a.ID, 0); err != nil {
		t.Fatal(err)
	}
	MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "c"})
	MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "d"})
	f.tick()
	_, err := s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(t1)})
	wantCode(t, err, coffer.EASOFTOOLARGE)
	_, err = s.RevertTable(ctx, f.nb, "People", coffer.RevertInput{To: at(t1)})
	wantCode(t, err, coffer.EASOFTOOLARGE)
	if _, err := s.FindRecordAsOf(ctx, f.nb, "People", a.ID, at(t1)); err != nil {
		t.Errorf("one record over the bound: %v", err)
	}
}

// testAsOfHorizon: a moment the history no longer tells is refused
// (history_unavailable): any while the history is off, one before a change
// made while it was off, one before the retention.
func testAsOfHorizon(t *testing.T, s *all.Store) {
	f := newAsOfFixture(t, s)
	ctx := f.ctx
	f.tick()
	r := MustRecord(t, ctx, s, f.nb, "People", map[string]any{"Name": "a"})
	t1 := f.clk.Now()
	settings := func(upd coffer.NotebookSettingsUpdate) {
		t.Helper()
		if _, err := s.UpdateNotebookSettings(ctx, f.nb, upd); err != nil {
			t.Fatal(err)
		}
	}
	update := func(name string) time.Time {
		t.Helper()
		f.tick()
		if _, err := s.UpdateRecord(ctx, f.nb, "People", r.ID, map[string]any{"Name": name}, 0); err != nil {
			t.Fatal(err)
		}
		return f.clk.Now()
	}
	on, off := true, false
	settings(coffer.NotebookSettingsUpdate{History: &off})
	_, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t1))
	wantCode(t, err, coffer.EHISTORY) // what happens now is not kept
	t2 := update("b")
	settings(coffer.NotebookSettingsUpdate{History: &on})
	update("c")
	f.tick()
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t1))
	wantCode(t, err, coffer.EHISTORY)
	if got, err := s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t2)); err != nil || got.Fields["Name"] != "b" {
		t.Errorf("as of the change made with history off, now on again: %v, %v", got, err)
	}
	_, err = s.RevertRecord(ctx, f.nb, "People", r.ID, coffer.RevertInput{To: at(t1)})
	wantCode(t, err, coffer.EHISTORY)
	// Once the actions made while it was off are pruned (a day later),
	// nothing in the actions tells of that gap: the moment before it
	// stays refused all the same.
	f.clk.Add(25 * time.Hour)
	if n, err := s.PruneHistory(context.Background()); err != nil || n == 0 {
		t.Fatalf("prune: %d, %v; want the action made with history off pruned", n, err)
	}
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t1))
	wantCode(t, err, coffer.EHISTORY)
	// A day of retention does not reach back two.
	days := 1
	settings(coffer.NotebookSettingsUpdate{HistoryRetentionDays: &days})
	f.clk.Add(48 * time.Hour)
	_, err = s.FindRecordAsOf(ctx, f.nb, "People", r.ID, at(t2))
	wantCode(t, err, coffer.EHISTORY)
	_, err = s.FindRecords(ctx, f.nb, "People", coffer.ListQuery{AsOf: at(f.clk.Now())})
	wantCode(t, err, "")
}
