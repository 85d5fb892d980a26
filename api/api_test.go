package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// recordList is the decoded answer of a record list.
type recordList struct {
	Records    []coffer.Record `json:"records"`
	NextCursor *string         `json:"next_cursor"`
	Total      *int64          `json:"total"`
}

func names(l recordList) []string {
	var out []string
	for _, r := range l.Records {
		s, _ := r.Fields["name"].(string)
		out = append(out, s)
	}
	return out
}

// wantJSON asserts a successful JSON answer with the security headers.
func wantJSON(t *testing.T, r *Response, status int) *Response {
	t.Helper()
	r.WantStatus(status)
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", r.Method, r.Path, ct)
	}
	checkHeaders(t, r)
	return r
}

// TestHappyPath walks the whole API as a client would: login, notebook,
// tables, columns, records (list with filter, sort, count and cursor; get
// with ETag; PATCH with If-Match; DELETE), batch, views, logout.
func TestHappyPath(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("ada@example.com", "Ada Lovelace")

	// Login.
	r := wantJSON(t, e.Do("POST", "/api/v1/auth/login", "", map[string]any{"email": "Ada@Example.com", "password": testPassword}), 200)
	var sess struct {
		Key       string    `json:"session_key"`
		ExpiresAt time.Time `json:"expires_at"`
		User      struct {
			ID, Email, Name string
		} `json:"user"`
	}
	r.JSON(&sess)
	if !strings.HasPrefix(sess.Key, "cfs_") || len(sess.Key) < 30 || sess.User.Email != "ada@example.com" || time.Until(sess.ExpiresAt) < 23*time.Hour {
		t.Fatalf("login answer: %s", r.Body)
	}
	if strings.Contains(string(r.Body), "password") || strings.Contains(string(r.Body), "$argon2") {
		t.Errorf("login answer reveals the password or its hash: %s", r.Body)
	}
	key := sess.Key
	me := wantJSON(t, e.Do("GET", "/api/v1/auth/me", key, nil), 200).Map()
	if me["id"] != sess.User.ID || me["name"] != "Ada Lovelace" {
		t.Errorf("me: %v", me)
	}

	// Notebooks.
	var nb coffer.Notebook
	wantJSON(t, e.Do("POST", "/api/v1/notebooks", key, map[string]any{"name": " CRM "}, "Content-Type", "application/json; charset=utf-8"), 201).JSON(&nb)
	if nb.Name != "CRM" || nb.OwnerID != sess.User.ID || !coffer.ValidID(coffer.PrefixNotebook, nb.ID) {
		t.Errorf("notebook: %+v", nb)
	}
	nbp := "/api/v1/notebooks/" + nb.ID
	var nbs struct{ Notebooks []coffer.Notebook }
	wantJSON(t, e.Do("GET", "/api/v1/notebooks", key, nil), 200).JSON(&nbs)
	if len(nbs.Notebooks) != 1 || nbs.Notebooks[0].ID != nb.ID {
		t.Errorf("notebooks: %+v", nbs)
	}
	wantJSON(t, e.Do("PATCH", nbp, key, map[string]any{"name": "Customers"}), 200).JSON(&nb)
	if nb.Name != "Customers" {
		t.Errorf("renamed notebook: %+v", nb)
	}
	wantJSON(t, e.Do("GET", nbp, key, nil), 200).JSON(&nb)
	if nb.Name != "Customers" {
		t.Errorf("notebook after rename: %+v", nb)
	}

	// Tables and columns.
	var tbl coffer.Table
	wantJSON(t, e.Do("POST", nbp+"/tables", key, map[string]any{
		"name": "People",
		"columns": []map[string]any{
			{"name": "name", "type": "text"},
			{"name": "age", "type": "number"},
			{"name": "team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue"}}},
			{"name": "First name", "type": "text"},
		},
	}), 201).JSON(&tbl)
	if len(tbl.Columns) != 4 || tbl.Columns[2].Options.Choices[1] != "blue" || tbl.NotebookID != nb.ID {
		t.Fatalf("table: %+v", tbl)
	}
	var tables struct{ Tables []coffer.Table }
	wantJSON(t, e.Do("GET", nbp+"/tables", key, nil), 200).JSON(&tables)
	if len(tables.Tables) != 1 {
		t.Errorf("tables: %+v", tables)
	}
	var byName coffer.Table
	wantJSON(t, e.Do("GET", nbp+"/tables/people", key, nil), 200).JSON(&byName)
	if byName.ID != tbl.ID {
		t.Errorf("table by name: %+v", byName)
	}
	var col coffer.Column
	wantJSON(t, e.Do("POST", nbp+"/tables/People/columns", key, map[string]any{"name": "code", "type": "text"}), 201).JSON(&col)
	if col.Type != coffer.TypeText {
		t.Errorf("column: %+v", col)
	}
	tp := nbp + "/tables/" + tbl.ID
	rp := tp + "/records"

	// Records.
	people := []map[string]any{
		{"name": "Ada", "age": 36, "team": "red", "code": "7"},
		{"name": "Grace", "age": 45, "team": "blue", "code": "12"},
		{"name": "Linus", "age": 20, "team": "red"},
		{"name": "Margaret", "age": 33, "team": "red", "First name": "Maggie"},
		{"name": "Alan", "age": 41, "team": "red"},
	}
	ids := map[string]string{}
	for _, p := range people {
		r := wantJSON(t, e.Do("POST", rp, key, map[string]any{"fields": p}), 201)
		var rec coffer.Record
		r.JSON(&rec)
		if rec.Version != 1 || r.Header.Get("ETag") != `"1"` || rec.CreatedBy != sess.User.ID || rec.Fields["name"] != p["name"] {
			t.Errorf("created record: %s (ETag %q)", r.Body, r.Header.Get("ETag"))
		}
		ids[p["name"].(string)] = rec.ID
	}

	// List with filter, sort and count.
	var l recordList
	query := url.Values{"filter": {`age > 30 && team = "red"`}, "sort": {"-age"}, "count": {"true"}}
	l = getList(t, e, rp+"?"+query.Encode(), key)
	if got, want := names(l), []string{"Alan", "Ada", "Margaret"}; !slices.Equal(got, want) {
		t.Errorf("filtered list: %v, want %v", got, want)
	}
	if l.Total == nil || *l.Total != 3 || l.NextCursor != nil {
		t.Errorf("filtered list: total %v, next %v", l.Total, l.NextCursor)
	}
	for _, tc := range []struct{ filter, want string }{
		{`name ~ "AR"`, "Margaret"},
		{"`First name` = \"Maggie\"", "Margaret"},
		{`team in ["blue"]`, "Grace"},
		{`!(age < 45) && code is not null`, "Grace"},
		{`code = "7" || age = 20`, "Ada,Linus"},
	} {
		l = getList(t, e, rp+"?"+url.Values{"filter": {tc.filter}, "sort": {"name"}}.Encode(), key)
		if got := strings.Join(names(l), ","); got != tc.want {
			t.Errorf("filter %s: %s, want %s", tc.filter, got, tc.want)
		}
	}

	// Cursor pagination: every record once, in order.
	var seen []string
	cursor := ""
	for page := 0; page < 10; page++ {
		q := url.Values{"sort": {"name"}, "limit": {"2"}, "fields": {"name,age"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		l := getList(t, e, rp+"?"+q.Encode(), key)
		for _, r := range l.Records {
			if _, ok := r.Fields["team"]; ok || len(r.Fields) != 2 {
				t.Errorf("fields=name,age returned %v", r.Fields)
			}
		}
		seen = append(seen, names(l)...)
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	if want := []string{"Ada", "Alan", "Grace", "Linus", "Margaret"}; !slices.Equal(seen, want) {
		t.Errorf("pages: %v, want %v", seen, want)
	}
	// A cursor of another sort is refused.
	e.Do("GET", rp+"?"+url.Values{"sort": {"-age"}, "cursor": {cursor}}.Encode(), key, nil).WantProblem(400, "invalid")

	// Get with ETag, PATCH with If-Match, DELETE.
	adaPath := rp + "/" + ids["Ada"]
	r = wantJSON(t, e.Do("GET", adaPath, key, nil), 200)
	etag := r.Header.Get("ETag")
	if etag != `"1"` {
		t.Errorf("ETag %q, want \"1\"", etag)
	}
	var rec coffer.Record
	r = wantJSON(t, e.Do("PATCH", adaPath, key, map[string]any{"fields": map[string]any{"age": 37, "code": nil}}, "If-Match", etag), 200)
	r.JSON(&rec)
	if rec.Version != 2 || r.Header.Get("ETag") != `"2"` || rec.Fields["name"] != "Ada" || rec.Fields["code"] != nil {
		t.Errorf("patched: %s", r.Body)
	}
	if n, _ := json.Number(jsonString(rec.Fields["age"])).Int64(); n != 37 {
		t.Errorf("patched age: %v", rec.Fields["age"])
	}
	// The old ETag no longer matches; the body version works like If-Match.
	e.Do("PATCH", adaPath, key, map[string]any{"fields": map[string]any{"age": 1}}, "If-Match", etag).WantProblem(409, "version_conflict")
	rec = coffer.Record{}
	wantJSON(t, e.Do("PATCH", adaPath, key, map[string]any{"fields": map[string]any{"team": "blue"}, "version": 2}), 200).JSON(&rec)
	if rec.Version != 3 || rec.Fields["team"] != "blue" {
		t.Errorf("patched with body version: %+v", rec)
	}
	e.Do("DELETE", adaPath, key, nil, "If-Match", `"2"`).WantProblem(409, "version_conflict")
	r = e.Do("DELETE", adaPath, key, nil, "If-Match", `"3"`).WantStatus(http.StatusNoContent)
	checkHeaders(t, r)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	e.Do("GET", adaPath, key, nil).WantProblem(404, "not_found")

	// Batch: create, update and delete in one transaction.
	var br coffer.BatchResult
	wantJSON(t, e.Do("POST", rp+"/batch", key, map[string]any{"operations": []map[string]any{
		{"op": "create", "fields": map[string]any{"name": "Barbara", "age": 50}},
		{"op": "update", "id": ids["Grace"], "version": 1, "fields": map[string]any{"age": 46}},
		{"op": "delete", "id": ids["Linus"]},
	}}), 200).JSON(&br)
	if len(br.Results) != 3 || br.Results[0].Fields["name"] != "Barbara" || br.Results[1].Version != 2 || br.Results[2].ID != ids["Linus"] {
		t.Errorf("batch: %+v", br)
	}
	// A failing batch writes nothing.
	e.Do("POST", rp+"/batch", key, map[string]any{"operations": []map[string]any{
		{"op": "create", "fields": map[string]any{"name": "Nobody"}},
		{"op": "update", "id": ids["Grace"], "version": 1, "fields": map[string]any{"age": 1}},
	}}).WantProblem(409, "version_conflict")
	l = getList(t, e, rp+"?"+url.Values{"filter": {`name = "Nobody"`}, "count": {"true"}}.Encode(), key)
	if *l.Total != 0 {
		t.Errorf("failed batch wrote %d records", *l.Total)
	}
	l = getList(t, e, rp+"?count=true", key)
	if *l.Total != 4 {
		t.Errorf("records after batch: %d, want 4", *l.Total)
	}

	// Views.
	var v coffer.View
	wantJSON(t, e.Do("POST", tp+"/views", key, map[string]any{"name": "Seniors", "filter": "age >= 40", "sort": "-age", "columns": []string{"name"}}), 201).JSON(&v)
	if v.TableID != tbl.ID || len(v.Columns) != 1 || v.Columns[0] != tbl.Columns[0].ID {
		t.Errorf("view: %+v", v)
	}
	var views struct{ Views []coffer.View }
	wantJSON(t, e.Do("GET", tp+"/views", key, nil), 200).JSON(&views)
	if len(views.Views) != 1 {
		t.Errorf("views: %+v", views)
	}
	wantJSON(t, e.Do("GET", tp+"/views/seniors", key, nil), 200).JSON(&v)
	l = getList(t, e, rp+"?view=Seniors", key)
	if got := strings.Join(names(l), ","); got != "Barbara,Grace,Alan" || len(l.Records[0].Fields) != 1 {
		t.Errorf("view list: %s %v", got, l.Records)
	}
	// A filter narrows the view; a sort overrides it.
	l = getList(t, e, rp+"?"+url.Values{"view": {v.ID}, "filter": {"age < 50"}, "sort": {"name"}}.Encode(), key)
	if got := strings.Join(names(l), ","); got != "Alan,Grace" {
		t.Errorf("view + filter + sort: %s", got)
	}
	wantJSON(t, e.Do("PATCH", tp+"/views/"+v.ID, key, map[string]any{"filter": "age >= 46"}), 200).JSON(&v)
	if v.Filter != "age >= 46" || v.Name != "Seniors" {
		t.Errorf("updated view: %+v", v)
	}
	e.Do("DELETE", tp+"/views/Seniors", key, nil).WantStatus(204)
	e.Do("GET", tp+"/views/Seniors", key, nil).WantProblem(404, "not_found")

	// Column changes: rename, convert, delete.
	wantJSON(t, e.Do("PATCH", tp+"/columns/code", key, map[string]any{"type": "number", "dry_run": true}), 200).JSON(&col)
	if col.Type != coffer.TypeNumber {
		t.Errorf("dry run: %+v", col)
	}
	wantJSON(t, e.Do("GET", tp, key, nil), 200).JSON(&tbl)
	if tbl.Column("code").Type != coffer.TypeText {
		t.Errorf("dry run changed the column: %+v", tbl.Column("code"))
	}
	wantJSON(t, e.Do("PATCH", tp+"/columns/code", key, map[string]any{"name": "Code", "type": "number"}), 200).JSON(&col)
	if col.Type != coffer.TypeNumber || col.Name != "Code" {
		t.Errorf("converted column: %+v", col)
	}
	l = getList(t, e, rp+"?"+url.Values{"filter": {"Code > 10"}}.Encode(), key)
	if got := strings.Join(names(l), ","); got != "Grace" {
		t.Errorf("filter on converted column: %s", got)
	}
	e.Do("DELETE", tp+"/columns/Code", key, nil).WantStatus(204)
	e.Do("GET", rp+"?"+url.Values{"filter": {"Code > 10"}}.Encode(), key, nil).WantProblem(400, "invalid")

	// Table and notebook rename and delete.
	wantJSON(t, e.Do("PATCH", tp, key, map[string]any{"name": "Persons"}), 200).JSON(&tbl)
	if tbl.Name != "Persons" {
		t.Errorf("renamed table: %+v", tbl)
	}
	e.Do("DELETE", nbp+"/tables/Persons", key, nil).WantStatus(204)
	e.Do("GET", tp, key, nil).WantProblem(404, "not_found")
	e.Do("DELETE", nbp, key, nil).WantStatus(204)
	e.Do("GET", nbp, key, nil).WantProblem(404, "not_found")

	// Logout ends the session.
	e.Do("POST", "/api/v1/auth/logout", key, nil).WantStatus(204)
	e.Do("GET", "/api/v1/notebooks", key, nil).WantProblem(401, "unauthorized")
}

// getList fetches a record list into a fresh value (decoding into a used
// one would merge the fields maps).
func getList(t *testing.T, e *Env, path, key string) recordList {
	t.Helper()
	var l recordList
	wantJSON(t, e.Do("GET", path, key, nil), 200).JSON(&l)
	return l
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOperations covers the unauthenticated endpoints and the headers.
func TestOperations(t *testing.T) {
	e := MustEnv(t)
	for _, tc := range []struct{ path, want string }{{"/healthz", "ok"}, {"/readyz", "ready"}} {
		var s struct{ Status string }
		wantJSON(t, e.Do("GET", tc.path, "", nil), 200).JSON(&s)
		if s.Status != tc.want {
			t.Errorf("%s: status %q, want %q", tc.path, s.Status, tc.want)
		}
		if r := e.Do("HEAD", tc.path, "", nil); r.Status != 200 || len(r.Body) != 0 {
			t.Errorf("HEAD %s: %d %q", tc.path, r.Status, r.Body)
		}
	}
	r := wantJSON(t, e.Do("GET", "/api/v1/openapi.json", "", nil), 200)
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	r.JSON(&doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi: %q", doc.OpenAPI)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-Id")
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/vars", "/metrics/../debug/pprof/"} {
		r := e.Do("GET", p, "", nil)
		if r.Status == http.StatusMovedPermanently {
			continue // ServeMux cleans the path first
		}
		r.WantProblem(404, "not_found")
	}
	// Draining makes /readyz fail but not /healthz.
	e.API.Drain()
	e.Do("GET", "/readyz", "", nil).WantProblem(503, "unavailable")
	wantJSON(t, e.Do("GET", "/healthz", "", nil), 200)
}

// TestBatchDeleteResult: a delete in a batch answers the id alone, as
// coffer.BatchResult documents, not a zero record with year-1 timestamps.
func TestBatchDeleteResult(t *testing.T) {
	f := MustFixture(t)
	var res struct {
		Results []map[string]any `json:"results"`
	}
	wantJSON(t, f.Do("POST", f.Path(recsPath+"/batch"), f.Alice, map[string]any{"operations": []any{
		map[string]any{"op": "delete", "id": f.Recs[2]},
	}}), 200).JSON(&res)
	if len(res.Results) != 1 || res.Results[0]["id"] != f.Recs[2] {
		t.Fatalf("batch delete: %v", res.Results)
	}
	if len(res.Results[0]) != 1 {
		t.Fatalf("a batch delete result must be the id alone, got %v", res.Results[0])
	}
}
