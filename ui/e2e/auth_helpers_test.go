package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// Helpers of the sign-in tests: they find things as a person does, by the
// visible label of a field, the text of a button or a heading.

// labelled is the XPath of the input labelled text (a <label for>).
func labelled(text string) string {
	return fmt.Sprintf(`//input[@id=//label[normalize-space()=%q]/@for]`, text)
}

// buttonNamed is the XPath of the button (or link styled as one) showing text.
func buttonNamed(text string) string {
	return fmt.Sprintf(`//*[self::button or self::a][normalize-space()=%q]`, text)
}

// headingNamed is the XPath of the page's h1 reading text.
func headingNamed(text string) string {
	return fmt.Sprintf(`//h1[normalize-space()=%q]`, text)
}

// fillLabelled types value into the field labelled label.
func fillLabelled(label, value string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(labelled(label), chromedp.BySearch),
		chromedp.Evaluate(fmt.Sprintf(`(() => { const el = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; el.value = ""; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, labelled(label)), nil),
		chromedp.SendKeys(labelled(label), value, chromedp.BySearch),
	}
}

// clickNamed clicks the button showing text.
func clickNamed(text string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(buttonNamed(text), chromedp.BySearch),
		chromedp.Click(buttonNamed(text), chromedp.BySearch),
	}
}

// readAlert waits for the page's alert and returns its text.
func readAlert(out *string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery),
		chromedp.Text(`[role=alert]`, out, chromedp.ByQuery),
	}
}

// unnamedControlsJS lists the visible controls without an accessible name: no
// aria-label, label, aria-labelledby, text (buttons, links) or alt text.
const unnamedControlsJS = `[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], img, [role=button]')]
  .filter(el => el.getClientRects().length > 0)
  .filter(el => {
    const t = s => (s || '').trim();
    const by = t(el.getAttribute('aria-labelledby')).split(/\s+/).filter(Boolean).map(id => document.getElementById(id)?.textContent || '').join('');
    const name = t(el.getAttribute('aria-label')) || t(el.labels ? [...el.labels].map(l => l.textContent).join('') : '') || t(by) ||
      (['BUTTON', 'A'].includes(el.tagName) || el.getAttribute('role') === 'button' ? t(el.textContent) : '') || (el.tagName === 'IMG' ? t(el.alt) : '');
    return !name;
  })
  .map(el => el.outerHTML.slice(0, 160))`

// checkControlNames fails the test when a visible control has no accessible
// name (a person using a screen reader would not know what it does).
func checkControlNames(b *Browser, page string) {
	b.t.Helper()
	var unnamed []string
	b.Run("names "+page, chromedp.Evaluate(unnamedControlsJS, &unnamed))
	for _, u := range unnamed {
		b.t.Errorf("%s: a control without an accessible name: %s", page, u)
	}
}

// shotWidths checks that every visible control has a name, then takes the
// screenshot name at 1366 and 1024 pixels wide (a laptop and a tablet),
// and leaves the window at 1366.
func shotWidths(b *Browser, name string) {
	b.t.Helper()
	checkControlNames(b, name)
	for _, w := range []int64{1024, 1366} {
		b.Run("width "+name, chromedp.EmulateViewport(w, 900), chromedp.Sleep(150*time.Millisecond))
		b.Shot(fmt.Sprintf("%s-%d", name, w))
	}
}

// pageFetchJSON fetches path from the page (same origin, with its cookie) and
// decodes the JSON answer into out; it returns the status.
func pageFetchJSON(b *Browser, path string, out any) int64 {
	b.t.Helper()
	var res struct {
		Status int64  `json:"status"`
		Body   string `json:"body"`
	}
	js := fmt.Sprintf(`fetch(%q, {headers: {Accept: "application/json"}}).then(async r => ({status: r.status, body: await r.text()}))`, path)
	b.Run("fetch "+path, chromedp.Evaluate(js, &res, authAwaitPromise))
	if out != nil && res.Status/100 == 2 {
		if err := json.Unmarshal([]byte(res.Body), out); err != nil {
			b.t.Fatalf("%s: %v: %s", path, err, res.Body)
		}
	}
	return res.Status
}

// pageLocation returns the page's address.
func pageLocation(b *Browser) string {
	var href string
	b.Run("location", chromedp.Location(&href))
	return href
}

// waitForPath waits until the page's path (and query) is want.
func waitForPath(b *Browser, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	var got string
	for ctx.Err() == nil {
		if err := chromedp.Run(ctx, chromedp.Evaluate(`location.pathname + location.search + location.hash`, &got)); err == nil && got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Shot("failed-path")
	b.t.Fatalf("the page is at %q, want %q", got, want)
}

// apiEnrolTOTP turns on TOTP for c's account through the API and returns the
// secret. The confirming code is the previous step's, so that the
// current and next steps' codes remain for a login (each code works once).
func apiEnrolTOTP(t *testing.T, c *Client, password string) string {
	t.Helper()
	var e struct {
		Secret string `json:"secret"`
	}
	c.Do("POST", "/api/v1/auth/totp", map[string]string{"password": password}, &e)
	code, err := totp.GenerateCode(e.Secret, time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c.Do("POST", "/api/v1/auth/totp/confirm", map[string]string{"code": code}, nil)
	return e.Secret
}

// noSessionKeys fails when a response the page received holds a session
// key: the web UI's session lives only in the HttpOnly cookie.
func noSessionKeys(b *Browser) {
	b.t.Helper()
	for _, r := range b.Responses() {
		if strings.Contains(r.Body, "cfs_") || strings.Contains(r.Body, "session_key") {
			b.t.Errorf("the page received a session key from %s: %.200s", r.URL, r.Body)
		}
	}
}

// authAwaitPromise makes chromedp.Evaluate wait for the promise the script returns.
func authAwaitPromise(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
	return p.WithAwaitPromise(true)
}
