package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestHistoryAPI reads the history of a notebook and of a record, pages
// it, and refuses callers without the history capability.
func TestHistoryAPI(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	rec := nb + "/tables/People/records/" + f.Recs[0]
	f.Do("PATCH", rec, f.Alice, map[string]any{"fields": map[string]any{"note": "bye", "age": 37}}).WantStatus(http.StatusOK)

	var page coffer.HistoryPage
	f.Do("GET", rec+"/history", f.Alice, nil).WantStatus(http.StatusOK).JSON(&page)
	if len(page.Entries) != 2 || page.Entries[0].Kind != "record.update" || page.Entries[1].Kind != "record.create" || page.NextCursor != nil {
		t.Fatalf("record history: %s", mustMarshal(t, page))
	}
	f.Do("GET", rec+"/history?column=note", f.Alice, nil).WantStatus(http.StatusOK).JSON(&page)
	if len(page.Entries) != 2 || len(page.Entries[0].Changes) != 1 || string(page.Entries[0].Changes[0].Old) != `"hello"` || string(page.Entries[0].Changes[0].New) != `"bye"` {
		t.Fatalf("cell history: %s", mustMarshal(t, page))
	}

	// Pages of one follow each other to the end.
	var all coffer.HistoryPage
	f.Do("GET", nb+"/history", f.Alice, nil).WantStatus(http.StatusOK).JSON(&all)
	var seqs []int64
	for cursor := ""; ; {
		var p coffer.HistoryPage
		f.Do("GET", nb+"/history?limit=1"+cursor, f.Alice, nil).WantStatus(http.StatusOK).JSON(&p)
		for _, e := range p.Entries {
			seqs = append(seqs, e.Seq)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *p.NextCursor
	}
	if len(seqs) != len(all.Entries) || len(seqs) < 7 || !slices.IsSortedFunc(seqs, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("pages of 1: seqs %v; one page has %d entries", seqs, len(all.Entries))
	}
	f.Do("GET", nb+"/history?table=People&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&actor="+f.ids["alice"], f.keys["editor"], nil).WantStatus(http.StatusOK)

	f.Do("GET", nb+"/history", f.keys["viewer"], nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("GET", rec+"/history", f.keys["viewer"], nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("GET", nb+"/history", f.keys["stranger"], nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/history/export?table=People", f.keys["stranger"], nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/history", "", nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}

// TestHistoryAPIBadParams refuses bad query parameters with 400 and the
// parameter's name, never a 500.
func TestHistoryAPIBadParams(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	rec := nb + "/tables/People/records/" + f.Recs[0]
	for _, c := range []struct{ path, field string }{
		{nb + "/history?limit=abc", "limit"},
		{nb + "/history?limit=0", "limit"},
		{nb + "/history?limit=501", "limit"},
		{nb + "/history?limit=1&limit=2", "limit"},
		{nb + "/history?since=yesterday", "since"},
		{nb + "/history?until=2026-13-01T00:00:00Z", "until"},
		{nb + "/history?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
		{nb + "/history?cursor=abc", "cursor"},
		{nb + "/history?actor=%00", "actor"},
		{nb + "/history?actor=%FF", "actor"},
		{nb + "/history?bogus=1", "bogus"},
		{nb + "/history?record=" + f.Recs[0], "record"},
		{nb + "/history?table=People&record=nope", "record"},
		{nb + "/history?%zz", "query"},
		{rec + "/history?table=People", "table"},
		{nb + "/history/export?table=People&format=xml", "format"},
		{nb + "/history/export", "table"},
		{nb + "/history/export?table=People&limit=3", "limit"},
	} {
		p := f.Do("GET", c.path, f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
		if !slices.Contains(p.fieldNames(), c.field) {
			t.Errorf("GET %s: fields %v, want %q", c.path, p.fieldNames(), c.field)
		}
	}
	f.Do("GET", rec+"/history?column=nope", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/history?table=Nope", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.MissingNB+"/history", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestHistoryExport exports a record's history as CSV (one row per
// change, formula-like text defused) and a table's as JSON.
func TestHistoryExport(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	f.Do("PATCH", nb+"/tables/People/records/"+f.Recs[0], f.Alice, map[string]any{"fields": map[string]any{"note": "=1+1"}},
		"User-Agent", "=HYPERLINK(\"http://evil\")").WantStatus(http.StatusOK)

	r := f.Do("GET", nb+"/history/export?table=People&record="+f.Recs[0], f.Alice, nil).WantStatus(http.StatusOK)
	if ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename="history.csv"` {
		t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, r.Body)
	}
	want := []string{"seq", "at", "actor", "api_key", "ip", "user_agent", "kind", "summary", "table", "record", "column", "column_id", "old", "new"}
	if len(rows) != 7 || !slices.Equal(rows[0], want) {
		t.Fatalf("CSV has %d rows (want a header, the update's change and the creation's 5), header %v", len(rows), rows[0])
	}
	upd := rows[1]
	if upd[5] != `'=HYPERLINK("http://evil")` || upd[6] != "record.update" || upd[9] != f.Recs[0] || upd[10] != "note" || upd[12] != `"hello"` || upd[13] != `"=1+1"` {
		t.Errorf("update row = %q", upd)
	}
	var cells []string
	for _, row := range rows[2:] {
		if row[6] != "record.create" {
			t.Errorf("creation row = %q", row)
		}
		cells = append(cells, row[10]+"="+row[13])
	}
	slices.Sort(cells)
	if got := strings.Join(cells, " "); !strings.HasPrefix(got, `={"created_at":`) || !strings.HasSuffix(got, `age=36 name="Ada" note="hello" team="red"`) {
		t.Errorf("creation cells = %s", got)
	}

	var entries []*coffer.HistoryEntry
	r = f.Do("GET", nb+"/history/export?table=People&format=json", f.Alice, nil).WantStatus(http.StatusOK)
	r.JSON(&entries)
	if len(entries) != 6 || r.Header.Get("Content-Disposition") != `attachment; filename="history.json"` {
		t.Errorf("JSON export: %d entries (want the table's creation, 3 records, the view and the update); %s", len(entries), r.Header.Get("Content-Disposition"))
	}
}

// TestNotebookSettingsAPI reads and changes a notebook's settings and
// reads its history size: owners only.
func TestNotebookSettingsAPI(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	var st coffer.NotebookSettings
	f.Do("GET", nb+"/settings", f.keys["viewer"], nil).WantStatus(http.StatusOK).JSON(&st)
	if st != (coffer.NotebookSettings{History: true}) {
		t.Errorf("settings = %+v", st)
	}
	f.Do("PATCH", nb+"/settings", f.keys["admin"], map[string]any{"history": false}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("PATCH", nb+"/settings", f.keys["stranger"], map[string]any{"history": false}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("PATCH", nb+"/settings", f.Alice, map[string]any{"history_retention_days": -1}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("PATCH", nb+"/settings", f.Alice, map[string]any{"retention": 3}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("PATCH", nb+"/settings", f.Alice, map[string]any{"history_retention_days": 7, "access_log": true}).WantStatus(http.StatusOK).JSON(&st)
	if st != (coffer.NotebookSettings{History: true, HistoryRetentionDays: 7, AccessLog: true}) {
		t.Errorf("changed settings = %+v", st)
	}
	f.Do("GET", nb+"/settings", f.keys["editor"], nil).WantStatus(http.StatusOK).JSON(&st)
	if st.HistoryRetentionDays != 7 {
		t.Errorf("settings read back = %+v", st)
	}
	var size coffer.HistorySize
	f.Do("GET", nb+"/history/size", f.Alice, nil).WantStatus(http.StatusOK).JSON(&size)
	// Two tables, three records (with 5, 4 and 4 changes), a view.
	if size.Actions != 6 || size.Changes != 13 || size.Bytes <= 0 {
		t.Errorf("size = %+v", size)
	}
	f.Do("GET", nb+"/history/size", f.keys["admin"], nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
