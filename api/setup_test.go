package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/firstrun"
)

func claimBody(token, email string) map[string]string {
	return map[string]string{"token": token, "email": email, "name": "Owner", "password": testPassword}
}

func TestSetupClaimsAnEmptyInstanceOnce(t *testing.T) {
	link, token := firstrun.New()
	env := MustEnv(t, EnvOptions{Setup: link})
	if m := env.Do("GET", "/api/v1/setup", "", nil).WantStatus(http.StatusOK).Map(); m["needed"] != true {
		t.Fatalf("empty instance: %v", m)
	}
	// Without the link's token nobody claims the instance.
	for _, bad := range []string{"", "cfu_guess", token + "x", strings.ToUpper(token)} {
		env.Do("POST", "/api/v1/setup", "", claimBody(bad, "mallory@example.com")).WantProblem(http.StatusForbidden, coffer.ESETUPTOKEN)
	}
	// A password that breaks the policy is refused at its field, and the
	// link stays usable.
	p := env.Do("POST", "/api/v1/setup", "", map[string]string{"token": token, "email": "owner@example.com", "name": "Owner", "password": "short"}).
		WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if f := p.fieldNames(); len(f) != 1 || f[0] != "password" {
		t.Fatalf("fields %v, want password", f)
	}
	if n, _ := env.Store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d accounts after refused claims", n)
	}

	r := env.Do("POST", "/api/v1/setup", "", claimBody(token, "owner@example.com")).WantStatus(http.StatusOK)
	var sess coffer.Session
	r.JSON(&sess)
	if !strings.HasPrefix(sess.Key, "cfs_") || sess.User == nil || !sess.User.Operator {
		t.Fatalf("claim answer: %s", r.Body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == api.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != sess.Key || !cookie.HttpOnly || !cookie.Secure {
		t.Fatalf("claim: session cookie %v", r.Header.Values("Set-Cookie"))
	}
	me := env.Do("GET", "/api/v1/auth/me", sess.Key, nil).WantStatus(http.StatusOK).Map()
	if me["email"] != "owner@example.com" || me["operator"] != true {
		t.Fatalf("me = %v", me)
	}
	if e := lastEvent(t, env, coffer.EventInstanceClaimed); e.UserID != sess.User.ID {
		t.Fatalf("instance.claimed event for %q", e.UserID)
	}
	if m := env.Do("GET", "/api/v1/setup", "", nil).WantStatus(http.StatusOK).Map(); m["needed"] != false {
		t.Fatalf("claimed instance: %v", m)
	}
	// The link worked once.
	env.Do("POST", "/api/v1/setup", "", claimBody(token, "second@example.com")).WantProblem(http.StatusForbidden, coffer.ESETUPTOKEN)
	if n, _ := env.Store.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

func TestSetupRefusedWhenAnAccountExists(t *testing.T) {
	link, token := firstrun.New()
	env := MustEnv(t, EnvOptions{Setup: link})
	env.MustUser("cli@example.com", "Made With The CLI")
	env.Do("POST", "/api/v1/setup", "", claimBody(token, "owner@example.com")).WantProblem(http.StatusConflict, coffer.ESETUPDONE)
	if n, _ := env.Store.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

func TestSetupWithoutLinkOrExpired(t *testing.T) {
	env := MustEnv(t)
	env.Do("POST", "/api/v1/setup", "", claimBody("cfu_anything", "owner@example.com")).WantProblem(http.StatusForbidden, coffer.ESETUPTOKEN)

	now := time.Now()
	link, token := firstrun.NewAt(func() time.Time { return now }, time.Hour)
	env2 := MustEnv(t, EnvOptions{Setup: link})
	now = now.Add(time.Hour)
	env2.Do("POST", "/api/v1/setup", "", claimBody(token, "owner@example.com")).WantProblem(http.StatusForbidden, coffer.ESETUPTOKEN)
	if n, _ := env2.Store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d accounts after an expired claim", n)
	}
}

// TestSetupConcurrentClaims: several claims at once with the valid token
// and different e-mails make exactly one account.
func TestSetupConcurrentClaims(t *testing.T) {
	link, token := firstrun.New()
	env := MustEnv(t, EnvOptions{Setup: link})
	const n = 6
	status := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i] = env.Do("POST", "/api/v1/setup", "", claimBody(token, "owner"+string(rune('a'+i))+"@example.com")).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range status {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict, http.StatusForbidden:
		default:
			t.Errorf("status %d", s)
		}
	}
	if c, _ := env.Store.CountUsers(context.Background()); ok != 1 || c != 1 {
		t.Fatalf("%d claims succeeded (%v), %d accounts; want 1 and 1", ok, status, c)
	}
}

// TestBrowserLoginGetsNoKeyInBody: the web UI (same-origin fetch) gets
// its session in the cookie only; API clients keep the key in the body.
func TestBrowserLoginGetsNoKeyInBody(t *testing.T) {
	env := MustEnv(t)
	env.MustUser("ada@example.com", "Ada")
	login := map[string]string{"email": "ada@example.com", "password": testPassword}
	r := env.Do("POST", "/api/v1/auth/login", "", login, "Sec-Fetch-Site", "same-origin")
	r.WantStatus(http.StatusOK)
	if strings.Contains(string(r.Body), "cfs_") || strings.Contains(string(r.Body), "session_key") || strings.Contains(string(r.Body), "device_token") {
		t.Fatalf("browser login body holds a secret: %s", r.Body)
	}
	var cookie string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == api.SessionCookie {
			cookie = c.Value
		}
	}
	if !strings.HasPrefix(cookie, "cfs_") {
		t.Fatalf("browser login: no session cookie: %v", r.Header.Values("Set-Cookie"))
	}
	if m := r.Map(); m["user"] == nil || m["expires_at"] == nil {
		t.Fatalf("browser login body: %s", r.Body)
	}
	env.Do("GET", "/api/v1/auth/me", cookie, nil).WantStatus(http.StatusOK)
	// An API client (no Sec-Fetch-Site) still gets the key.
	if key := env.MustLogin("ada@example.com"); key == cookie {
		t.Fatal("two logins share a key")
	}
}
