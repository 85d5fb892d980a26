package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

const walkPassword = "a long walk-through passphrase"

// walkBuffer collects the output of a command running in another goroutine.
type walkBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *walkBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *walkBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// walkRun runs the command line and returns its exit code and output.
func walkRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("COFFER_DB", "")
	t.Setenv("COFFER_DATA", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// walkServer is a `coffer serve` running in the background.
type walkServer struct {
	url            string
	stdout, stderr *walkBuffer
	stop           func() int
}

var walkListenRe = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// walkServe runs `coffer serve` on a free loopback port and waits until it
// answers /healthz. stop cancels it and returns its exit code.
func walkServe(t *testing.T, data string) *walkServer {
	t.Helper()
	t.Setenv("COFFER_DB", "")
	ctx, cancel := context.WithCancel(context.Background())
	s := &walkServer{stdout: &walkBuffer{}, stderr: &walkBuffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-format", "json"}, strings.NewReader(""), s.stdout, s.stderr)
	}()
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("serve did not stop within 30 s")
				code = -1
			}
		})
		return code
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case c := <-done:
			t.Fatalf("serve exited with %d: %s%s", c, s.stdout, s.stderr)
		default:
		}
		if m := walkListenRe.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url = m[1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.url == "" {
		t.Fatalf("serve printed no address: %q", s.stdout)
	}
	res, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /healthz: %d", res.StatusCode)
	}
	return s
}

// call sends a JSON request and decodes a JSON answer.
func walkCall(t *testing.T, method, url, key string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, data)
		}
	}
	if res.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, res.StatusCode, data)
	}
	return res.StatusCode
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := walkRun(t, "", "version")
	if code != 0 || out != "coffer "+coffer.Version+"\n" {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestUsageMessage(t *testing.T) {
	if code, _, errOut := walkRun(t, ""); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no arguments: %d %q", code, errOut)
	}
	if code, _, errOut := walkRun(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
}

// TestHelp: every command answers --help (and -h) with exit code 0, and
// names its flags as "--name VALUE" words, never a fragment of the text.
func TestHelp(t *testing.T) {
	for _, cmd := range [][]string{
		{}, {"user"}, {"org"}, {"serve"}, {"user", "create"}, {"user", "reset-password"}, {"user", "deactivate"},
		{"user", "reactivate"}, {"user", "sessions"}, {"org", "create"}, {"org", "policy"}, {"bench"}, {"migrate"},
	} {
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := walkRun(t, "", append(append([]string(nil), cmd...), h)...)
			all := out + errOut
			if code != 0 {
				t.Errorf("coffer %v %s: exit %d, want 0: %s", cmd, h, code, all)
			}
			if !strings.Contains(all, "Usage") {
				t.Errorf("coffer %v %s: no usage: %s", cmd, h, all)
			}
			if len(cmd) >= 2 || (len(cmd) == 1 && cmd[0] != "user" && cmd[0] != "org") {
				if !regexp.MustCompile(`(?m)^  --[a-z-]+( [A-Z_]+)?$`).MatchString(all) {
					t.Errorf("coffer %v %s: flags not listed as --name VALUE: %s", cmd, h, all)
				}
				if strings.Contains(all, "coffer user reset-password\n") && strings.Contains(all, "-smtp-url coffer") {
					t.Errorf("coffer %v %s: a flag named by a fragment of its text: %s", cmd, h, all)
				}
			}
		}
	}
}

func TestUserCreate(t *testing.T) {
	data := t.TempDir()
	args := []string{"user", "create", "--data", data, "--email", "ada@example.com", "--name", "Ada Lovelace", "--password-stdin"}
	code, out, errOut := walkRun(t, walkPassword+"\n", args...)
	if code != 0 || !strings.Contains(out, "created user Ada Lovelace <ada@example.com>") {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	// The same e-mail again is refused; so is a short password, with the reason.
	if code, _, errOut := walkRun(t, walkPassword+"\n", args...); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate user: %d %q", code, errOut)
	}
	args[5] = "bob@example.com"
	if code, _, errOut := walkRun(t, "tiny-secret\n", args...); code != 1 || !strings.Contains(errOut, "password: must be at least 15 characters") {
		t.Errorf("short password: %d %q", code, errOut)
	} else if strings.Contains(errOut, "tiny-secret") {
		t.Errorf("the password is echoed: %q", errOut)
	}
	// Without --password-stdin the password is never taken from the command line.
	if code, _, errOut := walkRun(t, "", "user", "create", "--data", data, "--email", "c@example.com", "--name", "C"); code != 1 || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("without --password-stdin: %d %q", code, errOut)
	}
}

// TestFirstRun: walkServer an empty data directory explains how to create the
// first account, since there is no default one.
func TestFirstRun(t *testing.T) {
	s := walkServe(t, t.TempDir())
	out := s.stdout.String()
	for _, want := range []string{"Coffer " + coffer.Version + " listening on http://127.0.0.1:", "No account exists yet", "there is no default account", "user create", "--password-stdin"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve output lacks %q:\n%s", want, out)
		}
	}
	// The one-time setup link: on the real port (the server was started
	// on port 0), the token in the fragment, and only on stdout.
	m := regexp.MustCompile(`(http://127\.0\.0\.1:(\d+))/setup#token=(cfu_[A-Za-z0-9_-]{43})\n`).FindStringSubmatch(out)
	if m == nil || m[1] != s.url || m[2] == "0" {
		t.Fatalf("serve output lacks the setup link on %s:\n%s", s.url, out)
	}
	token := m[3]
	if strings.Contains(s.stderr.String(), token) {
		t.Errorf("the setup token reached the log:\n%s", s.stderr)
	}
	claim := map[string]any{"token": token, "email": "owner@example.com", "name": "Owner", "password": walkPassword}
	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", s.url+"/api/v1/setup", "", claim, &sess); st != 200 || sess.Key == "" {
		t.Fatalf("claim with the printed link: %d", st)
	}
	if st := walkCall(t, "POST", s.url+"/api/v1/setup", "", claim, nil); st != 403 {
		t.Errorf("second claim with the same link: %d, want 403", st)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited with %d: %s", code, s.stderr)
	}
	if strings.Contains(s.stderr.String(), token) {
		t.Errorf("the setup token reached the log:\n%s", s.stderr)
	}
}

// TestWalkThrough follows the README: create an account with the CLI,
// start the server, log in, create a notebook, a table and records, and
// query them with a filter; then stop the server cleanly.
func TestWalkThrough(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data,
		"--email", "ada@example.com", "--name", "Ada Lovelace", "--password-stdin")
	if code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	s := walkServe(t, data)
	if strings.Contains(s.stdout.String(), "No account exists yet") {
		t.Errorf("first-account instructions printed although an account exists:\n%s", s.stdout)
	}
	api := s.url + "/api/v1"

	var sess struct {
		Key string `json:"session_key"`
	}
	if st := walkCall(t, "POST", api+"/auth/login", "", map[string]any{"email": "ada@example.com", "password": walkPassword}, &sess); st != 200 {
		t.Fatalf("login: %d", st)
	}
	key := sess.Key
	var nb coffer.Notebook
	if st := walkCall(t, "POST", api+"/notebooks", key, map[string]any{"name": "CRM"}, &nb); st != 201 {
		t.Fatalf("create notebook: %d", st)
	}
	var tbl coffer.Table
	if st := walkCall(t, "POST", api+"/notebooks/"+nb.ID+"/tables", key, map[string]any{
		"name": "Contacts",
		"columns": []map[string]any{
			{"name": "First name", "type": "text"},
			{"name": "age", "type": "number"},
			{"name": "team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue"}}},
			{"name": "email", "type": "email"},
		},
	}, &tbl); st != 201 {
		t.Fatalf("create table: %d", st)
	}
	recs := api + "/notebooks/" + nb.ID + "/tables/Contacts/records"
	for _, f := range []map[string]any{
		{"First name": "Ada", "age": 36, "team": "red", "email": "ada@example.com"},
		{"First name": "Grace", "age": 45, "team": "blue"},
		{"First name": "Alan", "age": 41, "team": "red"},
		{"First name": "Linus", "age": 20, "team": "red"},
	} {
		if st := walkCall(t, "POST", recs, key, map[string]any{"fields": f}, nil); st != 201 {
			t.Fatalf("create record %v: %d", f, st)
		}
	}
	var list struct {
		Records []coffer.Record `json:"records"`
		Total   *int64          `json:"total"`
	}
	q := url.Values{"filter": {`age > 30 && team = "red"`}, "sort": {"-age"}, "count": {"true"}}
	if st := walkCall(t, "GET", recs+"?"+q.Encode(), key, nil, &list); st != 200 {
		t.Fatalf("list: %d", st)
	}
	var got []string
	for _, r := range list.Records {
		got = append(got, r.Fields["First name"].(string))
	}
	if strings.Join(got, ",") != "Alan,Ada" || list.Total == nil || *list.Total != 2 {
		t.Errorf("filtered records: %v (total %v), want Alan,Ada", got, list.Total)
	}
	list.Records = nil
	q = url.Values{"filter": {"`First name` ~ \"LI\""}}
	if st := walkCall(t, "GET", recs+"?"+q.Encode(), key, nil, &list); st != 200 || len(list.Records) != 1 || list.Records[0].Fields["First name"] != "Linus" {
		t.Errorf("backtick filter: %d %v", st, list.Records)
	}

	if code := s.stop(); code != 0 {
		t.Errorf("serve exited with %d: %s", code, s.stderr)
	}
	// The JSON logs hold one line per request and no secret.
	logs := s.stderr.String()
	if n := strings.Count(logs, `"msg":"request"`); n < 8 {
		t.Errorf("%d request log lines, want at least 8:\n%s", n, logs)
	}
	for _, secret := range []string{walkPassword, key} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server logs contain a secret:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "shutting down") {
		t.Errorf("no shutdown log line:\n%s", logs)
	}
}

// TestServeUnreachablePostgres: --db to a server that does not answer
// fails at start-up with the cause, before listening.
func TestServeUnreachablePostgres(t *testing.T) {
	code, out, errOut := walkRun(t, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--db", "postgres://postgres@127.0.0.1:1/coffer?sslmode=disable&connect_timeout=5")
	if code != 1 || !strings.Contains(errOut, "postgres: connect") || strings.Contains(out, "listening") {
		t.Errorf("serve --db unreachable: %d %q %q", code, out, errOut)
	}
}

// TestUserResetPassword: an operator sets a new password on the command
// line; the old one stops working, the new one works, an event records it.
func TestUserResetPassword(t *testing.T) {
	data := t.TempDir()
	t.Setenv("COFFER_DB", "")
	if code, out, errOut := walkRun(t, walkPassword+"\n", "user", "create", "--data", data, "--email", "ada@example.com", "--name", "Ada", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	const newPassword = "an operator-chosen passphrase"
	args := []string{"user", "reset-password", "--data", data, "--email", "Ada@Example.com", "--password-stdin"}
	if code, out, errOut := walkRun(t, newPassword+"\n", args...); code != 0 || !strings.Contains(out, "password of Ada@Example.com reset") {
		t.Fatalf("user reset-password: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := walkRun(t, "tiny-secret\n", args...); code != 1 || !strings.Contains(errOut, "must be at least 15 characters") || strings.Contains(errOut, "tiny-secret") {
		t.Errorf("short password: %d %q", code, errOut)
	}
	args[5] = "nobody@example.com"
	if code, _, errOut := walkRun(t, newPassword+"\n", args...); code != 1 || !strings.Contains(errOut, "no active account") {
		t.Errorf("unknown account: %d %q", code, errOut)
	}
	if code, _, errOut := walkRun(t, "", "user", "reset-password", "--data", data, "--email", "ada@example.com"); code != 1 || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("without --password-stdin: %d %q", code, errOut)
	}
	ctx := context.Background()
	st, closeStore, err := openStore(ctx, &storeConfig{dataDir: data}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if _, err := st.Login(ctx, "ada@example.com", walkPassword); err == nil {
		t.Error("the old password still works")
	}
	res, err := st.Login(ctx, "ada@example.com", newPassword)
	if err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	evs, err := st.Events(ctx, res.User.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || (e.Kind == coffer.EventPasswordReset && e.Detail == "operator")
	}
	if !found {
		t.Errorf("no %s event by an operator: %+v", coffer.EventPasswordReset, evs)
	}
}

// TestServeSMTPURL: a bad --smtp-url stops serve with the reason and never
// echoes the password.
func TestServeSMTPURL(t *testing.T) {
	t.Setenv("COFFER_DB", "")
	for _, u := range []string{"smtp://u:hunter2-pw@mail.example.com?from=a@b.c&tls=none", "smtp://u:hunter2-pw@mail.example.com"} {
		code, _, errOut := walkRun(t, "", "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--smtp-url", u)
		if code != 1 || !strings.Contains(errOut, "--smtp-url") || strings.Contains(errOut, "hunter2") {
			t.Errorf("serve --smtp-url %q: %d %q", u, code, errOut)
		}
	}
}
