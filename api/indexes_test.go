package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestTableIndexes declares, lists and deletes an index over several
// columns over HTTP: 201 with the index, problems with stable codes for
// mistakes (nothing changed), 403 for an editor without the schema right,
// 404 for a deleted index.
func TestTableIndexes(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("ada@example.com", "Ada Lovelace")
	bob := e.MustUser("bob@example.com", "Bob Editor")
	ada, bobKey := e.MustLogin("ada@example.com"), e.MustLogin("bob@example.com")
	var nb coffer.Notebook
	wantJSON(t, e.Do("POST", "/api/v1/notebooks", ada, map[string]any{"name": "CRM"}), 201).JSON(&nb)
	base := "/api/v1/notebooks/" + nb.ID + "/tables"
	wantJSON(t, e.Do("POST", base, ada, map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "Team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue"}}}, {"name": "Age", "type": "number"}, {"name": "Tags", "type": "multi_select", "options": map[string]any{"choices": []string{"a"}}}}}), 201)
	ixs := base + "/People/indexes"

	var ix coffer.TableIndex
	wantJSON(t, e.Do("POST", ixs, ada, map[string]any{"columns": []string{"Team", "-Age"}, "unique": false}), 201).JSON(&ix)
	if !coffer.ValidID(coffer.PrefixIndex, ix.ID) || !slices.Equal(ix.Columns, []string{"Team", "-Age"}) {
		t.Errorf("POST indexes = %+v", ix)
	}
	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
		fields []string
	}{
		{map[string]any{"columns": []string{"Team"}}, 400, "invalid", []string{"columns"}},
		{map[string]any{"columns": []string{"Team", "Nope", "Tags"}}, 400, "invalid", []string{"columns[1]", "columns[2]"}},
		{map[string]any{"columns": []string{"Age", "Team"}, "unique": true}, 400, "invalid", []string{"unique"}},
		{map[string]any{"columns": []string{"Team", "-Age"}}, 409, "conflict", []string{"columns"}},
	} {
		p := e.Do("POST", ixs, ada, c.body).WantProblem(c.status, c.code)
		if got := p.fieldNames(); !slices.Equal(got, c.fields) {
			t.Errorf("POST %v: fields %v, want %v", c.body, got, c.fields)
		}
	}
	e.Do("PUT", "/api/v1/notebooks/"+nb.ID+"/members/"+bob.ID, ada, map[string]string{"role": "editor"}).WantStatus(http.StatusOK)
	e.Do("POST", ixs, bobKey, map[string]any{"columns": []string{"Age", "Team"}}).WantProblem(http.StatusForbidden, "forbidden")
	e.Do("GET", ixs, bobKey, nil).WantProblem(http.StatusForbidden, "forbidden")
	e.Do("DELETE", ixs+"/"+ix.ID, bobKey, nil).WantProblem(http.StatusForbidden, "forbidden")

	var list struct{ Indexes []coffer.TableIndex }
	wantJSON(t, e.Do("GET", ixs, ada, nil), 200).JSON(&list)
	if len(list.Indexes) != 1 || list.Indexes[0].ID != ix.ID {
		t.Errorf("GET indexes after the mistakes = %+v, want only %s", list.Indexes, ix.ID)
	}
	e.Do("DELETE", ixs+"/"+ix.ID, ada, nil).WantStatus(http.StatusNoContent)
	e.Do("DELETE", ixs+"/"+ix.ID, ada, nil).WantProblem(http.StatusNotFound, "not_found")
	wantJSON(t, e.Do("GET", ixs, ada, nil), 200).JSON(&list)
	if len(list.Indexes) != 0 {
		t.Errorf("GET indexes after DELETE = %+v", list.Indexes)
	}
}
