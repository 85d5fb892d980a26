package e2e

// Encrypted and password cells in the grid: an encrypted cell read
// without its column's key shows as locked, a password cell as set or
// empty; neither opens an editor, and neither the plaintext, the password
// nor the sealed value reaches the page's text.

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestGridSecretCells(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "sam@example.com", "Sam")
	const (
		colPassword = "a column password 1"
		plain       = "plaintext-of-the-cell-42"
		cellPass    = "extranet-password-77"
	)
	vault := makeTable(t, u.C, "Office", "Vault", []map[string]any{
		{"name": "Title", "type": "text"},
		{"name": "Secret", "type": "encrypted", "options": map[string]any{"password": colPassword}},
		{"name": "Login", "type": "password"},
	})
	// The API client's session unlocks the column to write plaintext; the
	// browser's session never does.
	u.C.Do("POST", "/api/v1/notebooks/"+vault.NB+"/tables/"+vault.TB+"/columns/Secret/unlock", map[string]any{"password": colPassword}, nil)
	u.C.Do("POST", vault.records(), map[string]any{"fields": map[string]any{"Title": "site", "Secret": plain, "Login": cellPass}}, nil)
	u.C.Do("POST", vault.records(), map[string]any{"fields": map[string]any{"Title": "empty"}}, nil)

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, vault.page(s))
	secret, login := colIndex(b, "Secret"), colIndex(b, "Login")
	text := func(row, col int) string {
		var out string
		b.Run("cell text", chromedp.Text(cellSel(row, col), &out, chromedp.ByQuery))
		return strings.TrimSpace(out)
	}
	if got := text(1, secret); !strings.Contains(got, "Locked") {
		t.Errorf("encrypted cell reads %q, want Locked", got)
	}
	if got := text(1, login); !strings.Contains(got, "Set") {
		t.Errorf("password cell reads %q, want Set", got)
	}
	if got := text(2, secret) + text(2, login); got != "" {
		t.Errorf("empty secret cells read %q, want nothing", got)
	}
	var readonly []string
	b.Run("read-only", chromedp.Evaluate(`[`+cellJS(1, secret)+`, `+cellJS(1, login)+`].map(c => c.getAttribute("aria-readonly"))`, &readonly))
	if len(readonly) != 2 || readonly[0] != "true" || readonly[1] != "true" {
		t.Errorf("aria-readonly of the secret cells = %v", readonly)
	}
	// With the keyboard alone: Enter on either cell opens no editor and
	// says why.
	for c, why := range map[int]string{secret: "is encrypted", login: "write-only"} {
		b.Run("enter", chromedp.Click(cellSel(1, c), chromedp.ByQuery), press(kb.Enter))
		waitToast(b, why)
		var editors int
		b.Run("no editor", chromedp.Evaluate(`document.querySelectorAll('[role="grid"] input:not([type="checkbox"]), [role="grid"] textarea').length`, &editors))
		if editors != 0 {
			t.Errorf("Enter on a secret cell (column %d) opened an editor", c)
		}
	}
	var page string
	b.Run("page text", chromedp.Evaluate(`document.documentElement.outerHTML`, &page))
	for _, secret := range []string{plain, cellPass, colPassword, "argon2id$"} {
		if strings.Contains(page, secret) {
			t.Errorf("the page holds %q", secret)
		}
	}
	b.Shot("desktop")
	setWidth(b, 820)
	b.Shot("tablet")
	b.NoProblems("401") // the sign-in page asks who is signed in first
}

// cellJS is a JavaScript expression for the cell at row of column col.
func cellJS(row, col int) string {
	return `document.querySelector('` + cellSel(row, col) + `')`
}
