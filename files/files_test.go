package files_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cofferhq/coffer/files"
)

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":            "report.pdf",
		"../../etc/passwd":      "passwd",
		`..\..\windows\win.ini`: "win.ini",
		"a\x00b\nc\u202e.txt":   "ab c.txt",
		"  .hidden.  ":          "hidden",
		"..":                    "file",
		"":                      "file",
		"/":                     "file",
		"tab\there.txt":         "tab here.txt",
		"\xff\xfeabc":           "abc",
		"Résumé (final) 2.docx": "Résumé (final) 2.docx",
	} {
		if got := files.CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 300) + ".pdf"
	got := files.CleanName(long)
	if len(got) > files.MaxNameBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name: %d bytes, valid %v, %q…", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}

func TestDetectType(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 16)...)
	html := []byte("<!DOCTYPE html><html><script>x</script>")
	for _, c := range []struct {
		head     []byte
		declared string
		want     string
	}{
		{png, "", "image/png"},
		{png, "image/jpeg", "image/png"},
		{html, "image/png", "text/html; charset=utf-8"},
		{html, "", "text/html; charset=utf-8"},
		{[]byte("a,b\n1,2\n"), "text/csv", "text/csv; charset=utf-8"},
		{[]byte("a,b\n1,2\n"), "text/html", "text/plain; charset=utf-8"},
		{[]byte("plain"), "image/svg+xml", "text/plain; charset=utf-8"},
		{[]byte{0, 1, 2, 3}, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{[]byte{0, 1, 2, 3}, "application/javascript", "application/octet-stream"},
		{[]byte("PK\x03\x04" + strings.Repeat("\x00", 30)), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{[]byte("PK\x03\x04" + strings.Repeat("\x00", 30)), "image/svg+xml", "application/zip"},
		{[]byte{0, 1, 2, 3}, "not a type", "application/octet-stream"},
		{nil, "", "text/plain; charset=utf-8"},
	} {
		if got := files.DetectType(c.head, c.declared); got != c.want {
			t.Errorf("DetectType(%q, %q) = %q, want %q", c.head, c.declared, got, c.want)
		}
	}
}

func TestServing(t *testing.T) {
	for _, c := range []struct {
		typ, served string
		inline      bool
	}{
		{"image/png", "image/png", true},
		{"image/webp", "image/webp", true},
		{"image/svg+xml", "application/octet-stream", false},
		{"text/html; charset=utf-8", "application/octet-stream", false},
		{"text/xml; charset=utf-8", "application/octet-stream", false},
		{"application/pdf", "application/pdf", false},
		{"text/plain; charset=utf-8", "text/plain; charset=utf-8", false},
		{"", "application/octet-stream", false},
	} {
		if got := files.ServedType(c.typ); got != c.served {
			t.Errorf("ServedType(%q) = %q, want %q", c.typ, got, c.served)
		}
		if got := files.Inline(c.typ); got != c.inline {
			t.Errorf("Inline(%q) = %v", c.typ, got)
		}
	}
	if got := files.Disposition("a \"b\"\r\n/é.txt", "text/plain"); got != `attachment; filename="a _b___/_.txt"; filename*=UTF-8''a%20%22b%22%0D%0A%2F%C3%A9.txt` {
		t.Errorf("Disposition = %q", got)
	}
	if got := files.Disposition("p.png", "image/png"); !strings.HasPrefix(got, "inline;") {
		t.Errorf("Disposition of a PNG = %q", got)
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h     string
		size  int64
		kind  int
		start int64
		n     int64
	}{
		{"", 100, files.RangeNone, 0, 0},
		{"bytes=0-9", 100, files.RangeOne, 0, 10},
		{"bytes=90-", 100, files.RangeOne, 90, 10},
		{"bytes=-10", 100, files.RangeOne, 90, 10},
		{"bytes=-1000", 100, files.RangeOne, 0, 100},
		{"bytes=50-1000", 100, files.RangeOne, 50, 50},
		{"bytes=99-99", 100, files.RangeOne, 99, 1},
		{"bytes=100-", 100, files.RangeUnsatisfiable, 0, 0},
		{"bytes=-0", 100, files.RangeUnsatisfiable, 0, 0},
		{"bytes=0-", 0, files.RangeUnsatisfiable, 0, 0},
		{"bytes=-5", 0, files.RangeUnsatisfiable, 0, 0},
		{"bytes=0-1,4-5", 100, files.RangeUnsatisfiable, 0, 0},
		{"bytes=0-1,x", 100, files.RangeNone, 0, 0},
		{"bytes=5-1", 100, files.RangeNone, 0, 0},
		{"bytes=a-b", 100, files.RangeNone, 0, 0},
		{"items=0-1", 100, files.RangeNone, 0, 0},
		{"bytes=+1-2", 100, files.RangeNone, 0, 0},
		{"bytes=99999999999999999999-", 100, files.RangeNone, 0, 0},
		{" BYTES = 1 - 2 ", 100, files.RangeOne, 1, 2},
	} {
		r, kind := files.ParseRange(c.h, c.size)
		if kind != c.kind || kind == files.RangeOne && (r.Start != c.start || r.Length != c.n) {
			t.Errorf("ParseRange(%q, %d) = %+v, %d; want {%d %d}, %d", c.h, c.size, r, kind, c.start, c.n, c.kind)
		}
	}
}

// FuzzParseRange: whatever the header, a range it gives lies inside the
// file and is not empty.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes=--1", "bytes=9223372036854775807-", "bytes=-9223372036854775807"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = 0
			}
		}
		r, kind := files.ParseRange(h, size)
		switch kind {
		case files.RangeOne:
			if r.Start < 0 || r.Length < 1 || r.Start+r.Length > size || r.Start+r.Length < r.Start {
				t.Fatalf("ParseRange(%q, %d) = %+v", h, size, r)
			}
		case files.RangeNone, files.RangeUnsatisfiable:
		default:
			t.Fatalf("kind %d", kind)
		}
	})
}

func TestTokens(t *testing.T) {
	nb := strings.Repeat("a", 26)
	seen := map[string]bool{}
	for range 1000 {
		tok := files.NewToken(nb)
		if files.TokenNotebook(tok) != nb || seen[tok] || len(tok) != 26+43 {
			t.Fatalf("token %q", tok)
		}
		seen[tok] = true
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 69), nb + strings.Repeat("!", 43)} {
		if files.TokenNotebook(bad) != "" {
			t.Errorf("TokenNotebook(%q) accepted", bad)
		}
	}
	if len(files.HashToken("x")) != 32 {
		t.Error("HashToken is not SHA-256")
	}
}
