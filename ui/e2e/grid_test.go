package e2e

// The spreadsheet grid in a real browser: an editor per column type, the
// keyboard, paste of a range as one change, refused writes rolled back,
// 100,000 rows scrolled to the end.

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
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
	tb := makeTable(t, u.C, "Sales", "Orders", []map[string]any{
		{"name": "Customer", "type": "text"},
		{"name": "Qty", "type": "number"},
		{"name": "Due", "type": "date"},
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

func TestGridRollsBackRefusedWrites(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "refused@example.com", "Rue")
	tb := makeTable(t, u.C, "Contacts", "People", []map[string]any{{"name": "Name", "type": "text"}, {"name": "Email", "type": "email"}})
	var rec apiRecord
	u.C.Do("POST", tb.records(), map[string]any{"fields": map[string]any{"Name": "Ann", "Email": "ann@example.com"}}, &rec)

	b := newBrowser(t)
	// The page must not hear of the other change before the edit (live
	// updates would show it at once, and there would be no conflict):
	// its event stream is blocked.
	b.Run("block live updates", network.SetBlockedURLs([]string{"*/events"}))
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	name, email := colIndex(b, "Name"), colIndex(b, "Email")

	// An invalid e-mail: the server refuses it, the old value comes back
	// and the message says why.
	b.Run("bad email", chromedp.Click(cellSel(1, email), chromedp.ByQuery), press(kb.Enter),
		chromedp.WaitVisible(`[role="grid"] input[aria-label="Email"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Email"]`, kb.End+" at nowhere", chromedp.ByQuery), press(kb.Enter))
	msg := waitToast(b, "Your change to Email was undone")
	t.Logf("message: %s", msg)
	waitFor(b, "the old e-mail back", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "ann@example.com"`, cellSel(1, email)), 10*time.Second)
	b.Shot("invalid-email")

	// A version conflict: someone changes the row after the page read it.
	u.C.Do("PATCH", tb.records()+"/"+rec.ID, map[string]any{"fields": map[string]any{"Name": "Ann (theirs)"}}, nil)
	b.Run("conflicting edit", chromedp.Click(cellSel(1, name), chromedp.ByQuery), press(kb.Enter),
		chromedp.WaitVisible(`[role="grid"] input[aria-label="Name"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Name"]`, " (mine)", chromedp.ByQuery), press(kb.Enter))
	msg = waitToast(b, "someone else changed this row")
	t.Logf("message: %s", msg)
	waitFor(b, "their name shown", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "Ann (theirs)"`, cellSel(1, name)), 10*time.Second)
	var got apiRecord
	u.C.Do("GET", tb.records()+"/"+rec.ID, nil, &got)
	if got.Fields["Name"] != "Ann (theirs)" || got.Fields["Email"] != "ann@example.com" {
		t.Errorf("the record after refused writes: %v", got.Fields)
	}
	b.Shot("conflict")

	// A network failure: the server cannot be reached for the write.
	b.Run("cut the network", network.SetBlockedURLs([]string{"*/events*", "*/records/*"}))
	b.Run("edit offline", chromedp.Click(cellSel(1, name), chromedp.ByQuery), press(kb.Enter),
		chromedp.WaitVisible(`[role="grid"] input[aria-label="Name"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Name"]`, " (offline)", chromedp.ByQuery), press(kb.Enter))
	t.Logf("message: %s", waitToast(b, "cannot be reached"))
	waitFor(b, "the name back", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "Ann (theirs)"`, cellSel(1, name)), 10*time.Second)
	b.Run("restore the network", network.SetBlockedURLs([]string{}))

	b.NoProblems("401", "400 (Bad Request)", "409 (Conflict)", "412 (Precondition Failed)", "422", "ERR_BLOCKED_BY_CLIENT")
}

func TestGridScrolls100kRows(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "big@example.com", "Bea")
	tb := makeTable(t, u.C, "Big", "Readings", []map[string]any{{"name": "Label", "type": "text"}, {"name": "Value", "type": "number"}})
	const total = 100000
	start := time.Now()
	for i := 0; i < total; i += 1000 {
		ops := make([]map[string]any, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, map[string]any{"op": "create", "fields": map[string]any{"Label": fmt.Sprintf("reading %06d", j+1), "Value": j + 1}})
		}
		u.C.Do("POST", tb.records()+"/batch", map[string]any{"operations": ops}, nil)
	}
	t.Logf("inserted %d rows in %v", total, time.Since(start).Round(time.Millisecond))

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	waitFor(b, "the count", fmt.Sprintf(`document.querySelector('[role="grid"]').getAttribute("aria-rowcount") === "%d"`, total+1), 30*time.Second)
	label := colIndex(b, "Label")
	last := cellSel(total, label)
	start = time.Now()
	b.Run("Ctrl+End", chromedp.Click(cellSel(1, label), chromedp.ByQuery), press(kb.End, input.ModifierCtrl))
	waitFor(b, "the last row rendered", fmt.Sprintf(`(() => { const c = document.querySelector(%q); return !!c && c.textContent.trim() === "reading %06d" })()`, last, total), 120*time.Second)
	fmt.Printf("grid: Ctrl+End to row %d of %d rendered in %v\n", total, total, time.Since(start).Round(time.Millisecond))
	t.Logf("Ctrl+End to the last of %d rows: %v", total, time.Since(start).Round(time.Millisecond))
	r, _, _ := activeCell(b)
	if r != total {
		t.Errorf("the focused cell is in row %d, want %d", r, total)
	}
	b.Shot("end")

	// Smoothness: from the end, scroll up 10 rows a frame for 120 frames
	// (rows load as they come into view) and time the frames, next to the
	// idle frame time of this machine (printed, not asserted).
	var frames []float64
	b.Run("frames", evalAwait(`new Promise(done => { const g = document.querySelector('[role="grid"]'); const out = []; let last = performance.now(), n = 0;
		const step = (t) => { out.push(t - last); last = t; g.scrollTop -= 340; if (++n < 120) requestAnimationFrame(step); else done(out.slice(1)); };
		requestAnimationFrame(step); })`, &frames))
	var sum, worst float64
	for _, f := range frames {
		sum += f
		worst = math.Max(worst, f)
	}
	fmt.Printf("grid: scrolling 10 rows a frame: %d frames, mean %.1f ms, worst %.1f ms\n", len(frames), sum/float64(len(frames)), worst)
	b.Run("idle frames", evalAwait(`new Promise(done => { const out = []; let last = performance.now(), n = 0;
		const step = (t) => { out.push(t - last); last = t; if (++n < 120) requestAnimationFrame(step); else done(out.slice(1)); };
		requestAnimationFrame(step); })`, &frames))
	sum = 0
	for _, f := range frames {
		sum += f
	}
	fmt.Printf("grid: idle frames (the machine's baseline): mean %.1f ms\n", sum/float64(len(frames)))

	// Scrolling back up by the scroll bar shows rows that were skipped on
	// the way down.
	start = time.Now()
	mid := total / 2
	b.Run("scroll to the middle", chromedp.Evaluate(fmt.Sprintf(`document.querySelector('[role="grid"]').scrollTop = %d * 34; true`, mid), nil))
	waitFor(b, "the middle rows rendered", fmt.Sprintf(`(() => { const c = document.querySelector(%q); return !!c && c.textContent.trim() === "reading %06d" })()`, cellSel(mid+5, label), mid+5), 60*time.Second)
	t.Logf("scrolling to the middle rendered its rows in %v", time.Since(start).Round(time.Millisecond))
	b.Shot("middle")
	// The active cell (row 100,000) is scrolled away: the grid itself is
	// the Tab stop, and reaching it brings the active cell back.
	var tabindex string
	b.Run("tab stop", chromedp.Evaluate(`document.querySelector('[role="grid"]').getAttribute("tabindex")`, &tabindex))
	if tabindex != "0" {
		t.Errorf("with its active cell scrolled away the grid's tabindex is %q, want 0", tabindex)
	}
	b.Run("focus the grid", chromedp.Evaluate(`document.querySelector('[role="grid"]').focus(); true`, nil))
	waitFor(b, "the active cell back", fmt.Sprintf(`(() => { const r = document.activeElement.closest('[role="row"]'); return !!r && r.getAttribute("aria-rowindex") === "%d" })()`, total+1), 20*time.Second)
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

func TestGridShowsOnlyWhatTheCallerMayRead(t *testing.T) {
	chromium(t)
	s := startServer(t)
	owner := newGridUser(t, s, "owner@example.com", "Olga")
	reader := newGridUser(t, s, "reader@example.com", "Reto")
	tb := makeTable(t, owner.C, "Company", "Staff", []map[string]any{
		{"name": "Name", "type": "text"}, {"name": "Team", "type": "text"}, {"name": "Salary", "type": "number"},
	})
	for _, r := range []struct {
		name, team string
		salary     int
	}{{"Ada Red", "red", 91357}, {"Bob Blue", "blue", 82468}, {"Cy Red", "red", 73579}} {
		owner.C.Do("POST", tb.records(), map[string]any{"fields": map[string]any{"Name": r.name, "Team": r.team, "Salary": r.salary}}, nil)
	}
	var me struct{ ID string }
	reader.C.Do("GET", "/api/v1/auth/me", nil, &me)
	owner.C.Do("POST", "/api/v1/notebooks/"+tb.NB+"/grants", map[string]any{
		"principal": map[string]any{"type": "user", "id": me.ID}, "table": tb.TB,
		"rows": `Team = "red"`, "columns": map[string]string{"Salary": "none", "*": "read"},
	}, nil)

	b := newBrowser(t)
	browserSignIn(b, s, reader)
	openGrid(b, tb.page(s))
	var headers []string
	b.Run("headers", chromedp.Evaluate(`[...document.querySelectorAll('[role="columnheader"]')].map(h => h.getAttribute("aria-label")).filter(Boolean)`, &headers))
	if strings.Join(headers, ",") != "Name,Team" {
		t.Errorf("column headers %v, want Name and Team only", headers)
	}
	var html string
	b.Run("html", chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	for _, secret := range []string{"Salary", "91357", "73579", "Bob Blue", "82468"} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds %q", secret)
		}
	}
	if !strings.Contains(html, "Ada Red") || !strings.Contains(html, "Cy Red") {
		t.Errorf("the page lacks the rows the reader may see")
	}
	// A write the reader may not make is refused, rolled back and
	// explained.
	b.Run("edit", chromedp.Click(cellSel(1, colIndex(b, "Name")), chromedp.ByQuery), press(kb.Enter),
		chromedp.WaitVisible(`[role="grid"] input[aria-label="Name"]`, chromedp.ByQuery),
		chromedp.SendKeys(`[role="grid"] input[aria-label="Name"]`, " II", chromedp.ByQuery), press(kb.Enter))
	t.Logf("message: %s", waitToast(b, "Your change to Name was undone"))
	waitFor(b, "the old name back", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "Ada Red"`, cellSel(1, colIndex(b, "Name"))), 10*time.Second)
	b.Shot("reader")
	time.Sleep(500 * time.Millisecond) // the response bodies are read in the background
	sawRows := false
	for _, r := range b.Responses() {
		sawRows = sawRows || strings.Contains(r.Body, "Ada Red")
		for _, secret := range []string{"Salary", "91357", "73579", "Bob Blue", "82468"} {
			if strings.Contains(r.Body, secret) {
				t.Errorf("the response of %s holds %q", r.URL, secret)
			}
		}
	}
	if !sawRows {
		t.Errorf("no recorded response holds the reader's rows: the check above saw nothing")
	}
	b.NoProblems("401", "403 (Forbidden)", "404 (Not Found)")
}

func TestGridOpensAViewAndReadsItsEnd(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "views@example.com", "Vic")
	tb := makeTable(t, u.C, "Lab", "Samples", []map[string]any{{"name": "Name", "type": "text"}, {"name": "N", "type": "number"}, {"name": "Note", "type": "text"}})
	for i := 0; i < 3000; i += 1000 {
		var ops []map[string]any
		for j := i + 1; j <= i+1000; j++ {
			ops = append(ops, map[string]any{"op": "create", "fields": map[string]any{"Name": fmt.Sprintf("s%04d", j), "N": j, "Note": "n"}})
		}
		u.C.Do("POST", tb.records()+"/batch", map[string]any{"operations": ops}, nil)
	}
	var view struct{ ID string }
	u.C.Do("POST", "/api/v1/notebooks/"+tb.NB+"/tables/"+tb.TB+"/views", map[string]any{"name": "Big ones", "filter": "N > 100", "sort": "-N", "columns": []string{"Name", "N"}}, &view)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s)+"/v/"+view.ID)
	waitFor(b, "the view's count", `document.querySelector('[role="grid"]').getAttribute("aria-rowcount") === "2901"`, 20*time.Second)
	var sorts map[string]string
	b.Run("aria-sort", chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll('[role="columnheader"][aria-label]')].map(h => [h.getAttribute("aria-label"), h.getAttribute("aria-sort") || ""]))`, &sorts))
	if len(sorts) != 2 || sorts["N"] != "descending" || sorts["Name"] != "" {
		t.Errorf("column headers and their aria-sort: %v; want Name and N (descending) only", sorts)
	}
	name := colIndex(b, "Name")
	waitFor(b, "the first row", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "s3000"`, cellSel(1, name)), 10*time.Second)
	// The end of the view, read backwards with its sort reversed.
	b.Run("Ctrl+End", chromedp.Click(cellSel(1, name), chromedp.ByQuery), press(kb.End, input.ModifierCtrl))
	waitFor(b, "the view's last row", fmt.Sprintf(`(() => { const c = document.querySelector(%q); return !!c && c.textContent.trim() === "s0101" })()`, cellSel(2900, name)), 30*time.Second)
	// Rows between the two ends come in order when scrolled to.
	b.Run("scroll", chromedp.Evaluate(`document.querySelector('[role="grid"]').scrollTop = 1500 * 34; true`, nil))
	waitFor(b, "row 1510", fmt.Sprintf(`(() => { const c = document.querySelector(%q); return !!c && c.textContent.trim() === "s%04d" })()`, cellSel(1510, name), 3000-1510+1), 30*time.Second)
	b.Shot("view")
	b.NoProblems("401")
}
