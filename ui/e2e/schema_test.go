package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

const (
	scPassword  = "tangerine-lighthouse-47-quietly"
	scPassword2 = "walnut-harbour-93-softly-drifting"
)

type scTable struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Columns []struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		Type    string         `json:"type"`
		Options map[string]any `json:"options"`
	} `json:"columns"`
	Layout struct {
		Order  []string       `json:"order"`
		Widths map[string]int `json:"widths"`
		Hidden []string       `json:"hidden"`
	} `json:"layout"`
}

func (t *scTable) col(name string) string {
	for _, c := range t.Columns {
		if c.Name == name {
			return c.ID
		}
	}
	return ""
}

type scNotebook struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// scSetup starts a server with Ada (who signs in to a browser) and returns
// her API client and browser.
func scSetup(t *testing.T) (*Server, *Client, *Browser) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "ada@example.com", "Ada Lovelace", scPassword, false)
	api := s.Login(t, "ada@example.com", scPassword)
	b := newBrowser(t)
	scSignIn(t, b, s, "ada@example.com", scPassword)
	return s, api, b
}

// TestSchemaNotebooks creates a notebook in the UI, renames it, and deletes
// it through the confirmation that names its tables and their records.
func TestSchemaNotebooks(t *testing.T) {
	s, api, b := scSetup(t)

	scOpen(b, s, "/", "Notebooks")
	b.Run("create a notebook",
		scType("New notebook", "Customers"),
		scClick(scButton("Create notebook")),
		chromedp.WaitVisible(scHeading("Customers"), chromedp.BySearch),
		chromedp.WaitVisible(scButton("New table"), chromedp.BySearch),
	)
	scShots(b, "notebook-empty")
	var list struct{ Notebooks []scNotebook }
	api.Do("GET", "/api/v1/notebooks", nil, &list)
	if len(list.Notebooks) != 1 || list.Notebooks[0].Name != "Customers" {
		t.Fatalf("notebooks after creating one in the UI: %+v", list.Notebooks)
	}
	nb := list.Notebooks[0].ID

	// Back to the list by the breadcrumb; rename it there.
	b.Run("rename",
		scClick(scLink("Notebooks")),
		scClick(scButton("Rename notebook Customers")),
		chromedp.WaitVisible(scDialog, chromedp.BySearch),
		scType("Notebook name", "Clients"),
		scClick(scDialog+scButton("Rename")),
		chromedp.WaitVisible(scLink("Clients"), chromedp.BySearch),
	)
	var got scNotebook
	api.Do("GET", scAPI("notebooks", nb), nil, &got)
	if got.Name != "Clients" {
		t.Errorf("notebook after rename in the UI: %+v, want Clients", got)
	}

	// A table with two records: the deletion names them.
	var tb scTable
	api.Do("POST", scAPI("notebooks", nb, "tables"), map[string]any{"name": "People", "columns": []map[string]any{{"name": "Name", "type": "text"}}}, &tb)
	for _, n := range []string{"Ada", "Grace"} {
		api.Do("POST", scAPI("notebooks", nb, "tables", tb.ID, "records"), map[string]any{"fields": map[string]any{"Name": n}}, nil)
	}
	b.Run("ask to delete",
		scClick(scButton("Delete notebook Clients")),
		chromedp.WaitVisible(scDialog+`//li[normalize-space()="table People: 2 records"]`, chromedp.BySearch),
	)
	scShots(b, "notebook-delete")
	// The button waits for the name.
	var disabled bool
	b.Run("delete waits for the name", chromedp.Evaluate(`document.evaluate('//dialog[@open]//button[normalize-space()="Delete notebook"]', document, null, 9, null).singleNodeValue.disabled`, &disabled))
	if !disabled {
		t.Errorf("the Delete notebook button is enabled before the name is typed")
	}
	b.Run("delete",
		scType("Type Clients to confirm", "Clients"),
		scClick(scDialog+`//button[normalize-space()="Delete notebook"]`),
		chromedp.WaitNotPresent(scLink("Clients"), chromedp.BySearch),
	)
	if code, body := api.Try("GET", scAPI("notebooks", nb), nil, nil); code != http.StatusNotFound {
		t.Errorf("GET the deleted notebook: %d %s, want 404", code, body)
	}
	scShots(b, "notebooks")
	b.NoProblems("401")
}

// TestSchemaColumnsOfEveryType creates a table in the UI and adds a column
// of every type through the column dialog, with options; the API shows
// each column with its type and options.
func TestSchemaColumnsOfEveryType(t *testing.T) {
	s, api, b := scSetup(t)
	var nb scNotebook
	api.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Shop"}, &nb)
	var companies scTable
	api.Do("POST", scAPI("notebooks", nb.ID, "tables"), map[string]any{"name": "Companies", "columns": []map[string]any{{"name": "Name", "type": "text"}}}, &companies)

	var view struct{ ID string }
	api.Do("POST", scAPI("notebooks", nb.ID, "tables", companies.ID, "views"), map[string]any{"name": "Big ones", "filter": `Name ~ "corp"`}, &view)

	// The notebook lists its tables and their views as links with their
	// own URLs; back and forward move between the screens.
	scOpen(b, s, "/n/"+nb.ID, "Shop")
	var href string
	b.Run("the view's link", chromedp.AttributeValue(scLink("Big ones"), "href", &href, nil, chromedp.BySearch))
	if want := "/n/" + nb.ID + "/t/" + companies.ID + "/v/" + view.ID; href != want {
		t.Errorf("the view's link goes to %q, want %q", href, want)
	}
	scShots(b, "notebook")
	b.Run("columns and back",
		scClick(scLink("Columns of Companies")),
		chromedp.WaitVisible(scHeading("Columns of Companies"), chromedp.BySearch),
		chromedp.NavigateBack(),
		chromedp.WaitVisible(scHeading("Shop"), chromedp.BySearch),
		chromedp.NavigateForward(),
		chromedp.WaitVisible(scHeading("Columns of Companies"), chromedp.BySearch),
		chromedp.NavigateBack(),
		chromedp.WaitVisible(scHeading("Shop"), chromedp.BySearch),
	)
	b.Run("new table",
		scClick(scButton("New table")),
		scType("Table name", "People"),
		scType("Column name", "Full name"),
	)
	scShots(b, "new-table")
	b.Run("create table",
		scClick(scDialog+`//button[normalize-space()="Create table"]`),
		chromedp.WaitNotPresent(scDialog, chromedp.BySearch),
	)
	var tables struct{ Tables []scTable }
	var people scTable
	scEventually(t, "the table People", func() string {
		api.Do("GET", scAPI("notebooks", nb.ID, "tables"), nil, &tables)
		for _, tb := range tables.Tables {
			if tb.Name == "People" {
				people = tb
				return ""
			}
		}
		return fmt.Sprintf("tables %+v", tables.Tables)
	})
	if len(people.Columns) != 1 || people.Columns[0].Name != "Full name" || people.Columns[0].Type != "text" {
		t.Fatalf("People made in the UI: %+v", people.Columns)
	}

	scOpen(b, s, "/n/"+nb.ID+"/t/"+people.ID+"/columns", "Columns of People")
	type add struct {
		name, label string
		options     []chromedp.Action
	}
	adds := []add{
		{"Notes", "Long text", nil},
		{"Price", "Number", []chromedp.Action{scType("Decimal places", "2")}},
		{"Active", "Checkbox", nil},
		{"Born", "Date", nil},
		{"Met", "Date and time", nil},
		{"Team", "Single select", []chromedp.Action{scType("New choice", "red"), scEnter("New choice"), scType("New choice", "green"), scClick(scButton("Add choice"))}},
		{"Tags", "Multiple select", []chromedp.Action{scType("New choice", "a"), scEnter("New choice"), scType("New choice", "b"), scEnter("New choice")}},
		{"Email", "E-mail", nil},
		{"Site", "Web address", nil},
		{"Phone", "Phone", nil},
		{"Employers", "Link to another table", []chromedp.Action{scChoose("Linked table", "Companies"), scClick(`//label[normalize-space()="Several records"]/input`)}},
		{"Created", "Created at", nil},
		{"Creator", "Created by", nil},
		{"Updated", "Updated at", nil},
		{"Updater", "Updated by", nil},
	}
	for _, a := range adds {
		actions := []chromedp.Action{
			scClick(scButton("Add a column")),
			chromedp.WaitVisible(scDialog, chromedp.BySearch),
			scType("Column name", a.name),
			scChoose("Type", a.label),
		}
		actions = append(actions, a.options...)
		actions = append(actions,
			scClick(scDialog+`//button[normalize-space()="Add column"]`),
			chromedp.WaitNotPresent(scDialog, chromedp.BySearch),
			chromedp.WaitVisible(fmt.Sprintf(`//tbody/tr/th[normalize-space()=%s]`, scQuote(a.name)), chromedp.BySearch),
		)
		if a.name == "Employers" {
			b.Run("fill "+a.name, actions[:len(actions)-3]...)
			scShots(b, "column-dialog-link")
			actions = actions[len(actions)-3:]
		}
		b.Run("add "+a.name, actions...)
	}
	scShots(b, "columns")

	var got scTable
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", people.ID), nil, &got)
	want := map[string]string{"Full name": "text", "Notes": "long_text", "Price": "number", "Active": "boolean", "Born": "date", "Met": "datetime",
		"Team": "single_select", "Tags": "multi_select", "Email": "email", "Site": "url", "Phone": "phone", "Employers": "link",
		"Created": "created_at", "Creator": "created_by", "Updated": "updated_at", "Updater": "updated_by"}
	if len(got.Columns) != len(want) {
		t.Errorf("People has %d columns, want %d: %+v", len(got.Columns), len(want), got.Columns)
	}
	for _, c := range got.Columns {
		if want[c.Name] != c.Type {
			t.Errorf("column %s has type %s, want %s", c.Name, c.Type, want[c.Name])
		}
		opts := fmt.Sprint(c.Options)
		switch c.Name {
		case "Price":
			if c.Options["precision"] != float64(2) {
				t.Errorf("Price options %s, want precision 2", opts)
			}
		case "Team":
			if fmt.Sprint(c.Options["choices"]) != "[red green]" {
				t.Errorf("Team options %s, want choices red, green", opts)
			}
		case "Tags":
			if fmt.Sprint(c.Options["choices"]) != "[a b]" {
				t.Errorf("Tags options %s, want choices a, b", opts)
			}
		case "Employers":
			if c.Options["table"] != companies.ID || c.Options["multiple"] != true {
				t.Errorf("Employers options %s, want a link to %s holding several records", opts, companies.ID)
			}
		default:
			if len(c.Options) != 0 {
				t.Errorf("column %s has options %s, want none", c.Name, opts)
			}
		}
	}
	// Rename and delete tables from the notebook: a refused deletion says
	// why in plain words, and the confirmation names the records that go.
	api.Do("POST", scAPI("notebooks", nb.ID, "tables", people.ID, "records"), map[string]any{"fields": map[string]any{"Full name": "Ada"}}, nil)
	scOpen(b, s, "/n/"+nb.ID, "Shop")
	b.Run("rename People",
		scClick(scButton("Rename table People")),
		scType("Table name", "Persons"),
		scClick(scDialog+`//button[normalize-space()="Rename"]`),
		chromedp.WaitVisible(scLink("Persons"), chromedp.BySearch),
	)
	b.Run("delete Companies, which Persons links to",
		scClick(scButton("Delete table Companies")),
		chromedp.WaitVisible(scDialog+`//p[contains(normalize-space(), "its 0 records and its views")]`, chromedp.BySearch),
		scType("Type Companies to confirm", "Companies"),
		scClick(scDialog+`//button[normalize-space()="Delete table"]`),
		chromedp.WaitVisible(scDialog+`//*[@role="alert"][contains(., "links to this table")]`, chromedp.BySearch),
	)
	scShots(b, "table-delete-refused")
	b.Run("cancel", scClick(scDialog+`//button[normalize-space()="Cancel"]`), chromedp.WaitNotPresent(scDialog, chromedp.BySearch))
	b.Run("delete Persons",
		scClick(scButton("Delete table Persons")),
		chromedp.WaitVisible(scDialog+`//p[contains(normalize-space(), "its 1 record and its views")]`, chromedp.BySearch),
		scType("Type Persons to confirm", "Persons"),
		scClick(scDialog+`//button[normalize-space()="Delete table"]`),
		chromedp.WaitNotPresent(scLink("Persons"), chromedp.BySearch),
	)
	api.Do("GET", scAPI("notebooks", nb.ID, "tables"), nil, &tables)
	if len(tables.Tables) != 1 || tables.Tables[0].Name != "Companies" {
		t.Errorf("tables at the end: %+v, want Companies alone", tables.Tables)
	}
	// The refused deletion answered 409, which the browser logs.
	b.NoProblems("401", "409")
}

// TestSchemaRetype changes a column's type from its menu: the server's dry
// run reports which values could not be converted, and nothing changes;
// a column whose values all convert is changed after the report.
func TestSchemaRetype(t *testing.T) {
	s, api, b := scSetup(t)
	var nb scNotebook
	api.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Books"}, &nb)
	var tb scTable
	api.Do("POST", scAPI("notebooks", nb.ID, "tables"), map[string]any{"name": "Things", "columns": []map[string]any{
		{"name": "Amount", "type": "text"}, {"name": "Count", "type": "text"}}}, &tb)
	for _, f := range []map[string]any{{"Amount": "12", "Count": "1"}, {"Amount": "a dozen", "Count": "2"}, {"Amount": "7.5"}} {
		api.Do("POST", scAPI("notebooks", nb.ID, "tables", tb.ID, "records"), map[string]any{"fields": f}, nil)
	}

	scOpen(b, s, "/n/"+nb.ID+"/t/"+tb.ID+"/columns", "Columns of Things")
	b.Run("retype Amount",
		scClick(scButton("Column menu: Amount")),
		scClick(scMenuItem("Change type…")),
		chromedp.WaitVisible(scDialog, chromedp.BySearch),
		scChoose("Type", "Number"),
		scClick(scDialog+`//button[normalize-space()="Check the change"]`),
		chromedp.WaitVisible(`//section[@aria-label="Conversion report"]//li[contains(., "a dozen")]`, chromedp.BySearch),
	)
	scShots(b, "retype-refused")
	report := strings.Join(scTexts(b, `//section[@aria-label="Conversion report"]`), " ")
	if !strings.Contains(report, "Nothing was changed: 2 values of Amount cannot become Number") {
		t.Errorf("the report %q does not say that nothing changed", report)
	}
	var disabled bool
	b.Run("apply is disabled", chromedp.Evaluate(`document.evaluate('//dialog[@open]//button[normalize-space()="Apply the change"]', document, null, 9, null).singleNodeValue.disabled`, &disabled))
	if !disabled {
		t.Errorf("Apply the change is enabled although values would be lost")
	}
	b.Run("cancel", scClick(scDialog+`//button[normalize-space()="Cancel"]`), chromedp.WaitNotPresent(scDialog, chromedp.BySearch))
	var focused string
	b.Run("focus is back on the menu button", chromedp.Sleep(100*time.Millisecond), chromedp.Evaluate(`document.activeElement.getAttribute("aria-label")`, &focused))
	if focused != "Column menu: Amount" {
		t.Errorf("after the dialog closed, focus is on %q, want the column's menu button", focused)
	}
	var got scTable
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID), nil, &got)
	if got.Columns[0].Type != "text" {
		t.Errorf("Amount is %s after a refused change, want text", got.Columns[0].Type)
	}
	var recs struct {
		Records []struct{ Fields map[string]any } `json:"records"`
	}
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID, "records")+"?sort=created_at", nil, &recs)
	var amounts []string
	for _, r := range recs.Records {
		amounts = append(amounts, fmt.Sprint(r.Fields["Amount"]))
	}
	if !slices.Equal(amounts, []string{"12", "a dozen", "7.5"}) {
		t.Errorf("Amount values after a refused change: %q", amounts)
	}

	// Count converts: the report says so, and the change applies.
	b.Run("retype Count",
		scClick(scButton("Column menu: Count")),
		scClick(scMenuItem("Change type…")),
		scChoose("Type", "Number"),
		scClick(scDialog+`//button[normalize-space()="Check the change"]`),
		chromedp.WaitVisible(`//section[@aria-label="Conversion report"][contains(., "All 2 values of Count convert to Number")]`, chromedp.BySearch),
	)
	scShots(b, "retype-report")
	b.Run("apply",
		scClick(scDialog+`//button[normalize-space()="Apply the change"]`),
		chromedp.WaitNotPresent(scDialog, chromedp.BySearch),
		chromedp.WaitVisible(`//tr[th[normalize-space()="Count"]]/td[normalize-space()="Number"]`, chromedp.BySearch),
	)
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID), nil, &got)
	if got.Columns[1].Type != "number" {
		t.Errorf("Count is %s after the change, want number", got.Columns[1].Type)
	}
	// The refused dry run answers 422, which the browser logs.
	b.NoProblems("401", "422")
}

// TestSchemaLayout hides and moves columns with the column menu: the
// layout is the table's, so a reload and another member see it; a member
// without the schema right gets no column menu.
func TestSchemaLayout(t *testing.T) {
	s, api, b := scSetup(t)
	s.CreateUser(t, "bob@example.com", "Bob Builder", scPassword2, false)
	bobAPI := s.Login(t, "bob@example.com", scPassword2)
	var me struct{ ID string }
	bobAPI.Do("GET", "/api/v1/auth/me", nil, &me)
	var nb scNotebook
	api.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Team"}, &nb)
	api.Do("PUT", scAPI("notebooks", nb.ID, "members", me.ID), map[string]string{"role": "editor"}, nil)
	var tb scTable
	api.Do("POST", scAPI("notebooks", nb.ID, "tables"), map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "A", "type": "text"}, {"name": "B", "type": "text"}, {"name": "C", "type": "text"}}}, &tb)
	a, bCol, c := tb.col("A"), tb.col("B"), tb.col("C")

	page := "/n/" + nb.ID + "/t/" + tb.ID + "/columns"
	scOpen(b, s, page, "Columns of People")
	b.Run("open the menu of B",
		scClick(scButton("Column menu: B")),
		chromedp.WaitVisible(`//*[@role="menu"]`, chromedp.BySearch),
	)
	scShots(b, "column-menu")
	b.Run("hide B",
		scClick(scMenuItem("Hide column")),
		chromedp.WaitVisible(`//tr[th[normalize-space()="B"]]/td[normalize-space()="Hidden"]`, chromedp.BySearch),
	)
	b.Run("move C left",
		scClick(scButton("Column menu: C")),
		scClick(scMenuItem("Move left")),
		chromedp.WaitVisible(`//tbody/tr[1]/th[normalize-space()="C"]`, chromedp.BySearch),
	)
	rows := func(br *Browser) []string { return scTexts(br, `//tbody/tr/th`) }
	b.Run("reload", chromedp.Reload(), chromedp.WaitVisible(`//tbody/tr[3]/th`, chromedp.BySearch))
	if got := rows(b); !slices.Equal(got, []string{"C", "A", "B"}) {
		t.Errorf("columns after a reload: %q, want C, A, B", got)
	}
	if got := scTexts(b, `//tr[th[normalize-space()="B"]]/td[3]`); !slices.Equal(got, []string{"Hidden"}) {
		t.Errorf("B after a reload: %q, want Hidden", got)
	}
	scShots(b, "columns-layout")

	var got scTable
	bobAPI.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID), nil, &got)
	if !slices.Equal(got.Layout.Order, []string{c, a, bCol}) || !slices.Equal(got.Layout.Hidden, []string{bCol}) {
		t.Errorf("layout as Bob reads it: %+v, want order C, A, B and B hidden", got.Layout)
	}

	// Bob, an editor, sees the same order in his own browser, and no menu.
	bob := newBrowser(t)
	scSignIn(t, bob, s, "bob@example.com", scPassword2)
	scOpen(bob, s, page, "Columns of People")
	bob.Run("wait for rows", chromedp.WaitVisible(`//tbody/tr[3]/th`, chromedp.BySearch))
	if got := rows(bob); !slices.Equal(got, []string{"C", "A", "B"}) {
		t.Errorf("columns as Bob sees them: %q, want C, A, B", got)
	}
	if n := len(scTexts(bob, `//button[starts-with(@aria-label, "Column menu")]`)); n != 0 {
		t.Errorf("Bob, without the schema right, has %d column menus", n)
	}
	scShots(bob, "columns-editor")
	scOpen(bob, s, "/n/"+nb.ID, "Team")
	bob.Run("the notebook lists People", chromedp.WaitVisible(`//ul[@aria-label="Tables"][@aria-busy="false"]`+scLink("People"), chromedp.BySearch))
	if n := len(scTexts(bob, `//button[@aria-label="Rename table People" or @aria-label="Delete table People"]`)); n != 0 {
		t.Errorf("Bob, without the schema right, is offered %d rename or delete buttons for People", n)
	}

	// The menu works with the keyboard alone: Enter opens it on its first
	// item, arrows move, Enter chooses (Move right is disabled: A is the
	// last shown column, so three steps down reach Move left).
	b.Run("keyboard: move A left",
		chromedp.Focus(scButton("Column menu: A"), chromedp.BySearch),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`//*[@role="menuitem" and normalize-space()="Rename column…"][. = //*[@role="menuitem"][1]]`, chromedp.BySearch),
		chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`//tbody/tr[1]/th[normalize-space()="A"]`, chromedp.BySearch),
	)
	var focused string
	b.Run("focus is back on the menu button", chromedp.Evaluate(`document.activeElement.getAttribute("aria-label")`, &focused))
	if focused != "Column menu: A" {
		t.Errorf("after choosing from the menu, focus is on %q, want the menu button", focused)
	}
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID), nil, &got)
	if !slices.Equal(got.Layout.Order, []string{a, c, bCol}) {
		t.Errorf("order after Move left with the keyboard: %v, want A, C, B", got.Layout.Order)
	}
	b.NoProblems("401")
	bob.NoProblems("401")
}
