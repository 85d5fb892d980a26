package e2e

import (
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestSchemaInTheGrid uses the column menu in the grid's column headers:
// hiding a column takes its header out of the grid (for a reload too),
// moving one reorders the headers, a rename shows in the header and the
// cells keep their values, a column added from the toolbar appears, and
// one deleted after the confirmation naming it goes.
func TestSchemaInTheGrid(t *testing.T) {
	s, api, b := scSetup(t)
	var nb scNotebook
	api.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Grid"}, &nb)
	var tb scTable
	api.Do("POST", scAPI("notebooks", nb.ID, "tables"), map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "A", "type": "text"}, {"name": "B", "type": "text"}, {"name": "C", "type": "text"}}}, &tb)
	api.Do("POST", scAPI("notebooks", nb.ID, "tables", tb.ID, "records"), map[string]any{"fields": map[string]any{"A": "a1", "B": "b1", "C": "c1"}}, nil)

	headers := func() []string {
		return scTexts(b, `//*[@role="grid"]//*[@role="columnheader"][@aria-label]/@aria-label`)
	}
	page := "/n/" + nb.ID + "/t/" + tb.ID
	b.Run("open the grid", chromedp.Navigate(s.URL+page), chromedp.WaitVisible(`[role="grid"][aria-busy="false"]`, chromedp.ByQuery),
		chromedp.WaitVisible(scButton("Column menu: B"), chromedp.BySearch))
	if got := headers(); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Fatalf("grid headers %q, want A, B, C", got)
	}
	b.Run("open the menu of B", scClick(scButton("Column menu: B")), chromedp.WaitVisible(`//*[@role="menu"]`, chromedp.BySearch))
	scShots(b, "grid-menu")
	b.Run("hide B from its header",
		scClick(scMenuItem("Hide column")),
		chromedp.WaitNotPresent(`//*[@role="columnheader"][@aria-label="B"]`, chromedp.BySearch),
	)
	b.Run("move C left",
		scClick(scButton("Column menu: C")),
		scClick(scMenuItem("Move left")),
		chromedp.WaitVisible(`//*[@role="columnheader"][@aria-label="C"][@aria-colindex="2"]`, chromedp.BySearch),
	)
	b.Run("reload", chromedp.Reload(), chromedp.WaitVisible(`[role="grid"][aria-busy="false"]`, chromedp.ByQuery),
		chromedp.WaitVisible(scButton("Column menu: A"), chromedp.BySearch))
	if got := headers(); !slices.Equal(got, []string{"C", "A"}) {
		t.Errorf("grid headers after a reload: %q, want C, A", got)
	}

	// Keys and a paste in the menu and its dialog stay theirs: Enter on
	// the header's menu button opens the menu (it edits no cell), and a
	// paste into the dialog writes nothing into the grid.
	b.Run("rename A",
		chromedp.Focus(scButton("Column menu: A"), chromedp.BySearch),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`//*[@role="menu"]`, chromedp.BySearch),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(scDialog, chromedp.BySearch),
		chromedp.Evaluate(`(() => { const dt = new DataTransfer(); dt.setData("text/plain", "p1\tp2\np3\tp4");
			document.activeElement.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true})); return true })()`, nil),
		scType("Column name", "First"),
		scClick(scDialog+`//button[normalize-space()="Save"]`),
		chromedp.WaitNotPresent(scDialog, chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="columnheader"][@aria-label="First"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="gridcell"][normalize-space()="a1"]`, chromedp.BySearch),
	)
	b.Run("add a column from the toolbar",
		scClick(scButton("Add a column")),
		scType("Column name", "Score"),
		scChoose("Type", "Number"),
		scClick(scDialog+`//button[normalize-space()="Add column"]`),
		chromedp.WaitNotPresent(scDialog, chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="columnheader"][@aria-label="Score"]`, chromedp.BySearch),
	)
	if got := headers(); !slices.Equal(got, []string{"C", "First", "Score"}) {
		t.Errorf("grid headers with Score: %q, want C, First, Score", got)
	}
	scShots(b, "grid")
	b.Run("ask to delete Score",
		scClick(scButton("Column menu: Score")),
		scClick(scMenuItem("Delete column…")),
		chromedp.WaitVisible(scDialog+`//p[contains(., "The column Score of table People")]`, chromedp.BySearch),
	)
	scShots(b, "column-delete")
	b.Run("delete Score",
		scType("Type Score to confirm", "Score"),
		scClick(scDialog+`//button[normalize-space()="Delete column"]`),
		chromedp.WaitNotPresent(`//*[@role="columnheader"][@aria-label="Score"]`, chromedp.BySearch),
	)
	var recs struct {
		Records []struct{ Fields map[string]any } `json:"records"`
	}
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID, "records"), nil, &recs)
	if len(recs.Records) != 1 || recs.Records[0].Fields["First"] != "a1" || recs.Records[0].Fields["C"] != "c1" {
		t.Errorf("records after the menu's keys and a paste into its dialog: %+v, want one record a1, c1", recs.Records)
	}
	var got scTable
	api.Do("GET", scAPI("notebooks", nb.ID, "tables", tb.ID), nil, &got)
	if got.col("First") == "" || got.col("Score") != "" || !slices.Equal(got.Layout.Hidden, []string{tb.col("B")}) {
		t.Errorf("table after the grid's menu: %+v", got)
	}
	b.NoProblems("401")
}
