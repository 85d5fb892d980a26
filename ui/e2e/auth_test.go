package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

const (
	authOwnerPassword = "lantern orchard velvet copper mosaic"
	authUserPassword  = "quiet harbour pencil tundra whistle"
)

// TestFirstRunSetup: the printed setup link lets the first person create
// the owner account in the browser and lands signed in; the page without
// the token, and the same link a second time, are refused (and so is the
// API).
func TestFirstRunSetup(t *testing.T) {
	chromium(t)
	s := startServer(t)
	if s.SetupURL == "" {
		t.Fatal("coffer serve printed no setup link on an empty instance")
	}
	u, err := url.Parse(s.SetupURL)
	if err != nil || "http://"+u.Host != s.URL || !strings.HasPrefix(u.Fragment, "token=cfu_") {
		t.Fatalf("setup link %q: want %s/setup#token=cfu_…", s.SetupURL, s.URL)
	}
	token := strings.TrimPrefix(u.Fragment, "token=")
	api := &Client{t: t, base: s.URL}

	// Without the token: a plain explanation, and no claim possible.
	b := newBrowser(t)
	var msg string
	b.Run("setup without token", chromedp.Navigate(s.URL+"/setup"), chromedp.WaitVisible(headingNamed("Set up Coffer"), chromedp.BySearch), readAlert(&msg))
	if !strings.Contains(msg, "needs the setup link printed in the terminal") {
		t.Errorf("setup without token says %q", msg)
	}
	shotWidths(b, "setup-no-token")
	for _, tok := range []string{"", "cfu_guessed", token + "x"} {
		if code, body := api.Try("POST", "/api/v1/setup", map[string]string{"token": tok, "email": "eve@example.com", "name": "Eve", "password": authOwnerPassword}, nil); code != http.StatusForbidden || !strings.Contains(body, "setup_token_invalid") {
			t.Errorf("claim with token %q: %d %s", tok, code, body)
		}
	}

	// With the link: the owner is created and signed in.
	b.Run("open setup link", chromedp.Navigate(s.SetupURL), chromedp.WaitVisible(labelled("Your name"), chromedp.BySearch))
	if href := pageLocation(b); strings.Contains(href, "token") || strings.Contains(href, "#") {
		t.Errorf("the token stays in the address bar: %s", href)
	}
	shotWidths(b, "setup-form")
	// Mismatched passwords are caught before sending.
	b.Run("mismatch", fillLabelled("Your name", "Olive Owner"), fillLabelled("E-mail address", "olive@example.com"),
		fillLabelled("Password", authOwnerPassword), fillLabelled("Password again", authOwnerPassword+"!"), clickNamed("Create the owner account"),
		chromedp.WaitVisible(`//p[@class="field-error"][contains(., "not the same")]`, chromedp.BySearch))
	// A weak password: the server's words at the field, and the link still works.
	b.Run("weak", fillLabelled("Password", "short"), fillLabelled("Password again", "short"), clickNamed("Create the owner account"),
		chromedp.WaitVisible(labelled("Password")+`[@aria-invalid="true"][contains(@aria-describedby, "error")]`, chromedp.BySearch))
	shotWidths(b, "setup-weak-password")
	b.Run("create", fillLabelled("Password", authOwnerPassword), fillLabelled("Password again", authOwnerPassword), clickNamed("Create the owner account"),
		chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	waitForPath(b, "/")
	var me struct {
		Email    string `json:"email"`
		Operator bool   `json:"operator"`
	}
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me.Email != "olive@example.com" || !me.Operator {
		t.Fatalf("after setup: /auth/me %d %+v", st, me)
	}
	shotWidths(b, "setup-done")
	noSessionKeys(b)
	b.NoProblems("401", "400")

	// The same link a second time: refused by the API, and the page says
	// the instance is set up.
	if code, body := api.Try("POST", "/api/v1/setup", map[string]string{"token": token, "email": "late@example.com", "name": "Late", "password": authOwnerPassword}, nil); code != http.StatusForbidden {
		t.Errorf("second claim with the link: %d %s", code, body)
	}
	b2 := newBrowser(t)
	b2.Run("setup link again", chromedp.Navigate(s.SetupURL), chromedp.WaitVisible(`//p[normalize-space()="This Coffer is already set up."]`, chromedp.BySearch))
	shotWidths(b2, "setup-again")
	b2.NoProblems("401")
	// The owner signs in with the password chosen in the browser.
	s.Login(t, "olive@example.com", authOwnerPassword)
}

// TestSignInWithPasswordAndTOTP: a wrong password and an unknown e-mail
// show the same words; the right password leads to the second step, the
// authenticator code signs in and the page goes to ?next=; sign out ends
// the session.
func TestSignInWithPasswordAndTOTP(t *testing.T) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "ada@example.com", "Ada Lovelace", authUserPassword, false)
	secret := apiEnrolTOTP(t, s.Login(t, "ada@example.com", authUserPassword), authUserPassword)

	b := newBrowser(t)
	// A screen that needs a session sends the person to sign in, and back.
	b.Run("open", chromedp.Navigate(s.URL+"/?view=mine"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch))
	waitForPath(b, "/login?next=%2F%3Fview%3Dmine")
	shotWidths(b, "login")

	var wrong, unknown string
	b.Run("wrong password", fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", "not the right password at all"),
		clickNamed("Sign in"), readAlert(&wrong))
	shotWidths(b, "login-wrong-password")
	b.Run("unknown e-mail", fillLabelled("E-mail address", "nobody@example.com"), fillLabelled("Password", "not the right password at all"),
		clickNamed("Sign in"), chromedp.Sleep(300*time.Millisecond), readAlert(&unknown))
	if wrong == "" || wrong != unknown {
		t.Errorf("wrong password says %q, unknown e-mail says %q: want the same words", wrong, unknown)
	}
	// Passkeys are off on a server reached by its IP address: no button.
	var passkeyButtons int
	b.Run("no passkey button", chromedp.Evaluate(`document.evaluate(`+"`count("+buttonNamed("Sign in with a passkey")+")`"+`, document, null, XPathResult.NUMBER_TYPE, null).numberValue`, &passkeyButtons))
	if passkeyButtons != 0 {
		t.Error("a passkey button on a server whose passkeys are off")
	}

	b.Run("password", fillLabelled("E-mail address", "ada@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(labelled("Code from your authenticator app"), chromedp.BySearch))
	shotWidths(b, "login-second-step")
	// A wrong code is refused in plain words.
	var bad string
	b.Run("wrong code", fillLabelled("Code from your authenticator app", "000000"), clickNamed("Continue"), readAlert(&bad))
	if !strings.Contains(bad, "not correct") {
		t.Errorf("wrong code says %q", bad)
	}
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.Run("code", fillLabelled("Code from your authenticator app", code), clickNamed("Continue"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	waitForPath(b, "/?view=mine")
	var me struct {
		Email string `json:"email"`
		MFA   bool   `json:"mfa"`
	}
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me.Email != "ada@example.com" || !me.MFA {
		t.Fatalf("after sign-in: /auth/me %d %+v", st, me)
	}
	noSessionKeys(b)

	// Sign out: back to the sign-in page, and the session is gone.
	b.Run("sign out", clickNamed("Sign out"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch))
	if st := pageFetchJSON(b, "/api/v1/auth/me", nil); st != http.StatusUnauthorized {
		t.Errorf("after sign out: /auth/me %d", st)
	}
	b.NoProblems("401")
}

// TestSignInNextStaysOnSite: ?next= only leads to a path of this site.
func TestSignInNextStaysOnSite(t *testing.T) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "bo@example.com", "Bo", authUserPassword, false)
	b := newBrowser(t)
	b.Run("open", chromedp.Navigate(s.URL+"/login?next="+url.QueryEscape("//evil.example/x")), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch),
		fillLabelled("E-mail address", "bo@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	waitForPath(b, "/")
	for _, next := range []string{`/\evil.example/x`, "https://evil.example/x"} {
		b.Run("sign out", clickNamed("Sign out"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch),
			chromedp.Navigate(s.URL+"/login?next="+url.QueryEscape(next)), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch),
			fillLabelled("E-mail address", "bo@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
			chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
		waitForPath(b, "/")
	}
	b.NoProblems("401")
}

// TestSignInRateLimitInPlainWords: after the free failures of an account
// from one address, the page says how long to wait. The form is sent
// with the Enter key (keyboard only).
func TestSignInRateLimitInPlainWords(t *testing.T) {
	chromium(t)
	s := startServer(t)
	s.CreateUser(t, "cy@example.com", "Cy", authUserPassword, false)
	b := newBrowser(t)
	b.Run("open", chromedp.Navigate(s.URL+"/login"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch), fillLabelled("E-mail address", "cy@example.com"))
	var msg string
	for i := 0; i < 12 && !strings.HasPrefix(msg, "Too many attempts"); i++ {
		b.Run("attempt", fillLabelled("Password", "wrong guess number "+string(rune('a'+i))), chromedp.KeyEvent("\r"),
			chromedp.Sleep(400*time.Millisecond), readAlert(&msg))
	}
	if ok, _ := regexp.MatchString(`^Too many attempts\. Try again in \d+ (seconds|minutes)\.$`, msg); !ok {
		t.Fatalf("after repeated failures the page says %q", msg)
	}
	shotWidths(b, "login-rate-limited")
	b.NoProblems("401", "429")
}
