package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/firstrun"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
)

// testPassword is long enough for the password policy.
const testPassword = "correct horse battery staple"

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testClock is an injectable clock that tests can move forward safely
// while the server reads it from other goroutines. It follows real time
// unless frozen: tests of short delays (throttling's one second) freeze
// it, so a slow machine cannot let a delay expire between two requests.
type testClock struct {
	offset atomic.Int64
	frozen atomic.Int64 // Unix nanoseconds of the frozen base; 0: real time
}

func (c *testClock) Now() time.Time {
	base := time.Now()
	if f := c.frozen.Load(); f != 0 {
		base = time.Unix(0, f)
	}
	return base.Add(time.Duration(c.offset.Load())).UTC()
}

// Freeze stops the clock at the current time; Advance still moves it.
func (c *testClock) Freeze() { c.frozen.Store(time.Now().UnixNano()) }

func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Env is an API server on a real SQLite store, wired as cmd/coffer does.
type Env struct {
	TB    testing.TB
	URL   string
	Store *all.Store
	DB    *store.DB // the instance database, for fixtures written in SQL
	API   *api.Server
	Clock *testClock
	Logs  *syncBuffer
	Dir   string // the data directory
	srv   *httptest.Server
}

// EnvOptions change what MustEnv starts.
type EnvOptions struct {
	// SMTP, when set, sends e-mail (reset links) through this server.
	SMTP *mail.Config
	// TrustedProxies are passed to api.Config.
	TrustedProxies []netip.Prefix
	// Setup is the first-run setup link (api.Config.Setup).
	Setup *firstrun.Link
}

// MustEnv starts a server on a fresh data directory. Its JSON logs go to
// env.Logs. Without SMTP in opts, no e-mail is sent.
func MustEnv(tb testing.TB, opts ...EnvOptions) *Env {
	tb.Helper()
	var o EnvOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	dir := tb.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{Readers: 2, MaxOpenNotebooks: 8})
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	st := all.New(b, keyring.ForTests())
	blobs, err := bloburl.Open(ctx, "", dir)
	if err != nil {
		tb.Fatalf("bloburl.Open: %v", err)
	}
	tb.Cleanup(func() { blobs.Close() })
	st.SetFiles(notebooks.FileConfig{Blobs: blobs})
	clock := &testClock{}
	st.Now = clock.Now
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	var sender *mail.Sender
	if o.SMTP != nil {
		sender, err = mail.NewSender(*o.SMTP, mail.Options{Logger: log, Retries: []time.Duration{100 * time.Millisecond}})
		if err != nil {
			tb.Fatalf("mail.NewSender: %v", err)
		}
	}
	// The server's address is known before it starts, so it can be its
	// public URL (the base of SSO redirects and reset links).
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String()
	st.Notify = mail.Notifier(sender, publicURL)
	srv := api.New(api.Services{
		Users: st, Auth: st, Notebooks: st, Tables: st, Records: st, Views: st, Sessions: st, MFA: st, SSO: st, Orgs: st, Accounts: st, Sharing: st, History: st, TimeTravel: st, Undo: st, Live: st, Ping: st.Ping, Audit: st,
		Resets:    mail.NewResets(st, sender, publicURL, log),
		AccessLog: st, Watches: st, Setup: st, Secrets: st, Files: st, Backups: st,
	}, api.Config{Logger: log, TrustedProxies: o.TrustedProxies, PublicURL: publicURL, Setup: setupLink(o.Setup)})
	ts.Config.Handler = srv.Handler()
	ts.Start()
	tb.Cleanup(ts.Close)
	if sender != nil {
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			sender.Close(ctx)
		})
	}
	// Passkeys need a domain name: the server is reached as localhost.
	if err := st.SetPublicURL(strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)); err != nil {
		tb.Fatalf("SetPublicURL: %v", err)
	}
	return &Env{TB: tb, URL: ts.URL, Store: st, DB: b.Instance(), API: srv, Clock: clock, Logs: logs, Dir: dir, srv: ts}
}

// setupLink keeps a nil link a nil interface.
func setupLink(l *firstrun.Link) api.SetupLink {
	if l == nil {
		return nil
	}
	return l
}

// Close stops the HTTP server and waits for requests in flight, so every
// request log line has been written.
func (e *Env) Close() { e.srv.Close() }

// MustUser creates an account directly in the store.
func (e *Env) MustUser(email, name string) *coffer.User {
	e.TB.Helper()
	u, err := e.Store.CreateUser(context.Background(), coffer.UserInput{Email: email, Name: name, Password: testPassword})
	if err != nil {
		e.TB.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

// MustLogin logs in over HTTP and returns the session key.
func (e *Env) MustLogin(email string) string {
	e.TB.Helper()
	r := e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword})
	r.WantStatus(http.StatusOK)
	var s struct {
		Key string `json:"session_key"`
	}
	r.JSON(&s)
	if !strings.HasPrefix(s.Key, "cfs_") {
		e.TB.Fatalf("login: session key %q lacks the cfs_ prefix", s.Key)
	}
	return s.Key
}

// Response is a received HTTP response with its whole body.
type Response struct {
	TB     testing.TB
	Method string
	Path   string
	Status int
	Header http.Header
	Body   []byte
}

// rawBody is a request body sent as is, without a Content-Type of its own.
type rawBody string

// Do sends a request. key "" sends no Authorization header. body may be nil
// (no body), a rawBody (sent as is, Content-Type from hdr only) or any value
// (sent as JSON with Content-Type application/json).
func (e *Env) Do(method, path, key string, body any, hdr ...string) *Response {
	e.TB.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = strings.NewReader(string(b))
	case []byte:
		rd = bytes.NewReader(b)
		ctype = "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.TB.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(j)
		ctype = "application/json"
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.TB.Fatalf("%s %s: %v", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.TB.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.TB.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &Response{TB: e.TB, Method: method, Path: path, Status: res.StatusCode, Header: res.Header, Body: data}
}

// WantStatus fails the test unless the status is want.
func (r *Response) WantStatus(want int) *Response {
	r.TB.Helper()
	if r.Status != want {
		r.TB.Fatalf("%s %s: status %d, want %d; body: %s", r.Method, r.Path, r.Status, want, r.Body)
	}
	return r
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) {
	r.TB.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.TB.Fatalf("%s %s: decode %s: %v", r.Method, r.Path, r.Body, err)
	}
}

// Map decodes the body into a map.
func (r *Response) Map() map[string]any {
	r.TB.Helper()
	var m map[string]any
	r.JSON(&m)
	return m
}

// problem is the decoded problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// leak matches what an error response must never reveal: SQL, driver
// messages, Go source paths, stack traces.
var leak = regexp.MustCompile(`(?i)\b(select|insert|update|delete)\s.*\b(from|into|set)\b|sqlite|sql:|\.go:\d+|goroutine \d+|runtime/|/work/|/home/|/tmp/|panic|\bc_[0-9a-z]{26}\b|"t\.`)

// checkHeaders asserts the security headers present on every response.
func checkHeaders(tb testing.TB, r *Response) {
	tb.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			tb.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			tb.Errorf("%s %s: Content-Security-Policy %q lacks %q", r.Method, r.Path, csp, d)
		}
	}
	if r.Header.Get("Server") != "" {
		tb.Errorf("%s %s: Server header %q reveals the software", r.Method, r.Path, r.Header.Get("Server"))
	}
}

// WantProblem asserts that r is a well-formed problem document with the
// status and code, and returns it.
func (r *Response) WantProblem(status int, code string) *problem {
	r.TB.Helper()
	tb := r.TB
	if r.Status != status {
		tb.Errorf("%s %s: status %d, want %d; body: %s", r.Method, r.Path, r.Status, status, r.Body)
	}
	if r.Status >= 500 && status < 500 {
		tb.Errorf("%s %s: server error %d", r.Method, r.Path, r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("%s %s: Content-Type %q, want application/problem+json", r.Method, r.Path, ct)
	}
	checkHeaders(tb, r)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		tb.Fatalf("%s %s: problem body %q is not a JSON object: %v", r.Method, r.Path, r.Body, err)
	}
	for _, k := range []string{"type", "title", "status", "detail", "code"} {
		if _, ok := raw[k]; !ok {
			tb.Errorf("%s %s: problem lacks %q: %s", r.Method, r.Path, k, r.Body)
		}
	}
	var p problem
	r.JSON(&p)
	if p.Status != r.Status {
		tb.Errorf("%s %s: problem status %d, HTTP status %d", r.Method, r.Path, p.Status, r.Status)
	}
	if p.Code != code {
		tb.Errorf("%s %s: code %q, want %q; body: %s", r.Method, r.Path, p.Code, code, r.Body)
	}
	if p.Type != "urn:coffer:problem:"+p.Code {
		tb.Errorf("%s %s: type %q does not name code %q", r.Method, r.Path, p.Type, p.Code)
	}
	if p.Title != http.StatusText(r.Status) || p.Detail == "" {
		tb.Errorf("%s %s: title %q / detail %q: want the status text and a detail", r.Method, r.Path, p.Title, p.Detail)
	}
	if leak.Match(r.Body) {
		tb.Errorf("%s %s: problem reveals internals: %s", r.Method, r.Path, r.Body)
	}
	if r.Status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		tb.Errorf("%s %s: 401 without WWW-Authenticate: Bearer (got %q)", r.Method, r.Path, r.Header.Get("WWW-Authenticate"))
	}
	if r.Status == http.StatusMethodNotAllowed && r.Header.Get("Allow") == "" {
		tb.Errorf("%s %s: 405 without Allow", r.Method, r.Path)
	}
	for _, fe := range p.Errors {
		if fe.Field == "" || fe.Message == "" {
			tb.Errorf("%s %s: field error without field or message: %s", r.Method, r.Path, r.Body)
		}
	}
	return &p
}

// fieldNames lists the fields of the problem's errors.
func (p *problem) fieldNames() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// MustExec runs a statement on the instance database (for fixtures the API
// has no call for); ? placeholders work on every backend.
func (e *Env) MustExec(query string, args ...any) {
	e.TB.Helper()
	q := strings.ReplaceAll(query, "{p}", e.DB.Prefix)
	if _, err := e.DB.W.Exec(q, args...); err != nil {
		e.TB.Fatalf("%s: %v", q, err)
	}
}

// sealTOTP seals a TOTP secret as the identity service stores it (under
// the instance key, bound to the user), for fixtures written in SQL.
func (e *Env) sealTOTP(userID, secret string) string {
	e.TB.Helper()
	sealed, err := e.Store.Ring().SealString(context.Background(), keyring.Instance, "totp:"+userID, secret)
	if err != nil {
		e.TB.Fatal(err)
	}
	return sealed
}
