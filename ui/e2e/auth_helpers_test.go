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

// field is the XPath of the input labelled text (a <label for>).
func field(text string) string {
	return fmt.Sprintf(`//input[@id=//label[normalize-space()=%q]/@for]`, text)
}

// button is the XPath of the button (or link styled as one) showing text.
func button(text string) string {
	return fmt.Sprintf(`//*[self::button or self::a][normalize-space()=%q]`, text)
}

// heading is the XPath of the page's h1 reading text.
func heading(text string) string {
	return fmt.Sprintf(`//h1[normalize-space()=%q]`, text)
}

// fill types value into the field labelled label.
func fill(label, value string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(field(label), chromedp.BySearch),
		chromedp.Evaluate(fmt.Sprintf(`(() => { const el = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; el.value = ""; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, field(label)), nil),
		chromedp.SendKeys(field(label), value, chromedp.BySearch),
	}
}

// click clicks the button showing text.
func click(text string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(button(text), chromedp.BySearch),
		chromedp.Click(button(text), chromedp.BySearch),
	}
}

// alertText waits for the page's alert and returns its text.
func alertText(out *string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery),
		chromedp.Text(`[role=alert]`, out, chromedp.ByQuery),
	}
}

// shotBoth takes the screenshot name at 1366 and 1024 pixels wide (a
// laptop and a tablet), and leaves the window at 1366.
func shotBoth(b *Browser, name string) {
	b.t.Helper()
	for _, w := range []int64{1024, 1366} {
		b.Run("width "+name, chromedp.EmulateViewport(w, 900), chromedp.Sleep(150*time.Millisecond))
		b.Shot(fmt.Sprintf("%s-%d", name, w))
	}
}

// pageJSON fetches path from the page (same origin, with its cookie) and
// decodes the JSON answer into out; it returns the status.
func pageJSON(b *Browser, path string, out any) int64 {
	b.t.Helper()
	var res struct {
		Status int64  `json:"status"`
		Body   string `json:"body"`
	}
	js := fmt.Sprintf(`fetch(%q, {headers: {Accept: "application/json"}}).then(async r => ({status: r.status, body: await r.text()}))`, path)
	b.Run("fetch "+path, chromedp.Evaluate(js, &res, awaitPromise))
	if out != nil && res.Status/100 == 2 {
		if err := json.Unmarshal([]byte(res.Body), out); err != nil {
			b.t.Fatalf("%s: %v: %s", path, err, res.Body)
		}
	}
	return res.Status
}

// location returns the page's address.
func location(b *Browser) string {
	var href string
	b.Run("location", chromedp.Location(&href))
	return href
}

// waitPath waits until the page's path (and query) is want.
func waitPath(b *Browser, want string) {
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

// enrolTOTP turns on TOTP for c's account through the API and returns the
// secret. The confirming code is the previous step's, so that the
// current and next steps' codes remain for a login (each code works once).
func enrolTOTP(t *testing.T, c *Client, password string) string {
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

func nowUTC() time.Time { return time.Now().UTC() }

// awaitPromise makes chromedp.Evaluate wait for the promise the script returns.
func awaitPromise(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }
