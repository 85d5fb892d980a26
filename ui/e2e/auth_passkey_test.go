package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// freeLoopbackPort returns a port free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// virtualAuthenticator gives the browser a platform authenticator that
// verifies the user and answers at once (Chrome's WebAuthn test domain).
func virtualAuthenticator() chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().Do(ctx); err != nil {
			return err
		}
		_, err := webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	})
}

// registerPasskeyJS registers a passkey for the signed-in page through the
// API, as the account screens will (a later issue); %q is the password.
const registerPasskeyJS = `(async () => {
  const h = {"Content-Type": "application/json", Accept: "application/json"};
  const begin = await fetch("/api/v1/auth/passkeys/register/begin", {method: "POST", headers: h, body: JSON.stringify({password: %q})});
  if (!begin.ok) return "begin " + begin.status + " " + await begin.text();
  const opts = await begin.json();
  const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey)});
  const fin = await fetch("/api/v1/auth/passkeys/register/finish", {method: "POST", headers: h, body: JSON.stringify({name: "Test key", credential: cred.toJSON()})});
  return fin.ok ? "ok" : "finish " + fin.status + " " + await fin.text();
})()`

// TestSignInWithPasskey: an account with a passkey signs in with the
// password and then the passkey (second step), or with the passkey alone.
// Passkeys need a host name: the server is reached as localhost.
func TestSignInWithPasskey(t *testing.T) {
	chromium(t)
	port := freeLoopbackPort(t)
	s := startServer(t, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", fmt.Sprintf("http://localhost:%d", port))
	base := fmt.Sprintf("http://localhost:%d", port)
	s.CreateUser(t, "pia@example.com", "Pia", authUserPassword, false)

	b := newBrowser(t)
	b.Run("authenticator", virtualAuthenticator())
	b.Run("sign in", chromedp.Navigate(base+"/login"), fillLabelled("E-mail address", "pia@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	var res string
	b.Run("register", chromedp.Evaluate(fmt.Sprintf(registerPasskeyJS, authUserPassword), &res, authAwaitPromise))
	if res != "ok" {
		t.Fatalf("passkey registration: %s", res)
	}
	b.Run("sign out", clickNamed("Sign out"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch))

	// Password, then the passkey as the second step.
	b.Run("password", fillLabelled("E-mail address", "pia@example.com"), fillLabelled("Password", authUserPassword), clickNamed("Sign in"),
		chromedp.WaitVisible(headingNamed("Second step"), chromedp.BySearch), chromedp.WaitVisible(buttonNamed("Use a passkey"), chromedp.BySearch))
	shotWidths(b, "login-passkey-step")
	b.Run("passkey", clickNamed("Use a passkey"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	var me struct {
		Email string `json:"email"`
		MFA   bool   `json:"mfa"`
	}
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me.Email != "pia@example.com" || !me.MFA {
		t.Fatalf("after password and passkey: %d %+v", st, me)
	}

	// The passkey alone.
	b.Run("sign out again", clickNamed("Sign out"), chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch))
	b.Run("passkey only", clickNamed("Sign in with a passkey"), chromedp.WaitVisible(headingNamed("Notebooks"), chromedp.BySearch))
	if st := pageFetchJSON(b, "/api/v1/auth/me", &me); st != 200 || me.Email != "pia@example.com" {
		t.Fatalf("after a passkey sign-in: %d %+v", st, me)
	}
	noSessionKeys(b)
	b.NoProblems("401")
}
