package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv switches the test binary into a coffer server on the data
// directory it names: the crash test re-executes itself as the server so
// that it can SIGKILL a real process without building a binary.
const crashChildEnv = "COFFER_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		// A process of bench --peers (coffer serve, bench-load, bench-minimal).
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(nodeChildEnv) != "" {
		// A node of the two-node test: storage from COFFER_DB and COFFER_DB_SCHEMA.
		os.Exit(run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestCrashKeepsAcknowledgedWrites streams creates and updates from several
// goroutines to a server process, SIGKILLs it at a random moment, restarts
// it on the same data and continues, three times; then every write that was
// acknowledged with a 2xx must be there and both databases must pass
// PRAGMA integrity_check.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: starts and kills server processes; skipped with -short")
	}
	// The data lives on the project's filesystem, where fsync behaves as in
	// production (not in os.TempDir, which may be a different filesystem).
	rel, err := os.MkdirTemp(".", "crash-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rel) })
	dir, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	t.Cleanup(func() {
		if t.Failed() {
			tailLog(t, logPath)
		}
	})

	const email, password = "crash@example.com", "crash-test-password-1"
	if code := run(context.Background(), []string{"user", "create", "--data", dir, "--email", email, "--name", "Crash", "--password-stdin"},
		strings.NewReader(password+"\n"), io.Discard, io.Discard); code != 0 {
		t.Fatalf("user create exited with %d", code)
	}

	srv := startCrashChild(t, dir, logPath)
	c := &crashClient{hc: &http.Client{Timeout: 30 * time.Second}}
	c.setup(t, srv.base, email, password)

	led := &ledger{acks: map[string]ack{}}
	const writers = 4
	own := make([][]string, writers) // each writer's records, kept across crashes
	for cycle := 1; cycle <= 3; cycle++ {
		if cycle > 1 {
			srv = startCrashChild(t, dir, logPath)
		}
		records, writes := led.len(), led.writes()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.write(ctx, t, srv.base, led, fmt.Sprintf("c%d-w%d", cycle, w), &own[w])
			}()
		}
		time.Sleep(500*time.Millisecond + rand.N(1500*time.Millisecond))
		srv.kill(t)
		cancel()
		wg.Wait()
		c.hc.CloseIdleConnections()
		t.Logf("cycle %d: %d writes acknowledged before SIGKILL, %d of them creates", cycle, led.writes()-writes, led.len()-records)
	}
	if led.len() == 0 {
		t.Fatal("no write was acknowledged: the test tested nothing")
	}

	// The state left by the last crash must be intact.
	nbFile := filepath.Join(dir, "notebooks", c.notebook+".db")
	checkIntegrity(t, filepath.Join(dir, "coffer.db"))
	checkIntegrity(t, nbFile)

	// A fresh server finds every acknowledged write.
	srv = startCrashChild(t, dir, logPath)
	c.verify(t, srv.base, led)
	srv.stop(t)
	checkIntegrity(t, filepath.Join(dir, "coffer.db"))
	checkIntegrity(t, nbFile)
}

// crashChild is a coffer server process.
type crashChild struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port/api/v1
	log  *os.File
}

// startCrashChild starts the test binary as a server on dir and waits until
// it listens.
func startCrashChild(t *testing.T, dir, logPath string) *crashChild {
	t.Helper()
	return startChild(t, []string{crashChildEnv + "=" + dir}, logPath)
}

// startChild starts the test binary with env added to its environment and
// waits until it listens; its standard error goes to logPath.
func startChild(t *testing.T, env []string, logPath string) *crashChild {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	out := &addrWatcher{found: make(chan string, 1)}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	c := &crashChild{cmd: cmd, log: logf}
	select {
	case u := <-out.found:
		c.base = u + "/api/v1"
		return c
	case <-time.After(30 * time.Second):
		c.kill(t)
		t.Fatalf("the server did not start within 30 s; stdout: %s", out.text())
	}
	return nil
}

// kill ends the server with SIGKILL: no shutdown code runs.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill: %v", err)
	}
	c.cmd.Wait()
	c.log.Close()
}

// stop shuts the server down gracefully with SIGTERM.
func (c *crashChild) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the server did not stop within 30 s of SIGTERM")
		c.cmd.Process.Kill()
		<-done
	}
	c.log.Close()
}

// addrWatcher collects the server's standard output and reports the URL
// it prints when it listens.
type addrWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found chan string
	sent  bool
}

var listeningRE = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if m := listeningRE.FindSubmatch(w.buf.Bytes()); m != nil {
			w.sent = true
			w.found <- string(m[1])
		}
	}
	return len(p), nil
}

func (w *addrWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// ack is the last acknowledged state of a record.
type ack struct {
	version int64
	fields  map[string]any
}

// ledger holds every acknowledged write, by record id.
type ledger struct {
	mu     sync.Mutex
	acks   map[string]ack
	nwrite int
}

func (l *ledger) put(id string, a ack) {
	l.mu.Lock()
	l.acks[id] = a
	l.nwrite++
	l.mu.Unlock()
}

func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *ledger) writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nwrite
}

// crashClient talks to whichever server process is running.
type crashClient struct {
	hc       *http.Client
	key      string
	notebook string
	table    string
}

// crashRecord is a record as the API returns it, numbers kept exact.
type crashRecord struct {
	ID      string         `json:"id"`
	Version int64          `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// call sends one request; it returns the status, or an error when no
// answer came (the server died).
func (c *crashClient) call(ctx context.Context, method, u string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err // a cut answer is no acknowledgement
	}
	if resp.StatusCode/100 == 2 && out != nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, req.URL.Path, resp.StatusCode, data)
	}
	return resp.StatusCode, nil
}

// setup logs in and creates the notebook and table.
func (c *crashClient) setup(t *testing.T, base, email, password string) {
	t.Helper()
	ctx := context.Background()
	var sess struct {
		Key string `json:"session_key"`
	}
	if _, err := c.call(ctx, "POST", base+"/auth/login", map[string]string{"email": email, "password": password}, &sess); err != nil {
		t.Fatal(err)
	}
	c.key = sess.Key
	var nb struct{ ID string }
	if _, err := c.call(ctx, "POST", base+"/notebooks", map[string]string{"name": "Crash"}, &nb); err != nil {
		t.Fatal(err)
	}
	c.notebook = nb.ID
	table := map[string]any{"name": "Writes", "columns": []map[string]any{
		{"name": "Name", "type": "text"},
		{"name": "Age", "type": "number"},
		{"name": "Score", "type": "number", "options": map[string]any{"precision": 2}},
		{"name": "Team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue"}}},
		{"name": "Active", "type": "boolean"},
	}}
	var tb struct{ ID string }
	if _, err := c.call(ctx, "POST", base+"/notebooks/"+nb.ID+"/tables", table, &tb); err != nil {
		t.Fatal(err)
	}
	c.table = tb.ID
}

func (c *crashClient) records(base string) string {
	return base + "/notebooks/" + c.notebook + "/tables/" + c.table + "/records"
}

// write creates records and updates its own ones (mine, also those of
// earlier cycles) until the server dies or ctx ends, recording each
// acknowledged write. Only this writer updates its records, so the last
// acknowledged version of each is known exactly.
func (c *crashClient) write(ctx context.Context, t *testing.T, base string, led *ledger, tag string, mine *[]string) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for i := 0; ctx.Err() == nil; i++ {
		fields := map[string]any{
			"Name":   fmt.Sprintf("%s-%d", tag, i),
			"Age":    rng.IntN(100),
			"Score":  json.Number(fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100))),
			"Team":   []string{"red", "blue"}[rng.IntN(2)],
			"Active": rng.IntN(2) == 0,
		}
		var rec crashRecord
		var status int
		var err error
		if len(*mine) > 0 && rng.IntN(2) == 0 {
			id := (*mine)[rng.IntN(len(*mine))]
			delete(fields, "Team") // a partial update
			status, err = c.call(ctx, "PATCH", c.records(base)+"/"+url.PathEscape(id), map[string]any{"fields": fields}, &rec)
		} else {
			status, err = c.call(ctx, "POST", c.records(base), map[string]any{"fields": fields}, &rec)
			if err == nil {
				*mine = append(*mine, rec.ID)
			}
		}
		if err != nil {
			if status != 0 && ctx.Err() == nil {
				t.Errorf("write refused by a running server: %v", err)
			}
			return // the server was killed: this cycle is over for this writer
		}
		led.put(rec.ID, ack{version: rec.Version, fields: rec.Fields})
	}
}

// verify reads every acknowledged record back.
func (c *crashClient) verify(t *testing.T, base string, led *ledger) {
	t.Helper()
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				var rec crashRecord
				status, err := c.call(context.Background(), "GET", c.records(base)+"/"+url.PathEscape(id), nil, &rec)
				a := led.acks[id]
				switch {
				case status == http.StatusNotFound:
					t.Errorf("acknowledged record %s (version %d) is missing after the crashes", id, a.version)
				case err != nil:
					t.Errorf("read %s: %v", id, err)
				case rec.Version < a.version:
					t.Errorf("record %s has version %d, but version %d was acknowledged", id, rec.Version, a.version)
				case rec.Version == a.version && !reflect.DeepEqual(rec.Fields, a.fields):
					t.Errorf("record %s version %d has fields %v, but %v were acknowledged", id, rec.Version, rec.Fields, a.fields)
				}
			}
		}()
	}
	for id := range led.acks {
		ids <- id
	}
	close(ids)
	wg.Wait()
	t.Logf("verified %d acknowledged records after 3 crashes", len(led.acks))
}

// checkIntegrity runs PRAGMA integrity_check on a database file.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("%s: integrity_check: %v", filepath.Base(path), err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0] != "ok" {
		t.Errorf("%s: integrity_check = %q, want ok", filepath.Base(path), lines)
	}
}

// tailLog prints the end of the servers' log after a failure.
func tailLog(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Logf("read server log: %v", err)
		return
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	t.Logf("end of the server log:\n%s", data)
}
