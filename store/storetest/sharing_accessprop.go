package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/value"
)

// testAccessProperty is the randomized check of the access engine on the
// backend: random roles and grants (made through the sharing service) for
// random callers over random records; every list (with a random filter,
// and its count) and every get must show exactly what a reference
// evaluator, written here from the rules of docs/access.md, allows.
// COFFER_PROP_SEED and COFFER_PROP_CASES change the seed and the number of
// cases, as for the filter property test.
func testAccessProperty(t *testing.T, open Opener) {
	seed, cases := uint64(7), 25
	if v, err := strconv.ParseUint(os.Getenv("COFFER_PROP_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("COFFER_PROP_CASES")); err == nil && v > 0 {
		cases = max(1, v/10)
	}
	rng := rand.New(rand.NewPCG(seed, 0xacce55))
	s := open(t)
	ownerCtx, owner := MustUser(t, s)
	nb := MustNotebook(t, ownerCtx, s, "Access")
	tbl := MustTable(t, ownerCtx, s, nb.ID, "Staff",
		coffer.ColumnInput{Name: "owner", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "team", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "age", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "salary", Type: coffer.TypeNumber})
	cols := map[string]*coffer.Column{}
	for _, c := range tbl.Columns {
		cols[c.Name] = c
	}
	names := []string{"owner", "team", "age", "salary"}
	var people []propPerson
	for range 3 {
		ctx, u := MustUser(t, s)
		people = append(people, propPerson{ctx, u})
	}
	stored := propRecords(t, rng, s, ownerCtx, nb.ID, tbl.ID, cols, people) // storage values by column name, plus "id"
	eval := propEvaluator(t, cols)
	// Counts and lists go through a declared index as well as the
	// single-column ones (and the owner's through none of the grants).
	if _, err := s.CreateIndex(ownerCtx, nb.ID, tbl.ID, coffer.IndexInput{Columns: []string{"team", "-age"}}); err != nil {
		t.Fatal(err)
	}
	everything := map[string]bool{}
	for _, n := range names {
		everything[n] = true
	}
	ownerEnv := filter.Env{UserID: owner.ID, UserEmail: owner.Email}
	ownerEval := func(src string, row map[string]any) bool { return eval(src, ownerEnv, row) }
	ownerWant, _ := propReference(stored, []propGrant{{read: everything}}, names, everything, ownerEval)
	rowsConds := []string{"", "owner = @user.id", `team = "red"`, "age > 30", "salary is null", `owner != @user.id && team = "blue"`}
	listFilters := []string{"", "age > 40", `team = "red"`, "owner = @user.id", "age is null"}

	for i := 0; i < cases; i++ {
		// Reset the sharing of the notebook, then make this case's.
		resetSharing(t, s, ownerCtx, nb.ID)
		p := people[rng.IntN(len(people))]
		role := []string{"", "", "", "viewer"}[rng.IntN(4)]
		if role != "" {
			if _, err := s.PutMember(ownerCtx, nb.ID, p.u.ID, coffer.MemberInput{Role: role}); err != nil {
				t.Fatal(err)
			}
		}
		mine, named := propGrants(t, rng, s, ownerCtx, nb.ID, tbl.ID, people, p.u.ID, role, names, rowsConds)
		env := filter.Env{UserID: p.u.ID, UserEmail: p.u.Email}
		readable := propReadable(mine)
		// The reference: visible rows and, in each, the readable cells.
		want, cellsOf := propReference(stored, mine, names, readable, func(src string, row map[string]any) bool { return eval(src, env, row) })
		where := fmt.Sprintf("case %d (COFFER_PROP_SEED=%d): caller %s role %q grants %+v", i, seed, p.u.ID, role, mine)

		src := listFilters[rng.IntN(len(listFilters))]
		// The owner's list and count, with the same filter.
		own, err := s.FindRecords(ownerCtx, nb.ID, tbl.ID, coffer.ListQuery{Filter: src, Limit: 1000, Count: true})
		if err != nil {
			t.Fatalf("%s: the owner's list %q: %v", where, src, err)
		}
		checkList(t, own, src, where+" (the owner's list)", cols, ownerWant, ownerEval)
		usesHidden := slices.ContainsFunc(names, func(n string) bool { return !readable[n] && containsWord(src, n) })
		list, err := s.FindRecords(p.ctx, nb.ID, tbl.ID, coffer.ListQuery{Filter: src, Limit: 1000, Count: true})
		switch {
		case len(mine) == 0:
			if coffer.ErrorCode(err) != coffer.ENOTFOUND {
				t.Fatalf("%s: list without any right: %v, want not_found", where, err)
			}
			continue
		case usesHidden:
			if coffer.ErrorCode(err) != coffer.EINVALID || !strings.Contains(fmt.Sprint(coffer.ErrorFields(err)), "unknown column") {
				t.Fatalf("%s: filter %q on a hidden column: %v, want the answer for an unknown column", where, src, err)
			}
		case err != nil:
			t.Fatalf("%s: list %q: %v", where, src, err)
		default:
			checkList(t, list, src, where, cols, want, func(src string, row map[string]any) bool { return eval(src, env, row) })
		}
		checkGets(t, s, p.ctx, nb.ID, tbl.ID, where, cols, stored, want)
		checkSchemaAccess(t, s, p.ctx, nb.ID, tbl.ID, where, names, stored, cellsOf, readable, named, slices.ContainsFunc(mine, func(g propGrant) bool { return g.schema }))
		checkHistoryAccess(t, s, p.ctx, nb.ID, tbl.ID, where, cols, stored, mine, func(src string, row map[string]any) bool { return eval(src, env, row) })
	}
}

// propPerson is a user of the access property test, with their context.
type propPerson struct {
	ctx context.Context
	u   *coffer.User
}

// propGrant is the reference's view of a grant given to the caller.
type propGrant struct {
	rows    string
	read    map[string]bool
	schema  bool
	history bool
}

// propRecords creates the random records of the access property test and
// returns their storage values by column name, plus "id".
func propRecords(t *testing.T, rng *rand.Rand, s *all.Store, ownerCtx context.Context, nb, tbl string, cols map[string]*coffer.Column, people []propPerson) []map[string]any {
	var stored []map[string]any
	for range 24 {
		f := map[string]any{}
		if rng.IntN(5) > 0 {
			f["owner"] = people[rng.IntN(len(people))].u.ID
		}
		if rng.IntN(5) > 0 {
			f["team"] = []string{"red", "blue"}[rng.IntN(2)]
		}
		if rng.IntN(5) > 0 {
			f["age"] = json_(18 + rng.IntN(50))
		}
		if rng.IntN(5) > 0 {
			f["salary"] = json_(rng.IntN(100000))
		}
		r := MustRecord(t, ownerCtx, s, nb, tbl, f)
		row := map[string]any{"id": r.ID}
		for name, v := range r.Fields {
			sv, err := value.FromJSON(cols[name], v)
			if err != nil {
				t.Fatal(err)
			}
			row[name] = sv
		}
		stored = append(stored, row)
	}
	return stored
}

// resetSharing deletes every grant of notebook nb and every member but its
// owners.
func resetSharing(t *testing.T, s *all.Store, ownerCtx context.Context, nb string) {
	grants, err := s.FindGrants(ownerCtx, nb)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if err := s.DeleteGrant(ownerCtx, nb, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	members, err := s.FindMembers(ownerCtx, nb)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.Role != "owner" {
			if err := s.DeleteMember(ownerCtx, nb, m.Principal.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// propReference returns, per record id, what the caller's grants mine let
// them see of the record (readable columns, NULL where their cell is
// hidden), and the cells they read; eval evaluates a row condition.
func propReference(stored []map[string]any, mine []propGrant, names []string, readable map[string]bool, eval func(src string, row map[string]any) bool) (want map[string]map[string]any, cellsOf map[string]map[string]bool) {
	want = map[string]map[string]any{}
	cellsOf = map[string]map[string]bool{}
	for _, row := range stored {
		var cells map[string]bool
		for _, g := range mine {
			if !eval(g.rows, row) {
				continue
			}
			if cells == nil {
				cells = map[string]bool{}
			}
			for n, ok := range g.read {
				cells[n] = cells[n] || ok
			}
		}
		if cells == nil {
			continue
		}
		cellsOf[row["id"].(string)] = cells
		m := map[string]any{}
		for _, n := range names {
			if readable[n] {
				if cells[n] {
					m[n] = row[n]
				} else {
					m[n] = nil
				}
			}
		}
		want[row["id"].(string)] = m
	}
	return want, cellsOf
}

// propGrants gives 1 to 3 random grants on table tbl to random people and
// returns the reference's view of those given to the caller (and of their
// role, when they have one), and the columns any grant's condition names.
func propGrants(t *testing.T, rng *rand.Rand, s *all.Store, ownerCtx context.Context, nb, tbl string, people []propPerson, caller, role string, names, rowsConds []string) (mine []propGrant, named map[string]bool) {
	rights := []string{"none", "read", "write"}
	named = map[string]bool{}
	for range 1 + rng.IntN(3) {
		target := people[rng.IntN(len(people))]
		gcols := map[string]string{}
		if rng.IntN(2) == 0 {
			gcols["*"] = rights[rng.IntN(3)]
		}
		for _, n := range names {
			if rng.IntN(3) == 0 {
				gcols[n] = rights[rng.IntN(3)]
			}
		}
		if len(gcols) == 0 {
			gcols["*"] = "none"
		}
		rows := rowsConds[rng.IntN(len(rowsConds))]
		for _, n := range names {
			if containsWord(rows, n) {
				named[n] = true
			}
		}
		var caps []string
		if rng.IntN(2) == 0 {
			caps = []string{"schema"}
		}
		history := rng.IntN(2) == 0
		if history {
			caps = append(caps, "history")
		}
		table := tbl
		if _, err := s.CreateGrant(ownerCtx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: target.u.ID},
			Table: &table, Rows: rows, Columns: gcols, Capabilities: caps}); err != nil {
			t.Fatalf("CreateGrant %v: %v", gcols, err)
		}
		if target.u.ID != caller {
			continue
		}
		g := propGrant{rows: rows, read: map[string]bool{}, schema: slices.Contains(caps, "schema"), history: history}
		for _, n := range names {
			r, ok := gcols[n]
			if !ok {
				r = gcols["*"]
			}
			g.read[n] = r == "read" || r == "write"
		}
		mine = append(mine, g)
	}
	if role != "" {
		g := propGrant{read: map[string]bool{}}
		for _, n := range names {
			g.read[n] = true
		}
		mine = append(mine, g)
	}
	return mine, named
}

// checkList compares a list (with its count) with the reference want,
// filtered by src.
func checkList(t *testing.T, list *coffer.RecordList, src, where string, cols map[string]*coffer.Column, want map[string]map[string]any, eval func(src string, row map[string]any) bool) {
	expect := map[string]map[string]any{}
	for id, m := range want {
		if eval(src, m) {
			expect[id] = m
		}
	}
	if len(list.Records) != len(expect) || list.Total == nil || int(*list.Total) != len(expect) {
		t.Fatalf("%s: list %q: %d records (total %v), reference %d", where, src, len(list.Records), list.Total, len(expect))
	}
	for _, r := range list.Records {
		m, ok := expect[r.ID]
		if !ok {
			t.Fatalf("%s: list %q shows %s, which the reference hides or filters out", where, src, r.ID)
		}
		if d := diffStored(cols, r.Fields, m); d != "" {
			t.Fatalf("%s: list %q, record %s: %s", where, src, r.ID, d)
		}
	}
}

// propEvaluator returns the reference evaluator of conditions on the
// columns cols, on rows of storage values by column name.
func propEvaluator(t *testing.T, cols map[string]*coffer.Column) func(src string, env filter.Env, row map[string]any) bool {
	sch := propAccessSchema{}
	for name, c := range cols {
		c := c
		sch[name] = &filter.Field{Name: name, Type: c.Type, SQL: "unused", Convert: func(lit any) (any, error) { return value.FromFilter(c, lit) }}
	}
	return func(src string, env filter.Env, row map[string]any) bool {
		e, err := filter.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return true
		}
		ok, err := filter.Eval(e, sch, env, func(n string) any { return row[n] })
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
}

// propReadable returns the columns some grant of mine gives read on.
func propReadable(mine []propGrant) map[string]bool {
	readable := map[string]bool{}
	for _, g := range mine {
		for n, ok := range g.read {
			readable[n] = readable[n] || ok
		}
	}
	return readable
}

// checkGets gets every record as the caller: what the reference hides
// answers as a missing record, the rest as the reference shows it.
func checkGets(t *testing.T, s *all.Store, ctx context.Context, nb, tbl, where string, cols map[string]*coffer.Column, stored []map[string]any, want map[string]map[string]any) {
	for _, row := range stored {
		id := row["id"].(string)
		r, err := s.FindRecord(ctx, nb, tbl, id)
		m, visible := want[id]
		if !visible {
			if coffer.ErrorCode(err) != coffer.ENOTFOUND || coffer.ErrorMessage(err) != "record not found" {
				t.Fatalf("%s: get of hidden %s: %v, want the answer of a missing record", where, id, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: get of %s: %v", where, id, err)
		}
		if d := diffStored(cols, r.Fields, m); d != "" {
			t.Fatalf("%s: get of %s: %s", where, id, d)
		}
	}
}

// checkSchemaAccess tries, as a caller, a retype (dry run and real) and a
// delete of every column: a column hidden from them answers as an unknown
// one; without the schema right, or on a column a grant's condition
// names, a refusal; otherwise the conversion report names exactly the
// records whose cell they read (every stored value fails the conversion),
// or conversion_blocked when only cells they cannot read hold values.
func checkSchemaAccess(t *testing.T, s *all.Store, ctx context.Context, nb, tbl, where string, names []string, stored []map[string]any,
	cellsOf map[string]map[string]bool, readable, named map[string]bool, hasSchema bool) {
	t.Helper()
	_, unknown := s.UpdateColumn(ctx, nb, tbl, "nope", coffer.ColumnUpdate{DryRun: true})
	_, unknownDel := s.UpdateColumn(ctx, nb, tbl, "nope", coffer.ColumnUpdate{})
	for _, n := range names {
		typ := coffer.TypeNumber
		upd := coffer.ColumnUpdate{Type: &typ}
		if n == "age" || n == "salary" {
			typ = coffer.TypeSingleSelect
			upd.Options = &coffer.ColumnOptions{Choices: []string{"x"}}
		}
		dry := upd
		dry.DryRun = true
		if !readable[n] {
			for _, u := range []coffer.ColumnUpdate{dry, upd} {
				if _, err := s.UpdateColumn(ctx, nb, tbl, n, u); fmt.Sprint(err) != fmt.Sprint(unknown) || coffer.ErrorCode(err) != coffer.ErrorCode(unknown) {
					t.Fatalf("%s: retype of hidden column %s: %v; an unknown column: %v", where, n, err, unknown)
				}
			}
			if err := s.DeleteColumn(ctx, nb, tbl, n); fmt.Sprint(err) != fmt.Sprint(unknownDel) {
				t.Fatalf("%s: delete of hidden column %s: %v; an unknown column: %v", where, n, err, unknownDel)
			}
			continue
		}
		if !hasSchema || named[n] {
			if _, err := s.UpdateColumn(ctx, nb, tbl, n, dry); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
				t.Fatalf("%s: retype of %s without the right (schema %v, named %v): %v", where, n, hasSchema, named[n], err)
			}
			continue
		}
		var seen []string
		hidden := false
		for _, row := range stored {
			if row[n] == nil {
				continue
			}
			if cellsOf[row["id"].(string)][n] {
				seen = append(seen, "records."+row["id"].(string))
			} else {
				hidden = true
			}
		}
		slices.Sort(seen)
		for _, u := range []coffer.ColumnUpdate{dry, upd} {
			_, err := s.UpdateColumn(ctx, nb, tbl, n, u)
			var got []string
			for _, fe := range coffer.ErrorFields(err) {
				got = append(got, fe.Field)
			}
			switch {
			case len(seen) > 0:
				if coffer.ErrorCode(err) != coffer.ECONVERSION || !slices.Equal(got, seen) || !strings.HasPrefix(coffer.ErrorMessage(err), fmt.Sprintf("%d value(s)", len(seen))) {
					t.Fatalf("%s: retype of %s: %v %v; the reference reports %v", where, n, err, got, seen)
				}
			case hidden:
				if coffer.ErrorCode(err) != coffer.ECONVERSIONBLOCKED || len(got) != 0 {
					t.Fatalf("%s: retype of %s failing on hidden cells only: %v, want conversion_blocked", where, n, err)
				}
			default:
				if u.DryRun && err != nil {
					t.Fatalf("%s: dry run of %s: %v", where, n, err)
				}
			}
			if len(seen) == 0 && !hidden {
				break // would convert: not tried for real
			}
		}
	}
}

type propAccessSchema map[string]*filter.Field

func (s propAccessSchema) Field(name string) (*filter.Field, bool) { f, ok := s[name]; return f, ok }

// json_ is a number as the JSON decoder gives it.
func json_(n int) any { return json.Number(strconv.Itoa(n)) }

// containsWord reports whether src names the column n.
func containsWord(src, n string) bool {
	e, err := filter.Parse(src)
	if err != nil || e == nil {
		return false
	}
	return slices.Contains(filter.FieldNames(e), n)
}

// diffStored compares a record's fields (JSON form) with storage values.
func diffStored(cols map[string]*coffer.Column, got map[string]any, want map[string]any) string {
	if len(got) != len(want) {
		return fmt.Sprintf("fields %v, reference %v", got, want)
	}
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			return fmt.Sprintf("field %q missing", n)
		}
		var gs any
		if g != nil {
			v, err := value.FromJSON(cols[n], g)
			if err != nil {
				return fmt.Sprintf("field %q=%v: %v", n, g, err)
			}
			gs = v
		}
		if fmt.Sprint(gs) != fmt.Sprint(w) {
			return fmt.Sprintf("field %q = %v, reference %v", n, gs, w)
		}
	}
	return ""
}
