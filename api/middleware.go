package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// reqInfo is what the middleware and handlers share about one request:
// its id, and the route and user that the log line names.
type reqInfo struct {
	id, userID, route string
	// base is the request's context without the RequestTimeout deadline,
	// for streams that outlive it (live updates).
	base context.Context
}

type reqInfoKey struct{}

func info(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return ri
}

func requestID(ctx context.Context) string {
	if ri := info(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// Request ids: a random per-process prefix and a counter. They only need to
// be unique (to match log lines), not secret.
var (
	reqPrefix = func() string {
		var b [6]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	reqCounter atomic.Uint64
)

func newRequestID() string {
	return reqPrefix + "-" + strconv.FormatUint(reqCounter.Add(1), 36)
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestLog gives each request an id and a deadline (RequestTimeout),
// and writes one log line for it:
// method, route pattern (never the query string, which may hold personal
// data), status, duration, size and user id. Secrets never reach the log.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: newRequestID()}
		// One derived request carries the request's info and its deadline.
		ctx := coffer.WithClient(context.WithValue(r.Context(), reqInfoKey{}, ri),
			coffer.Client{IP: s.clientIP(r), UserAgent: r.UserAgent(), Device: deviceToken(r)})
		ri.base = ctx
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		id := ri.id
		sw := &statusWriter{ResponseWriter: w}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(sw, r)
		route := ri.route
		if route == "" {
			route = "unmatched"
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
			slog.String("user", ri.userID),
		)
	})
}

// withRecover turns a panic into a 500 problem and logs the stack.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", requestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.writeProblem(w, r, coffer.EINTERNAL, "internal error", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withHeaders sets the security headers of every response.
func (s *Server) withHeaders(next http.Handler) http.Handler {
	// Served over https (as the public URL says), browsers are told to
	// never use plain http for this host again: two years, subdomains too.
	hsts := strings.HasPrefix(strings.ToLower(s.cfg.PublicURL), "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authenticate resolves the caller of r: the bearer key of the
// Authorization header, or else the session cookie set at login.
func (s *Server) authenticate(r *http.Request) (context.Context, error) {
	key, err := sessionKey(r)
	if err != nil {
		return nil, err
	}
	c, err := s.svc.Auth.Authenticate(r.Context(), key)
	if err != nil {
		return nil, err
	}
	if ri := info(r.Context()); ri != nil {
		ri.userID = c.UserID
	}
	return coffer.WithCaller(r.Context(), c), nil
}

// sessionKey returns the key r authenticates with: the bearer key of the
// Authorization header, or else the session cookie.
func sessionKey(r *http.Request) (string, error) {
	var key string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, k, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(k) == "" {
			return "", coffer.Errorf(coffer.EUNAUTHORIZED, "the Authorization header must be: Bearer <session key>")
		}
		key = strings.TrimSpace(k)
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		key = c.Value
	} else {
		return "", coffer.Errorf(coffer.EUNAUTHORIZED, "authentication required: send Authorization: Bearer <session key>")
	}
	return key, nil
}

// decode reads a JSON body into dst: the content type must be JSON, the
// size is bounded, unknown fields are refused (no mass assignment), numbers
// keep their exact text and nothing may follow the value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &coffer.Error{Code: codeMediaType, Message: "the request body must be JSON (Content-Type: application/json)"}
	}
	if limit <= 0 {
		limit = s.cfg.MaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return jsonError(err, limit)
	}
	if fe := checkJSONText(body); fe != nil {
		return coffer.Invalid("the request body is not valid UTF-8", *fe)
	}
	if t := bytes.TrimSpace(body); bytes.Equal(t, []byte("null")) {
		return coffer.Invalid("the request body must be a JSON object", coffer.FieldError{Field: "body", Message: "must be a JSON object, not null"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, limit)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err, limit)
		}
		return coffer.Invalid("the request body must hold one JSON value", coffer.FieldError{Field: "body", Message: "has data after the JSON value"})
	}
	return nil
}

// checkJSONText refuses a body that encoding/json would silently repair:
// bytes that are not UTF-8, and \u escapes of lone UTF-16 surrogates
// ("\ud800"), both of which it turns into U+FFFD. Such text is refused
// with its byte offset rather than stored altered.
func checkJSONText(body []byte) *coffer.FieldError {
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, n := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &coffer.FieldError{Field: "body", Message: fmt.Sprintf("holds bytes that are not valid UTF-8 at byte %d", off)}
	}
	surrogate := func(i int) rune { // the \uXXXX escape at body[i:], or -1
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return -1
		}
		v, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		if err != nil {
			return -1
		}
		return rune(v)
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		c := surrogate(i)
		switch {
		case c >= 0xd800 && c <= 0xdbff:
			if lo := surrogate(i + 6); lo >= 0xdc00 && lo <= 0xdfff {
				i += 11
				continue
			}
			fallthrough
		case c >= 0xdc00 && c <= 0xdfff:
			return &coffer.FieldError{Field: "body", Message: fmt.Sprintf("holds a lone UTF-16 surrogate (\\u%04x) at byte %d, which is not a character", c, i)}
		}
		i++ // skip the escaped character
	}
	return nil
}

// jsonError describes a decoding failure without echoing the body.
func jsonError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &coffer.Error{Code: coffer.ETOOLARGE, Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
	case errors.Is(err, io.EOF):
		return coffer.Invalid("the request body is empty", coffer.FieldError{Field: "body", Message: "must be a JSON object"})
	case errors.As(err, &se):
		return coffer.Invalid("the request body is not valid JSON", coffer.FieldError{Field: "body", Message: fmt.Sprintf("syntax error at byte %d", se.Offset)})
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return coffer.Invalid("a field has the wrong type", coffer.FieldError{Field: field, Message: "must be " + jsonKind(te.Type.String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return coffer.Invalid("the request body has an unknown field", coffer.FieldError{Field: name, Message: "is not a known field"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return coffer.Invalid("the request body is not valid JSON", coffer.FieldError{Field: "body", Message: "ends too early"})
	}
	return coffer.Invalid("the request body is not valid JSON", coffer.FieldError{Field: "body", Message: "cannot be read as the expected object"})
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "coffer."), strings.HasPrefix(goType, "api."):
		return "an object"
	case strings.HasPrefix(goType, "[]"), strings.HasPrefix(goType, "*[]"):
		return "an array"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "string"), strings.Contains(goType, "ColumnType"):
		return "a string"
	}
	return "of another type"
}
