package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// ttModel is the property test's own model of a table: the records and
// columns the test's actions made, and a snapshot after each action.
type ttModel struct {
	cols    []*coffer.Column             // now, in order
	recs    map[string]map[string]any    // record id → column id → API value (nil: empty)
	creator map[string]string            // record id → the user who created it
	snaps   []ttSnap                     // after each action
	ever    []string                     // every record id ever made
	types   map[string]coffer.ColumnType // column id → type now
}

// ttSnap is the model just after one action, at the time it was made.
type ttSnap struct {
	at      time.Time
	recs    map[string]map[string]any
	types   map[string]coffer.ColumnType // the columns then, by id
	creator map[string]string
}

func (m *ttModel) snap(at time.Time) {
	recs := make(map[string]map[string]any, len(m.recs))
	for id, r := range m.recs {
		recs[id] = maps.Clone(r)
	}
	m.snaps = append(m.snaps, ttSnap{at: at, recs: recs, types: maps.Clone(m.types), creator: maps.Clone(m.creator)})
}

// want is the model's answer for a moment: snapshot k (-1: before any
// action) in today's columns, numbers of a column retyped to text since
// shown as text, as the retype converted them.
func (m *ttModel) want(k int) map[string]map[string]any {
	out := map[string]map[string]any{}
	if k < 0 {
		return out
	}
	sn := m.snaps[k]
	for id, r := range sn.recs {
		fields := map[string]any{}
		for _, c := range m.cols {
			var v any
			if then, ok := sn.types[c.ID]; ok {
				v = r[c.ID]
				if n, isNum := v.(json.Number); isNum && then == coffer.TypeNumber && c.Type == coffer.TypeText {
					v = string(n)
				}
			}
			fields[c.Name] = v
		}
		out[id] = fields
	}
	return out
}

// ttRun is one run of the property test.
type ttRun struct {
	t      *testing.T
	s      *all.Store
	f      *asOfFixture
	rng    *rand.Rand
	m      *ttModel
	users  []context.Context
	ids    []string // of users, as users
	extras int
}

// testAsOfProperty: random action sequences by several users (creates,
// updates, deletes, batches, columns added, a column retyped), then a
// table and records read at random moments equal the model's replay of
// the actions up to that moment. COFFER_PROP_SEED changes the seed.
func testAsOfProperty(t *testing.T, s *all.Store) {
	seed := uint64(13)
	if v, err := strconv.ParseUint(os.Getenv("COFFER_PROP_SEED"), 10, 64); err == nil {
		seed = v
	}
	f := newAsOfFixture(t, s)
	tbl := MustTable(t, f.ctx, s, f.nb, "Prop", col("Name", coffer.TypeText), col("Score", coffer.TypeNumber), col("Team", coffer.TypeSingleSelect, choices("red", "blue")))
	friends, err := s.CreateColumn(f.ctx, f.nb, "Prop", col("Friends", coffer.TypeLink, linkTo(tbl.ID, true)))
	if err != nil {
		t.Fatal(err)
	}
	tbl.Columns = append(tbl.Columns, friends)
	run := &ttRun{t: t, s: s, f: f, rng: rand.New(rand.NewPCG(seed, 0x7173)), m: &ttModel{cols: tbl.Columns, recs: map[string]map[string]any{}, creator: map[string]string{}, types: map[string]coffer.ColumnType{}}}
	for _, c := range tbl.Columns {
		run.m.types[c.ID] = c.Type
	}
	run.users = []context.Context{f.ctx}
	run.ids = []string{f.u.ID}
	for range 2 {
		ctx, u := f.member(t, "editor")
		run.users = append(run.users, ctx)
		run.ids = append(run.ids, u.ID)
	}
	const steps = 70
	for i := range steps {
		at := f.tick()
		run.step(i, steps)
		run.m.snap(at)
	}
	run.checkNow()
	where := fmt.Sprintf("COFFER_PROP_SEED=%d", seed)
	run.check(-1, f.m0(), where)
	for range 12 {
		k := run.rng.IntN(steps)
		run.check(k, run.m.snaps[k].at.Add(500*time.Millisecond), where)
	}
}

// m0 is a moment before the property test's first action.
func (f *asOfFixture) m0() time.Time { return f.clk.Now().Add(-time.Hour) }

// step makes one random action.
func (r *ttRun) step(i, steps int) {
	t, s, m := r.t, r.s, r.m
	who := r.rng.IntN(len(r.users))
	ctx := r.users[who]
	live := slices.Sorted(maps.Keys(m.recs))
	switch p := r.rng.IntN(100); {
	case i == steps/2:
		r.retype()
	case p < 4 && r.extras < 2:
		r.extras++
		c, err := s.CreateColumn(r.f.ctx, r.f.nb, "Prop", col(fmt.Sprintf("Extra%d", r.extras), coffer.TypeText))
		if err != nil {
			t.Fatal(err)
		}
		m.cols = append(m.cols, c)
		m.types[c.ID] = c.Type
	case p < 40 || len(live) < 3:
		fields := r.fields()
		rec := MustRecord(t, ctx, s, r.f.nb, "Prop", fields)
		r.created(rec.ID, r.ids[who], fields)
	case p < 75:
		id := live[r.rng.IntN(len(live))]
		fields := r.fields()
		if _, err := s.UpdateRecord(ctx, r.f.nb, "Prop", id, fields, 0); err != nil {
			t.Fatalf("update %s %v: %v", id, fields, err)
		}
		r.apply(id, fields)
	case p < 85:
		id := live[r.rng.IntN(len(live))]
		if err := s.DeleteRecord(ctx, r.f.nb, "Prop", id, 0); err != nil {
			t.Fatal(err)
		}
		r.deleted(id)
	default:
		r.batch(ctx, r.ids[who], live)
	}
}

// fields returns random values for some columns (all of them for a create).
func (r *ttRun) fields() map[string]any {
	out := map[string]any{}
	for _, c := range r.m.cols {
		if r.rng.IntN(3) == 0 {
			continue
		}
		switch {
		case c.Name == "Name":
			out[c.Name] = []string{"ada", "Bob", "carla", "Dan", "émile", ""}[r.rng.IntN(6)]
		case c.Type == coffer.TypeNumber:
			out[c.Name] = json.Number(strconv.Itoa(r.rng.IntN(50)))
		case c.Name == "Score": // retyped to text: still numbers
			out[c.Name] = strconv.Itoa(r.rng.IntN(50))
		case c.Type == coffer.TypeLink:
			live := slices.Sorted(maps.Keys(r.m.recs))
			var links []string
			for _, id := range live {
				if len(links) < 2 && r.rng.IntN(4) == 0 {
					links = append(links, id)
				}
			}
			out[c.Name] = links
		case c.Type == coffer.TypeSingleSelect:
			out[c.Name] = []any{"red", "blue", nil}[r.rng.IntN(3)]
		default:
			out[c.Name] = fmt.Sprintf("x%d", r.rng.IntN(5))
		}
	}
	if len(out) == 0 {
		out["Name"] = "zed"
	}
	return out
}

// batchFields is fields without links (a batch may delete their targets).
func (r *ttRun) batchFields() map[string]any {
	f := r.fields()
	delete(f, "Friends")
	if len(f) == 0 {
		f["Name"] = "zed"
	}
	return f
}

// deleted removes a record from the model, and the links to it from the
// other records, as the delete does.
func (r *ttRun) deleted(id string) {
	delete(r.m.recs, id)
	for _, rec := range r.m.recs {
		for cid, v := range rec {
			if l, ok := v.([]string); ok && slices.Contains(l, id) {
				l = slices.DeleteFunc(slices.Clone(l), func(x string) bool { return x == id })
				if len(l) == 0 {
					rec[cid] = nil
				} else {
					rec[cid] = l
				}
			}
		}
	}
}

func (r *ttRun) created(id, by string, fields map[string]any) {
	r.m.recs[id] = map[string]any{}
	r.m.creator[id] = by
	r.m.ever = append(r.m.ever, id)
	r.apply(id, fields)
}

// apply sets fields (by name) of a model record, empty strings as empty.
func (r *ttRun) apply(id string, fields map[string]any) {
	for name, v := range fields {
		for _, c := range r.m.cols {
			if c.Name == name {
				if l, ok := v.([]string); v == "" || (ok && len(l) == 0) {
					v = nil
				}
				r.m.recs[id][c.ID] = v
			}
		}
	}
}

// retype turns Score from a number into text (every value converts).
func (r *ttRun) retype() {
	typ := coffer.TypeText
	c, err := r.s.UpdateColumn(r.f.ctx, r.f.nb, "Prop", "Score", coffer.ColumnUpdate{Type: &typ})
	if err != nil {
		r.t.Fatal(err)
	}
	for i, old := range r.m.cols {
		if old.ID == c.ID {
			r.m.cols[i] = c
		}
	}
	r.m.types[c.ID] = c.Type
	for _, rec := range r.m.recs {
		if n, ok := rec[c.ID].(json.Number); ok {
			rec[c.ID] = string(n)
		}
	}
}

// batch makes 2 to 4 operations on distinct records in one batch.
func (r *ttRun) batch(ctx context.Context, by string, live []string) {
	var ops []coffer.BatchOp
	used := map[string]bool{}
	for range 2 + r.rng.IntN(3) {
		id := live[r.rng.IntN(len(live))]
		switch k := r.rng.IntN(3); {
		case k == 0 || used[id]:
			ops = append(ops, coffer.BatchOp{Op: coffer.OpCreate, Fields: r.batchFields()})
		case k == 1:
			used[id] = true
			ops = append(ops, coffer.BatchOp{Op: coffer.OpUpdate, ID: id, Fields: r.batchFields()})
		default:
			used[id] = true
			ops = append(ops, coffer.BatchOp{Op: coffer.OpDelete, ID: id})
		}
	}
	res, err := r.s.Batch(ctx, r.f.nb, "Prop", ops)
	if err != nil {
		r.t.Fatalf("batch %+v: %v", ops, err)
	}
	for i, op := range ops {
		switch op.Op {
		case coffer.OpCreate:
			r.created(res.Results[i].ID, by, op.Fields)
		case coffer.OpUpdate:
			r.apply(op.ID, op.Fields)
		case coffer.OpDelete:
			r.deleted(op.ID)
		}
	}
}

// checkNow checks the model against the table now (the model's premise).
func (r *ttRun) checkNow() {
	got := MustListAll(r.t, r.f.ctx, r.s, r.f.nb, "Prop", coffer.ListQuery{})
	r.compare("now", got, r.m.want(len(r.m.snaps)-1), nil)
}

// check reads the table and some records at moment when, which is just
// after action k (-1: before every action), as the owner and an editor.
func (r *ttRun) check(k int, when time.Time, where string) {
	t := r.t
	want := r.m.want(k)
	creators := map[string]string{}
	if k >= 0 {
		creators = r.m.snaps[k].creator
	}
	for ui, ctx := range r.users[:2] {
		desc := fmt.Sprintf("%s: as of action %d, user %d", where, k, ui)
		got := MustListAll(t, ctx, r.s, r.f.nb, "Prop", coffer.ListQuery{AsOf: &coffer.AsOf{Time: when}, Limit: 7})
		r.compare(desc, got, want, creators)
		red := MustListAll(t, ctx, r.s, r.f.nb, "Prop", coffer.ListQuery{AsOf: &coffer.AsOf{Time: when}, Filter: `Team = "red"`, Sort: "-Name", Limit: 3})
		r.checkRed(desc, red, want)
		for range 4 {
			if len(r.m.ever) == 0 {
				break
			}
			id := r.m.ever[r.rng.IntN(len(r.m.ever))]
			rec, err := r.s.FindRecordAsOf(ctx, r.f.nb, "Prop", id, &coffer.AsOf{Time: when})
			if w, ok := want[id]; ok {
				if err != nil {
					t.Fatalf("%s: get %s: %v", desc, id, err)
				}
				wantFieldsJSON(t, desc+" get "+id, rec, w)
			} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
				t.Fatalf("%s: get %s, which did not exist then: %v, %v", desc, id, rec, err)
			}
		}
	}
}

// compare checks a full list against the model's records.
func (r *ttRun) compare(desc string, got []*coffer.Record, want map[string]map[string]any, creators map[string]string) {
	t := r.t
	if !slicesEqual(sorted(ids(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("%s: records %v, want %v", desc, sorted(ids(got)), slices.Sorted(maps.Keys(want)))
	}
	for _, rec := range got {
		wantFieldsJSON(t, desc+" "+rec.ID, rec, want[rec.ID])
		if creators != nil && rec.CreatedBy != creators[rec.ID] {
			t.Errorf("%s: %s created by %s, want %s", desc, rec.ID, rec.CreatedBy, creators[rec.ID])
		}
	}
}

// checkRed checks the red records in descending order of Name (by
// collation, then id descending).
func (r *ttRun) checkRed(desc string, got []*coffer.Record, want map[string]map[string]any) {
	var exp []string
	for id, f := range want {
		if f["Team"] == "red" {
			exp = append(exp, id)
		}
	}
	key := func(id string) string {
		n, _ := want[id]["Name"].(string)
		return collationKey(n).(string)
	}
	slices.SortFunc(exp, func(a, b string) int {
		_, na := want[a]["Name"].(string)
		_, nb := want[b]["Name"].(string)
		switch {
		case na != nb && na: // empty last in descending order
			return -1
		case na != nb:
			return 1
		}
		if c := strings.Compare(key(b), key(a)); c != 0 {
			return c
		}
		return strings.Compare(b, a)
	})
	if !slicesEqual(ids(got), exp) {
		r.t.Errorf("%s: Team = red by -Name: %v, want %v", desc, ids(got), exp)
	}
}
