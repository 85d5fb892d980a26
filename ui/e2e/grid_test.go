package e2e

// The spreadsheet grid in a real browser: an editor per column type, the
// keyboard and the mouse, copy and paste of ranges as one change, adding
// and deleting rows, the record panel (more in grid_scale_test.go and
// grid_refusals_test.go).

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// everyType is a table with one column of each editable type, and one
// automatic column.
func everyType(people string) []map[string]any {
	return []map[string]any{
		{"name": "Name", "type": "text"},
		{"name": "Notes", "type": "long_text"},
		{"name": "Amount", "type": "number", "options": map[string]any{"precision": 2}},
		{"name": "Done", "type": "boolean"},
		{"name": "Due", "type": "date"},
		{"name": "Meeting", "type": "datetime"},
		{"name": "Status", "type": "single_select", "options": map[string]any{"choices": []string{"Alpha", "Beta", "Gamma"}}},
		{"name": "Tags", "type": "multi_select", "options": map[string]any{"choices": []string{"red", "green", "blue"}}},
		{"name": "Email", "type": "email"},
		{"name": "Site", "type": "url"},
		{"name": "Phone", "type": "phone"},
		{"name": "Contact", "type": "link", "options": map[string]any{"table": people}},
		{"name": "Helpers", "type": "link", "options": map[string]any{"table": people, "multiple": true}},
		{"name": "Created", "type": "created_at"},
	}
}

// editCell opens the editor of a cell with Enter and waits for the
// control named after the column (its accessible name).
func editCell(b *Browser, row int, col string, control string) {
	b.t.Helper()
	ci := colIndex(b, col)
	sel := cellSel(row, ci)
	b.Run("edit "+col, chromedp.Click(sel, chromedp.ByQuery), press(kb.Enter),
		chromedp.WaitVisible(control, chromedp.ByQuery))
}

func TestGridEditsEveryType(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "ada@example.com", "Ada")
	var nb struct{ ID string }
	u.C.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Office"}, &nb)
	people := makeTableIn(t, u.C, nb.ID, "People", []map[string]any{{"name": "Full name", "type": "text"}})
	var grace apiRecord
	u.C.Do("POST", people.records(), map[string]any{"fields": map[string]any{"Full name": "Grace Hopper"}}, &grace)
	var alan apiRecord
	u.C.Do("POST", people.records(), map[string]any{"fields": map[string]any{"Full name": "Alan Turing"}}, &alan)
	tasks := makeTableIn(t, u.C, nb.ID, "Tasks", everyType(people.TB))
	var rec apiRecord
	u.C.Do("POST", tasks.records(), map[string]any{"fields": map[string]any{}}, &rec)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tasks.page(s))
	b.Shot("before")

	typeText := func(col, control, text string) {
		editCell(b, 1, col, control)
		b.Run("type "+col, chromedp.SendKeys(control, text, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
		waitFor(b, col+" saved", `!document.querySelector('[role="grid"] input:not([type="checkbox"]), [role="grid"] textarea, [role="grid"] select')`, 10*time.Second)
	}
	typeText("Name", `[role="grid"] input[aria-label="Name"]`, "Ada Lovelace")
	// A long text takes Shift+Enter for a new line.
	editCell(b, 1, "Notes", `textarea[aria-label="Notes"]`)
	b.Run("type Notes", chromedp.SendKeys(`textarea[aria-label="Notes"]`, "first line", chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(input.ModifierShift)),
		chromedp.SendKeys(`textarea[aria-label="Notes"]`, "second line", chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
	typeText("Amount", `[role="grid"] input[aria-label="Amount"]`, "12.5")
	// A checkbox toggles with Space.
	b.Run("tick Done", chromedp.Click(cellSel(1, colIndex(b, "Done")), chromedp.ByQuery), chromedp.KeyEvent(" "))
	typeText("Due", `[role="grid"] input[aria-label="Due"]`, "2026-03-05")
	typeText("Meeting", `[role="grid"] input[aria-label="Meeting"]`, "2026-03-05 14:30")
	// A single select: type to narrow the choices, Enter takes the first.
	editCell(b, 1, "Status", `input[role="combobox"][aria-label="Status"]`)
	b.Run("narrow Status", chromedp.SendKeys(`input[aria-label="Status"]`, "a", chromedp.ByQuery))
	b.Shot("single-select")
	b.Run("choose Status", chromedp.SendKeys(`input[aria-label="Status"]`, kb.Backspace+"et", chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
	// A multiple select: arrows and Space tick choices, Enter saves.
	editCell(b, 1, "Tags", `[role="group"][aria-label="Tags"]`)
	b.Run("tick Tags", chromedp.KeyEvent(" "), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(" "), chromedp.KeyEvent(kb.Enter))
	typeText("Email", `[role="grid"] input[aria-label="Email"]`, "ada@example.com")
	typeText("Site", `[role="grid"] input[aria-label="Site"]`, "https://example.com/engine")
	typeText("Phone", `[role="grid"] input[aria-label="Phone"]`, "+44 20 7946 0000")
	// A link: search the other table, Enter picks the record.
	editCell(b, 1, "Contact", `input[aria-label="Search records for Contact"]`)
	b.Run("search Contact", chromedp.SendKeys(`input[aria-label="Search records for Contact"]`, "grace", chromedp.ByQuery))
	waitFor(b, "Grace among the results", `(() => { const o = [...document.querySelectorAll('[role="option"]')]; return o.length === 1 && o[0].textContent.includes("Grace Hopper") })()`, 15*time.Second)
	b.Run("pick Contact", chromedp.KeyEvent(kb.Enter))
	waitFor(b, "Contact shows Grace", fmt.Sprintf(`document.querySelector(%q).textContent.includes("Grace Hopper")`, cellSel(1, colIndex(b, "Contact"))), 15*time.Second)
	// A link to several records: Enter ticks each, Backspace unlinks the
	// last, Ctrl+Enter saves.
	editCell(b, 1, "Helpers", `input[aria-label="Search records for Helpers"]`)
	b.Run("search Helpers", chromedp.SendKeys(`input[aria-label="Search records for Helpers"]`, "r", chromedp.ByQuery))
	waitFor(b, "both people among the results", `document.querySelectorAll('[role="option"]').length === 2`, 15*time.Second)
	b.Run("pick Helpers", press(kb.Enter), press(kb.ArrowDown), press(kb.Enter))
	waitFor(b, "two chosen", `document.querySelectorAll('[role="option"][aria-selected="true"]').length === 2`, 5*time.Second)
	b.Shot("link-picker")
	b.Run("unlink and save", chromedp.KeyEvent(kb.Backspace), press(kb.Backspace), press(kb.Enter, input.ModifierCtrl))
	waitFor(b, "Helpers shows Alan", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "Alan Turing"`, cellSel(1, colIndex(b, "Helpers"))), 15*time.Second)
	// The automatic column does not open an editor.
	b.Run("Created", chromedp.Click(cellSel(1, colIndex(b, "Created")), chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
	waitToast(b, "filled in automatically")

	var wantMeeting string
	b.Run("local time", chromedp.Evaluate(`new Date(2026, 2, 5, 14, 30).toISOString().replace(/\.000Z$/, "Z")`, &wantMeeting))
	want := map[string]any{
		"Name": "Ada Lovelace", "Notes": "first line\nsecond line", "Amount": 12.5, "Done": true, "Due": "2026-03-05",
		"Meeting": wantMeeting, "Status": "Beta", "Tags": []any{"red", "blue"}, "Email": "ada@example.com",
		"Site": "https://example.com/engine", "Phone": "+44 20 7946 0000", "Contact": []any{grace.ID}, "Helpers": []any{alan.ID},
	}
	var got apiRecord
	deadline := time.Now().Add(20 * time.Second)
	for {
		u.C.Do("GET", tasks.records()+"/"+rec.ID, nil, &got)
		if diff := fieldDiff(want, got.Fields); diff == "" {
			break
		} else if time.Now().After(deadline) {
			b.Shot("after")
			t.Fatalf("the API shows other values than typed:\n%s", diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Shot("after")
	b.NoProblems("401")
}

// fieldDiff describes the fields of got that differ from want ("" when
// none do). Numbers compare by value.
func fieldDiff(want, got map[string]any) string {
	var out []string
	for k, w := range want {
		g := got[k]
		if wf, ok := w.(float64); ok {
			var gf float64
			switch x := g.(type) {
			case float64:
				gf = x
			case string:
				fmt.Sscan(x, &gf)
			default:
				gf = math.NaN()
			}
			if math.Abs(gf-wf) > 1e-9 {
				out = append(out, fmt.Sprintf("%s: got %#v, want %v", k, g, w))
			}
			continue
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			out = append(out, fmt.Sprintf("%s: got %#v, want %#v", k, g, w))
		}
	}
	return strings.Join(out, "\n")
}

// pasteJS dispatches a paste event holding text at the focused element, as
// the browser does for Ctrl+V.
func pasteJS(text string) string {
	return fmt.Sprintf(`(() => { const dt = new DataTransfer(); dt.setData("text/plain", %q); document.activeElement.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true})); return true })()`, text)
}

// copyJS dispatches a copy event at the focused element and returns the
// text the page put on the clipboard.
const copyJS = `(() => { const dt = new DataTransfer(); document.activeElement.dispatchEvent(new ClipboardEvent("copy", {clipboardData: dt, bubbles: true, cancelable: true})); return dt.getData("text/plain") })()`

func historyCount(t *testing.T, c *Client, nb string) int {
	t.Helper()
	n := 0
	cursor := ""
	for {
		var page struct {
			Entries    []map[string]any `json:"entries"`
			NextCursor *string          `json:"next_cursor"`
		}
		path := "/api/v1/notebooks/" + nb + "/history?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		c.Do("GET", path, nil, &page)
		n += len(page.Entries)
		if page.NextCursor == nil {
			return n
		}
		cursor = *page.NextCursor
	}
}

func TestGridPastesRangeAsOneChange(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "paste@example.com", "Pat")
	var nb struct{ ID string }
	u.C.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Sales"}, &nb)
	reps := makeTableIn(t, u.C, nb.ID, "Reps", []map[string]any{{"name": "Rep name", "type": "text"}})
	var ann, ben apiRecord
	u.C.Do("POST", reps.records(), map[string]any{"fields": map[string]any{"Rep name": "Ann"}}, &ann)
	u.C.Do("POST", reps.records(), map[string]any{"fields": map[string]any{"Rep name": "Ben"}}, &ben)
	tb := makeTableIn(t, u.C, nb.ID, "Orders", []map[string]any{
		{"name": "Customer", "type": "text"},
		{"name": "Qty", "type": "number"},
		{"name": "Due", "type": "date"},
		{"name": "Reps", "type": "link", "options": map[string]any{"table": reps.TB, "multiple": true}},
	})
	for _, name := range []string{"old one", "old two"} {
		u.C.Do("POST", tb.records(), map[string]any{"fields": map[string]any{"Customer": name}}, nil)
	}
	before := historyCount(t, u.C, tb.NB)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	// Three rows of three cells, as a spreadsheet copies them: the last row
	// goes past the table's end (a new row); a quoted cell holds a tab and
	// a quote.
	text := "Acme\t3\t2026-01-02\n\"Bolt\t\"\"&\"\" Co\"\t4\t2026-01-03\nCogs Ltd\t5\t2026-01-04\n"
	b.Run("paste", chromedp.Click(cellSel(1, colIndex(b, "Customer")), chromedp.ByQuery), chromedp.Evaluate(pasteJS(text), nil))
	waitToast(b, "Pasted 3 rows")
	waitFor(b, "three rows", `document.querySelector('[role="grid"]').getAttribute("aria-rowcount") === "4"`, 10*time.Second)
	b.Shot("pasted")

	recs := allRecords(t, u.C, tb)
	if len(recs) != 3 {
		t.Fatalf("%d records after the paste, want 3", len(recs))
	}
	want := [][3]any{{"Acme", 3.0, "2026-01-02"}, {"Bolt\t\"&\" Co", 4.0, "2026-01-03"}, {"Cogs Ltd", 5.0, "2026-01-04"}}
	for i, w := range want {
		if d := fieldDiff(map[string]any{"Customer": w[0], "Qty": w[1], "Due": w[2]}, recs[i].Fields); d != "" {
			t.Errorf("row %d after the paste:\n%s", i+1, d)
		}
	}
	if after := historyCount(t, u.C, tb.NB); after != before+1 {
		t.Errorf("the paste made %d history actions, want one", after-before)
	}

	// Copy gives the same range back as tab-separated text.
	var copied string
	b.Run("select and copy", chromedp.Click(cellSel(1, colIndex(b, "Customer")), chromedp.ByQuery),
		press(kb.ArrowDown, input.ModifierShift), press(kb.ArrowDown, input.ModifierShift),
		press(kb.ArrowRight, input.ModifierShift), press(kb.ArrowRight, input.ModifierShift),
		chromedp.Evaluate(copyJS, &copied))
	if wantCopy := strings.TrimSuffix(text, "\n"); copied != wantCopy {
		t.Errorf("copied %q, want %q", copied, wantCopy)
	}

	// One value pasted over a selected column range fills it, in one change.
	before = historyCount(t, u.C, tb.NB)
	qty := colIndex(b, "Qty")
	b.Run("fill", chromedp.Click(cellSel(1, qty), chromedp.ByQuery),
		press(kb.ArrowDown, input.ModifierShift), press(kb.ArrowDown, input.ModifierShift), chromedp.Evaluate(pasteJS("7"), nil))
	eventually(t, "7 in every row", func() (bool, string) {
		var got []any
		for _, r := range allRecords(t, u.C, tb) {
			got = append(got, r.Fields["Qty"])
		}
		return fmt.Sprint(got) == "[7 7 7]", fmt.Sprint(got)
	})
	if after := historyCount(t, u.C, tb.NB); after != before+1 {
		t.Errorf("the fill made %d history actions, want one", after-before)
	}

	// Link cells paste by the linked records' labels (as they copy); a
	// label no record has stops the paste with the reason.
	rc := colIndex(b, "Reps")
	b.Run("paste links", chromedp.Click(cellSel(2, rc), chromedp.ByQuery), chromedp.Evaluate(pasteJS("Ann, Ben"), nil))
	eventually(t, "two reps linked", func() (bool, string) {
		got := allRecords(t, u.C, tb)[1].Fields["Reps"]
		return fmt.Sprint(got) == fmt.Sprint([]any{ann.ID, ben.ID}), fmt.Sprint(got)
	})
	var linkCopy string
	b.Run("copy links", chromedp.Click(cellSel(2, rc), chromedp.ByQuery), chromedp.Evaluate(copyJS, &linkCopy))
	if linkCopy != "Ann, Ben" {
		t.Errorf("a link cell copies as %q, want the labels", linkCopy)
	}
	b.Run("paste an unknown rep", chromedp.Click(cellSel(1, rc), chromedp.ByQuery), chromedp.Evaluate(pasteJS("Zed"), nil))
	waitToast(b, `no record is called "Zed"`)
	if got := allRecords(t, u.C, tb)[0].Fields["Reps"]; got != nil && fmt.Sprint(got) != "[]" {
		t.Errorf("a refused paste changed the row's Reps to %v", got)
	}
	b.NoProblems("401")
}

func TestGridKeyboardNavigation(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "keys@example.com", "Kim")
	tb := makeTable(t, u.C, "Keys", "Cells", []map[string]any{
		{"name": "First", "type": "text"}, {"name": "Second", "type": "text"}, {"name": "Third", "type": "number"},
	})
	var ops []map[string]any
	for i := 1; i <= 60; i++ {
		ops = append(ops, map[string]any{"op": "create", "fields": map[string]any{"First": fmt.Sprintf("r%d", i), "Third": i}})
	}
	u.C.Do("POST", tb.records()+"/batch", map[string]any{"operations": ops}, nil)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	first, second, third := colIndex(b, "First"), colIndex(b, "Second"), colIndex(b, "Third")
	b.Run("click", chromedp.Click(cellSel(1, first), chromedp.ByQuery))
	expect := func(step string, row, col int) {
		t.Helper()
		var r, c int
		var sel bool
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, c, sel = activeCell(b)
			if (r == row && c == col && sel) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r != row || c != col || !sel {
			b.Shot("keys-" + step)
			t.Fatalf("after %s the focused cell is row %d column %d (selected %v), want row %d column %d, selected", step, r, c, sel, row, col)
		}
	}
	expect("click", 1, first)
	steps := []struct {
		name     string
		act      chromedp.Action
		row, col int
	}{
		{"ArrowDown", press(kb.ArrowDown), 2, first},
		{"ArrowRight", press(kb.ArrowRight), 2, second},
		{"End", press(kb.End), 2, third},
		{"Home", press(kb.Home), 2, first},
		{"ArrowLeft to the row header", press(kb.ArrowLeft), 2, 1},
		{"ArrowRight", press(kb.ArrowRight), 2, first},
		{"Tab", press(kb.Tab), 2, second},
		{"Shift+Tab", press(kb.Tab, input.ModifierShift), 2, first},
		{"Ctrl+End", press(kb.End, input.ModifierCtrl), 60, third},
		{"Ctrl+Home", press(kb.Home, input.ModifierCtrl), 1, first},
		{"ArrowUp at the top", press(kb.ArrowUp), 1, first},
	}
	for _, st := range steps {
		b.Run(st.name, st.act)
		expect(st.name, st.row, st.col)
	}
	b.Run("PageDown", press(kb.PageDown))
	if r, _, _ := activeCell(b); r <= 2 {
		t.Errorf("PageDown moved to row %d", r)
	}
	b.Run("PageUp", press(kb.PageUp))
	expect("PageUp", 1, first)

	// Shift+arrows select a range: six cells, the active one among them.
	b.Run("range", press(kb.ArrowDown, input.ModifierShift), press(kb.ArrowDown, input.ModifierShift), press(kb.ArrowRight, input.ModifierShift))
	var n int
	b.Run("count", chromedp.Evaluate(`document.querySelectorAll('[role="gridcell"][aria-selected="true"]').length`, &n))
	if n != 6 {
		t.Errorf("%d cells selected after Shift+Down, Shift+Down, Shift+Right; want 6", n)
	}
	// Shift+Space widens the range to whole rows, Ctrl+A to every cell.
	b.Run("rows", press(" ", input.ModifierShift))
	b.Run("count rows", chromedp.Evaluate(`document.querySelectorAll('[role="gridcell"][aria-selected="true"]').length`, &n))
	if n != 9 {
		t.Errorf("%d cells selected after Shift+Space over three rows; want 9", n)
	}
	b.Run("all", press("a", input.ModifierCtrl))
	var all []string
	b.Run("all selected", chromedp.Evaluate(`[document.querySelectorAll('[role="gridcell"]').length, document.querySelectorAll('[role="gridcell"][aria-selected="true"]').length].map(String)`, &all))
	if all[0] != all[1] {
		t.Errorf("after Ctrl+A %s of %s rendered cells are selected", all[1], all[0])
	}
	expect("Ctrl+A", 1, first)
	b.Run("back to the range", press(kb.Escape), press(kb.ArrowRight), press(kb.ArrowDown, input.ModifierShift), press(kb.ArrowDown, input.ModifierShift))
	// Esc collapses the range; typing starts editing with the character;
	// Esc cancels the edit; Enter commits and moves down.
	b.Run("collapse", press(kb.Escape), press(kb.ArrowUp), press(kb.ArrowUp))
	expect("Escape", 1, second)
	b.Run("type", chromedp.KeyEvent("x"))
	var v string
	b.Run("editor", chromedp.WaitVisible(`[role="grid"] input[aria-label="Second"]`, chromedp.ByQuery), chromedp.Value(`[role="grid"] input[aria-label="Second"]`, &v, chromedp.ByQuery))
	if v != "x" {
		t.Errorf("typing x opened the editor with %q", v)
	}
	b.Run("cancel", press(kb.Escape))
	expect("Escape in the editor", 1, second)
	b.Run("type and commit", chromedp.KeyEvent("y"), chromedp.WaitVisible(`[role="grid"] input[aria-label="Second"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Second"]`, "es", chromedp.ByQuery), press(kb.Enter))
	expect("Enter in the editor", 2, second)
	b.Shot("keyboard")
	// A click on another cell while editing saves the edit and moves there.
	b.Run("type and click away", chromedp.KeyEvent("z"), chromedp.WaitVisible(`[role="grid"] input[aria-label="Second"]`, chromedp.ByQuery),
		chromedp.Click(cellSel(4, first), chromedp.ByQuery))
	expect("a click while editing", 4, first)
	eventually(t, "z saved in row 2", func() (bool, string) {
		recs := allRecords(t, u.C, tb)
		return recs[1].Fields["Second"] == "z", fmt.Sprint(recs[1].Fields)
	})
	// Dragging the mouse selects a range too.
	b.Run("drag", drag(cellSel(3, first), cellSel(5, second)))
	b.Run("count after drag", chromedp.Evaluate(`document.querySelectorAll('[role="gridcell"][aria-selected="true"]').length`, &n))
	if n != 6 {
		t.Errorf("%d cells selected after dragging over three rows and two columns; want 6", n)
	}
	// Delete clears the selected cells.
	b.Run("clear", chromedp.Click(cellSel(1, second), chromedp.ByQuery), press(kb.ArrowLeft), press(kb.Delete))
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs := allRecords(t, u.C, tb)
		if recs[0].Fields["Second"] == "yes" && recs[0].Fields["First"] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row 1 through the API: %v, want Second yes and First cleared", recs[0].Fields)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.NoProblems("401")
}

func TestGridRowsAndRecordPanel(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "rows@example.com", "Rosa")
	tb := makeTable(t, u.C, "Garden", "Plants", []map[string]any{
		{"name": "Plant", "type": "text"}, {"name": "Height", "type": "number", "options": map[string]any{"precision": 1}},
		{"name": "Kind", "type": "single_select", "options": map[string]any{"choices": []string{"herb", "tree"}}},
		{"name": "Notes", "type": "long_text"}, {"name": "Planted", "type": "date"}, {"name": "Edible", "type": "boolean"},
	})
	for i, p := range []string{"Basil", "Oak", "Mint", "Fern", "Sage"} {
		u.C.Do("POST", tb.records(), map[string]any{"fields": map[string]any{"Plant": p, "Height": float64(i) + 0.5, "Kind": "herb", "Edible": i%2 == 0}}, nil)
	}
	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	plant := colIndex(b, "Plant")

	// Screens at a laptop's and a tablet's width.
	b.Run("select", chromedp.Click(cellSel(2, plant), chromedp.ByQuery))
	b.Shot("grid-1366")
	setWidth(b, 1024)
	b.Shot("grid-1024")
	setWidth(b, 1366)

	// Add a row: it joins the end, its first cell active; typing fills it.
	b.Run("add row", chromedp.Click(`//button[normalize-space()="Add row"]`, chromedp.BySearch))
	waitFor(b, "six rows", `document.querySelector('[role="grid"]').getAttribute("aria-rowcount") === "7"`, 10*time.Second)
	if r, c, _ := activeCell(b); r != 6 || c != plant {
		t.Errorf("after Add row the active cell is row %d column %d, want row 6 column %d", r, c, plant)
	}
	b.Run("name it", chromedp.KeyEvent("R"), chromedp.WaitVisible(`[role="grid"] input[aria-label="Plant"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Plant"]`, "osemary", chromedp.ByQuery), press(kb.Enter))
	waitFor(b, "Rosemary saved", `!document.querySelector('[role="grid"] input[aria-label="Plant"]')`, 10*time.Second)

	// Shift+click selects rows 2 to 3; "Delete 2 rows" asks, then deletes
	// them in one change.
	eventually(t, "the new row through the API", func() (bool, string) {
		recs := allRecords(t, u.C, tb)
		return len(recs) == 6 && recs[5].Fields["Plant"] == "Rosemary", fmt.Sprintf("%d records, the last %v", len(recs), recs[len(recs)-1].Fields)
	})
	before := historyCount(t, u.C, tb.NB)
	var nodes []*cdp.Node
	b.Run("shift+click", chromedp.Click(cellSel(2, plant), chromedp.ByQuery),
		chromedp.Nodes(cellSel(3, plant), &nodes, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			return chromedp.MouseClickNode(nodes[0], chromedp.ButtonModifiers(input.ModifierShift)).Do(ctx)
		}))
	var n int
	b.Run("count", chromedp.Evaluate(`document.querySelectorAll('[role="gridcell"][aria-selected="true"]').length`, &n))
	if n != 2 {
		t.Errorf("%d cells selected after shift+click, want 2", n)
	}
	b.Run("delete", chromedp.Click(`//button[normalize-space()="Delete 2 rows"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//dialog[@open]//h2[contains(., "Delete 2 rows?")]`, chromedp.BySearch))
	b.Shot("confirm-delete")
	b.Run("confirm", chromedp.Click(`//dialog[@open]//button[normalize-space()="Delete"]`, chromedp.BySearch))
	waitFor(b, "four rows", `document.querySelector('[role="grid"]').getAttribute("aria-rowcount") === "5"`, 10*time.Second)
	var left []string
	for _, r := range allRecords(t, u.C, tb) {
		left = append(left, fmt.Sprint(r.Fields["Plant"]))
	}
	if strings.Join(left, ",") != "Basil,Fern,Sage,Rosemary" {
		t.Errorf("after deleting rows 2 and 3 the API shows %v", left)
	}
	if after := historyCount(t, u.C, tb.NB); after != before+1 {
		t.Errorf("deleting two rows made %d history actions, want one", after-before)
	}

	// The record panel: the row number opens the record at its own URL;
	// every field is there, labelled; a change is saved; Back returns.
	b.Run("open record", chromedp.Click(`//a[@aria-label="Open row 2"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//aside//h2[normalize-space()="Record"]`, chromedp.BySearch))
	var loc string
	b.Run("location", chromedp.Location(&loc))
	fern := allRecords(t, u.C, tb)[1]
	if !strings.HasSuffix(loc, "/r/"+fern.ID) {
		t.Errorf("the record panel's URL is %s, want …/r/%s", loc, fern.ID)
	}
	for _, label := range []string{"Plant", "Height", "Kind", "Notes", "Planted", "Edible"} {
		var ok bool
		b.Run("label "+label, chromedp.Evaluate(fmt.Sprintf(`[...document.querySelectorAll("aside label")].some(l => l.textContent.trim() === %q && (l.control || l.querySelector("input")))`, label), &ok))
		if !ok {
			t.Errorf("the record panel has no control labelled %s", label)
		}
	}
	b.Shot("record-panel-1366")
	setWidth(b, 1024)
	b.Shot("record-panel-1024")
	setWidth(b, 1366)
	b.Run("edit notes", chromedp.SendKeys(`//aside//label[normalize-space()="Notes"]/following-sibling::textarea`, "Keep it wet", chromedp.BySearch), press(kb.Tab))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got apiRecord
		u.C.Do("GET", tb.records()+"/"+fern.ID, nil, &got)
		if got.Fields["Notes"] == "Keep it wet" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the record's Notes through the API: %v", got.Fields["Notes"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Run("back", chromedp.NavigateBack(), chromedp.WaitNotPresent(`aside`, chromedp.ByQuery))
	b.NoProblems("401")
}
