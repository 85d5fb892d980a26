package e2e

// The spreadsheet grid in a real browser: an editor per column type, the
// keyboard, paste of a range as one change, refused writes rolled back,
// 100,000 rows scrolled to the end.

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

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
	u.C.Do("POST", people.records(), map[string]any{"fields": map[string]any{"Full name": "Alan Turing"}}, nil)
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
	b.Run("choose Status", chromedp.SendKeys(`input[aria-label="Status"]`, "et", chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
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
	// The automatic column does not open an editor.
	b.Run("Created", chromedp.Click(cellSel(1, colIndex(b, "Created")), chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
	waitToast(b, "filled in automatically")

	var wantMeeting string
	b.Run("local time", chromedp.Evaluate(`new Date(2026, 2, 5, 14, 30).toISOString().replace(/\.000Z$/, "Z")`, &wantMeeting))
	want := map[string]any{
		"Name": "Ada Lovelace", "Notes": "first line\nsecond line", "Amount": 12.5, "Done": true, "Due": "2026-03-05",
		"Meeting": wantMeeting, "Status": "Beta", "Tags": []any{"red", "blue"}, "Email": "ada@example.com",
		"Site": "https://example.com/engine", "Phone": "+44 20 7946 0000", "Contact": []any{grace.ID},
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
