package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
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

// TestLockoutAfter100Failures: after 100 consecutive failures from
// unknown clients (no device token of the account), unknown clients get no
// further password check, whatever they send, answering like any failed
// login, until a reset; a browser that signed in before still gets in.
func TestLockoutAfter100Failures(t *testing.T) {
	env := trustLoopback(t)
	u := env.MustUser("ada@example.com", "Ada")
	device, _ := env.loginFrom("192.0.2.10", "ada@example.com", testPassword).WantStatus(http.StatusOK).Map()["device_token"].(string)
	env.exec("INSERT INTO throttle (key, failures, last_at, blocked_until) VALUES ('pool:ada@example.com', 99, 0, 0)")
	unknown := env.loginFrom("198.51.100.1", "nobody@example.com", wrongPassword)
	unknown.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	env.loginFrom("198.51.100.2", "ada@example.com", wrongPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED) // failure 100
	for _, pw := range []string{testPassword, wrongPassword, testPassword} {
		r := env.loginFrom("198.51.100.3", "ada@example.com", pw) // 101 and on: refused unchecked
		r.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		if string(r.Body) != string(unknown.Body) {
			t.Errorf("a locked account answers %s, an unknown e-mail %s", r.Body, unknown.Body)
		}
	}
	got := env.eventKinds(u.ID)
	if got[coffer.EventLoginLocked] != 3 || got[coffer.EventLoginFailed] != 1 {
		t.Errorf("events: %v, want 3 %s and 1 %s", got, coffer.EventLoginLocked, coffer.EventLoginFailed)
	}
	// The owner's browser, known by its device cookie, is not locked out.
	env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": testPassword},
		"X-Forwarded-For", "198.51.100.3", "Cookie", api.DeviceCookie+"="+device).WantStatus(http.StatusOK)

	// The reset unlocks.
	tk, err := env.Store.RequestPasswordReset(context.Background(), "ada@example.com")
	if err != nil || tk == nil {
		t.Fatalf("RequestPasswordReset: %v, %v", tk, err)
	}
	const pw = "a new passphrase after lockout"
	env.Do("POST", "/api/v1/auth/password-reset/confirm", "", map[string]string{"token": tk.Token, "password": pw}).WantStatus(http.StatusNoContent)
	env.loginFrom("198.51.100.3", "ada@example.com", pw).WantStatus(http.StatusOK)

	// A second factor makes no exception: 100 failures lock unknown
	// clients out of every account, so no account gives an attacker more
	// than 100 consecutive guesses.
	g := env.MustUser("grace@example.com", "Grace")
	env.exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, ?, 1, 1)", g.ID, env.sealTOTP(g.ID, "JBSWY3DPEHPK3PXP"))
	env.exec("INSERT INTO throttle (key, failures, last_at, blocked_until) VALUES ('pool:grace@example.com', 100, 0, 0)")
	r := env.loginFrom("198.51.100.4", "grace@example.com", testPassword)
	r.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}

// TestNobodyElseLocksTheOwnerOut: failures spread over many addresses (5
// from each of 24, under every per-address limit) lock unknown clients
// out of the account, but the owner's browser, which signed in before and
// holds a signed device cookie, keeps its own allowance; API clients send
// the token in a header. A token is worth nothing for another account or
// once tampered with, and unknown e-mails answer alike throughout.
func TestNobodyElseLocksTheOwnerOut(t *testing.T) {
	env := trustLoopback(t)
	env.MustUser("ada@example.com", "Ada")
	env.MustUser("grace@example.com", "Grace")
	const home = "192.0.2.10"
	first := env.loginFrom(home, "ada@example.com", testPassword).WantStatus(http.StatusOK)
	device, _ := first.Map()["device_token"].(string)
	if !strings.HasPrefix(device, "cfd_") {
		t.Fatalf("login answer without a device token: %s", first.Body)
	}
	var set string
	for _, c := range first.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, api.DeviceCookie+"=") {
			set = c
		}
	}
	for _, want := range []string{api.DeviceCookie + "=" + device, "Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("device cookie %q lacks %q", set, want)
		}
	}
	if !strings.HasPrefix(api.DeviceCookie, "__Host-") || strings.Contains(strings.ToLower(set), "domain=") {
		t.Errorf("device cookie %q is not host-only (__Host-, no Domain)", set)
	}
	withCookie := func(email, password, token string) *Response {
		return env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password},
			"X-Forwarded-For", home, "Cookie", api.DeviceCookie+"="+token)
	}

	// The attack: 5 wrong passwords from each of 24 addresses, for the
	// account and for an unknown e-mail.
	var last, lastUnknown *Response
	for i := 1; i <= 24; i++ {
		addr := fmt.Sprintf("203.0.113.%d", i)
		for range 5 {
			last = env.loginFrom(addr, "ada@example.com", wrongPassword)
			last.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
			lastUnknown = env.loginFrom(addr, "nobody@example.com", wrongPassword)
			lastUnknown.WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		}
	}
	if string(last.Body) != string(lastUnknown.Body) {
		t.Errorf("after the attack the account answers %s, an unknown e-mail %s", last.Body, lastUnknown.Body)
	}
	// Unknown clients are locked out, the owner's new browser included.
	env.loginFrom("192.0.2.99", "ada@example.com", testPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	// The owner's known browser gets in, by cookie or (API clients) header.
	withCookie("ada@example.com", testPassword, device).WantStatus(http.StatusOK)
	env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": testPassword},
		"X-Forwarded-For", "192.0.2.11", api.DeviceHeader, device).WantStatus(http.StatusOK)

	// Ada's token for Grace's account, or a tampered one, is no token: it
	// counts as an unknown client.
	tampered := device[:len(device)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(device, "AA")]
	for i := 1; i <= 6; i++ {
		withCookie("grace@example.com", wrongPassword, device).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	wantRetryAfter(t, withCookie("grace@example.com", testPassword, device), 1) // the (account, address) pair
	withCookie("ada@example.com", testPassword, tampered).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	// The known device has its own allowance: its own failures slow it
	// down (5 free, then doubling delays), nobody else's.
	for i := 1; i <= 6; i++ {
		withCookie("ada@example.com", wrongPassword, device).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	wantRetryAfter(t, withCookie("ada@example.com", testPassword, device), 1)
	env.Clock.Advance(1100 * time.Millisecond)
	withCookie("ada@example.com", testPassword, device).WantStatus(http.StatusOK)
}

// TestConcurrentWrongPasswords: 100 wrong passwords for one account from
// one address, sent at once, are counted one by one before any is
// checked: the same 6 evaluated failures (5 free, and the sixth that
// starts the delay) as when sent in turn, then 429.
func TestConcurrentWrongPasswords(t *testing.T) {
	env := trustLoopback(t)
	env.MustUser("ada@example.com", "Ada")
	body, _ := json.Marshal(map[string]string{"email": "ada@example.com", "password": wrongPassword})
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", env.URL+"/api/v1/auth/login", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "203.0.113.50")
			status := 0
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				status = res.StatusCode
			}
			mu.Lock()
			got[status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if got[http.StatusUnauthorized] != 6 || got[http.StatusTooManyRequests] != 94 {
		t.Errorf("100 concurrent wrong passwords: statuses %v, want 6 × 401 and 94 × 429", got)
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
		if e.Kind == coffer.EventUserCreated {
			continue // made by the test, not over HTTP
		}
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
