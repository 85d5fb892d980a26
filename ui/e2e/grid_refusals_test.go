package e2e

// What the grid may not do: writes the server refuses (rolled back with
// the reason) and cells the caller may not read (never on the page).

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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
