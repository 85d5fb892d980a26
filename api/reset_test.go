package api_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// eventKinds counts the authentication events of a user by kind.
func (e *Env) eventKinds(userID string) map[string]int {
	e.TB.Helper()
	evs, err := e.Store.Events(context.Background(), userID, 1000)
	if err != nil {
		e.TB.Fatal(err)
	}
	m := map[string]int{}
	for _, ev := range evs {
		m[ev.Kind]++
	}
	return m
}

// exec runs SQL on the instance database (the SQLite dialect).
func (e *Env) exec(query string, args ...any) {
	e.TB.Helper()
	if _, err := e.DB.W.ExecContext(context.Background(), query, args...); err != nil {
		e.TB.Fatalf("%s: %v", query, err)
	}
}

var tokenInMail = regexp.MustCompile(`/reset-password#token=(cfr_[A-Za-z0-9_-]{43})\b`)

// TestPasswordResetByEmail: a real SMTP server (mailpit) receives the reset
// mail; the test follows its link: the token works once, for 30 minutes,
// ends the sessions, and appears in no log.
func TestPasswordResetByEmail(t *testing.T) {
	mp := MustMailpit(t)
	env := MustEnv(t, EnvOptions{SMTP: &mp.SMTP})
	u := env.MustUser("ada@example.com", "Ada Lovelace")
	oldSession := env.MustLogin("ada@example.com")

	var tokens []string
	request := func(n int) string {
		t.Helper()
		r := env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": "  Ada@Example.com"})
		r.WantStatus(http.StatusAccepted)
		if strings.Contains(string(r.Body), "cfr_") {
			t.Fatalf("the reset answer holds a token: %s", r.Body)
		}
		msgs := mp.WaitMessages("ada@example.com", n)
		if msgs[0].Subject != "Reset your Coffer password" {
			t.Errorf("subject %q", msgs[0].Subject)
		}
		text := mp.Text(msgs[0].ID)
		m := tokenInMail.FindStringSubmatch(text)
		if m == nil || !strings.Contains(text, env.URL+"/reset-password#token="+m[1]) {
			t.Fatalf("no link %s/reset-password#token=… in the message:\n%s", env.URL, text)
		}
		if strings.Count(text, m[1]) != 2 {
			t.Errorf("the message should hold the token in the link and alone:\n%s", text)
		}
		tokens = append(tokens, m[1])
		return m[1]
	}
	confirm := func(token, password string) *Response {
		return env.Do("POST", "/api/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "password": password})
	}
	login := func(password string) *Response {
		return env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": password})
	}

	token := request(1)
	p := confirm(token, "too short").WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if got := p.fieldNames(); len(got) != 1 || got[0] != "password" {
		t.Errorf("short password: fields %v, want [password]", got)
	}
	const newPassword = "a new passphrase from the link"
	confirm(token, newPassword).WantStatus(http.StatusNoContent)
	env.Do("GET", "/api/v1/auth/me", oldSession, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	login(testPassword).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	login(newPassword).WantStatus(http.StatusOK)

	// Single use.
	p = confirm(token, "another passphrase, long enough").WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if got := p.fieldNames(); len(got) != 1 || got[0] != "token" {
		t.Errorf("reused token: fields %v, want [token]", got)
	}
	// Expiry after 30 minutes.
	token = request(2)
	env.Clock.Advance(30*time.Minute + time.Second)
	confirm(token, "another passphrase, long enough").WantProblem(http.StatusBadRequest, coffer.EINVALID)
	// The third request within the hour raises the alert; a link 29 minutes
	// old still works.
	token = request(3)
	env.Clock.Advance(29 * time.Minute)
	const lastPassword = "the last passphrase of the test"
	confirm(token, lastPassword).WantStatus(http.StatusNoContent)
	login(lastPassword).WantStatus(http.StatusOK)

	got := env.eventKinds(u.ID)
	for kind, want := range map[string]int{coffer.EventResetRequested: 3, coffer.EventResetAlert: 1, coffer.EventPasswordReset: 2, coffer.EventLoginFailed: 1} {
		if got[kind] != want {
			t.Errorf("%d %s events, want %d (all: %v)", got[kind], kind, want, got)
		}
	}

	// No token or password in the request logs or the server's log.
	env.Close()
	logs := env.Logs.String()
	if !strings.Contains(logs, "/api/v1/auth/password-reset/confirm") {
		t.Fatalf("the request log lacks the reset requests:\n%s", logs)
	}
	for _, secret := range append(tokens, newPassword, lastPassword, testPassword) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %.8q…", secret)
		}
	}
}

// TestPasswordResetWithoutSMTP: the answer is the same, no mail leaves, and
// the operator is warned once.
func TestPasswordResetWithoutSMTP(t *testing.T) {
	env := MustEnv(t)
	u := env.MustUser("ada@example.com", "Ada")
	for range 2 {
		env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"}).WantStatus(http.StatusAccepted)
	}
	if n := strings.Count(env.Logs.String(), "no SMTP server is configured"); n != 1 {
		t.Errorf("the warning about missing SMTP was logged %d times, want once", n)
	}
	if got := env.eventKinds(u.ID); got[coffer.EventResetRequested] != 2 {
		t.Errorf("events: %v", got)
	}
}

// TestNoEnumeration: known, unknown, deactivated and malformed e-mails get
// the same status and body at login and at reset.
func TestNoEnumeration(t *testing.T) {
	env := MustEnv(t)
	env.MustUser("ada@example.com", "Ada")
	gone := env.MustUser("gone@example.com", "Gone")
	env.exec("UPDATE users SET deactivated_at = 1 WHERE id = ?", gone.ID)
	addrs := []string{"ada@example.com", "nobody@example.com", "gone@example.com", "not an e-mail", "", strings.Repeat("x", 300) + "@example.com"}

	compare := func(path string, body func(addr string) any) {
		t.Helper()
		var first *Response
		for _, addr := range addrs {
			r := env.Do("POST", path, "", body(addr))
			if first == nil {
				first = r
				continue
			}
			if r.Status != first.Status || string(r.Body) != string(first.Body) ||
				r.Header.Get("Content-Type") != first.Header.Get("Content-Type") || r.Header.Get("Retry-After") != first.Header.Get("Retry-After") {
				t.Errorf("%s for %.20q: %d %s; for %q: %d %s", path, addr, r.Status, r.Body, addrs[0], first.Status, first.Body)
			}
		}
	}
	compare("/api/v1/auth/login", func(addr string) any {
		return map[string]string{"email": addr, "password": "a wrong password, long enough"}
	})
	compare("/api/v1/auth/password-reset", func(addr string) any { return map[string]string{"email": addr} })
	r := env.Do("POST", "/api/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	r.WantStatus(http.StatusAccepted)
	if m := r.Map(); m["status"] != "accepted" {
		t.Errorf("reset answer %s", r.Body)
	}
}

// TestResetKeepsSecondFactor: after a reset, an account with TOTP still
// gets a challenge at login, not a session.
func TestResetKeepsSecondFactor(t *testing.T) {
	env := MustEnv(t)
	u := env.MustUser("ada@example.com", "Ada")
	env.exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, ?, 1, 1)", u.ID, env.sealTOTP(u.ID, "JBSWY3DPEHPK3PXP"))
	tk, err := env.Store.RequestPasswordReset(context.Background(), "ada@example.com")
	if err != nil || tk == nil {
		t.Fatalf("RequestPasswordReset: %v, %v", tk, err)
	}
	const pw = "a new passphrase after reset"
	env.Do("POST", "/api/v1/auth/password-reset/confirm", "", map[string]string{"token": tk.Token, "password": pw}).WantStatus(http.StatusNoContent)
	r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": pw})
	r.WantStatus(http.StatusOK)
	m := r.Map()
	if m["second_factor_required"] != true || m["session_key"] != nil {
		t.Errorf("login after a reset of a TOTP account: %s, want a challenge and no session", r.Body)
	}
}
