package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// cancelFixture is a store on a small pool with one record, and a way to
// make every read and write of the record's table wait (a lock held by
// another connection).
type cancelFixture struct {
	b           *postgres.Backend
	s           *all.Store
	ctx         context.Context // the owner's
	key         string          // the owner's session key
	nb, tb, rec string
	lockConn    *sql.Conn
}

func newCancelFixture(t *testing.T) *cancelFixture {
	t.Helper()
	requirePostgres(t)
	ctx := context.Background()
	opts := testOptions()
	opts.MaxConns = 2
	b := openBackendOpts(t, testURL(), opts)
	s := all.New(b, keyring.ForTests())
	const email, password = "cancel@example.com", "a long enough password, surely"
	u, err := s.CreateUser(ctx, coffer.UserInput{Email: email, Name: "C", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	cctx := coffer.WithCaller(ctx, &coffer.Caller{UserID: u.ID, Email: u.Email})
	nb, err := s.CreateNotebook(cctx, "N")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := s.CreateTable(cctx, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeText}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.CreateRecord(cctx, nb.ID, tb.ID, map[string]any{"A": "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &cancelFixture{b: b, s: s, ctx: cctx, key: sess.Key, nb: nb.ID, tb: tb.ID, rec: rec.ID}
}

// lock makes the notebook's user tables wait for unlock, from a connection
// of its own (outside the store's pool).
func (f *cancelFixture) lock(t *testing.T) {
	t.Helper()
	db, err := sql.Open("pgx", testURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema, err := f.b.NotebookSchema(f.nb)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = '`+schema+`' AND tablename LIKE 't\_%' LOOP
			EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', '`+schema+`', r.tablename);
		END LOOP; END $$`); err != nil {
		t.Fatal(err)
	}
	f.lockConn = conn
}

// unlock releases the lock of lock.
func (f *cancelFixture) unlock(t *testing.T) {
	t.Helper()
	if _, err := f.lockConn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	f.lockConn.Close()
}

// works checks that the store still reads and writes.
func (f *cancelFixture) works(t *testing.T) {
	t.Helper()
	for i := 0; i < 4; i++ { // more than the pool's connections
		if _, err := f.s.FindRecord(f.ctx, f.nb, f.tb, f.rec); err != nil {
			t.Fatalf("get after the cancellations: %v", err)
		}
	}
	if _, err := f.s.CreateRecord(f.ctx, f.nb, f.tb, map[string]any{"A": "y"}); err != nil {
		t.Fatalf("create after the cancellations: %v", err)
	}
}

// TestCancelledQuery: a statement interrupted by its context's end (here a
// pg_sleep, then reads and writes waiting for a lock) answers the
// cancellation's stable code, unavailable, and the pool works afterwards.
func TestCancelledQuery(t *testing.T) {
	f := newCancelFixture(t)
	for _, cancel := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(f.ctx)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(f.ctx, 200*time.Millisecond)
		}},
	} {
		t.Run(cancel.name, func(t *testing.T) {
			ctx, stop := cancel.ctx()
			_, err := f.b.Pool().ExecContext(ctx, "SELECT pg_sleep(10)")
			stop()
			if err == nil {
				t.Fatal("pg_sleep(10) was not interrupted")
			}
			if got := coffer.ErrorCode(f.b.Dialect().MapError(err)); got != coffer.EUNAVAILABLE {
				t.Errorf("pg_sleep interrupted: %v maps to %q, want %q", err, got, coffer.EUNAVAILABLE)
			}
			f.lock(t)
			for i := 0; i < 3; i++ { // more than the pool's connections
				ctx, stop := cancel.ctx()
				_, err := f.s.FindRecord(ctx, f.nb, f.tb, f.rec)
				stop()
				if got := coffer.ErrorCode(err); got != coffer.EUNAVAILABLE {
					t.Errorf("get interrupted: %v (code %q), want %q", err, got, coffer.EUNAVAILABLE)
				}
				ctx, stop = cancel.ctx()
				_, err = f.s.CreateRecord(ctx, f.nb, f.tb, map[string]any{"A": "z"})
				stop()
				if got := coffer.ErrorCode(err); got != coffer.EUNAVAILABLE {
					t.Errorf("create interrupted: %v (code %q), want %q", err, got, coffer.EUNAVAILABLE)
				}
			}
			f.unlock(t)
			f.works(t)
		})
	}
}

// statusRecorder remembers the status of every answer a handler wrote.
type statusRecorder struct {
	mu       sync.Mutex
	statuses []int
}

func (rec *statusRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		rec.mu.Lock()
		rec.statuses = append(rec.statuses, sw.status)
		rec.mu.Unlock()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestCancelledRequest: over HTTP, a get whose client goes away while its
// query waits, and one that outlives the server's request timeout, are
// answered 503, never 500; the server serves the next requests.
func TestCancelledRequest(t *testing.T) {
	f := newCancelFixture(t)
	st := f.s
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := api.New(api.Services{
		Users: st, Auth: st, Notebooks: st, Tables: st, Records: st, Views: st, Sessions: st, MFA: st, SSO: st, Orgs: st, Accounts: st, Sharing: st, History: st, TimeTravel: st, Undo: st, Live: st, Ping: st.Ping, Audit: st,
		Resets: mail.NewResets(st, nil, "http://localhost", log), AccessLog: st, Watches: st, Setup: st,
	}, api.Config{Logger: log, RequestTimeout: 500 * time.Millisecond})
	rec := &statusRecorder{}
	ts := httptest.NewServer(rec.wrap(srv.Handler()))
	defer ts.Close()
	url := ts.URL + "/api/v1/notebooks/" + f.nb + "/tables/" + f.tb + "/records/" + f.rec
	get := func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(context.Background()); err != nil || code != http.StatusOK {
		t.Fatalf("get before: %d %v", code, err)
	}
	f.lock(t)
	// The server's request timeout ends the wait.
	if code, err := get(context.Background()); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("get past the request timeout: %d %v, want 503", code, err)
	}
	// The client goes away mid-query: the answer nobody reads is 503.
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		if _, err := get(ctx); err == nil {
			t.Error("the client's request was not cancelled")
		}
		cancel()
	}
	f.unlock(t)
	if code, err := get(context.Background()); err != nil || code != http.StatusOK {
		t.Errorf("get after: %d %v", code, err)
	}
	ts.Close() // waits for the handlers of the abandoned requests
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []int{200, 503, 503, 503, 503, 200}
	if len(rec.statuses) != len(want) {
		t.Fatalf("answers %v, want %v", rec.statuses, want)
	}
	for i := range want {
		if rec.statuses[i] != want[i] {
			t.Errorf("answers %v, want %v", rec.statuses, want)
			break
		}
	}
}

// TestCancelledRequestsNever500: clients that give up at any moment of a
// get, a page with its count or a create (before the query, during it,
// between the statements of a transaction) are never answered 500.
func TestCancelledRequestsNever500(t *testing.T) {
	f := newCancelFixture(t)
	st := f.s
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := api.New(api.Services{
		Users: st, Auth: st, Notebooks: st, Tables: st, Records: st, Views: st, Sessions: st, MFA: st, SSO: st, Orgs: st, Accounts: st, Sharing: st, History: st, TimeTravel: st, Undo: st, Live: st, Ping: st.Ping, Audit: st,
		Resets: mail.NewResets(st, nil, "http://localhost", log), AccessLog: st, Watches: st, Setup: st,
	}, api.Config{Logger: log})
	rec := &statusRecorder{}
	ts := httptest.NewServer(rec.wrap(srv.Handler()))
	defer ts.Close()
	base := ts.URL + "/api/v1/notebooks/" + f.nb + "/tables/" + f.tb + "/records"
	reqs := []struct{ method, url, body string }{
		{"GET", base + "/" + f.rec, ""},
		{"GET", base + "?limit=50&count=true&sort=-A", ""},
		{"POST", base, `{"fields": {"A": "new"}}`},
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				r := reqs[(i+w)%len(reqs)]
				// From before the request reaches the server to after it answered.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%20)*time.Millisecond)
				req, _ := http.NewRequestWithContext(ctx, r.method, r.url, strings.NewReader(r.body))
				req.Header.Set("Authorization", "Bearer "+f.key)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	ts.Close() // waits for the handlers of the abandoned requests
	f.works(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	counts := map[int]int{}
	for _, s := range rec.statuses {
		counts[s]++
	}
	t.Logf("answers: %v", counts)
	for s, n := range counts {
		if s >= 500 && s != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d", n, s)
		}
	}
	if t.Failed() {
		t.Logf("server errors:\n%s", logs.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
