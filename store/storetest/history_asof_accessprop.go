package storetest

import (
	"context"
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
)

// testAsOfAccessProperty is the randomized check of time travel against
// the reference evaluator of the access property test: random records,
// then random changes (values that conditions test, deletes, new
// records); then, for random roles and grants (some with the history
// capability), the table and each record read at the moment before the
// changes must show exactly what the rules of now allow on that past
// state: a record when a grant with history matches it as it was, a
// cell when a grant matching it gives read, never a column hidden from
// the caller. COFFER_PROP_SEED changes the seed.
func testAsOfAccessProperty(t *testing.T, s *all.Store) {
	seed := uint64(11)
	if v, err := strconv.ParseUint(os.Getenv("COFFER_PROP_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 0xa50f))
	f := newAsOfFixture(t, s)
	ownerCtx := f.ctx
	tbl := MustTable(t, ownerCtx, s, f.nb, "Staff", col("owner", coffer.TypeText), col("team", coffer.TypeText),
		col("age", coffer.TypeNumber), col("salary", coffer.TypeNumber))
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
	f.tick()
	past := propRecords(t, rng, s, ownerCtx, f.nb, tbl.ID, cols, people)
	then := at(f.clk.Now())
	f.tick()
	asOfChanges(t, rng, s, ownerCtx, f.nb, tbl.ID, people, past)
	eval := propEvaluator(t, cols)
	rowsConds := []string{"", "owner = @user.id", `team = "red"`, "age > 30", "salary is null"}
	listFilters := []string{"", "age > 40", `team = "red"`, "salary > 50000"}
	for i := range 60 {
		resetSharing(t, s, ownerCtx, f.nb)
		p := people[rng.IntN(len(people))]
		role := []string{"", "", "", "viewer", "editor"}[rng.IntN(5)]
		if role != "" {
			if _, err := s.PutMember(ownerCtx, f.nb, p.u.ID, coffer.MemberInput{Role: role}); err != nil {
				t.Fatal(err)
			}
		}
		mine, history := asOfGrants(t, rng, s, ownerCtx, f.nb, tbl.ID, people, p.u.ID, role, names, rowsConds)
		env := filter.Env{UserID: p.u.ID, UserEmail: p.u.Email}
		readable := propReadable(mine)
		var withHistory []propGrant
		for j, g := range mine {
			if history[j] {
				withHistory = append(withHistory, g)
			}
		}
		want := asOfReference(past, mine, withHistory, names, readable, func(src string, row map[string]any) bool { return eval(src, env, row) })
		where := fmt.Sprintf("case %d (COFFER_PROP_SEED=%d): role %q grants %+v history %v", i, seed, role, mine, history)
		src := listFilters[rng.IntN(len(listFilters))]
		list, err := s.FindRecords(p.ctx, f.nb, tbl.ID, coffer.ListQuery{AsOf: then, Filter: src, Limit: 1000, Count: true})
		usesHidden := slices.ContainsFunc(names, func(n string) bool { return !readable[n] && containsWord(src, n) })
		switch {
		case len(mine) == 0:
			wantCode(t, err, coffer.ENOTFOUND)
			continue
		case len(withHistory) == 0:
			wantCode(t, err, coffer.EFORBIDDEN)
			continue
		case usesHidden:
			if !wantCode(t, err, coffer.EINVALID) {
				t.Fatalf("%s: filter %q on a hidden column", where, src)
			}
		case err != nil:
			t.Fatalf("%s: list %q: %v", where, src, err)
		default:
			checkList(t, list, src, where+" as of then", cols, want, func(src string, row map[string]any) bool { return eval(src, env, row) })
		}
		asOfGets(t, s, p.ctx, f.nb, tbl.ID, where, then, cols, past, want)
	}
}

// asOfChanges changes the records after the moment: new values (that the
// conditions test), deletes and new records. past is left as it was.
func asOfChanges(t *testing.T, rng *rand.Rand, s *all.Store, ownerCtx context.Context, nb, tbl string, people []propPerson, past []map[string]any) {
	for _, row := range past {
		id := row["id"].(string)
		switch rng.IntN(4) {
		case 0:
			if err := s.DeleteRecord(ownerCtx, nb, tbl, id, 0); err != nil {
				t.Fatal(err)
			}
		case 1, 2:
			f := map[string]any{"team": []any{"red", "blue", nil}[rng.IntN(3)], "age": json_(18 + rng.IntN(50))}
			if rng.IntN(2) == 0 {
				f["owner"] = people[rng.IntN(len(people))].u.ID
			}
			if _, err := s.UpdateRecord(ownerCtx, nb, tbl, id, f, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 5 {
		MustRecord(t, ownerCtx, s, nb, tbl, map[string]any{"team": "red", "owner": people[rng.IntN(len(people))].u.ID})
	}
}

// asOfGrants is propGrants where each grant may also give the history
// capability; history says which of mine do (a role: an editor's does).
func asOfGrants(t *testing.T, rng *rand.Rand, s *all.Store, ownerCtx context.Context, nb, tbl string, people []propPerson, caller, role string, names, rowsConds []string) ([]propGrant, []bool) {
	rights := []string{"none", "read", "write"}
	var mine []propGrant
	var history []bool
	for range 1 + rng.IntN(3) {
		target := people[rng.IntN(len(people))]
		if rng.IntN(3) > 0 { // mostly the caller's: several conditions meet
			target = people[slices.IndexFunc(people, func(p propPerson) bool { return p.u.ID == caller })]
		}
		gcols := map[string]string{"*": rights[rng.IntN(3)]}
		for _, n := range names {
			if rng.IntN(2) == 0 {
				gcols[n] = rights[rng.IntN(3)]
			}
		}
		rows := rowsConds[rng.IntN(len(rowsConds))]
		var caps []string
		if rng.IntN(2) == 0 {
			caps = []string{"history"}
		}
		table := tbl
		if _, err := s.CreateGrant(ownerCtx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: target.u.ID},
			Table: &table, Rows: rows, Columns: gcols, Capabilities: caps}); err != nil {
			t.Fatalf("CreateGrant %v: %v", gcols, err)
		}
		if target.u.ID != caller {
			continue
		}
		g := propGrant{rows: rows, read: map[string]bool{}}
		for _, n := range names {
			r, ok := gcols[n]
			if !ok {
				r = gcols["*"]
			}
			g.read[n] = r == "read" || r == "write"
		}
		mine = append(mine, g)
		history = append(history, caps != nil)
	}
	if role != "" {
		g := propGrant{read: map[string]bool{}}
		for _, n := range names {
			g.read[n] = true
		}
		mine = append(mine, g)
		history = append(history, role == "editor")
	}
	return mine, history
}

// asOfReference is the reference for a past state: a record shows when a
// grant with history matches it, its cells as all the caller's grants
// matching it give them.
func asOfReference(past []map[string]any, mine, withHistory []propGrant, names []string, readable map[string]bool, eval func(src string, row map[string]any) bool) map[string]map[string]any {
	all, _ := propReference(past, mine, names, readable, eval)
	want := map[string]map[string]any{}
	for _, row := range past {
		id := row["id"].(string)
		if slices.ContainsFunc(withHistory, func(g propGrant) bool { return eval(g.rows, row) }) {
			want[id] = all[id]
		}
	}
	return want
}

// asOfGets gets every record of the past state at the moment: what the
// reference hides answers as a missing record, the rest as it shows it.
func asOfGets(t *testing.T, s *all.Store, ctx context.Context, nb, tbl, where string, then *coffer.AsOf, cols map[string]*coffer.Column, past []map[string]any, want map[string]map[string]any) {
	for _, row := range past {
		id := row["id"].(string)
		r, err := s.FindRecordAsOf(ctx, nb, tbl, id, then)
		m, visible := want[id]
		if !visible {
			if coffer.ErrorCode(err) != coffer.ENOTFOUND || !strings.Contains(coffer.ErrorMessage(err), "not found") {
				t.Fatalf("%s: get as of then of hidden %s: %v, want the answer of a missing record", where, id, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: get as of then of %s: %v", where, id, err)
		}
		if d := diffStored(cols, r.Fields, m); d != "" {
			t.Fatalf("%s: get as of then of %s: %s", where, id, d)
		}
	}
}
