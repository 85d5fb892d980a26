package e2e

// The grid at scale: 100,000 rows scrolled to the end, a view read from
// both ends, column widths.

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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

func TestGridResizesColumns(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "widths@example.com", "Wes")
	tb := makeTable(t, u.C, "Layout", "Wide", []map[string]any{{"name": "Title", "type": "text"}, {"name": "Body", "type": "long_text"}})
	u.C.Do("POST", tb.records(), map[string]any{"fields": map[string]any{"Title": "a title", "Body": "a body"}}, nil)
	var table struct {
		Columns []struct{ ID, Name string }
		Layout  *struct {
			Widths map[string]float64 `json:"widths"`
		} `json:"layout"`
	}
	if code, body := u.C.Try("PATCH", "/api/v1/notebooks/"+tb.NB+"/tables/"+tb.TB, map[string]any{"layout": map[string]any{"widths": map[string]int{}}}, nil); code != 200 {
		t.Fatalf("PATCH layout: %d %s", code, body)
	}

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, tb.page(s))
	width := func() float64 {
		var w float64
		b.Run("width", chromedp.Evaluate(`document.querySelector('[role="columnheader"][aria-label="Title"]').getBoundingClientRect().width`, &w))
		return w
	}
	w0 := width()
	b.Run("drag the edge", drag(`[role="separator"][aria-label="Resize column Title"]`, `[role="columnheader"][aria-label="Body"]`))
	w1 := width()
	if w1 < w0+60 {
		t.Fatalf("dragging the header edge right: width %v → %v", w0, w1)
	}
	b.Run("keys", chromedp.Focus(`[role="separator"][aria-label="Resize column Title"]`, chromedp.ByQuery), press(kb.ArrowLeft), press(kb.ArrowLeft))
	w2 := width()
	if w2 >= w1 {
		t.Errorf("ArrowLeft on the edge: width %v → %v", w1, w2)
	}
	b.Shot("resized")
	eventually(t, "the width saved in the layout", func() (bool, string) {
		u.C.Do("GET", "/api/v1/notebooks/"+tb.NB+"/tables/"+tb.TB, nil, &table)
		id := table.Columns[0].ID
		if table.Layout == nil {
			return false, "no layout"
		}
		return math.Abs(table.Layout.Widths[id]-w2) <= 1, fmt.Sprintf("widths %v, shown %v", table.Layout.Widths, w2)
	})
	// Another visit shows the saved width.
	openGrid(b, tb.page(s))
	if w := width(); math.Abs(w-w2) > 1 {
		t.Errorf("after a reload the column is %v wide, want %v", w, w2)
	}
	b.NoProblems("401")
}
