package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	h, err := NewFS(fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>Coffer</title>")},
		"assets/app.js": {Data: []byte("console.log(1)")},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, p string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, p, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, p := range []string{"/", "/login", "/n/nb_1/t/tb_2", "/setup"} {
		w := get("GET", p)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "<title>Coffer") {
			t.Errorf("%s: %d %q, want index.html", p, w.Code, w.Body.String())
		}
		if w.Header().Get("Content-Security-Policy") != CSP || !strings.Contains(CSP, "script-src 'self'") {
			t.Errorf("%s: CSP %q", p, w.Header().Get("Content-Security-Policy"))
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, w.Header().Get("Cache-Control"))
		}
	}
	w := get("GET", "/assets/app.js")
	if w.Code != 200 || w.Body.String() != "console.log(1)" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("asset: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
	if w2 := get("GET", "/assets/app.js", "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", w2.Code)
	}
	for _, p := range []string{"/assets/missing.js", "/robots.txt", "/assets/../../etc/passwd.js"} {
		if w := get("GET", p); w.Code != 404 {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
	if w := get("POST", "/"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	if _, err := New(); err != nil {
		t.Fatalf("the embedded build: %v", err)
	}
}
