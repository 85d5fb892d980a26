package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/api"
)

// TestSessionCookie: login gives browsers a host-only, secure, HttpOnly,
// SameSite session cookie that authenticates like the bearer key; a
// cross-origin browser request with it is refused and changes nothing;
// logout clears it and ends the session on the server.
func TestSessionCookie(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("alice@example.com", "Alice")
	login := e.Do("POST", "/api/v1/auth/login", "", map[string]any{"email": "alice@example.com", "password": testPassword}).WantStatus(200)
	var sess struct {
		Key string `json:"session_key"`
	}
	login.JSON(&sess)
	set := login.Header.Get("Set-Cookie")
	for _, want := range []string{api.SessionCookie + "=" + sess.Key, "Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if !strings.HasPrefix(api.SessionCookie, "__Host-") || strings.Contains(strings.ToLower(set), "domain=") {
		t.Errorf("the cookie must be host-only (__Host-, no Domain): %q", set)
	}
	cookie := api.SessionCookie + "=" + sess.Key

	e.Do("GET", "/api/v1/notebooks", "", nil, "Cookie", cookie).WantStatus(200)
	e.Do("POST", "/api/v1/notebooks", "", map[string]any{"name": "Mine"}, "Cookie", cookie, "Sec-Fetch-Site", "same-origin").WantStatus(201)

	// Cross-origin browser requests with the cookie are refused, by
	// Sec-Fetch-Site or, without it, by Origin against Host.
	e.Do("POST", "/api/v1/notebooks", "", map[string]any{"name": "Forged"}, "Cookie", cookie, "Sec-Fetch-Site", "cross-site").WantProblem(http.StatusForbidden, "forbidden")
	e.Do("POST", "/api/v1/notebooks", "", map[string]any{"name": "Forged"}, "Cookie", cookie, "Origin", "https://evil.example").WantProblem(http.StatusForbidden, "forbidden")
	var list struct {
		Notebooks []struct {
			Name string `json:"name"`
		} `json:"notebooks"`
	}
	e.Do("GET", "/api/v1/notebooks", "", nil, "Cookie", cookie).WantStatus(200).JSON(&list)
	if len(list.Notebooks) != 1 || list.Notebooks[0].Name != "Mine" {
		t.Errorf("notebooks after refused cross-origin requests: %+v, want only Mine", list.Notebooks)
	}

	out := e.Do("POST", "/api/v1/auth/logout", "", nil, "Cookie", cookie, "Sec-Fetch-Site", "same-origin").WantStatus(204)
	if c := out.Header.Get("Set-Cookie"); !strings.Contains(c, api.SessionCookie+"=;") || !strings.Contains(c, "Max-Age=0") {
		t.Errorf("logout does not clear the cookie: %q", c)
	}
	e.Do("GET", "/api/v1/notebooks", "", nil, "Cookie", cookie).WantProblem(http.StatusUnauthorized, "unauthorized")
}
