package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

const wrongPassword = "not the password, but long"

// loginFrom logs in with the client address addr, sent as X-Forwarded-For
// (believed only when the env trusts the loopback proxy).
func (e *Env) loginFrom(addr, email, password string) *Response {
	e.TB.Helper()
	return e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, "X-Forwarded-For", addr)
}

func wantRetryAfter(tb testing.TB, r *Response, want int) {
	tb.Helper()
	r.WantProblem(http.StatusTooManyRequests, coffer.ETOOMANY)
	if got, _ := strconv.Atoi(r.Header.Get("Retry-After")); got != want {
		tb.Errorf("Retry-After %q, want %d", r.Header.Get("Retry-After"), want)
	}
}

// trustLoopback is an env whose loopback peer is a trusted proxy, so tests
// choose the client address with X-Forwarded-For.
func trustLoopback(tb testing.TB) *Env {
	e := MustEnv(tb, EnvOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e.Clock.Freeze()
	return e
}

// TestLockoutAfter100Failures: a password-only account refuses even the
// right password from the 101st consecutive failure on, answering like any
// failed login, until a reset; an account with a second factor still gets
// its challenge.
func TestLockoutAfter100Failures(t *testing.T) {
	env := trustLoopback(t)
	u := env.MustUser("ada@example.com", "Ada")
	env.exec("UPDATE users SET failed_logins = 99 WHERE id = ?", u.ID)
	unknown := env.loginFrom("198.51.100.1", "nobody@example.com", wrongPassword)
	unknown.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	env.loginFrom("198.51.100.2", "ada@example.com", wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED) // failure 100
	for _, pw := range []string{testPassword, wrongPassword, testPassword} {
		r := env.loginFrom("198.51.100.3", "ada@example.com", pw) // 101 and on: blocked
		r.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		if string(r.Body) != string(unknown.Body) {
			t.Errorf("a locked account answers %s, an unknown e-mail %s", r.Body, unknown.Body)
		}
	}
	got := env.eventKinds(u.ID)
	if got[coffer.EventLoginLocked] != 3 || got[coffer.EventLoginFailed] != 1 {
		t.Errorf("events: %v, want 3 %s and 1 %s", got, coffer.EventLoginLocked, coffer.EventLoginFailed)
	}

	// The reset unlocks.
	tk, err := env.Store.RequestPasswordReset(context.Background(), "ada@example.com")
	if err != nil || tk == nil {
		t.Fatalf("RequestPasswordReset: %v, %v", tk, err)
	}
	const pw = "a new passphrase after lockout"
	env.Do("POST", "/api/v1/auth/password-reset/confirm", "", map[string]string{"token": tk.Token, "password": pw}).WantStatus(http.StatusNoContent)
	env.loginFrom("198.51.100.3", "ada@example.com", pw).WantStatus(http.StatusOK)

	// With a second factor, 100 failures do not lock: the password still
	// leads to the challenge.
	g := env.MustUser("grace@example.com", "Grace")
	env.exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, 'JBSWY3DPEHPK3PXP', 1, 1)", g.ID)
	env.exec("UPDATE users SET failed_logins = 150 WHERE id = ?", g.ID)
	r := env.loginFrom("198.51.100.4", "grace@example.com", testPassword)
	r.WantStatus(http.StatusOK)
	if r.Map()["second_factor_required"] != true {
		t.Errorf("locked account with TOTP: %s, want a challenge", r.Body)
	}
}

// TestThrottleGrowingDelays: failures on one account from one address get
// doubling delays (429 + Retry-After) after five; the right password waits
// too; the real user from another address is not slowed; unknown e-mails
// are throttled alike; the injectable clock lets blocks expire.
func TestThrottleGrowingDelays(t *testing.T) {
	env := trustLoopback(t)
	env.MustUser("ada@example.com", "Ada")
	const attacker, user = "203.0.113.5", "192.0.2.10"
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		for i := 1; i <= 6; i++ {
			env.loginFrom(attacker, email, wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		}
		wantRetryAfter(t, env.loginFrom(attacker, email, testPassword), 1)
		env.Clock.Advance(1100 * time.Millisecond)
		env.loginFrom(attacker, email, wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		wantRetryAfter(t, env.loginFrom(attacker, email, wrongPassword), 2)
		env.Clock.Advance(2100 * time.Millisecond)
		env.loginFrom(attacker, email, wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		wantRetryAfter(t, env.loginFrom(attacker, email, wrongPassword), 4)
	}
	// Meanwhile the real user, elsewhere, logs in at once.
	env.loginFrom(user, "ada@example.com", testPassword).WantStatus(http.StatusOK)
	env.Clock.Advance(5 * time.Second)
	env.loginFrom(attacker, "ada@example.com", testPassword).WantStatus(http.StatusOK)
}

// TestSprayBlocksAddress: one address trying many accounts gets blocked
// after 20 failures, with growing delays; the real user from another
// address still logs in.
func TestSprayBlocksAddress(t *testing.T) {
	env := trustLoopback(t)
	env.MustUser("ada@example.com", "Ada")
	const sprayer = "203.0.113.66"
	for i := 1; i <= 21; i++ {
		env.loginFrom(sprayer, fmt.Sprintf("victim%d@example.com", i), wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	wantRetryAfter(t, env.loginFrom(sprayer, "victim99@example.com", wrongPassword), 1)
	wantRetryAfter(t, env.loginFrom(sprayer, "ada@example.com", testPassword), 1)
	env.loginFrom("192.0.2.10", "ada@example.com", testPassword).WantStatus(http.StatusOK)
	env.Clock.Advance(1100 * time.Millisecond)
	env.loginFrom(sprayer, "victim22@example.com", wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	wantRetryAfter(t, env.loginFrom(sprayer, "victim23@example.com", wrongPassword), 2)

	// Reset requests: 20 per address, then delays, alike for every e-mail.
	for i := 1; i <= 21; i++ {
		env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": fmt.Sprintf("victim%d@example.com", i)}, "X-Forwarded-For", sprayer).
			WantStatus(http.StatusAccepted)
	}
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		wantRetryAfter(t, env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": email}, "X-Forwarded-For", sprayer), 1)
	}
	env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"}, "X-Forwarded-For", "192.0.2.10").WantStatus(http.StatusAccepted)
}

// TestForwardedForTrust: X-Forwarded-For from an untrusted peer neither
// dodges nor triggers a block; from a trusted proxy it names the client.
func TestForwardedForTrust(t *testing.T) {
	env := MustEnv(t) // no trusted proxy
	env.Clock.Freeze()
	env.MustUser("ada@example.com", "Ada")
	for i := 1; i <= 21; i++ {
		// A new spoofed address each time does not dodge the block of the
		// real peer (127.0.0.1).
		env.loginFrom(fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("victim%d@example.com", i), wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	wantRetryAfter(t, env.loginFrom("198.51.100.200", "victim30@example.com", wrongPassword), 1)
	// Failures claiming to come from other addresses are charged to the
	// peer: no claimed address is blocked or recorded.
	evs, err := env.Store.Events(context.Background(), "", 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.IP != "127.0.0.1" {
			t.Fatalf("event %s recorded address %q from a spoofed header, want the peer 127.0.0.1", e.Kind, e.IP)
		}
	}

	proxied := trustLoopback(t)
	pu := proxied.MustUser("ada@example.com", "Ada")
	proxied.loginFrom("192.0.2.55", "ada@example.com", testPassword).WantStatus(http.StatusOK)
	evs, err = proxied.Store.Events(context.Background(), pu.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Kind != coffer.EventLoginSucceeded || evs[0].IP != "192.0.2.55" {
		t.Errorf("through a trusted proxy, the login event is %+v, want %s from 192.0.2.55", evs[0], coffer.EventLoginSucceeded)
	}
}
