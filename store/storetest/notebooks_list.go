package storetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// person is a row of the list test table; nil fields are empty.
type person struct {
	name   string
	age    any
	team   any
	tags   any
	born   any
	active any
}

var people = []person{
	{"Ada Lovelace", 36, "red", []string{"math"}, "1815-12-10", true},
	{"Alan Turing", 41, "blue", []string{"math", "cs"}, "1912-06-23", true},
	{"Grace Hopper", 85, "red", []string{"cs", "navy"}, "1906-12-09", false},
	{"Linus Smith", nil, "green", nil, "1969-12-28", nil},
	{"Margaret Hamilton", 30, nil, []string{"cs"}, nil, true},
	{"John Smithson", 30, "blue", nil, "1950-01-01", false},
	{"Barbara Liskov", nil, nil, nil, nil, nil},
	{"Ken Thompson", 41, "green", []string{"cs"}, "1943-02-04", true},
}

func testLists(t *testing.T, open Opener) {
	s := open(t)
	e := newSetup(t, s, "Lists")
	tb := MustTable(t, e.ctx, s, e.nb, "People",
		col("Name", coffer.TypeText), col("Age", coffer.TypeNumber),
		// Choices in alphabetical order: whether selects sort by choice
		// order or by text is not part of the contract yet.
		col("Team", coffer.TypeSingleSelect, choices("blue", "green", "red")),
		col("Tags", coffer.TypeMultiSelect, choices("math", "cs", "navy")),
		col("Born on", coffer.TypeDate), col("Active", coffer.TypeBoolean), col("Author", coffer.TypeCreatedBy))
	ops := make([]coffer.BatchOp, len(people))
	for i, p := range people {
		ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{
			"Name": p.name, "Age": p.age, "Team": p.team, "Tags": p.tags, "Born on": p.born, "Active": p.active}}
	}
	if _, err := s.Batch(e.ctx, e.nb, "People", ops); err != nil {
		t.Fatal(err)
	}

	t.Run("Filter", func(t *testing.T) {
		testListsFilter(t, tb, s, e)
	})

	t.Run("Sort", func(t *testing.T) {
		testListsSort(t, e, s)
	})

	t.Run("LimitFieldsCount", func(t *testing.T) {
		testListsLimitFieldsCount(t, s, e, tb)
	})

	t.Run("BadQueries", func(t *testing.T) {
		testListsBadQueries(t, s, e)
	})

	t.Run("Cursors", func(t *testing.T) {
		testListsCursors(t, s)
	})

	t.Run("CursorsUnderConcurrentInserts", func(t *testing.T) {
		testListsCursorsUnderConcurrentInserts(t, s)
	})
}

// testListsFilter is the subtest Filter of testLists.
func testListsFilter(t *testing.T, tb *coffer.Table, s *all.Store, e *setup) {
	t.Parallel()
	tests := []struct {
		filter string
		want   []string
	}{
		{``, names8()},
		{`Age > 36`, []string{"Alan Turing", "Grace Hopper", "Ken Thompson"}},
		{`Age >= 36 && Age < 85`, []string{"Ada Lovelace", "Alan Turing", "Ken Thompson"}},
		{`Name ~ "SMITH"`, []string{"John Smithson", "Linus Smith"}},
		{`Name !~ "a"`, []string{"John Smithson", "Ken Thompson", "Linus Smith"}},
		{`Team in ["red", "green"]`, []string{"Ada Lovelace", "Grace Hopper", "Ken Thompson", "Linus Smith"}},
		{`Team not in ["red", "green"]`, []string{"Alan Turing", "Barbara Liskov", "John Smithson", "Margaret Hamilton"}},
		{`Age is null`, []string{"Barbara Liskov", "Linus Smith"}},
		{`Age is not null && Team = "blue"`, []string{"Alan Turing", "John Smithson"}},
		{`"cs" in Tags`, []string{"Alan Turing", "Grace Hopper", "Ken Thompson", "Margaret Hamilton"}},
		{`"cs" not in Tags`, []string{"Ada Lovelace", "Barbara Liskov", "John Smithson", "Linus Smith"}},
		{`Tags is null`, []string{"Barbara Liskov", "John Smithson", "Linus Smith"}},
		{`created_by = @user.id`, names8()},
		{`Author = @user.id && created_by = @user.id`, names8()},
		{`created_by != @user.id`, nil},
		{`!(Team = "red" || Age > 40)`, []string{"Barbara Liskov", "John Smithson", "Linus Smith", "Margaret Hamilton"}},
		{"`Born on` < \"1900-01-01\"", []string{"Ada Lovelace"}},
		{"`Born on` is null || Active = false", []string{"Barbara Liskov", "Grace Hopper", "John Smithson", "Margaret Hamilton"}},
		{`Active = true`, []string{"Ada Lovelace", "Alan Turing", "Ken Thompson", "Margaret Hamilton"}},
		{`Active != true`, []string{"Barbara Liskov", "Grace Hopper", "John Smithson", "Linus Smith"}},
		{`Name = "Ada Lovelace" || Age >= 85`, []string{"Ada Lovelace", "Grace Hopper"}},
		{`Name = "ada lovelace"`, nil},
		{`Name = "'; DROP TABLE x; --"`, nil},
		{`id = "` + coffer.NewID(coffer.PrefixRecord) + `"`, nil},
		{tb.Column("Age").ID + ` = 30`, []string{"John Smithson", "Margaret Hamilton"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			l, err := s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{Filter: tt.filter, Count: true})
			if err != nil {
				t.Fatalf("FindRecords: %v (fields %v)", err, coffer.ErrorFields(err))
			}
			got := sorted(names(l.Records))
			if !equalStrings(got, sorted(tt.want)) {
				t.Errorf("filter %s gives %s, want %s", tt.filter, quoteList(got), quoteList(sorted(tt.want)))
			}
			if l.Total == nil || *l.Total != int64(len(tt.want)) {
				t.Errorf("Total = %v, want %d", l.Total, len(tt.want))
			}
		})
	}
}

// testListsSort is the subtest Sort of testLists.
func testListsSort(t *testing.T, e *setup, s *all.Store) {
	t.Parallel()
	tests := []struct {
		sort string
		want []string
	}{
		{"-Age,Name", []string{"Grace Hopper", "Alan Turing", "Ken Thompson", "Ada Lovelace", "John Smithson", "Margaret Hamilton", "Barbara Liskov", "Linus Smith"}},
		{"Age,-Name", []string{"Linus Smith", "Barbara Liskov", "Margaret Hamilton", "John Smithson", "Ada Lovelace", "Ken Thompson", "Alan Turing", "Grace Hopper"}},
		{"Team, +Name", []string{"Barbara Liskov", "Margaret Hamilton", "Alan Turing", "John Smithson", "Ken Thompson", "Linus Smith", "Ada Lovelace", "Grace Hopper"}},
		{"-`Born on`,Name", []string{"Linus Smith", "John Smithson", "Ken Thompson", "Alan Turing", "Grace Hopper", "Ada Lovelace", "Barbara Liskov", "Margaret Hamilton"}},
		{"-Active,Name", []string{"Ada Lovelace", "Alan Turing", "Ken Thompson", "Margaret Hamilton", "Grace Hopper", "John Smithson", "Barbara Liskov", "Linus Smith"}},
		{"Active,-Name", []string{"Linus Smith", "Barbara Liskov", "John Smithson", "Grace Hopper", "Margaret Hamilton", "Ken Thompson", "Alan Turing", "Ada Lovelace"}},
		{"-Name", []string{"Margaret Hamilton", "Linus Smith", "Ken Thompson", "John Smithson", "Grace Hopper", "Barbara Liskov", "Alan Turing", "Ada Lovelace"}},
	}
	for _, tt := range tests {
		t.Run(tt.sort, func(t *testing.T) {
			all := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Sort: tt.sort})
			if got := names(all.Records); !equalStrings(got, tt.want) {
				t.Errorf("sort %s gives\n%s\nwant\n%s", tt.sort, quoteList(got), quoteList(tt.want))
			}
			// Paging one record at a time gives the same order.
			for _, limit := range []int{1, 3} {
				paged := MustListAll(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Sort: tt.sort, Limit: limit})
				if got := names(paged); !equalStrings(got, tt.want) {
					t.Errorf("sort %s paged by %d gives\n%s\nwant\n%s", tt.sort, limit, quoteList(got), quoteList(tt.want))
				}
			}
		})
	}
	// Without a sort, records come in id order, which is creation order.
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{})
	if got := ids(l.Records); !slices.IsSorted(got) || len(got) != len(people) {
		t.Errorf("default order is not by id: %q", got)
	}
}

// testListsLimitFieldsCount is the subtest LimitFieldsCount of testLists.
func testListsLimitFieldsCount(t *testing.T, s *all.Store, e *setup, tb *coffer.Table) {
	t.Parallel()
	for _, limit := range []int{-1, coffer.MaxPageSize + 1, -1 << 31} {
		_, err := s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{Limit: limit})
		if wantCode(t, err, coffer.EINVALID) {
			wantOnlyFields(t, err, "limit")
		}
	}
	for _, limit := range []int{1, coffer.MaxPageSize} {
		l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Limit: limit, Count: true})
		if len(l.Records) != min(limit, len(people)) || *l.Total != int64(len(people)) {
			t.Errorf("limit %d: %d records, total %d", limit, len(l.Records), *l.Total)
		}
		if (l.NextCursor != nil) != (limit < len(people)) {
			t.Errorf("limit %d: NextCursor = %v", limit, l.NextCursor)
		}
	}
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{})
	if l.Total != nil {
		t.Errorf("Total = %d without Count, want nil", *l.Total)
	}
	// The total counts every match, not the page.
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Filter: "Age > 0", Limit: 2, Count: true})
	if len(l.Records) != 2 || l.Total == nil || *l.Total != 6 || l.NextCursor == nil {
		t.Errorf("page of 2 with count: %d records, total %v, want 2 of 6", len(l.Records), l.Total)
	}
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Filter: "Age > 0", Limit: 2, Count: true, Cursor: *l.NextCursor})
	if len(l.Records) != 2 || l.Total == nil || *l.Total != 6 {
		t.Errorf("second page with count: %d records, total %v, want 2 of 6", len(l.Records), l.Total)
	}

	// Field selection, by name and id, in any case.
	ageID := tb.Column("Age").ID
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Fields: []string{"Name", ageID, "name"}, Sort: "Name", Limit: 1})
	if len(l.Records) != 1 {
		t.Fatalf("got %d records, want 1", len(l.Records))
	}
	r := l.Records[0]
	if want := map[string]any{"Name": "Ada Lovelace", "Age": json.Number("36")}; mustJSON(t, r.Fields) != mustJSON(t, want) {
		t.Errorf("selected fields = %v, want %v", r.Fields, want)
	}
	if r.ID == "" || r.Version != 1 || r.CreatedBy != e.u.ID {
		t.Errorf("a record with selected fields lacks its system fields: %+v", r)
	}
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Fields: []string{}, Limit: 1})
	if len(l.Records) != 1 || len(l.Records[0].Fields) != 0 {
		t.Errorf("empty field selection gives fields %v, want none", l.Records[0].Fields)
	}
	// The filter and sort may use columns that are not selected.
	l = MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Fields: []string{"Name"}, Filter: "Age > 40", Sort: "-Age,Name"})
	if got, want := names(l.Records), []string{"Grace Hopper", "Alan Turing", "Ken Thompson"}; !equalStrings(got, want) {
		t.Errorf("filter and sort on unselected columns give %q, want %q", got, want)
	}
	_, err := s.FindRecords(e.ctx, e.nb, "People", coffer.ListQuery{Fields: []string{"Name", "Nope"}})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "fields")
	}
}

// testListsBadQueries is the subtest BadQueries of testLists.
func testListsBadQueries(t *testing.T, s *all.Store, e *setup) {
	t.Parallel()
	tests := []struct {
		name  string
		q     coffer.ListQuery
		field string
	}{
		{"unfinished comparison", coffer.ListQuery{Filter: `Age >`}, "filter"},
		{"unknown column", coffer.ListQuery{Filter: `Nope = 1`}, "filter"},
		{"text against a number", coffer.ListQuery{Filter: `Age = "abc"`}, "filter"},
		{"too many decimals", coffer.ListQuery{Filter: `Age = 1.5`}, "filter"},
		{"contains on a number", coffer.ListQuery{Filter: `Age ~ "1"`}, "filter"},
		{"not a choice", coffer.ListQuery{Filter: `Team = "purple"`}, "filter"},
		{"order on a list", coffer.ListQuery{Filter: `Tags > "cs"`}, "filter"},
		{"bad date", coffer.ListQuery{Filter: "`Born on` < \"yesterday\""}, "filter"},
		{"unterminated string", coffer.ListQuery{Filter: `Name = "abc`}, "filter"},
		{"unknown variable", coffer.ListQuery{Filter: `Author = @user.password`}, "filter"},
		{"SQL", coffer.ListQuery{Filter: `1=1; DROP TABLE x`}, "filter"},
		{"too long", coffer.ListQuery{Filter: `Name = "` + strings.Repeat("x", 5000) + `"`}, "filter"},
		{"too deep", coffer.ListQuery{Filter: strings.Repeat("(", 100) + "Age = 1" + strings.Repeat(")", 100)}, "filter"},
		{"too many nodes", coffer.ListQuery{Filter: strings.Repeat("Age = 1 || ", 300) + "Age = 1"}, "filter"},
		{"invalid UTF-8", coffer.ListQuery{Filter: "Name = \"\xff\""}, "filter"},
		{"unknown sort column", coffer.ListQuery{Sort: "Nope"}, "sort"},
		{"sort on a list", coffer.ListQuery{Sort: "Tags"}, "sort"},
		{"sort twice", coffer.ListQuery{Sort: "Age,-age"}, "sort"},
		{"sort without a name", coffer.ListQuery{Sort: "-"}, "sort"},
		{"sort with a trailing comma", coffer.ListQuery{Sort: "Age,"}, "sort"},
		{"sort by SQL", coffer.ListQuery{Sort: "Age; DROP TABLE x"}, "sort"},
		{"too many sort keys", coffer.ListQuery{Sort: "Name,Age,Team,`Born on`,Active,Author,created_at,updated_at,id"}, "sort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FindRecords(e.ctx, e.nb, "People", tt.q)
			code := coffer.EINVALID
			if tt.name == "too long" || tt.name == "too deep" || tt.name == "too many nodes" {
				code = coffer.ETOOCOMPLEX // over a cap on filters
			}
			if wantCode(t, err, code) {
				wantOnlyFields(t, err, tt.field)
			}
		})
	}
}

// checkFilteredPaging checks that a cursor combined with a filter keeps
// the filter, over the n records of testListsCursors.
func checkFilteredPaging(t *testing.T, s *all.Store, e *setup, n int) {
	// A cursor combined with a filter keeps the filter.
	want := 0
	for i := 0; i < n; i++ {
		if i%7 == 3 && i%5 != 0 {
			want++
		}
	}
	got := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Filter: "G = 3", Sort: "-N", Limit: 4})
	if len(got) != want {
		t.Errorf("filtered paging gives %d records, want %d", len(got), want)
	}
	for i := 1; i < len(got); i++ {
		a, _ := got[i-1].Fields["N"].(json.Number).Int64()
		b, _ := got[i].Fields["N"].(json.Number).Int64()
		if a <= b {
			t.Errorf("filtered paging by -N: %d before %d", a, b)
		}
	}
}

// checkBadCursors checks that a malformed cursor, or one from another
// sort, is refused on the cursor field, and that the same sort written
// differently accepts it.
func checkBadCursors(t *testing.T, s *all.Store, e *setup) {
	first := MustList(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Sort: "G", Limit: 5})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	badCursors := map[string]coffer.ListQuery{
		"garbage":                     {Sort: "G", Cursor: "garbage!!"},
		"base64 of garbage":           {Sort: "G", Cursor: b64("garbage")},
		"base64 of another shape":     {Sort: "G", Cursor: b64(`{"s":"x","v":[1,2]}`)},
		"base64 of null":              {Sort: "G", Cursor: b64(`null`)},
		"standard base64":             {Sort: "G", Cursor: base64.StdEncoding.EncodeToString([]byte(`{"s":"x","v":[]}`))},
		"from another sort":           {Sort: "-G", Cursor: *first.NextCursor},
		"from the default sort":       {Sort: "", Cursor: *first.NextCursor},
		"huge":                        {Sort: "G", Cursor: strings.Repeat("A", 100_000)},
		"truncated":                   {Sort: "G", Cursor: (*first.NextCursor)[:len(*first.NextCursor)/2]},
		"with a character added":      {Sort: "G", Cursor: *first.NextCursor + "!"},
		"empty JSON object in base64": {Sort: "G", Cursor: b64(`{}`)},
	}
	for name, q := range badCursors {
		t.Run("bad cursor "+name, func(t *testing.T) {
			_, err := s.FindRecords(e.ctx, e.nb, "T", q)
			if wantCode(t, err, coffer.EINVALID) {
				wantOnlyFields(t, err, "cursor")
			}
		})
	}
	// The same sort written differently accepts the cursor.
	if _, err := s.FindRecords(e.ctx, e.nb, "T", coffer.ListQuery{Sort: " +G ", Cursor: *first.NextCursor}); err != nil {
		t.Errorf("cursor with the same sort written differently: %v", err)
	}
}

// testListsCursors is the subtest Cursors of testLists.
func testListsCursors(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Cursors")
	MustTable(t, e.ctx, s, e.nb, "T", col("N", coffer.TypeNumber), col("G", coffer.TypeNumber), col("S", coffer.TypeText),
		col("D", coffer.TypeDateTime), col("B", coffer.TypeBoolean))
	const n = 150
	ops := make([]coffer.BatchOp, n)
	for i := range ops {
		f := map[string]any{"N": i, "G": i % 7, "S": fmt.Sprintf("s%02d", i%13), "D": fmt.Sprintf("2024-01-%02dT00:00:00Z", 1+i%5), "B": i%3 == 0}
		if i%5 == 0 {
			f["G"], f["S"], f["D"], f["B"] = nil, nil, nil, nil
		}
		ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: f}
	}
	if _, err := s.Batch(e.ctx, e.nb, "T", ops); err != nil {
		t.Fatal(err)
	}
	for _, sort := range []string{"", "G", "-G", "-G,N", "S,-G", "-S", "D", "-D,-G", "B", "-B", "created_at", "-updated_at", "id", "-id"} {
		t.Run(fmt.Sprintf("sort %q", sort), func(t *testing.T) {
			whole := MustList(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Sort: sort, Limit: coffer.MaxPageSize})
			if len(whole.Records) != n || whole.NextCursor != nil {
				t.Fatalf("one page of everything: %d records (cursor %v), want %d", len(whole.Records), whole.NextCursor, n)
			}
			paged := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Sort: sort, Limit: 7})
			if got, want := ids(paged), ids(whole.Records); !equalStrings(got, want) {
				t.Errorf("paging by 7 visits %d records in another order than one page (%d records)", len(got), len(want))
			}
			checkOnce(t, paged, ids(whole.Records))
		})
	}
	// The default limit, and a cursor that ends exactly at the end.
	l := MustList(t, e.ctx, s, e.nb, "T", coffer.ListQuery{})
	if len(l.Records) != coffer.DefaultLimit || l.NextCursor == nil {
		t.Errorf("default page has %d records, want %d and a cursor", len(l.Records), coffer.DefaultLimit)
	}
	l = MustList(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Limit: 100, Cursor: *l.NextCursor})
	if len(l.Records) != 100 || l.NextCursor != nil {
		t.Errorf("last page has %d records and cursor %v, want 100 and none", len(l.Records), l.NextCursor)
	}
	checkFilteredPaging(t, s, e, n)
	checkBadCursors(t, s, e)
}

// testListsCursorsUnderConcurrentInserts is the subtest CursorsUnderConcurrentInserts of testLists.
func testListsCursorsUnderConcurrentInserts(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Concurrent")
	for _, sort := range []string{"", "K", "-K,-M", "M"} {
		t.Run(fmt.Sprintf("sort %q", sort), func(t *testing.T) {
			table := "T" + sort
			MustTable(t, e.ctx, s, e.nb, table, col("K", coffer.TypeNumber), col("M", coffer.TypeText))
			const initial = 80
			ops := make([]coffer.BatchOp, initial)
			for i := range ops {
				f := map[string]any{"K": i % 10, "M": fmt.Sprintf("m%03d", (i*37)%initial)}
				if i%10 == 9 {
					f["K"] = nil
				}
				ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: f}
			}
			res, err := s.Batch(e.ctx, e.nb, table, ops)
			if err != nil {
				t.Fatal(err)
			}
			initialIDs := ids(res.Results)

			// The inserter adds records whose sort values fall before,
			// among and after those already paged, while the pages are read.
			tick := make(chan struct{})
			var wg sync.WaitGroup
			var insertErr error
			inserted := 0
			wg.Go(func() {
				i := 0
				for range tick {
					for j := 0; j < 3; j++ {
						i++
						f := map[string]any{"K": (i * 7) % 12, "M": fmt.Sprintf("m%03d", (i*53)%200)}
						if i%4 == 0 {
							f["K"] = nil
						}
						if _, err := s.CreateRecord(e.ctx, e.nb, table, f); err != nil && insertErr == nil {
							insertErr = err
						}
						inserted++
					}
				}
			})
			var seen []*coffer.Record
			q := coffer.ListQuery{Sort: sort, Limit: 6}
			for pages := 0; pages < 1000; pages++ {
				l, err := s.FindRecords(e.ctx, e.nb, table, q)
				if err != nil {
					close(tick)
					wg.Wait()
					t.Fatalf("page %d: %v", pages, err)
				}
				seen = append(seen, l.Records...)
				if l.NextCursor == nil {
					break
				}
				q.Cursor = *l.NextCursor
				tick <- struct{}{}
			}
			close(tick)
			wg.Wait()
			if insertErr != nil {
				t.Fatalf("concurrent insert: %v", insertErr)
			}
			if inserted == 0 {
				t.Fatal("no insert happened while paging")
			}
			checkOnce(t, seen, initialIDs)
		})
	}
}

// checkOnce fails unless every record in want appears exactly once in seen,
// and no record of seen appears twice.
func checkOnce(t *testing.T, seen []*coffer.Record, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range seen {
		count[r.ID]++
	}
	for id, c := range count {
		if c > 1 {
			t.Errorf("record %s seen %d times", id, c)
		}
	}
	missed := 0
	for _, id := range want {
		if count[id] == 0 {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d records present at the start were never seen", missed, len(want))
	}
}

func names8() []string {
	out := make([]string, len(people))
	for i, p := range people {
		out[i] = p.name
	}
	return out
}
