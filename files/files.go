// Package files holds the rules of file cells that do not need storage:
// cleaning a client's file name into metadata, detecting a file's type
// from its content, the headers of a download (Content-Disposition with
// an RFC 6266/5987 name, inline only for a few image types), HTTP Range
// parsing, and the tokens of capability links.
package files

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a cleaned file name, in bytes of UTF-8.
const MaxNameBytes = 255

// SniffLen is how many leading bytes DetectType looks at.
const SniffLen = 512

// CleanName turns the name a client gave a file into metadata: the last
// element of any path (either slash), without control or format
// characters, surrounding spaces and dots, at most MaxNameBytes bytes
// (cut on a character boundary, keeping the extension when it is short);
// "file" when nothing is left. It is never used as a path.
func CleanName(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "\uFFFD")
	}
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > MaxNameBytes {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		name = cut(name[:len(name)-len(ext)], MaxNameBytes-len(ext)) + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

// cut returns s cut to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// DetectType returns a file's media type from its first bytes (up to
// SniffLen), by http.DetectContentType. The declared type is taken only
// when it agrees: the same type, or a more precise type of a generic
// detection (text/plain or application/octet-stream) that is not active
// content (HTML, XML, SVG, JavaScript). Parameters other than charset
// are dropped.
func DetectType(head []byte, declared string) string {
	detected := http.DetectContentType(head)
	dt, dparams, err := mime.ParseMediaType(detected)
	if err != nil {
		return "application/octet-stream"
	}
	clean := func(t string, params map[string]string) string {
		if cs, ok := params["charset"]; ok && strings.HasPrefix(t, "text/") {
			return mime.FormatMediaType(t, map[string]string{"charset": strings.ToLower(cs)})
		}
		return t
	}
	if declared == "" {
		return clean(dt, dparams)
	}
	t, params, err := mime.ParseMediaType(declared)
	if err != nil {
		return clean(dt, dparams)
	}
	t = strings.ToLower(t)
	if t == dt {
		return clean(dt, dparams)
	}
	if dt == "application/zip" && !Active(t) && (strings.HasPrefix(t, "application/vnd.openxmlformats-officedocument.") ||
		strings.HasPrefix(t, "application/vnd.oasis.opendocument.") || t == "application/epub+zip") {
		return t // office documents are ZIP files
	}
	generic := dt == "application/octet-stream" || dt == "text/plain"
	if generic && !Active(t) {
		if dt == "text/plain" && !strings.HasPrefix(t, "text/") && t != "application/json" && t != "application/csv" {
			return clean(dt, dparams)
		}
		if cs, ok := dparams["charset"]; ok && strings.HasPrefix(t, "text/") {
			params = map[string]string{"charset": cs}
		}
		return clean(t, params)
	}
	return clean(dt, dparams)
}

// Active reports whether a browser would run content of media type t
// (HTML, XHTML, XML, SVG, JavaScript and the like): such files are never
// served inline, and as application/octet-stream.
func Active(t string) bool {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil {
		return true
	}
	mt = strings.ToLower(mt)
	switch mt {
	case "text/xml", "application/xml", "text/css", "text/xsl", "application/xslt+xml", "application/x-shockwave-flash", "application/pdf+html":
		return true
	}
	return strings.Contains(mt, "html") || strings.HasSuffix(mt, "+xml") || strings.Contains(mt, "svg") ||
		strings.Contains(mt, "script") || strings.HasPrefix(mt, "multipart/")
}

// inlineTypes are the only types served inline: raster images that no
// browser runs code from.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// Inline reports whether a file of (detected) type t may be shown inline.
func Inline(t string) bool {
	mt, _, err := mime.ParseMediaType(t)
	return err == nil && inlineTypes[mt]
}

// ServedType is the Content-Type of a download of a file of type t:
// application/octet-stream for active content, t otherwise.
func ServedType(t string) string {
	if t == "" || Active(t) {
		return "application/octet-stream"
	}
	return t
}

// Disposition is the Content-Disposition of a download: attachment, or
// inline for the types Inline allows, with the name as an ASCII fallback
// and as RFC 5987 UTF-8 (filename*).
func Disposition(name, t string) string {
	kind := "attachment"
	if Inline(t) {
		kind = "inline"
	}
	var ascii strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r > 0x7e:
			ascii.WriteByte('_')
		case r == '"' || r == '\\':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	return kind + `; filename="` + ascii.String() + `"; filename*=UTF-8''` + pctEncode(name)
}

// pctEncode encodes s as RFC 5987's value-chars: attr-char bytes as they
// are, every other byte as %XX.
func pctEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Range is one byte range of a file: Length bytes from Start.
type Range struct{ Start, Length int64 }

// The outcomes of ParseRange besides a range.
const (
	RangeNone          = iota // no Range header, or one to ignore: send the whole file
	RangeOne                  // one satisfiable range
	RangeUnsatisfiable        // 416
)

// MaxRangeHeader bounds the Range header read.
const MaxRangeHeader = 1024

// ParseRange reads a Range header (RFC 9110 §14) for a file of size
// bytes. One range "bytes=a-b", "bytes=a-" or "bytes=-n" gives RangeOne.
// A range starting at or past the end, a suffix of 0 bytes, or several
// ranges give RangeUnsatisfiable: multi-range requests are refused with
// 416 rather than answered as multipart. A header in another unit or
// malformed is ignored (RangeNone), as the RFC allows.
func ParseRange(h string, size int64) (Range, int) {
	if h == "" || len(h) > MaxRangeHeader {
		return Range{}, RangeNone
	}
	unit, spec, ok := strings.Cut(h, "=")
	if !ok || strings.TrimSpace(strings.ToLower(unit)) != "bytes" {
		return Range{}, RangeNone
	}
	if strings.Contains(spec, ",") {
		for _, part := range strings.Split(spec, ",") {
			if _, _, ok := parseSpec(strings.TrimSpace(part)); !ok {
				return Range{}, RangeNone
			}
		}
		return Range{}, RangeUnsatisfiable
	}
	first, last, ok := parseSpec(strings.TrimSpace(spec))
	if !ok {
		return Range{}, RangeNone
	}
	switch {
	case first < 0: // a suffix of the last n bytes
		n := last
		if n == 0 || size == 0 {
			return Range{}, RangeUnsatisfiable
		}
		if n > size {
			n = size
		}
		return Range{Start: size - n, Length: n}, RangeOne
	case first >= size:
		return Range{}, RangeUnsatisfiable
	case last < 0 || last >= size:
		return Range{Start: first, Length: size - first}, RangeOne
	}
	return Range{Start: first, Length: last - first + 1}, RangeOne
}

// parseSpec reads "a-b" (first a, last b), "a-" (last -1) or "-n" (first
// -1, last n).
func parseSpec(s string) (first, last int64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	num := func(x string) (int64, bool) {
		if x == "" || len(x) > 18 {
			return 0, false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	if a == "" {
		n, ok := num(b)
		return -1, n, ok
	}
	f, ok := num(a)
	if !ok {
		return 0, 0, false
	}
	if b == "" {
		return f, -1, true
	}
	l, ok := num(b)
	if !ok || l < f {
		return 0, 0, false
	}
	return f, l, true
}

// TokenBytes is the number of random bytes of a capability link's secret.
const TokenBytes = 32

// NewToken returns a capability link token for a file of notebook nbPart
// (the 26 characters of the notebook's id after its prefix), followed by
// TokenBytes random bytes in base64url: the notebook part only routes the
// lookup, the random part is the secret.
func NewToken(nbPart string) string {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		panic("files: crypto/rand failed: " + err.Error())
	}
	return nbPart + base64.RawURLEncoding.EncodeToString(b)
}

// TokenNotebook returns the notebook part of a token shaped like one
// NewToken makes, or "".
func TokenNotebook(token string) string {
	if len(token) != 26+base64.RawURLEncoding.EncodedLen(TokenBytes) {
		return ""
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return ""
		}
		if i < 26 && c >= 'A' && c <= 'Z' {
			return ""
		}
	}
	return token[:26]
}

// HashToken is what the store keeps of a token: its SHA-256.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
