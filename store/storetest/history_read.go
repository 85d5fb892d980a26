package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
)

func init() {
	historyGroups = append(historyGroups,
		group{"HistoryRead", testHistoryRead},
		group{"HistoryFilters", testHistoryFilters},
		group{"HistoryAccess", testHistoryAccess},
		group{"HistorySettings", testHistorySettings},
		group{"HistoryPrune", testHistoryPrune},
		group{"HistoryLinks", testHistoryLinks},
		group{"HistoryLargeAction", testHistoryLargeAction})
}

// MustHistory reads every entry of the history that q selects, following
// cursors, newest first.
func MustHistory(tb testing.TB, ctx context.Context, s coffer.HistoryService, notebook string, q coffer.HistoryQuery) []*coffer.HistoryEntry {
	tb.Helper()
	var out []*coffer.HistoryEntry
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			tb.Fatalf("FindHistory(%+v): more than 10000 pages; the cursor does not advance", q)
		}
		p, err := s.FindHistory(ctx, notebook, q)
		if err != nil {
			tb.Fatalf("FindHistory(%+v): %v (fields %v)", q, err, coffer.ErrorFields(err))
		}
		out = append(out, p.Entries...)
		if p.NextCursor == nil {
			return out
		}
		q.Cursor = *p.NextCursor
	}
}

// kinds lists the kinds of entries.
func kinds(es []*coffer.HistoryEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

// changeTexts describes the changes of an entry as "record column: old → new"
// (column "*" for the record's existence, whose values are left out).
func changeTexts(e *coffer.HistoryEntry, names map[string]string) []string {
	var out []string
	for _, c := range e.Changes {
		rec := names[c.Record]
		if rec == "" {
			rec = c.Record
		}
		switch {
		case c.ColumnID == "" && c.Old == nil:
			out = append(out, rec+" created")
		case c.ColumnID == "":
			out = append(out, rec+" deleted")
		default:
			out = append(out, fmt.Sprintf("%s %s: %s → %s", rec, c.Column, jsonOr(c.Old), jsonOr(c.New)))
		}
	}
	slices.Sort(out)
	return out
}

func jsonOr(v json.RawMessage) string {
	if v == nil {
		return "null"
	}
	return string(v)
}

func wantTexts(tb testing.TB, what string, got []string, want ...string) {
	tb.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		tb.Errorf("%s: changes\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// testHistoryRead records one action of every kind and reads them back,
// newest first, with their exact old and new values.
func testHistoryRead(t *testing.T, open Opener) {
	s := open(t)
	st := newSetup(t, s, "History")
	ctx, nb := st.ctx, st.nb
	tbl := MustTable(t, ctx, s, nb, "People", col("Name", coffer.TypeText), col("Salary", coffer.TypeNumber))
	ann := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Name": "Ann", "Salary": json_(100)})
	if _, err := s.UpdateRecord(ctx, nb, tbl.ID, ann.ID, map[string]any{"Salary": json_(250)}, 0); err != nil {
		t.Fatal(err)
	}
	bob := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Name": "Bob"})
	if err := s.DeleteRecord(ctx, nb, tbl.ID, bob.ID, 0); err != nil {
		t.Fatal(err)
	}
	res, err := s.Batch(ctx, nb, tbl.ID, []coffer.BatchOp{{Op: "create", Fields: map[string]any{"Name": "Cy"}}, {Op: "update", ID: ann.ID, Fields: map[string]any{"Name": "Ann B"}}})
	if err != nil {
		t.Fatal(err)
	}
	cy := res.Results[0]
	names := map[string]string{ann.ID: "ann", bob.ID: "bob", cy.ID: "cy"}

	es := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})
	if got, want := kinds(es), []string{"record.batch", "record.delete", "record.create", "record.update", "record.create", "table.create"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	wantTexts(t, "batch", changeTexts(es[0], names), "cy created", `cy Name: null → "Cy"`, `ann Name: "Ann" → "Ann B"`)
	wantTexts(t, "delete", changeTexts(es[1], names), "bob deleted", `bob Name: "Bob" → null`)
	wantTexts(t, "create", changeTexts(es[2], names), "bob created", `bob Name: null → "Bob"`)
	wantTexts(t, "update", changeTexts(es[3], names), "ann Salary: 100 → 250")
	wantTexts(t, "create", changeTexts(es[4], names), "ann created", `ann Name: null → "Ann"`, "ann Salary: null → 100")
	var meta history.RecordMeta
	if err := json.Unmarshal(es[4].Changes[0].New, &meta); err != nil || meta.CreatedBy != st.u.ID || meta.CreatedAt != ann.CreatedAt.UnixMicro() {
		t.Errorf("created record's metadata = %s (%v), want created_by %s at %d", es[4].Changes[0].New, err, st.u.ID, ann.CreatedAt.UnixMicro())
	}
	for i, e := range es {
		if e.Actor != st.u.ID || e.Table != tbl.ID || e.Summary == "" || e.At.IsZero() || (i > 0 && e.Seq >= es[i-1].Seq) {
			t.Errorf("entry %d = %+v: want actor %s, table %s, a summary and a time, newest first", i, e, st.u.ID, tbl.ID)
		}
	}

	// Schema and view actions.
	age, err := s.CreateColumn(ctx, nb, tbl.ID, col("Age", coffer.TypeNumber))
	if err != nil {
		t.Fatal(err)
	}
	years := "Years"
	if _, err := s.UpdateColumn(ctx, nb, tbl.ID, age.ID, coffer.ColumnUpdate{Name: &years}); err != nil {
		t.Fatal(err)
	}
	text := coffer.TypeText
	if _, err := s.UpdateColumn(ctx, nb, tbl.ID, "Salary", coffer.ColumnUpdate{Type: &text}); err != nil {
		t.Fatal(err)
	}
	es = MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Limit: 1})
	wantTexts(t, "retype", changeTexts(es[0], names), `ann Salary: 250 → "250"`)
	if err := s.DeleteColumn(ctx, nb, tbl.ID, "Salary"); err != nil {
		t.Fatal(err)
	}
	es = MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Limit: 1})
	if len(es[0].Changes) != 1 || es[0].Changes[0].Column != "" || string(es[0].Changes[0].Old) != `"250"` || es[0].Changes[0].New != nil {
		t.Errorf("column delete: changes %s, want the value \"250\" dropped (a column that no longer exists has no name)", changeTexts(es[0], names))
	}
	renamed := "Staff"
	if _, err := s.UpdateTable(ctx, nb, tbl.ID, coffer.TableUpdate{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateView(ctx, nb, tbl.ID, coffer.ViewInput{Name: "Mine"})
	if err != nil {
		t.Fatal(err)
	}
	vn := "Ours"
	if _, err := s.UpdateView(ctx, nb, tbl.ID, v.ID, coffer.ViewUpdate{Name: &vn}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteView(ctx, nb, tbl.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTable(ctx, nb, tbl.ID); err != nil {
		t.Fatal(err)
	}
	es = MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})
	if got, want := kinds(es[:9]), []string{"table.delete", "view.delete", "view.update", "view.create", "table.update", "column.delete", "column.update", "column.update", "column.create"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	wantTexts(t, "table delete", changeTexts(es[0], names), "ann deleted", "cy deleted", fmt.Sprintf(`ann : "Ann B" → null`), fmt.Sprintf(`cy : "Cy" → null`))
}

// testHistoryFilters reads history by table, record, column, actor and
// time, in pages, and refuses bad queries with their field.
func testHistoryFilters(t *testing.T, open Opener) {
	s := open(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	st := newSetup(t, s, "Filters")
	ctx, nb := st.ctx, st.nb
	edCtx, ed := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, ed.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	tbl := MustTable(t, ctx, s, nb, "Tasks", col("Title", coffer.TypeText), col("Done", coffer.TypeBoolean))
	other := MustTable(t, ctx, s, nb, "Other", col("X", coffer.TypeText))
	a := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Title": "a"})
	MustRecord(t, ctx, s, nb, other.ID, map[string]any{"X": "x"})
	clk.Add(time.Hour)
	if _, err := s.UpdateRecord(edCtx, nb, tbl.ID, a.ID, map[string]any{"Title": "a2", "Done": true}, 0); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	b := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Title": "b", "Done": true})
	names := map[string]string{a.ID: "a", b.ID: "b"}

	all := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})
	if got, want := kinds(all), []string{"record.create", "record.update", "record.create", "record.create", "table.create", "table.create"}; !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	for _, limit := range []int{1, 2, 4} {
		paged := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Limit: limit})
		if mustJSON(t, paged) != mustJSON(t, all) {
			t.Errorf("pages of %d: %d entries, want the %d of one page", limit, len(paged), len(all))
		}
	}
	p, err := s.FindHistory(ctx, nb, coffer.HistoryQuery{Limit: 2})
	if err != nil || len(p.Entries) != 2 || p.NextCursor == nil {
		t.Fatalf("first page of 2: %+v, %v; want 2 entries and a cursor", p, err)
	}
	if got := len(MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: "Tasks"})); got != 4 {
		t.Errorf("table Tasks: %d entries, want 4 (its creation and three writes)", got)
	}
	rec := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: tbl.ID, Record: a.ID})
	if len(rec) != 2 {
		t.Fatalf("record a: %d entries, want 2", len(rec))
	}
	wantTexts(t, "record a, update", changeTexts(rec[0], names), `a Title: "a" → "a2"`, "a Done: null → true")
	cell := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: "Tasks", Record: a.ID, Column: "title"})
	if len(cell) != 2 {
		t.Fatalf("cell a.Title: %d entries, want 2", len(cell))
	}
	wantTexts(t, "cell a.Title, update", changeTexts(cell[0], names), `a Title: "a" → "a2"`)
	wantTexts(t, "cell a.Title, create", changeTexts(cell[1], names), `a Title: null → "a"`)
	done := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: "Tasks", Column: "Done"})
	if len(done) != 2 {
		t.Errorf("column Done: %d entries, want 2", len(done))
	}
	byEd := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Actor: ed.ID})
	if len(byEd) != 1 || byEd[0].Kind != "record.update" || byEd[0].Actor != ed.ID {
		t.Errorf("actor %s: %v, want the one update", ed.ID, kinds(byEd))
	}
	since := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Since: t0.Add(time.Hour)})
	until := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Until: t0.Add(time.Hour)})
	window := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour)})
	if len(since) != 2 || len(until) != 4 || len(window) != 1 || window[0].Kind != "record.update" {
		t.Errorf("since: %d, until: %d, window: %v; want 2, 4 and the update", len(since), len(until), kinds(window))
	}

	for _, c := range []struct {
		q           coffer.HistoryQuery
		code, field string
	}{
		{coffer.HistoryQuery{Cursor: "abc"}, coffer.EINVALID, "cursor"},
		{coffer.HistoryQuery{Actor: "bob\x00"}, coffer.EINVALID, "actor"},
		{coffer.HistoryQuery{Actor: "\xff"}, coffer.EINVALID, "actor"},
		{coffer.HistoryQuery{Cursor: "-3"}, coffer.EINVALID, "cursor"},
		{coffer.HistoryQuery{Limit: coffer.MaxHistoryLimit + 1}, coffer.EINVALID, "limit"},
		{coffer.HistoryQuery{Limit: -1}, coffer.EINVALID, "limit"},
		{coffer.HistoryQuery{Record: a.ID}, coffer.EINVALID, "record"},
		{coffer.HistoryQuery{Column: "Title"}, coffer.EINVALID, "column"},
		{coffer.HistoryQuery{Table: "Tasks", Record: "nope"}, coffer.EINVALID, "record"},
		{coffer.HistoryQuery{Since: t0, Until: t0}, coffer.EINVALID, "until"},
		{coffer.HistoryQuery{Table: "Nope"}, coffer.ENOTFOUND, ""},
		{coffer.HistoryQuery{Table: "Tasks", Column: "Nope"}, coffer.ENOTFOUND, ""},
	} {
		_, err := s.FindHistory(ctx, nb, c.q)
		if wantCode(t, err, c.code) && c.field != "" {
			wantOnlyFields(t, err, c.field)
		}
	}
	if _, err := s.FindHistory(ctx, "nb_nope", coffer.HistoryQuery{}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("unknown notebook: %v, want not_found", err)
	}
}

// testHistoryAccess reads history as callers with different rights: only
// changes to cells they may read now, of rows they may see now, under a
// right that gives `history`.
func testHistoryAccess(t *testing.T, open Opener) {
	s := open(t)
	st := newSetup(t, s, "Access")
	ctx, nb := st.ctx, st.nb
	tbl := MustTable(t, ctx, s, nb, "Staff", col("Name", coffer.TypeText), col("Team", coffer.TypeText), col("Salary", coffer.TypeNumber))
	a := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Name": "a", "Team": "red", "Salary": json_(10)})
	b := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Name": "b", "Team": "blue", "Salary": json_(20)})
	c := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"Name": "c", "Team": "red", "Salary": json_(30)})
	for _, u := range []struct {
		id     string
		fields map[string]any
	}{{a.ID, map[string]any{"Salary": json_(11)}}, {a.ID, map[string]any{"Name": "a2", "Salary": json_(12)}}, {b.ID, map[string]any{"Name": "b2"}}} {
		if _, err := s.UpdateRecord(ctx, nb, tbl.ID, u.id, u.fields, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRecord(ctx, nb, tbl.ID, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{a.ID: "a", b.ID: "b", c.ID: "c"}
	table := tbl.ID
	grant := func(rows string, cols map[string]string, caps ...string) context.Context {
		uctx, u := MustUser(t, s)
		if _, err := s.CreateGrant(ctx, nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &table, Rows: rows, Columns: cols, Capabilities: caps}); err != nil {
			t.Fatal(err)
		}
		return uctx
	}
	texts := func(es []*coffer.HistoryEntry, salaryHidden ...bool) []string {
		var out []string
		for _, e := range es {
			out = append(out, changeTexts(e, names)...)
			if len(salaryHidden) == 0 && strings.Contains(e.Summary, "Salary") {
				t.Errorf("summary %q names the hidden column", e.Summary)
			}
		}
		slices.Sort(out)
		return out
	}

	// Red rows, Salary hidden, with history: a's creation and rename, not
	// its Salary changes (one action is then left with nothing: absent),
	// not blue b, not deleted c.
	red := grant(`Team = "red"`, map[string]string{"*": "read", "Salary": "none"}, "history")
	for _, q := range []coffer.HistoryQuery{{}, {Table: "Staff"}, {Table: "Staff", Record: a.ID}} {
		es := MustHistory(t, red, s, nb, q)
		if len(es) != 2 {
			t.Errorf("red reader %+v: %d entries, want 2 (kinds %v)", q, len(es), kinds(es))
		}
		wantTexts(t, fmt.Sprintf("red reader %+v", q), texts(es), "a created", `a Name: null → "a"`, `a Team: null → "red"`, `a Name: "a" → "a2"`)
	}
	if es := MustHistory(t, red, s, nb, coffer.HistoryQuery{Table: "Staff", Record: b.ID}); len(es) != 0 {
		t.Errorf("red reader, blue record: %d entries, want none", len(es))
	}
	if _, err := s.FindHistory(red, nb, coffer.HistoryQuery{Table: "Staff", Column: "Salary"}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("red reader, hidden column: %v, want not_found", err)
	}

	// Without a row condition (Salary still hidden): every row, the deleted one too.
	whole := grant("", map[string]string{"*": "read", "Salary": "none"}, "history")
	wantTexts(t, "whole-table reader", texts(MustHistory(t, whole, s, nb, coffer.HistoryQuery{Table: "Staff"})),
		"a created", `a Name: null → "a"`, `a Team: null → "red"`, `a Name: "a" → "a2"`,
		"b created", `b Name: null → "b"`, `b Team: null → "blue"`, `b Name: "b" → "b2"`,
		"c created", `c Name: null → "c"`, `c Team: null → "red"`, "c deleted", `c Name: "c" → null`, `c Team: "red" → null`)

	// A grant that reads everything but gives history on red rows only:
	// Salary of red rows, still not blue ones.
	split := func() context.Context {
		uctx, u := MustUser(t, s)
		for _, g := range []coffer.GrantInput{
			{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &table, Columns: map[string]string{"*": "read"}},
			{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &table, Rows: `Team = "red"`, Columns: map[string]string{"Name": "read"}, Capabilities: []string{"history"}},
		} {
			if _, err := s.CreateGrant(ctx, nb, g); err != nil {
				t.Fatal(err)
			}
		}
		return uctx
	}()
	wantTexts(t, "history on red names only", texts(MustHistory(t, split, s, nb, coffer.HistoryQuery{})), "a created", `a Name: null → "a"`, `a Name: "a" → "a2"`)

	// Without history: refused.
	noHist := grant("", map[string]string{"*": "read"})
	viewer, v := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, v.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	stranger, _ := MustUser(t, s)
	for name, c := range map[string]struct {
		ctx  context.Context
		code string
	}{"grant without history": {noHist, coffer.EFORBIDDEN}, "viewer": {viewer, coffer.EFORBIDDEN}, "stranger": {stranger, coffer.ENOTFOUND}} {
		for _, q := range []coffer.HistoryQuery{{}, {Table: "Staff"}, {Table: "Staff", Record: a.ID}} {
			if _, err := s.FindHistory(c.ctx, nb, q); coffer.ErrorCode(err) != c.code {
				t.Errorf("%s %+v: %v, want %s", name, q, err, c.code)
			}
		}
	}

	// Editors see everything, Salary and the deleted record included.
	edCtx, ed := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, ed.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	if got := texts(MustHistory(t, edCtx, s, nb, coffer.HistoryQuery{Table: "Staff", Record: c.ID}), false); !slices.Contains(got, "c Salary: 30 → null") {
		t.Errorf("editor, deleted record: %v, want its Salary", got)
	}

	// Access is decided now: a row that leaves the red team takes its
	// whole history out of the red reader's sight.
	if _, err := s.UpdateRecord(ctx, nb, tbl.ID, a.ID, map[string]any{"Team": "blue"}, 0); err != nil {
		t.Fatal(err)
	}
	if es := MustHistory(t, red, s, nb, coffer.HistoryQuery{}); len(es) != 0 {
		t.Errorf("red reader after a moved to blue: %d entries, want none", len(es))
	}
}

// testHistoryLinks reads the history of a link column as a caller who sees
// only some of the linked records: links to the others are left out of
// old and new values, and a change only to such links is absent.
func testHistoryLinks(t *testing.T, open Opener) {
	s := open(t)
	st := newSetup(t, s, "Links")
	ctx, nb := st.ctx, st.nb
	projects := MustTable(t, ctx, s, nb, "Projects", col("Name", coffer.TypeText), col("Level", coffer.TypeText))
	tasks := MustTable(t, ctx, s, nb, "Tasks", col("Title", coffer.TypeText), col("Project", coffer.TypeLink, linkTo(projects.ID, true)))
	open1 := MustRecord(t, ctx, s, nb, projects.ID, map[string]any{"Name": "open", "Level": "public"})
	secret := MustRecord(t, ctx, s, nb, projects.ID, map[string]any{"Name": "secret", "Level": "secret"})
	task := MustRecord(t, ctx, s, nb, tasks.ID, map[string]any{"Title": "t", "Project": []any{open1.ID, secret.ID}})
	for _, links := range [][]any{{open1.ID}, {}} {
		if _, err := s.UpdateRecord(ctx, nb, tasks.ID, task.ID, map[string]any{"Project": links}, 0); err != nil {
			t.Fatal(err)
		}
	}
	uctx, u := MustUser(t, s)
	for _, g := range []coffer.GrantInput{
		{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &tasks.ID, Columns: map[string]string{"*": "read"}, Capabilities: []string{"history"}},
		{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &projects.ID, Rows: `Level = "public"`, Columns: map[string]string{"*": "read"}},
	} {
		if _, err := s.CreateGrant(ctx, nb, g); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]string{task.ID: "task"}
	es := MustHistory(t, uctx, s, nb, coffer.HistoryQuery{Table: "Tasks", Column: "Project"})
	var got []string
	for _, e := range es {
		got = append(got, changeTexts(e, names)...)
	}
	wantTexts(t, "links as a caller who sees one project", got,
		fmt.Sprintf(`task Project: null → ["%s"]`, open1.ID), fmt.Sprintf(`task Project: ["%s"] → null`, open1.ID))
	if len(es) != 2 || strings.Contains(mustJSON(t, es), secret.ID) {
		t.Errorf("the hidden project reaches the caller: %s", mustJSON(t, es))
	}
	es = MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: "Tasks", Column: "Project"})
	if len(es) != 3 || !strings.Contains(mustJSON(t, es), secret.ID) {
		t.Errorf("the owner sees every link: %s", mustJSON(t, es))
	}
}

// testHistoryLargeAction reads an action that changed more cells than a
// page shows: the page marks it truncated, the record's history and the
// export show every change.
func testHistoryLargeAction(t *testing.T, open Opener) {
	s := open(t)
	st := newSetup(t, s, "Large")
	ctx, nb := st.ctx, st.nb
	tbl := MustTable(t, ctx, s, nb, "T", col("X", coffer.TypeText), col("Y", coffer.TypeText))
	var last *coffer.Record
	for range 2 {
		ops := make([]coffer.BatchOp, 600)
		for i := range ops {
			ops[i] = coffer.BatchOp{Op: "create", Fields: map[string]any{"X": fmt.Sprint("x", i)}}
		}
		res, err := s.Batch(ctx, nb, tbl.ID, ops)
		if err != nil {
			t.Fatal(err)
		}
		last = res.Results[len(res.Results)-1]
	}
	if err := s.DeleteColumn(ctx, nb, tbl.ID, "X"); err != nil {
		t.Fatal(err)
	}
	p, err := s.FindHistory(ctx, nb, coffer.HistoryQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Entries[0]; e.Kind != "column.delete" || !e.Truncated || len(e.Changes) != coffer.MaxHistoryChanges {
		t.Fatalf("column delete: kind %s, truncated %v, %d changes; want %d changes and truncated", e.Kind, e.Truncated, len(e.Changes), coffer.MaxHistoryChanges)
	}
	es := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: tbl.ID, Record: last.ID, Limit: 1})
	if len(es) != 2 || es[0].Truncated || len(es[0].Changes) != 1 || string(es[0].Changes[0].Old) != `"x599"` {
		t.Errorf("history of the last record: %s", mustJSON(t, es))
	}
	var buf strings.Builder
	if err := s.ExportHistory(ctx, nb, coffer.HistoryQuery{Table: tbl.ID}, coffer.HistoryJSON, &buf); err != nil {
		t.Fatal(err)
	}
	var exported []*coffer.HistoryEntry
	if err := json.Unmarshal([]byte(buf.String()), &exported); err != nil {
		t.Fatal(err)
	}
	if len(exported) != 4 || len(exported[0].Changes) != 1200 || exported[0].Truncated {
		t.Errorf("export: %d entries, the first with %d changes; want 4, and 1200 changes", len(exported), len(exported[0].Changes))
	}
	// The export enters the audit log; its data does not.
	logged := allEntries(t, auditOperator(t, s), s, "", coffer.AuditFilter{Kind: coffer.EventHistoryExported})
	if len(logged) != 1 || logged[0].Actor != st.u.ID || !strings.Contains(logged[0].Detail, tbl.ID) || strings.Contains(logged[0].Detail, "x599") {
		t.Errorf("audit log of the export: %s", mustJSON(t, logged))
	}
}
