package e2e

// Helpers of the grid tests: a signed-in browser on a table made through
// the API, and ways to find the grid's parts as a person does (by role,
// column name and row number).

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// gridUser is one account with an API client.
type gridUser struct {
	Email, Password string
	C               *Client
}

// newGridUser creates an account through the CLI and signs it in through
// the API.
func newGridUser(t *testing.T, s *Server, email, name string) *gridUser {
	t.Helper()
	pw := "amber-walrus-" + strings.Split(email, "@")[0] + "-tidepool-91"
	s.CreateUser(t, email, name, pw, false)
	return &gridUser{Email: email, Password: pw, C: s.Login(t, email, pw)}
}

// evalAwait evaluates JavaScript, awaiting a promise it returns.
func evalAwait(js string, out any) chromedp.Action {
	return chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// browserSignIn signs the browser in through the sign-in page, as a
// person does (the server sets the session cookie), and waits for the
// notebooks screen.
func browserSignIn(b *Browser, s *Server, u *gridUser) {
	b.t.Helper()
	b.Run("sign in", chromedp.Navigate(s.URL+"/login"), fillLabelled("E-mail address", u.Email), fillLabelled("Password", u.Password), clickNamed("Sign in"))
	waitFor(b, "the notebooks screen", `location.pathname === "/"`, 30*time.Second)
}

// tableRef names a notebook and a table made through the API.
type tableRef struct {
	NB, TB string
}

func (r tableRef) records() string {
	return "/api/v1/notebooks/" + r.NB + "/tables/" + r.TB + "/records"
}

func (r tableRef) page(s *Server) string {
	return s.URL + "/n/" + r.NB + "/t/" + r.TB
}

// makeTable creates a notebook (once per name) and a table with columns.
func makeTable(t *testing.T, c *Client, nbName, tbName string, cols []map[string]any) tableRef {
	t.Helper()
	var nb struct{ ID string }
	c.Do("POST", "/api/v1/notebooks", map[string]any{"name": nbName}, &nb)
	return makeTableIn(t, c, nb.ID, tbName, cols)
}

func makeTableIn(t *testing.T, c *Client, nb, tbName string, cols []map[string]any) tableRef {
	t.Helper()
	var tb struct{ ID string }
	c.Do("POST", "/api/v1/notebooks/"+nb+"/tables", map[string]any{"name": tbName, "columns": cols}, &tb)
	return tableRef{NB: nb, TB: tb.ID}
}

// apiRecord is a record as the API gives it.
type apiRecord struct {
	ID      string         `json:"id"`
	Version int64          `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// allRecords reads every record of a table through the API, in creation
// order.
func allRecords(t *testing.T, c *Client, r tableRef) []apiRecord {
	t.Helper()
	var out []apiRecord
	cursor := ""
	for {
		var page struct {
			Records    []apiRecord `json:"records"`
			NextCursor *string     `json:"next_cursor"`
		}
		q := "?limit=1000"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		c.Do("GET", r.records()+q, nil, &page)
		out = append(out, page.Records...)
		if page.NextCursor == nil {
			return out
		}
		cursor = *page.NextCursor
	}
}

// openGrid opens a table page and waits for its first rows.
func openGrid(b *Browser, pageURL string) {
	b.t.Helper()
	b.Run("open grid", chromedp.Navigate(pageURL), chromedp.WaitVisible(`[role="grid"][aria-busy="false"]`, chromedp.ByQuery))
}

// colIndex is the aria-colindex of the column header named name.
func colIndex(b *Browser, name string) int {
	b.t.Helper()
	var idx int
	js := fmt.Sprintf(`(() => { const h = [...document.querySelectorAll('[role="columnheader"]')].find(h => h.getAttribute("aria-label") === %q); return h ? +h.getAttribute("aria-colindex") : -1 })()`, name)
	b.Run("column "+name, chromedp.Evaluate(js, &idx))
	if idx < 0 {
		b.t.Fatalf("no column header named %q", name)
	}
	return idx
}

// cellSel is the CSS selector of the cell at row (1-based, as the row
// numbers show) of the column with aria-colindex col.
func cellSel(row, col int) string {
	return fmt.Sprintf(`[role="grid"] [role="row"][aria-rowindex="%d"] [aria-colindex="%d"]`, row+1, col)
}

// activeCell reports the focused cell's row (1-based) and aria-colindex,
// and whether it is aria-selected.
func activeCell(b *Browser) (row, col int, selected bool) {
	b.t.Helper()
	var res []any
	js := `(() => { const c = document.activeElement; const r = c && c.closest('[role="row"]'); if (!c || !r || !c.hasAttribute("aria-colindex")) return [0, 0, false]; return [+r.getAttribute("aria-rowindex") - 1, +c.getAttribute("aria-colindex"), c.getAttribute("aria-selected") === "true"] })()`
	b.Run("active cell", chromedp.Evaluate(js, &res))
	return int(res[0].(float64)), int(res[1].(float64)), res[2].(bool)
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(b *Browser, what, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(js, &ok))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.Shot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("waiting for %s: %v (problems %q)", what, err, b.Problems())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toastText waits for a toast whose text contains want.
func waitToast(b *Browser, want string) string {
	b.t.Helper()
	waitFor(b, "a message saying "+want, fmt.Sprintf(`[...document.querySelectorAll('.toast, [role="alert"], [role="status"]')].some(e => e.textContent.includes(%q))`, want), 30*time.Second)
	var text string
	b.Run("toast", chromedp.Evaluate(`[...document.querySelectorAll('.toasts')].map(e => e.textContent).join(" | ")`, &text))
	return text
}

// setWidth resizes the browser window.
func setWidth(b *Browser, w int64) {
	b.t.Helper()
	b.Run(fmt.Sprintf("width %d", w), chromedp.EmulateViewport(w, 800))
}

// press sends a key as a person's key press whose default action the page
// prevented: keydown and keyup without the separate character event that
// chromedp.KeyEvent adds (a browser sends no keypress after a prevented
// keydown; CDP's char event would still type into whatever has focus).
func press(key string, mods ...input.Modifier) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var m input.Modifier
		for _, x := range mods {
			m |= x
		}
		for _, r := range key {
			for _, ev := range kb.Encode(r) {
				if ev.Type == input.KeyChar {
					continue
				}
				ev.Modifiers |= m
				if ev.Type == input.KeyDown {
					ev.Type = input.KeyRawDown
				}
				if err := ev.Do(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// eventually polls cond (true when done; its text says what it saw) for
// up to 20 seconds, then fails the test.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, saw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// drag presses the mouse on one element, moves it to another and releases
// it there.
func drag(from, to string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		center := func(sel string) (float64, float64, error) {
			var box []float64
			js := fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2] })()`, sel)
			if err := chromedp.Evaluate(js, &box).Do(ctx); err != nil {
				return 0, 0, err
			}
			return box[0], box[1], nil
		}
		x1, y1, err := center(from)
		if err != nil {
			return err
		}
		x2, y2, err := center(to)
		if err != nil {
			return err
		}
		steps := []*input.DispatchMouseEventParams{
			input.DispatchMouseEvent(input.MouseMoved, x1, y1),
			input.DispatchMouseEvent(input.MousePressed, x1, y1).WithButton(input.Left).WithClickCount(1),
			input.DispatchMouseEvent(input.MouseMoved, (x1+x2)/2, (y1+y2)/2).WithButton(input.Left).WithButtons(1),
			input.DispatchMouseEvent(input.MouseMoved, x2, y2).WithButton(input.Left).WithButtons(1),
			input.DispatchMouseEvent(input.MouseReleased, x2, y2).WithButton(input.Left).WithClickCount(1),
		}
		for _, s := range steps {
			if err := s.Do(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}
