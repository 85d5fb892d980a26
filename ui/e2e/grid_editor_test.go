package e2e

// An open cell editor, and the focused cell, outlive a moment in which
// the grid has no room (the window squeezed to nothing, as Chrome does for
// a moment while it takes a full-page screenshot): the edit goes on with
// what was typed and ticked, and is saved only when the person says so.

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// squeeze shrinks the page to 1×1 pixels for a few frames, then gives it
// its size back, and waits for the page to lay itself out again.
func squeeze(b *Browser) {
	b.t.Helper()
	frames := `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => r(true), 50))))`
	var size []int64
	b.Run("page size", chromedp.Evaluate(`[innerWidth, innerHeight]`, &size))
	var ok bool
	b.Run("squeeze the page", chromedp.EmulateViewport(1, 1), evalAwait(frames, &ok), chromedp.EmulateViewport(size[0], size[1]), evalAwait(frames, &ok))
}

// stillEditing fails the test unless the focus is in the control, whose
// state js (evaluated) must be true.
func stillEditing(b *Browser, what, control, js string) {
	b.t.Helper()
	var ok bool
	b.Run("check "+what, chromedp.Evaluate(fmt.Sprintf(`(() => { const c = document.querySelector(%q); return !!c && document.activeElement === c && (%s) })()`, control, js), &ok))
	if !ok {
		b.Shot("lost-" + what)
		b.t.Fatalf("after the page was squeezed, the editor of %s is gone, lost the focus or forgot the edit", what)
	}
}

func TestGridEditorSurvivesSqueeze(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "squeeze@example.com", "Sam")
	var nb struct{ ID string }
	u.C.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Office"}, &nb)
	people := makeTableIn(t, u.C, nb.ID, "People", []map[string]any{{"name": "Full name", "type": "text"}})
	var grace, alan apiRecord
	u.C.Do("POST", people.records(), map[string]any{"fields": map[string]any{"Full name": "Grace Hopper"}}, &grace)
	u.C.Do("POST", people.records(), map[string]any{"fields": map[string]any{"Full name": "Alan Turing"}}, &alan)
	tasks := makeTableIn(t, u.C, nb.ID, "Tasks", everyType(people.TB))
	var rec apiRecord
	u.C.Do("POST", tasks.records(), map[string]any{"fields": map[string]any{}}, &rec)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tasks.page(s))

	// A text half typed.
	name := `[role="grid"] input[aria-label="Name"]`
	editCell(b, 1, "Name", name)
	b.Run("type Name", chromedp.SendKeys(name, "Ada", chromedp.ByQuery))
	squeeze(b)
	stillEditing(b, "Name", name, `c.value === "Ada"`)
	b.Run("finish Name", chromedp.SendKeys(name, " Lovelace", chromedp.ByQuery), press(kb.Enter))
	// The active cell keeps the focus too: the keys still reach the grid.
	waitFor(b, "the focus back in the grid", `document.activeElement.getAttribute("role") === "gridcell"`, 10*time.Second)
	squeeze(b)
	if r, c, _ := activeCell(b); r != 1 || c != colIndex(b, "Name") {
		b.Shot("lost-active-cell")
		t.Fatalf("after the page was squeezed, the focus is at row %d column %d, not in the active cell", r, c)
	}

	// A single select narrowed to a choice not taken yet.
	status := `input[role="combobox"][aria-label="Status"]`
	editCell(b, 1, "Status", status)
	b.Run("narrow Status", chromedp.SendKeys(status, "be", chromedp.ByQuery))
	squeeze(b)
	stillEditing(b, "Status", status, `c.value === "be"`)
	b.Run("choose Status", press(kb.Enter))

	// Links ticked in the picker, not saved yet.
	search := `input[aria-label="Search records for Helpers"]`
	editCell(b, 1, "Helpers", search)
	b.Run("search Helpers", chromedp.SendKeys(search, "r", chromedp.ByQuery))
	waitFor(b, "both people among the results", `document.querySelectorAll('[role="option"]').length === 2`, 15*time.Second)
	b.Run("tick both", press(kb.Enter), press(kb.ArrowDown), press(kb.Enter))
	waitFor(b, "two ticked", `document.querySelectorAll('[role="option"][aria-selected="true"]').length === 2`, 5*time.Second)
	squeeze(b)
	stillEditing(b, "Helpers", search, `c.value === "r" && document.querySelectorAll('[role="option"][aria-selected="true"]').length === 2`)
	// Nothing was saved while the picker was open.
	var mid apiRecord
	u.C.Do("GET", tasks.records()+"/"+rec.ID, nil, &mid)
	if h, ok := mid.Fields["Helpers"].([]any); ok && len(h) > 0 {
		t.Fatalf("the links were saved while the picker was still open: %v", h)
	}
	b.Run("untick Grace and save", press(kb.Enter), press(kb.Enter, input.ModifierCtrl))
	waitFor(b, "Helpers shows Alan", fmt.Sprintf(`document.querySelector(%q).textContent.trim() === "Alan Turing"`, cellSel(1, colIndex(b, "Helpers"))), 15*time.Second)

	want := map[string]any{"Name": "Ada Lovelace", "Status": "Beta", "Helpers": []any{alan.ID}}
	eventually(t, "the API shows what was typed", func() (bool, string) {
		var got apiRecord
		u.C.Do("GET", tasks.records()+"/"+rec.ID, nil, &got)
		d := fieldDiff(want, got.Fields)
		return d == "", d
	})
	b.NoProblems("401")
}
