package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

var grantSeq atomic.Int64

// sqlGrant writes a grant as the sharing API stores it (columns by id or
// "*"), and lets the access caches expire.
func (f *Fixture) sqlGrant(principalType, principalID, tableID, viewID, rows string, cols map[string]string, caps ...string) {
	f.TB.Helper()
	cj, _ := json.Marshal(cols)
	if caps == nil {
		caps = []string{}
	}
	capj, _ := json.Marshal(caps)
	f.MustExec("INSERT INTO {p}grants (id, notebook_id, principal_type, principal_id, table_id, view_id, rows_filter, column_rights, capabilities, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
		fmt.Sprintf("gnt_%026d", grantSeq.Add(1)), f.NB, principalType, principalID, tableID, viewID, rows, string(cj), string(capj))
	f.Clock.Advance(2 * time.Second)
}

// sqlMember gives a user a role in Alice's notebook.
func (f *Fixture) sqlMember(userID, role string) {
	f.TB.Helper()
	f.MustExec("INSERT INTO {p}notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, 'user', ?, ?, 0)", f.NB, userID, role)
	f.Clock.Advance(2 * time.Second)
}

// colID returns the id of a column of People.
func (f *Fixture) colID(name string) string {
	f.TB.Helper()
	var t coffer.Table
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People", f.Alice, nil).WantStatus(http.StatusOK).JSON(&t)
	for _, c := range t.Columns {
		if c.Name == name {
			return c.ID
		}
	}
	f.TB.Fatalf("no column %q", name)
	return ""
}

func (f *Fixture) userID(key string) string {
	return f.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK).Map()["id"].(string)
}

func (f *Fixture) record(key, id string) map[string]any {
	f.TB.Helper()
	return f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+id, key, nil).WantStatus(http.StatusOK).Map()["fields"].(map[string]any)
}

// TestAccessWrites: writes are checked before and after, column by column,
// and batches fail whole.
func TestAccessWrites(t *testing.T) {
	f := MustFixture(t)
	bob := f.userID(f.Bob)
	recs := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records?sort=name", f.Alice, nil).Map()["records"].([]any)
	byName := map[string]string{}
	for _, r := range recs {
		m := r.(map[string]any)
		byName[m["fields"].(map[string]any)["name"].(string)] = m["id"].(string)
	}
	ada, grace, linus := byName["Ada"], byName["Grace"], byName["Linus"]
	people := f.People
	// Bob edits the red team's rows: name and team writable, age read-only,
	// note hidden; he may create red rows but not delete.
	f.sqlGrant("user", bob, people, "", `team = "red"`,
		map[string]string{f.colID("name"): "write", f.colID("team"): "write", f.colID("age"): "read", "*": "none"}, "create")
	url := func(id string) string { return "/api/v1/notebooks/" + f.NB + "/tables/People/records/" + id }

	// He sees red rows only, without the note column.
	got := f.record(f.Bob, ada)
	if _, ok := got["note"]; ok || got["name"] != "Ada" {
		t.Fatalf("Bob sees Ada as %v: want name, team and age, no note", got)
	}
	f.Do("GET", url(grace), f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)

	// Writing a read-only column is refused and changes nothing.
	p := f.Do("PATCH", url(ada), f.Bob, map[string]any{"fields": map[string]any{"age": 99}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	if strings.Contains(p.Detail, "36") {
		t.Errorf("refusal %q echoes a value", p.Detail)
	}
	// Writing a hidden column: to him, not a column of the table.
	f.Do("PATCH", url(ada), f.Bob, map[string]any{"fields": map[string]any{"note": "x"}}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if r := f.record(f.Alice, ada); r["age"] != float64(36) || r["note"] != "hello" {
		t.Errorf("after refused writes Ada is %v", r)
	}
	// A writable change inside his rows works.
	f.Do("PATCH", url(ada), f.Bob, map[string]any{"fields": map[string]any{"name": "Ada L."}}).WantStatus(http.StatusOK)
	// Moving the row out of his rows is refused and changes nothing.
	f.Do("PATCH", url(ada), f.Bob, map[string]any{"fields": map[string]any{"team": "blue"}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	if r := f.record(f.Alice, ada); r["team"] != "red" || r["name"] != "Ada L." {
		t.Errorf("after a refused move Ada is %v", r)
	}
	// Rows outside his scope answer exactly like missing ones, even to writes.
	missing := f.Do("PATCH", url(f.MissingRec), f.Bob, map[string]any{"fields": map[string]any{"name": "x"}}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	hidden := f.Do("PATCH", url(grace), f.Bob, map[string]any{"fields": map[string]any{"name": "x"}}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	if missing.Detail != hidden.Detail {
		t.Errorf("a hidden record answers %q, a missing one %q", hidden.Detail, missing.Detail)
	}
	f.Do("DELETE", url(grace), f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// No delete capability.
	f.Do("DELETE", url(linus), f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)

	// Create: only rows inside the scope, only writable columns.
	created := f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Bob, map[string]any{"fields": map[string]any{"name": "Rosa", "team": "red"}}).
		WantStatus(http.StatusCreated).Map()
	if fields := created["fields"].(map[string]any); fields["name"] != "Rosa" || fields["note"] != nil {
		t.Errorf("created record answered as %v", fields)
	}
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Bob, map[string]any{"fields": map[string]any{"name": "Out", "team": "blue"}}).
		WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Bob, map[string]any{"fields": map[string]any{"name": "Old", "team": "red", "age": 80}}).
		WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)

	// A batch with one denied operation changes nothing.
	count := func() int {
		return len(f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Alice, nil).Map()["records"].([]any))
	}
	before := count()
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records/batch", f.Bob, map[string]any{"operations": []map[string]any{
		{"op": "create", "fields": map[string]any{"name": "Batch 1", "team": "red"}},
		{"op": "update", "id": ada, "fields": map[string]any{"name": "Ada B."}},
		{"op": "update", "id": linus, "fields": map[string]any{"team": "blue"}},
	}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	if after := count(); after != before {
		t.Errorf("a refused batch changed the record count from %d to %d", before, after)
	}
	if r := f.record(f.Alice, ada); r["name"] != "Ada L." {
		t.Errorf("a refused batch changed Ada to %v", r)
	}
	// A batch naming a record he cannot see fails as not found, whole.
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records/batch", f.Bob, map[string]any{"operations": []map[string]any{
		{"op": "create", "fields": map[string]any{"name": "Batch 2", "team": "red"}},
		{"op": "update", "id": grace, "fields": map[string]any{"name": "x"}},
	}}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	if after := count(); after != before {
		t.Errorf("a failed batch changed the record count from %d to %d", before, after)
	}

	// Filters and sorts by the hidden column answer as for an unknown
	// column; by visible ones they see the caller's values only.
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records?filter="+urlq(`note = "hello"`), f.Bob, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records?sort=note", f.Bob, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	list := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records?count=true&filter="+urlq(`age > 0`), f.Bob, nil).WantStatus(http.StatusOK).Map()
	if total := list["total"].(float64); total != 2 { // Ada and Linus; Rosa has no age
		t.Errorf("Bob counts %v red rows over 0, want 2", total)
	}
	// The table's description hides the column too.
	var tbl coffer.Table
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People", f.Bob, nil).WantStatus(http.StatusOK).JSON(&tbl)
	for _, c := range tbl.Columns {
		if c.Name == "note" {
			t.Errorf("Bob's view of the table lists the hidden column note")
		}
	}
	// No schema right: tables and columns cannot be changed.
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/columns", f.Bob, map[string]any{"name": "x", "type": "text"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", "/api/v1/notebooks/"+f.NB, f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	// The other table of the notebook does not exist for him.
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Teams", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Teams/records", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestAccessRoles: viewers read everything and change nothing; editors
// change records but not the schema; a revoked role denies at the next
// request.
func TestAccessRoles(t *testing.T) {
	f := MustFixture(t)
	bob := f.userID(f.Bob)
	url := "/api/v1/notebooks/" + f.NB + "/tables/People/records/" + f.Recs[0]
	f.Do("GET", url, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.sqlMember(bob, "viewer")
	if r := f.record(f.Bob, f.Recs[0]); r["note"] != "hello" {
		t.Errorf("a viewer reads %v", r)
	}
	f.Do("PATCH", url, f.Bob, map[string]any{"fields": map[string]any{"age": 1}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", url, f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Bob, map[string]any{"fields": map[string]any{"name": "x"}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/views", f.Bob, map[string]any{"name": "Mine"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	var nbs struct {
		Notebooks []coffer.Notebook `json:"notebooks"`
	}
	f.Do("GET", "/api/v1/notebooks", f.Bob, nil).WantStatus(http.StatusOK).JSON(&nbs)
	if len(nbs.Notebooks) != 2 {
		t.Errorf("Bob lists %d notebooks, want his own and the shared one", len(nbs.Notebooks))
	}

	f.MustExec("UPDATE {p}notebook_members SET role = 'editor' WHERE principal_id = ?", bob)
	f.Clock.Advance(2 * time.Second)
	f.Do("PATCH", url, f.Bob, map[string]any{"fields": map[string]any{"age": 1}}).WantStatus(http.StatusOK)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/views", f.Bob, map[string]any{"name": "Mine"}).WantStatus(http.StatusCreated)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables", f.Bob, map[string]any{"name": "New", "columns": []map[string]any{{"name": "a", "type": "text"}}}).
		WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB, f.Bob, map[string]any{"name": "Renamed"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)

	f.MustExec("UPDATE {p}notebook_members SET role = 'admin' WHERE principal_id = ?", bob)
	f.Clock.Advance(2 * time.Second)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables", f.Bob, map[string]any{"name": "New", "columns": []map[string]any{{"name": "a", "type": "text"}}}).
		WantStatus(http.StatusCreated)
	f.Do("DELETE", "/api/v1/notebooks/"+f.NB, f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)

	f.MustExec("DELETE FROM {p}notebook_members WHERE principal_id = ?", bob)
	f.Clock.Advance(2 * time.Second)
	f.Do("GET", url, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.NB, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

func urlq(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", "\"", "%22", "&", "%26", "=", "%3D", ">", "%3E", "<", "%3C", "!", "%21", "|", "%7C").Replace(s)
}

// TestAccessLinks: a link never shows, nor confirms, a record of another
// table that the caller may not see.
func TestAccessLinks(t *testing.T) {
	f := MustFixture(t)
	bob := f.userID(f.Bob)
	var proj coffer.Table
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables", f.Alice, map[string]any{"name": "Projects", "columns": []map[string]any{
		{"name": "title", "type": "text"},
		{"name": "people", "type": "link", "options": map[string]any{"table": "People", "multiple": true}},
	}}).WantStatus(http.StatusCreated).JSON(&proj)
	recs := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records?sort=name", f.Alice, nil).Map()["records"].([]any)
	ids := map[string]string{}
	for _, r := range recs {
		m := r.(map[string]any)
		ids[m["fields"].(map[string]any)["name"].(string)] = m["id"].(string)
	}
	var p coffer.Record
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records", f.Alice, map[string]any{"fields": map[string]any{
		"title": "Apollo", "people": []string{ids["Ada"], ids["Grace"]}}}).WantStatus(http.StatusCreated).JSON(&p)
	// Bob sees every project, and only the red people.
	f.sqlGrant("user", bob, proj.ID, "", "", map[string]string{"*": "write"}, "create")
	f.sqlGrant("user", bob, f.People, "", `team = "red"`, map[string]string{"*": "read"})

	got := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records/"+p.ID, f.Bob, nil).WantStatus(http.StatusOK)
	if strings.Contains(string(got.Body), ids["Grace"]) {
		t.Fatalf("Bob's view of the project shows the id of Grace, whom he cannot see: %s", got.Body)
	}
	if links := got.Map()["fields"].(map[string]any)["people"].([]any); len(links) != 1 || links[0] != ids["Ada"] {
		t.Errorf("Bob sees the links %v, want only Ada", links)
	}
	list := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records", f.Bob, nil).WantStatus(http.StatusOK)
	if strings.Contains(string(list.Body), ids["Grace"]) {
		t.Fatalf("Bob's list of projects shows the id of Grace: %s", list.Body)
	}
	// The owner still sees both.
	if b := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records/"+p.ID, f.Alice, nil).Body; !strings.Contains(string(b), ids["Grace"]) {
		t.Errorf("the owner lost a link: %s", b)
	}
	// Linking a hidden record answers like linking a missing one.
	hidden := f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records", f.Bob, map[string]any{"fields": map[string]any{
		"title": "x", "people": []string{ids["Grace"]}}}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	missing := f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records", f.Bob, map[string]any{"fields": map[string]any{
		"title": "x", "people": []string{f.MissingRec}}}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if strings.ReplaceAll(hidden.Detail, ids["Grace"], "ID") != strings.ReplaceAll(missing.Detail, f.MissingRec, "ID") {
		t.Errorf("a hidden link target answers %q, a missing one %q", hidden.Detail, missing.Detail)
	}
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Projects/records", f.Bob, map[string]any{"fields": map[string]any{
		"title": "ok", "people": []string{ids["Linus"]}}}).WantStatus(http.StatusCreated)
}

// TestAccessViewsNeedSchemaOnTheirTable: the schema right on one table
// does not let its holder save views on another table.
func TestAccessViewsNeedSchemaOnTheirTable(t *testing.T) {
	f := MustFixture(t)
	bob := f.userID(f.Bob)
	var teams coffer.Table
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Teams", f.Alice, nil).WantStatus(http.StatusOK).JSON(&teams)
	f.sqlGrant("user", bob, f.People, "", "", map[string]string{"*": "read"}, "schema")
	f.sqlGrant("user", bob, teams.ID, "", "", map[string]string{"*": "read"})
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/views", f.Bob, map[string]any{"name": "Mine"}).WantStatus(http.StatusCreated)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Teams/views", f.Bob, map[string]any{"name": "Mine"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
}
