package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// Issue 11, access findings 1, 2, 3, 9 and 10: a column hidden from the
// caller is, to them, a column that does not exist; views that scope a
// grant change only by those who may manage grants; live updates say
// nothing of changes confined to hidden cells.

// hiddenWorld is the fixture plus a grantee with the schema right whose
// grant hides the column note and shows the red rows only (Ada, Linus;
// not Grace).
type hiddenWorld struct {
	*Fixture
	gina    string // session key of the grantee
	ginaID  string
	noteID  string // id of the column note
	nameID  string
	grantID string
}

func mustHiddenWorld(t *testing.T) *hiddenWorld {
	t.Helper()
	f := MustFixture(t)
	w := &hiddenWorld{Fixture: f}
	w.ginaID = f.MustUser("gina@example.com", "Gina").ID
	w.gina = f.MustLogin("gina@example.com")
	var tbl coffer.Table
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People", f.Alice, nil).WantStatus(http.StatusOK).JSON(&tbl)
	for _, c := range tbl.Columns {
		switch c.Name {
		case "note":
			w.noteID = c.ID
		case "name":
			w.nameID = c.ID
		}
	}
	// Grace (hidden from Gina) has a note; so do the red rows.
	f.Do("PATCH", w.people()+"/records/"+f.Recs[1], f.Alice, map[string]any{"fields": map[string]any{"note": "grace-secret"}}).WantStatus(http.StatusOK)
	f.Do("PATCH", w.people()+"/records/"+f.Recs[2], f.Alice, map[string]any{"fields": map[string]any{"note": "linus-note"}}).WantStatus(http.StatusOK)
	var g coffer.Grant
	f.Do("POST", w.nb()+"/grants", f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": w.ginaID}, "table": "People", "rows": `team = "red"`,
		"columns": map[string]any{"note": "none", "*": "write"}, "capabilities": []string{"schema"},
	}).WantStatus(http.StatusCreated).JSON(&g)
	w.grantID = g.ID
	return w
}

func (w *hiddenWorld) nb() string     { return "/api/v1/notebooks/" + w.NB }
func (w *hiddenWorld) people() string { return w.nb() + "/tables/People" }

// sameAnswer fails unless two responses have the same status and code and
// the same body once the names that differ are swapped.
func sameAnswer(t *testing.T, got, want *Response, gotName, wantName string) {
	t.Helper()
	g := strings.ReplaceAll(string(got.Body), gotName, "NAME")
	x := strings.ReplaceAll(string(want.Body), wantName, "NAME")
	if got.Status != want.Status || g != x {
		t.Errorf("%s %s answers %d %s\nbut an unknown column answers %d %s", got.Method, got.Path, got.Status, got.Body, want.Status, want.Body)
	}
}

// noLeak fails if a response names something hidden from the caller.
func noLeak(t *testing.T, r *Response, hidden ...string) {
	t.Helper()
	for _, h := range hidden {
		if h != "" && strings.Contains(string(r.Body), h) {
			t.Errorf("%s %s reveals %q: %s", r.Method, r.Path, h, r.Body)
		}
	}
}

// TestSchemaChangeOfHiddenColumn (finding 1): every schema change of a
// column hidden from the caller answers exactly as for an unknown column,
// by name or by id, and changes nothing.
func TestSchemaChangeOfHiddenColumn(t *testing.T) {
	w := mustHiddenWorld(t)
	for _, body := range []map[string]any{
		{"type": "number", "dry_run": true},
		{"type": "number"},
		{"type": "single_select", "dry_run": true},
		{"name": "renamed"},
		{"options": map[string]any{"choices": []string{"a"}}},
	} {
		want := w.Do("PATCH", w.people()+"/columns/nope", w.gina, body)
		want.WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
		sameAnswer(t, w.Do("PATCH", w.people()+"/columns/note", w.gina, body), want, "note", "nope")
		sameAnswer(t, w.Do("PATCH", w.people()+"/columns/"+w.noteID, w.gina, body), want, w.noteID, "nope")
	}
	want := w.Do("DELETE", w.people()+"/columns/nope", w.gina, nil)
	sameAnswer(t, w.Do("DELETE", w.people()+"/columns/note", w.gina, nil), want, "note", "nope")
	sameAnswer(t, w.Do("DELETE", w.people()+"/columns/"+w.noteID, w.gina, nil), want, w.noteID, "nope")
	// Nothing changed: the owner still reads Grace's note as text.
	r := w.Do("GET", w.people()+"/records/"+w.Recs[1], w.Alice, nil).WantStatus(http.StatusOK).Map()
	if r["fields"].(map[string]any)["note"] != "grace-secret" {
		t.Errorf("Grace's note after the grantee's attempts: %v", r)
	}
	// The grantee's answers about the table never name the column.
	noLeak(t, w.Do("GET", w.people(), w.gina, nil).WantStatus(http.StatusOK), w.noteID, `"note"`)
	noLeak(t, w.Do("PATCH", w.people(), w.gina, map[string]any{"name": "People"}).WantStatus(http.StatusOK), w.noteID, `"note"`)
}

// TestConversionReportShowsOnlyReadableCells (finding 1): a conversion
// report names only the records and values the caller may read, and a
// conversion that fails only on cells they cannot read is refused without
// naming or counting them.
func TestConversionReportShowsOnlyReadableCells(t *testing.T) {
	w := mustHiddenWorld(t)
	hidden := []string{w.Recs[1], "Grace", "grace-secret"}
	for _, body := range []map[string]any{
		{"type": "number", "dry_run": true},
		{"type": "number"},
		{"type": "single_select", "options": map[string]any{"choices": []string{"Ada"}}, "dry_run": true},
		{"type": "single_select", "options": map[string]any{"choices": []string{"Ada"}}},
	} {
		r := w.Do("PATCH", w.people()+"/columns/name", w.gina, body)
		p := r.WantProblem(http.StatusUnprocessableEntity, coffer.ECONVERSION)
		noLeak(t, r, hidden...)
		var fields []string
		for _, fe := range p.Errors {
			fields = append(fields, fe.Field)
		}
		want := []string{"records." + w.Recs[2]}
		if body["type"] == "number" {
			want = []string{"records." + w.Recs[0], "records." + w.Recs[2]}
		}
		if strings.Join(fields, ",") != strings.Join(sortedStrings(want), ",") {
			t.Errorf("%v: report names %v, want %v", body, fields, want)
		}
		if strings.Contains(p.Detail, "3 value") {
			t.Errorf("%v: the report counts the hidden row: %s", body, p.Detail)
		}
	}
	// Only the hidden row fails: refused, nothing named, nothing counted.
	for i, name := range map[int]string{0: "1", 2: "2"} {
		w.Do("PATCH", w.people()+"/records/"+w.Recs[i], w.Alice, map[string]any{"fields": map[string]any{"name": name}}).WantStatus(http.StatusOK)
	}
	for _, dry := range []bool{true, false} {
		r := w.Do("PATCH", w.people()+"/columns/name", w.gina, map[string]any{"type": "number", "dry_run": dry})
		p := r.WantProblem(http.StatusUnprocessableEntity, coffer.ECONVERSIONBLOCKED)
		noLeak(t, r, hidden...)
		if len(p.Errors) != 0 || strings.ContainsAny(p.Detail, "0123456789") {
			t.Errorf("dry_run %v: the refusal names or counts hidden values: %s", dry, r.Body)
		}
	}
	r := w.Do("GET", w.people()+"/records/"+w.Recs[1], w.Alice, nil).WantStatus(http.StatusOK).Map()
	if r["fields"].(map[string]any)["name"] != "Grace" {
		t.Errorf("Grace's name after a refused conversion: %v", r)
	}
	// The owner's report still names every record.
	p := w.Do("PATCH", w.people()+"/columns/name", w.Alice, map[string]any{"type": "number", "dry_run": true}).
		WantProblem(http.StatusUnprocessableEntity, coffer.ECONVERSION)
	if len(p.Errors) != 1 || p.Errors[0].Field != "records."+w.Recs[1] {
		t.Errorf("owner's report: %+v", p.Errors)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestSchemaChangeCannotWidenAccess (findings 1-3): a grantee with the
// schema right cannot rename, retype or delete a column that a grant's
// condition or a view scoping a grant refers to, nor give another column
// such a name; the owner can.
func TestSchemaChangeCannotWidenAccess(t *testing.T) {
	w := mustHiddenWorld(t)
	// A view of the name column only, scoping a grant of Gina's.
	w.Do("POST", w.people()+"/views", w.Alice, map[string]any{"name": "Names", "columns": []string{"name"}}).WantStatus(http.StatusCreated)
	w.Do("POST", w.nb()+"/grants", w.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": w.ginaID}, "table": "People", "view": "Names", "columns": map[string]any{"*": "read"},
	}).WantStatus(http.StatusCreated)
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/columns/team", map[string]any{"name": "squad"}},
		{"PATCH", "/columns/team", map[string]any{"type": "text"}},
		{"PATCH", "/columns/team", map[string]any{"type": "text", "dry_run": true}},
		{"DELETE", "/columns/team", nil},
		{"PATCH", "/columns/name", map[string]any{"name": "who"}},
		{"DELETE", "/columns/name", nil},
	} {
		w.Do(rq.method, w.people()+rq.path, w.gina, rq.body).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	}
	// Through the view Gina sees Grace's name only, and note nowhere.
	g := w.Do("GET", w.people()+"/records/"+w.Recs[1], w.gina, nil).WantStatus(http.StatusOK).Map()["fields"].(map[string]any)
	if g["name"] != "Grace" || g["team"] != nil || g["age"] != nil {
		t.Errorf("Gina reads Grace as %v", g)
	}
	noLeak(t, w.Do("GET", w.people()+"/records", w.gina, nil).WantStatus(http.StatusOK), "grace-secret", `"note"`)
	// Another column may change: age is named by no rule.
	w.Do("PATCH", w.people()+"/columns/age", w.gina, map[string]any{"name": "years"}).WantStatus(http.StatusOK)
	// The owner may change what defines access.
	w.Do("PATCH", w.people()+"/columns/team", w.Alice, map[string]any{"name": "squad"}).WantStatus(http.StatusOK)
	// A column may not take a name a rule refers to (the grant's
	// condition still says team).
	w.Do("PATCH", w.people()+"/columns/years", w.gina, map[string]any{"name": "team"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	w.Do("POST", w.people()+"/columns", w.gina, map[string]any{"name": "team", "type": "text"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
}

// TestViewScopingGrantChangesOnlyByManagers (findings 2 and 3): a view
// that scopes a grant can be changed or deleted only by someone who may
// manage grants; neither its grantee (with the schema right) nor an
// editor can widen access through it.
func TestViewScopingGrantChangesOnlyByManagers(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	vera := f.MustUser("vera@example.com", "Vera").ID
	veraKey := f.MustLogin("vera@example.com")
	ed := f.MustUser("ed@example.com", "Ed").ID
	edKey := f.MustLogin("ed@example.com")
	f.Do("PUT", nb+"/members/"+ed, f.Alice, map[string]string{"role": "editor"}).WantStatus(http.StatusOK)
	f.Do("POST", nb+"/grants", f.Alice, map[string]any{
		"principal": map[string]any{"type": "user", "id": vera}, "table": "People", "view": "Adults",
		"columns": map[string]any{"*": "read"}, "capabilities": []string{"schema"},
	}).WantStatus(http.StatusCreated)
	views := nb + "/tables/People/views/"
	wide := map[string]any{"filter": "", "columns": []string{}}
	for _, key := range []string{veraKey, edKey} {
		f.Do("PATCH", views+"Adults", key, wide).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
		f.Do("PATCH", views+f.View, key, map[string]any{"sort": "name"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
		f.Do("PATCH", views+"Adults", key, map[string]any{"name": "Grown-ups"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
		f.Do("DELETE", views+"Adults", key, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	}
	// Vera still sees only the adults, and only name and age.
	var list coffer.RecordList
	f.Do("GET", nb+"/tables/People/records", veraKey, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Records) != 2 {
		t.Fatalf("Vera sees %d records, want 2", len(list.Records))
	}
	for _, r := range list.Records {
		if _, ok := r.Fields["team"]; ok || r.Fields["name"] == "Linus" {
			t.Errorf("Vera sees %v", r.Fields)
		}
	}
	// Views that scope no grant stay the editor's to change.
	f.Do("POST", nb+"/tables/People/views", edKey, map[string]any{"name": "Mine", "filter": "age > 1"}).WantStatus(http.StatusCreated)
	f.Do("PATCH", views+"Mine", edKey, map[string]any{"filter": ""}).WantStatus(http.StatusOK)
	f.Do("DELETE", views+"Mine", edKey, nil).WantStatus(http.StatusNoContent)
	// The owner may change it, and Vera's rights follow at once.
	f.Do("PATCH", views+"Adults", f.Alice, map[string]any{"filter": "age >= 40"}).WantStatus(http.StatusOK)
	f.Do("GET", nb+"/tables/People/records", veraKey, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Records) != 1 || list.Records[0].Fields["name"] != "Grace" {
		t.Errorf("after the owner's change Vera sees %+v", list.Records)
	}
}

// TestHiddenColumnAnswersLikeUnknown (finding 9): filtering, sorting,
// counting, listing through a view and explaining never confirm that a
// column hidden from the caller exists.
func TestHiddenColumnAnswersLikeUnknown(t *testing.T) {
	w := mustHiddenWorld(t)
	list := w.people() + "/records?"
	for _, q := range []string{"filter=%s+%%3D+%%22x%%22", "sort=%s", "sort=-%s", "filter=%s+is+null&count=true", "filter=name+%%3D+%%22a%%22+%%7C%%7C+%s+~+%%22x%%22&sort=age"} {
		want := w.Do("GET", list+strings.ReplaceAll(q, "%s", "nope"), w.gina, nil)
		want.WantProblem(http.StatusBadRequest, coffer.EINVALID)
		for _, name := range []string{"note", w.noteID} {
			got := w.Do("GET", list+strings.ReplaceAll(q, "%s", name), w.gina, nil)
			sameAnswer(t, got, want, name, "nope")
		}
	}
	// Views that use the hidden column: one filters on it (unknown to
	// Gina, like a missing view), one shows it (listed without it).
	w.Do("POST", w.people()+"/views", w.Alice, map[string]any{"name": "Noted", "filter": "note is not null"}).WantStatus(http.StatusCreated)
	w.Do("POST", w.people()+"/views", w.Alice, map[string]any{"name": "Sorted", "sort": "note"}).WantStatus(http.StatusCreated)
	w.Do("POST", w.people()+"/views", w.Alice, map[string]any{"name": "WithNote", "columns": []string{"name", "note"}}).WantStatus(http.StatusCreated)
	missing := w.Do("GET", list+"view=Nope", w.gina, nil)
	missing.WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	for _, v := range []string{"Noted", "Sorted"} {
		sameAnswer(t, w.Do("GET", list+"view="+v, w.gina, nil), missing, v, "Nope")
		sameAnswer(t, w.Do("GET", w.people()+"/views/"+v, w.gina, nil), w.Do("GET", w.people()+"/views/Nope", w.gina, nil), v, "Nope")
	}
	r := w.Do("GET", list+"view=WithNote", w.gina, nil).WantStatus(http.StatusOK)
	noLeak(t, r, w.noteID, `"note"`, "linus-note", "hello")
	noLeak(t, w.Do("GET", w.people()+"/views", w.gina, nil).WantStatus(http.StatusOK), w.noteID, `"note"`)
	// Explaining one's own access names only what one may see.
	r = w.Do("GET", w.nb()+"/access/explain?table=People", w.gina, nil).WantStatus(http.StatusOK)
	noLeak(t, r, w.noteID, `"note"`)
	// Writing the hidden column answers like an unknown one.
	want := w.Do("PATCH", w.people()+"/records/"+w.Recs[0], w.gina, map[string]any{"fields": map[string]any{"nope": "x"}})
	sameAnswer(t, w.Do("PATCH", w.people()+"/records/"+w.Recs[0], w.gina, map[string]any{"fields": map[string]any{"note": "x"}}), want, "note", "nope")
	want = w.Do("POST", w.people()+"/records", w.gina, map[string]any{"fields": map[string]any{"nope": "x", "team": "red"}})
	sameAnswer(t, w.Do("POST", w.people()+"/records", w.gina, map[string]any{"fields": map[string]any{"note": "x", "team": "red"}}), want, "note", "nope")
}

// TestLiveSilentOnHiddenChange (finding 10): a change confined to cells
// hidden from a reader sends them nothing; the next visible change comes
// as the next event.
func TestLiveSilentOnHiddenChange(t *testing.T) {
	w := mustHiddenWorld(t)
	s := openStream(w.Fixture, w.gina, "People")
	ada := w.people() + "/records/" + w.Recs[0]
	w.Do("PATCH", ada, w.Alice, map[string]any{"fields": map[string]any{"note": "changed in secret"}}).WantStatus(http.StatusOK)
	w.Do("POST", w.people()+"/records/batch", w.Alice, map[string]any{"operations": []map[string]any{
		{"op": "update", "id": w.Recs[2], "fields": map[string]any{"note": "again"}},
		{"op": "update", "id": w.Recs[0], "fields": map[string]any{"note": "and again"}},
	}}).WantStatus(http.StatusOK)
	w.Do("PATCH", ada, w.Alice, map[string]any{"fields": map[string]any{"name": "Ada L."}}).WantStatus(http.StatusOK)
	fr := s.next()
	if r := fr.record(t); fr.event != "update" || r.ID != w.Recs[0] || r.Fields["name"] != "Ada L." {
		t.Fatalf("first frame %+v, want the update of Ada's name", fr)
	}
	if strings.Contains(fr.data, "secret") || strings.Contains(fr.data, `"note"`) {
		t.Errorf("frame reveals the hidden note: %s", fr.data)
	}
}

// TestIndexOverHiddenColumn: declaring an index over a column hidden from
// a caller with the schema right answers exactly as over an unknown
// column; the owner's index over it is not listed to them, and deleting
// it answers as for a missing index.
func TestIndexOverHiddenColumn(t *testing.T) {
	w := mustHiddenWorld(t)
	ixs := w.people() + "/indexes"
	want := w.Do("POST", ixs, w.gina, map[string]any{"columns": []string{"team", "nope"}})
	want.WantProblem(http.StatusBadRequest, coffer.EINVALID)
	sameAnswer(t, w.Do("POST", ixs, w.gina, map[string]any{"columns": []string{"team", "note"}}), want, "note", "nope")
	sameAnswer(t, w.Do("POST", ixs, w.gina, map[string]any{"columns": []string{"team", w.noteID}}), want, w.noteID, "nope")
	var ix coffer.TableIndex
	w.Do("POST", ixs, w.Alice, map[string]any{"columns": []string{"team", "-note"}}).WantStatus(http.StatusCreated).JSON(&ix)
	noLeak(t, w.Do("GET", ixs, w.gina, nil).WantStatus(http.StatusOK), "note", w.noteID, ix.ID)
	missing := w.Do("DELETE", ixs+"/idx_00000000000000000000000000", w.gina, nil)
	missing.WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	sameAnswer(t, w.Do("DELETE", ixs+"/"+ix.ID, w.gina, nil), missing, ix.ID, "idx_00000000000000000000000000")
	var list struct{ Indexes []coffer.TableIndex }
	w.Do("GET", ixs, w.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Indexes) != 1 || list.Indexes[0].ID != ix.ID {
		t.Errorf("the owner's indexes after Gina's attempts: %+v", list.Indexes)
	}
}
