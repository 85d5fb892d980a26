// Package e2e drives the web UI in Debian's headless Chromium (chromedp)
// against a real `coffer serve` that the tests build and start on
// loopback. Without Chromium the tests skip with the reason, unless
// COFFER_TEST_REQUIRE names browser: then they fail.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// cofferBinary builds cmd/coffer once per test run.
func cofferBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "coffer-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "coffer")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/coffer")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// chromium finds the browser or skips (fails under COFFER_TEST_REQUIRE).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COFFER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "browser") {
		t.Fatal("Chromium is required (COFFER_TEST_REQUIRE names browser) but not installed: apt-get install -y chromium")
	}
	t.Skip("skipping: Chromium is not installed (apt-get install -y chromium), the browser tests need it")
	return ""
}

// Server is a running `coffer serve`.
type Server struct {
	URL      string // http://127.0.0.1:port
	SetupURL string // the one-time setup link printed on an empty instance ("" when none)
	Data     string // its data directory
	bin      string
	out      *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	httpStatusRE = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	listenRE     = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	setupRE      = regexp.MustCompile(`(http://\S+/setup#token=[A-Za-z0-9_-]+)`)
)

// startServer builds and starts `coffer serve` on a free loopback port with
// a new data directory, and stops it at cleanup.
func startServer(t *testing.T, extra ...string) *Server {
	t.Helper()
	bin := cofferBinary(t)
	data := t.TempDir()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)
	cmd := exec.Command(bin, args...)
	out := &syncBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("coffer serve output:\n%s", out.String())
		}
	})
	s := &Server{Data: data, bin: bin, out: out}
	deadline := time.After(60 * time.Second)
	for s.URL == "" || (s.SetupURL == "" && strings.Contains(out.String(), "/setup")) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("coffer serve ended:\n%s", out.String())
			}
			if m := listenRE.FindStringSubmatch(l); m != nil {
				s.URL = m[1]
			}
			if m := setupRE.FindStringSubmatch(l); m != nil {
				s.SetupURL = m[1]
			}
		case <-deadline:
			t.Fatalf("coffer serve did not start:\n%s", out.String())
		}
	}
	// The setup link is printed after the listening line: give it a moment.
	time.Sleep(200 * time.Millisecond)
	if m := setupRE.FindStringSubmatch(out.String()); m != nil {
		s.SetupURL = m[1]
	}
	return s
}

// CreateUser makes an account with the command line, as an operator would.
func (s *Server) CreateUser(t *testing.T, email, name, password string, operator bool) {
	t.Helper()
	args := []string{"user", "create", "--data", s.Data, "--email", email, "--name", name, "--password-stdin"}
	if operator {
		args = append(args, "--operator")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("coffer user create %s: %v\n%s", email, err, out)
	}
}

// Client is an API client of one account (a bearer session key).
type Client struct {
	t    *testing.T
	base string
	key  string
}

// Login signs in through the API (for accounts without a second factor).
func (s *Server) Login(t *testing.T, email, password string) *Client {
	t.Helper()
	c := &Client{t: t, base: s.URL}
	var res struct {
		Key string `json:"session_key"`
	}
	c.Do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &res)
	if res.Key == "" {
		t.Fatalf("login %s: no session key", email)
	}
	c.key = res.Key
	return c
}

// Do sends a JSON request and decodes a 2xx answer into out; anything else
// fails the test.
func (c *Client) Do(method, path string, in, out any) {
	c.t.Helper()
	if code, body := c.Try(method, path, in, out); code/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, path, code, body)
	}
}

// Try sends a JSON request and returns the status and body; a 2xx body is
// decoded into out.
func (c *Client) Try(method, path string, in, out any) (int, string) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 == 2 && out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return res.StatusCode, string(b)
}

// Browser is one headless Chromium with an empty profile, and what its
// pages reported: console errors, exceptions, CSP violations, and every
// network response with its body (to check what reached the page).
type Browser struct {
	t   *testing.T
	Ctx context.Context

	mu        sync.Mutex
	problems  []string
	responses []Response
}

// Response is one network response the page received.
type Response struct {
	URL    string
	Status int64
	Body   string
}

// newBrowser starts Chromium (its own process, so two browsers share
// nothing: no cookie, no cache) and closes it at cleanup.
func newBrowser(t *testing.T) *Browser {
	t.Helper()
	exe := chromium(t)
	// The profile is removed by hand, not by t.TempDir: Chromium's helper
	// processes may still write to it for a moment after the browser has
	// exited, and t.TempDir's cleanup fails the test on "directory not
	// empty" (a failure with no line of the test's own).
	profile, err := os.MkdirTemp("", "coffer-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, Ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelA()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	chromedp.ListenTarget(ctx, b.listen)
	if err := chromedp.Run(ctx, network.Enable(), log.Enable(), cdpruntime.Enable()); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *Browser) listen(ev any) {
	switch e := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type == cdpruntime.APITypeError || e.Type == cdpruntime.APITypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			b.problem("console." + string(e.Type) + ": " + strings.Join(parts, " "))
		}
	case *cdpruntime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problem("exception: " + msg)
	case *log.EventEntryAdded:
		// CSP violations and failed loads arrive here as errors.
		if e.Entry.Level == log.LevelError {
			b.problem("log(" + string(e.Entry.Source) + "): " + e.Entry.Text + " " + e.Entry.URL)
		}
	case *network.EventResponseReceived:
		id, resp := e.RequestID, e.Response
		go func() {
			// The body, once loaded; event streams never finish, so a
			// bounded wait, and what was read so far is kept.
			var body []byte
			ctx, cancel := context.WithTimeout(cdp.WithExecutor(b.Ctx, chromedp.FromContext(b.Ctx).Target), 5*time.Second)
			defer cancel()
			for i := 0; i < 20; i++ {
				var err error
				body, err = network.GetResponseBody(id).Do(ctx)
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.mu.Lock()
			b.responses = append(b.responses, Response{URL: resp.URL, Status: resp.Status, Body: string(body)})
			b.mu.Unlock()
		}()
	}
}

func (b *Browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// Problems returns the console errors, exceptions and CSP violations so
// far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Responses returns the network responses so far, with their bodies.
func (b *Browser) Responses() []Response {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Response(nil), b.responses...)
}

// Run runs chromedp actions with a time limit, failing the test (with a
// screenshot) when one fails.
func (b *Browser) Run(name string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.Shot("failed-" + name)
		b.t.Fatalf("%s: %v\nbrowser problems: %q", name, err, b.Problems())
	}
}

// ShotDir is where screenshots go: $COFFER_UI_SHOTS, or ui/e2e/out.
func ShotDir() string {
	if d := os.Getenv("COFFER_UI_SHOTS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "out")
}

// Shot saves a screenshot of the viewport as <test>-<name>.png in ShotDir.
// Not a full-page one: to capture beyond the viewport Chromium resizes the
// page for a moment, which fires resize handlers and disturbed what was
// open (a grid squeezed to nothing dropped its editor's row).
func (b *Browser) Shot(name string) {
	dir := ShotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	var png []byte
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// NoProblems fails the test when the pages reported console errors,
// exceptions or CSP violations, except those matching allowed (for
// expected failures, such as a refused login's 401). An allowed entry of
// three digits is an HTTP status: it matches Chromium's "status of 401"
// only, never the digits inside a URL (the servers' ports are random).
func (b *Browser) NoProblems(allowed ...string) {
	b.t.Helper()
next:
	for _, p := range b.Problems() {
		for _, a := range allowed {
			if httpStatusRE.MatchString(a) {
				a = "status of " + a + " "
			}
			if strings.Contains(p, a) {
				continue next
			}
		}
		b.t.Errorf("browser problem: %s", p)
	}
}

// TestMain removes the coffer binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
