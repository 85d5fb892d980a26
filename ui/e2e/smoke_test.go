package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPagesCarryCSP checks the Content-Security-Policy of every HTML answer
// and that a first visit renders without console errors or violations.
func TestPagesCarryCSP(t *testing.T) {
	chromium(t)
	s := startServer(t)
	for _, p := range []string{"/", "/login", "/setup", "/n/nb_x/t/tb_y", "/reset-password"} {
		res, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q allows inline script or eval", p, csp)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
	}
	b := newBrowser(t)
	b.Run("open", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible("#main", chromedp.ByQuery))
	b.Shot("first-visit")
	b.NoProblems("401")
}
