// Package ui serves Coffer's web UI: the built single-page application in
// dist/ (committed; rebuilt from web/ with `npm ci && npm run build`),
// embedded in the binary. Every path that is not a file of the build gets
// index.html, whose script routes on the client; every HTML answer carries
// a strict Content-Security-Policy (scripts and styles from this origin
// only, no inline script, no eval, nothing framed or framing).
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// CSP is the Content-Security-Policy of the UI's pages.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// asset is one file of the build, read once.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the UI. It answers GET and HEAD only.
type Handler struct {
	files map[string]asset // by clean path, "/index.html" included
}

// New returns the UI handler over the embedded build.
func New() (*Handler, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	return NewFS(sub)
}

// NewFS returns a UI handler over files (a build's root: index.html and
// its assets), for tests.
func NewFS(files fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]asset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files["/"+p] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := h.files["/index.html"]; !ok {
		return nil, fs.ErrNotExist
	}
	return h, nil
}

// ServeHTTP answers a file of the build, or index.html for the paths of
// the application's screens.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	a, ok := h.files[p]
	switch {
	case ok && p != "/index.html":
		// Stable names: the browser keeps a copy and asks again each time
		// (a 304 when unchanged), so a new build is never served stale.
		w.Header().Set("Cache-Control", "no-cache")
	case strings.HasPrefix(p, "/assets/") || path.Ext(p) != "":
		http.Error(w, "not found", http.StatusNotFound)
		return
	default:
		a = h.files["/index.html"]
		w.Header().Set("Cache-Control", "no-store")
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("ETag", a.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(a.body)
}
