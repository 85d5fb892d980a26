package e2e

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer/store/storetest"

	_ "modernc.org/sqlite"
)

var resetLinkRE = regexp.MustCompile(`(http://\S+/reset-password#token=cfr_[A-Za-z0-9_-]{43})`)

// TestPasswordResetInBrowser: the reset request answers alike for a known
// and an unknown e-mail; the mailed link opens the reset page, which
// shows the server's strength error at the field, sets the password, and
// works once; the new password signs in.
func TestPasswordResetInBrowser(t *testing.T) {
	chromium(t)
	mp := storetest.MustMailpit(t)
	s := startServer(t, "--smtp-url", fmt.Sprintf("smtp://127.0.0.1:%d?tls=none&from=coffer@localhost", mp.SMTP.Port))
	s.CreateUser(t, "ada@example.com", "Ada Lovelace", authUserPassword, false)
	const newPassword = "saffron glacier humming lantern"

	b := newBrowser(t)
	var unknown, known string
	b.Run("forgot (unknown)", chromedp.Navigate(s.URL+"/login"), clickNamed("Forgot password?"),
		chromedp.WaitVisible(headingNamed("Forgot your password?"), chromedp.BySearch),
		fillLabelled("E-mail address", "nobody@example.com"), clickNamed("Send the link"),
		chromedp.WaitVisible(`[role=status].notice`, chromedp.ByQuery), chromedp.Text(`[role=status].notice`, &unknown, chromedp.ByQuery))
	shotWidths(b, "forgot-sent")
	b.Run("forgot (known)", chromedp.Navigate(s.URL+"/forgot-password"), fillLabelled("E-mail address", "ada@example.com"), clickNamed("Send the link"),
		chromedp.WaitVisible(`[role=status].notice`, chromedp.ByQuery), chromedp.Text(`[role=status].notice`, &known, chromedp.ByQuery))
	if known == "" || known != unknown {
		t.Errorf("known e-mail: %q, unknown: %q: want the same answer", known, unknown)
	}
	msgs := mp.WaitMessages("ada@example.com", 1)
	m := resetLinkRE.FindStringSubmatch(mp.Text(msgs[0].ID))
	if m == nil || !strings.HasPrefix(m[1], s.URL+"/") {
		t.Fatalf("no reset link to %s in the message:\n%s", s.URL, mp.Text(msgs[0].ID))
	}
	link := m[1]

	b.Run("open link", chromedp.Navigate("about:blank"), chromedp.Navigate(link), chromedp.WaitVisible(labelled("New password"), chromedp.BySearch))
	if href := pageLocation(b); strings.Contains(href, "token") {
		t.Errorf("the token stays in the address bar: %s", href)
	}
	shotWidths(b, "reset-form")
	var fieldErr string
	b.Run("weak", fillLabelled("New password", "password"), fillLabelled("New password again", "password"), clickNamed("Save the new password"),
		chromedp.WaitVisible(labelled("New password")+`[@aria-invalid="true"]`, chromedp.BySearch),
		chromedp.Text(`//p[@id=substring-before(concat(`+labelled("New password")+`/@aria-describedby, " "), " ") or @id=substring-after(`+labelled("New password")+`/@aria-describedby, " ")][@class="field-error"]`, &fieldErr, chromedp.BySearch))
	if fieldErr == "" {
		t.Error("no strength error at the field")
	}
	shotWidths(b, "reset-weak")
	b.Run("save", fillLabelled("New password", newPassword), fillLabelled("New password again", newPassword), clickNamed("Save the new password"),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Your password is changed")]`, chromedp.BySearch))
	shotWidths(b, "reset-done")
	b.Run("sign in", clickNamed("Sign in"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch),
		fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", newPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	b.NoProblems("401", "400")

	// The link works once.
	b2 := newBrowser(t)
	var msg string
	b2.Run("link again", chromedp.Navigate(link), fillLabelled("New password", "another fresh phrase here"), fillLabelled("New password again", "another fresh phrase here"),
		clickNamed("Save the new password"), readAlert(&msg))
	if !strings.Contains(msg, "This reset link does not work") {
		t.Errorf("used link says %q", msg)
	}
	b2.NoProblems("401", "400")
}

// TestEnrolSecondFactorWhenRequired: a member of an organization that
// requires two-factor authentication signs in without one and may only
// enrol: the app key, a code, then the recovery codes once. A recovery
// code then signs in.
func TestEnrolSecondFactorWhenRequired(t *testing.T) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "root@example.com", "Root", authOwnerPassword, true)
	s.CreateUser(t, "ada@example.com", "Ada Lovelace", authUserPassword, false)
	op := s.Login(t, "root@example.com", authOwnerPassword)
	ada := s.Login(t, "ada@example.com", authUserPassword)
	var me struct {
		ID string `json:"id"`
	}
	ada.Do("GET", "/api/v1/auth/me", nil, &me)
	var org struct {
		ID string `json:"id"`
	}
	op.Do("POST", "/api/v1/organizations", map[string]string{"name": "Acme", "owner": "root@example.com"}, &org)
	op.Do("PUT", "/api/v1/organizations/"+org.ID+"/members/"+me.ID, map[string]string{"role": "member"}, nil)
	op.Do("PATCH", "/api/v1/organizations/"+org.ID, map[string]any{"policy": map[string]any{"require_2fa": true}}, nil)

	b := newBrowser(t)
	b.Run("sign in", chromedp.Navigate(s.URL+"/login"), fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Set up two-step sign-in"), chromedp.BySearch))
	// Other screens are out of reach until then.
	b.Run("elsewhere", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(headingNamed("Set up two-step sign-in"), chromedp.BySearch))
	shotWidths(b, "enrol-password")
	var secret string
	b.Run("begin", fillLabelled("Password", authUserPassword), clickNamed("Continue"),
		chromedp.WaitVisible(`[aria-label="Key for your authenticator app"]`, chromedp.ByQuery),
		chromedp.Text(`[aria-label="Key for your authenticator app"]`, &secret, chromedp.ByQuery),
		chromedp.WaitVisible(`img[alt="QR code of the key for your authenticator app"]`, chromedp.ByQuery))
	shotWidths(b, "enrol-scan")
	code, err := totp.GenerateCode(strings.TrimSpace(secret), time.Now().UTC())
	if err != nil {
		t.Fatalf("key %q: %v", secret, err)
	}
	var codesText string
	b.Run("confirm", fillLabelled("Code shown by the app", code), clickNamed("Turn on"),
		chromedp.WaitVisible(`ul[aria-label="Recovery codes"] li`, chromedp.ByQuery),
		chromedp.Text(`ul[aria-label="Recovery codes"]`, &codesText, chromedp.ByQuery))
	shotWidths(b, "enrol-codes")
	codes := strings.Fields(codesText)
	if len(codes) < 5 {
		t.Fatalf("recovery codes %q", codesText)
	}
	b.Run("done", clickNamed("I have saved them"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch),
		clickNamed("Sign out"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch))

	// Sign in again with a recovery code.
	b.Run("again", fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		clickNamed("Use a recovery code"), fillLabelled("Recovery code", codes[0]), clickNamed("Continue"),
		chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	noSessionKeys(b)
	b.NoProblems("401")
}

// TestForcedPasswordChange: with an organization's maximum password age
// past, the session may only change the password; the screen refuses a
// wrong current password, then lets the person in.
func TestForcedPasswordChange(t *testing.T) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "root@example.com", "Root", authOwnerPassword, true)
	s.CreateUser(t, "ada@example.com", "Ada Lovelace", authUserPassword, false)
	op := s.Login(t, "root@example.com", authOwnerPassword)
	var org struct {
		ID string `json:"id"`
	}
	op.Do("POST", "/api/v1/organizations", map[string]string{"name": "Acme", "owner": "root@example.com"}, &org)
	op.Do("PUT", "/api/v1/organizations/"+org.ID+"/members/ada@example.com", map[string]string{"role": "member"}, nil)
	op.Do("PATCH", "/api/v1/organizations/"+org.ID, map[string]any{"policy": map[string]any{"password_max_age_days": 30}}, nil)
	// Ada's password is 31 days old (the server reads it at each login).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Data, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE users SET password_changed_at = password_changed_at - ? WHERE email_key = ?",
		(31 * 24 * time.Hour).Microseconds(), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	const newPassword = "marble tangerine orbit cascade"

	b := newBrowser(t)
	b.Run("sign in", chromedp.Navigate(s.URL+"/login"), fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Your password has expired"), chromedp.BySearch))
	b.Run("elsewhere", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(headingNamed("Your password has expired"), chromedp.BySearch))
	shotWidths(b, "expired")
	b.Run("wrong current", fillLabelled("Current password", "this is not my password"), fillLabelled("New password", newPassword), fillLabelled("New password again", newPassword),
		clickNamed("Change the password"), chromedp.WaitVisible(labelled("Current password")+`[@aria-invalid="true"]`, chromedp.BySearch))
	b.Run("change", fillLabelled("Current password", authUserPassword), clickNamed("Change the password"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	var me map[string]any
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me["restriction"] != nil {
		t.Fatalf("after the change: %d %v", st, me)
	}
	s.Login(t, "ada@example.com", newPassword)
	b.NoProblems("401")
}

// TestSingleSignOnInBrowser: the sign-in page shows the organization's
// provider; a refused single sign-on comes back to the sign-in page with
// plain words, an accepted one lands signed in on the notebooks. The
// public provider list tells nothing of the provider's configuration.
func TestSingleSignOnInBrowser(t *testing.T) {
	chromium(t)
	s := startServer(t)
	idp := startSSOTestOP(t, "coffer-web")
	s.CreateUser(t, "root@example.com", "Root", authOwnerPassword, true)
	s.CreateUser(t, "ada@acme.test", "Ada", authUserPassword, false)
	op := s.Login(t, "root@example.com", authOwnerPassword)
	var org struct {
		ID string `json:"id"`
	}
	op.Do("POST", "/api/v1/organizations", map[string]string{"name": "Acme", "owner": "root@example.com"}, &org)
	op.Do("PATCH", "/api/v1/organizations/"+org.ID, map[string]any{"policy": map[string]any{"sso_domains": []string{"acme.test"}}}, nil)
	op.Do("POST", "/api/v1/organizations/"+org.ID+"/sso-providers",
		map[string]any{"name": "Acme ID", "issuer": idp.issuer(), "client_id": "coffer-web", "client_secret": "idp-client-secret"}, nil)

	b := newBrowser(t)
	b.Run("login page", chromedp.Navigate(s.URL+"/login"), chromedp.WaitVisible(buttonNamed("Sign in with Acme ID"), chromedp.BySearch))
	shotWidths(b, "login-sso")
	for _, r := range b.Responses() {
		if strings.Contains(r.Body, idp.issuer()) || strings.Contains(r.Body, "coffer-web") || strings.Contains(r.Body, "acme.test") {
			t.Errorf("%s reveals the provider's configuration: %s", r.URL, r.Body)
		}
	}

	// An account with the e-mail exists but is not linked: refused.
	idp.as("ada@acme.test")
	var msg string
	b.Run("refused", clickNamed("Sign in with Acme ID"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch), readAlert(&msg))
	waitForPath(b, "/login?sso=not_linked")
	if !strings.Contains(msg, "not linked") {
		t.Errorf("refused single sign-on says %q", msg)
	}
	shotWidths(b, "login-sso-refused")

	// A new person of the organization's domain: in, on the notebooks.
	idp.as("zoe@acme.test")
	b.Run("accepted", clickNamed("Sign in with Acme ID"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	waitForPath(b, "/")
	var me struct {
		Email string `json:"email"`
	}
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me.Email != "zoe@acme.test" {
		t.Fatalf("after single sign-on: %d %+v", st, me)
	}
	noSessionKeys(b)
	b.NoProblems("401")
}
