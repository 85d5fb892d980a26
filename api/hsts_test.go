package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cofferhq/coffer/api"
)

// TestHSTS: with an https public URL every response (success, problem,
// unknown path, method not allowed, unauthenticated) carries
// Strict-Transport-Security; with an http public URL none does.
func TestHSTS(t *testing.T) {
	paths := []struct{ method, path string }{
		{"GET", "/healthz"},
		{"GET", "/api/v1/openapi.json"},
		{"GET", "/no/such/path"},
		{"DELETE", "/healthz"},
		{"GET", "/api/v1/notebooks"},
	}
	for _, tc := range []struct {
		public string
		want   string
	}{
		{"https://coffer.example.com", "max-age=63072000; includeSubDomains"},
		{"https://coffer.example.com:8443/base", "max-age=63072000; includeSubDomains"},
		{"http://coffer.example.com", ""},
		{"", ""},
	} {
		srv := api.New(api.Services{}, api.Config{PublicURL: tc.public})
		h := srv.Handler()
		for _, p := range paths {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(p.method, "http://coffer.example.com"+p.path, nil))
			if got := rec.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("public URL %q, %s %s (%d): Strict-Transport-Security = %q, want %q", tc.public, p.method, p.path, rec.Code, got, tc.want)
			}
		}
	}
	// Through a real server too, on a problem answer.
	env := MustEnv(t)
	res := env.Do("GET", "/api/v1/notebooks", "", nil)
	if res.Status != http.StatusUnauthorized || res.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("http env: %d, HSTS %q", res.Status, res.Header.Get("Strict-Transport-Security"))
	}
}
