package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
)

// oneCaller authenticates every key as the same caller.
type oneCaller struct{ coffer.AuthService }

func (oneCaller) Authenticate(ctx context.Context, key string) (*coffer.Caller, error) {
	return &coffer.Caller{UserID: "usr_test", SessionID: "ses_test"}, nil
}

// brokenNotebooks fails the way bugs and broken infrastructure do: a
// panic, and an error that carries SQL text and a source path.
type brokenNotebooks struct{ coffer.NotebookService }

const internalCause = `SELECT secret FROM users WHERE id = ?: database is locked at /work/main/store/notebook.go:42`

func (brokenNotebooks) FindNotebooks(ctx context.Context) ([]*coffer.Notebook, error) {
	panic("boom: " + internalCause)
}

func (brokenNotebooks) FindNotebook(ctx context.Context, id string) (*coffer.Notebook, error) {
	return nil, errors.New(internalCause)
}

func (brokenNotebooks) DeleteNotebook(ctx context.Context, id string) error {
	return coffer.Internal("DeleteNotebook", errors.New(internalCause))
}

func (brokenNotebooks) UpdateNotebook(ctx context.Context, id string, upd coffer.NotebookUpdate) (*coffer.Notebook, error) {
	return nil, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the request was cancelled or timed out", Err: errors.New(internalCause)}
}

// TestInternalErrors: panics and unexpected errors answer a generic 500
// problem; the cause goes to the log only.
func TestInternalErrors(t *testing.T) {
	logs := &syncBuffer{}
	srv := api.New(api.Services{Auth: oneCaller{}, Notebooks: brokenNotebooks{}}, api.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ts := httptest.NewServer(srv.Handler())
	e := &Env{TB: t, URL: ts.URL, Logs: logs, srv: ts}
	defer ts.Close()

	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/notebooks"},
		{"GET", "/api/v1/notebooks/nb_x"},
		{"DELETE", "/api/v1/notebooks/nb_x"},
	} {
		r := e.Do(tc.method, tc.path, "cfs_anything", nil)
		p := r.WantProblem(500, "internal")
		if p.Detail != "internal error" {
			t.Errorf("%s %s: detail %q, want the generic message", tc.method, tc.path, p.Detail)
		}
		if strings.Contains(string(r.Body), "SELECT") || strings.Contains(string(r.Body), "boom") {
			t.Errorf("%s %s: the cause reaches the client: %s", tc.method, tc.path, r.Body)
		}
	}
	r := e.Do("PATCH", "/api/v1/notebooks/nb_x", "cfs_anything", map[string]any{"name": "x"})
	if p := r.WantProblem(503, "unavailable"); strings.Contains(p.Detail, "SELECT") {
		t.Errorf("the cause of unavailability reaches the client: %s", r.Body)
	}
	ts.Close()
	out := logs.String()
	if !strings.Contains(out, `"msg":"unavailable"`) {
		t.Errorf("the cause of unavailability is not logged:\n%s", out)
	}
	if !strings.Contains(out, `"msg":"panic"`) || !strings.Contains(out, "goroutine") {
		t.Errorf("the panic and its stack are not logged:\n%s", out)
	}
	if strings.Count(out, `"msg":"internal error"`) != 2 {
		t.Errorf("want 2 internal error log lines:\n%s", out)
	}
	if n := strings.Count(out, `"msg":"request"`); n != 4 {
		t.Errorf("%d request lines, want 4", n)
	}
	if !strings.Contains(out, `"status":500`) {
		t.Errorf("request lines do not record status 500:\n%s", out)
	}
}

// TestReadyzStorageDown: /readyz fails with 503 when storage does not answer.
func TestReadyzStorageDown(t *testing.T) {
	logs := &syncBuffer{}
	srv := api.New(api.Services{Ping: func(ctx context.Context) error { return errors.New(internalCause) }},
		api.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &Env{TB: t, URL: ts.URL, Logs: logs, srv: ts}
	e.Do("GET", "/readyz", "", nil).WantProblem(503, "unavailable")
	r := e.Do("GET", "/healthz", "", nil)
	r.WantStatus(200)
}
