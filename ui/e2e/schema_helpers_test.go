package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The helpers of the schema tests: they find things as a person does, by
// the words on the screen (labels, button names, headings), with XPath.

// scQuote quotes s as an XPath string literal.
func scQuote(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// scButton is a button named name (its aria-label or its text).
func scButton(name string) string {
	return fmt.Sprintf(`//button[@aria-label=%s or (not(@aria-label) and normalize-space()=%s)]`, scQuote(name), scQuote(name))
}

// scMenuItem is an item of the open menu.
func scMenuItem(name string) string {
	return fmt.Sprintf(`//*[@role="menu"]//*[@role="menuitem" and normalize-space()=%s]`, scQuote(name))
}

// scLink is a link named name (its aria-label or its text).
func scLink(name string) string {
	return fmt.Sprintf(`//a[@aria-label=%s or (not(@aria-label) and normalize-space()=%s)]`, scQuote(name), scQuote(name))
}

// scField is the control labelled label, by a <label for> or an aria-label.
func scField(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space()=%s]/@for or @aria-label=%s]`, scQuote(label), scQuote(label))
}

// scHeading is a heading whose text is text.
func scHeading(text string) string {
	return fmt.Sprintf(`//*[self::h1 or self::h2][normalize-space()=%s]`, scQuote(text))
}

// scDialog is the open modal dialog.
const scDialog = `//dialog[@open]`

func scClick(sel string) chromedp.Action {
	return chromedp.Tasks{chromedp.WaitVisible(sel, chromedp.BySearch), chromedp.Click(sel, chromedp.BySearch)}
}

// scType replaces the text of the field labelled label by typing text.
func scType(label, text string) chromedp.Action {
	sel := scField(label)
	return chromedp.Tasks{
		chromedp.WaitVisible(sel, chromedp.BySearch),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var ok bool
			js := fmt.Sprintf(`(() => { const e = document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
				if (!e) return false; e.focus(); e.select(); return true; })()`, scJS(sel))
			if err := chromedp.Evaluate(js, &ok).Do(ctx); err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no field labelled %q", label)
			}
			return nil
		}),
		chromedp.SendKeys(sel, text, chromedp.BySearch),
	}
}

// scEnter presses Enter in the field labelled label.
func scEnter(label string) chromedp.Action {
	return chromedp.SendKeys(scField(label), kb.Enter, chromedp.BySearch)
}

// scChoose picks the option shown as option in the visible select labelled
// label, as a person's choice does (a change event).
func scChoose(label, option string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var ok bool
		js := fmt.Sprintf(`(() => {
			const l = [...document.querySelectorAll("label")].find(l => l.textContent.trim() === %[1]s && l.offsetParent !== null);
			const s = l && document.getElementById(l.htmlFor);
			const o = s && [...s.options].find(o => o.textContent.trim() === %[2]s);
			if (!o) return false;
			s.focus();
			s.value = o.value;
			s.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})()`, scJS(label), scJS(option))
		if err := chromedp.Evaluate(js, &ok).Do(ctx); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no option %q in a select labelled %q", option, label)
		}
		return nil
	})
}

func scJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scSignIn signs email in through the sign-in page, as a person does
// (an account without a second factor), and waits for the notebooks.
func scSignIn(t *testing.T, b *Browser, s *Server, email, password string) {
	t.Helper()
	b.Run("sign in "+email,
		chromedp.Navigate(s.URL+"/login"),
		scType("E-mail address", email),
		scType("Password", password),
		scClick(`//form//button[@type="submit"][normalize-space()="Sign in"]`),
		chromedp.WaitVisible(scHeading("Notebooks"), chromedp.BySearch),
	)
}

// scOpen goes to a path of the UI and waits for the heading h1.
func scOpen(b *Browser, s *Server, path, h1 string) {
	b.t.Helper()
	b.Run("open "+path, chromedp.Navigate(s.URL+path), chromedp.WaitVisible(scHeading(h1), chromedp.BySearch))
}

// scShots takes a screenshot at 1024 pixels wide (a tablet) and at 1366,
// where it stays, running prepare after each resize.
func scShots(b *Browser, name string, prepare ...chromedp.Action) {
	b.t.Helper()
	for _, w := range []int64{1024, 1366} {
		b.Run(fmt.Sprintf("resize %d", w), chromedp.EmulateViewport(w, 800), chromedp.Sleep(150*time.Millisecond))
		if len(prepare) > 0 {
			b.Run(fmt.Sprintf("prepare %s at %d", name, w), prepare...)
		}
		b.Shot(fmt.Sprintf("%s-%d", name, w))
	}
}

// scTexts returns the text of every element matching the XPath sel.
func scTexts(b *Browser, sel string) []string {
	b.t.Helper()
	var out []string
	js := fmt.Sprintf(`(() => { const r = document.evaluate(%s, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		const out = []; for (let i = 0; i < r.snapshotLength; i++) out.push(r.snapshotItem(i).textContent.trim()); return out; })()`, scJS(sel))
	b.Run("read "+sel, chromedp.Evaluate(js, &out))
	return out
}

// scAPI builds an API path from parts, escaping each.
func scAPI(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/" + strings.Join(parts, "/")
}

// scEventually retries check until it returns "" or the time runs out, and
// fails with its last answer.
func scEventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
