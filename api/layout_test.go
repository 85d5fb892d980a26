package api_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestTableLayout sets a table's layout over HTTP: it comes back with the
// table for everyone who reads it, bad layouts are problems naming each
// mistake and change nothing, and an editor without the schema right is
// refused.
func TestTableLayout(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("ada@example.com", "Ada Lovelace")
	bob := e.MustUser("bob@example.com", "Bob Editor")
	ada, bobKey := e.MustLogin("ada@example.com"), e.MustLogin("bob@example.com")

	var nb coffer.Notebook
	wantJSON(t, e.Do("POST", "/api/v1/notebooks", ada, map[string]any{"name": "CRM"}), 201).JSON(&nb)
	base := "/api/v1/notebooks/" + nb.ID + "/tables"
	var tb coffer.Table
	wantJSON(t, e.Do("POST", base, ada, map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "Name", "type": "text"}, {"name": "Age", "type": "number"}, {"name": "Notes", "type": "long_text"}}}), 201).JSON(&tb)
	if _, ok := wantJSON(t, e.Do("GET", base+"/People", ada, nil), 200).Map()["layout"]; !ok {
		t.Errorf("a table's JSON has no layout")
	}
	name, age, notes := tb.Columns[0].ID, tb.Columns[1].ID, tb.Columns[2].ID

	layout := coffer.TableLayout{Order: []string{age, name}, Widths: map[string]int{name: 300}, Hidden: []string{notes}}
	var got coffer.Table
	wantJSON(t, e.Do("PATCH", base+"/People", ada, map[string]any{"layout": layout}), 200).JSON(&got)
	if !reflect.DeepEqual(got.Layout, layout) || got.Name != "People" {
		t.Errorf("PATCH layout answered %+v (name %q), want %+v", got.Layout, got.Name, layout)
	}

	for _, c := range []struct {
		body   any
		fields []string
	}{
		{map[string]any{"layout": map[string]any{"order": []string{"c_nope"}}}, []string{"layout.order[0]"}},
		{map[string]any{"layout": map[string]any{"widths": map[string]int{name: 20, age: 9999}}}, []string{"layout.widths." + name, "layout.widths." + age}},
		{map[string]any{"layout": map[string]any{"hidden": []string{"Name"}}}, []string{"layout.hidden[0]"}},
		{map[string]any{"layout": map[string]any{"widths": map[string]any{name: "wide"}}}, nil},
		{map[string]any{"layout": map[string]any{"colour": "red"}}, nil},
	} {
		p := e.Do("PATCH", base+"/People", ada, c.body).WantProblem(http.StatusBadRequest, "invalid")
		if c.fields != nil {
			got := p.fieldNames()
			slices.Sort(got)
			want := slices.Clone(c.fields)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("PATCH %v: fields %v, want %v", c.body, got, want)
			}
		}
	}

	// A layout full of mistakes names a bounded number, and never echoes a
	// long key back whole.
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("c_%d", i)
	}
	long := strings.Repeat("x", 5000)
	p := e.Do("PATCH", base+"/People", ada, map[string]any{"layout": map[string]any{"hidden": many, "widths": map[string]int{long: 100}}}).WantProblem(http.StatusBadRequest, "invalid")
	if n := len(p.Errors); n == 0 || n > 20 {
		t.Errorf("a layout with 301 mistakes: %d field errors, want 1 to 20", n)
	}
	for _, fe := range p.Errors {
		if len(fe.Field) > 100 {
			t.Errorf("a field error echoes a %d-byte key", len(fe.Field))
		}
	}

	// Bob, an editor, reads the layout but may not change it.
	e.Do("PUT", "/api/v1/notebooks/"+nb.ID+"/members/"+bob.ID, ada, map[string]string{"role": "editor"}).WantStatus(http.StatusOK)
	var seen coffer.Table
	wantJSON(t, e.Do("GET", base+"/"+tb.ID, bobKey, nil), 200).JSON(&seen)
	if !reflect.DeepEqual(seen.Layout, layout) {
		t.Errorf("Bob reads layout %+v, want %+v", seen.Layout, layout)
	}
	e.Do("PATCH", base+"/People", bobKey, map[string]any{"layout": map[string]any{}}).WantProblem(http.StatusForbidden, "forbidden")
	var list struct{ Tables []coffer.Table }
	wantJSON(t, e.Do("GET", base, ada, nil), 200).JSON(&list)
	if len(list.Tables) != 1 || !reflect.DeepEqual(list.Tables[0].Layout, layout) {
		t.Errorf("tables list after refused changes: %+v, want the layout %+v", list.Tables, layout)
	}
}
