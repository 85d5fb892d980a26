package api_test

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
)

// cutNotebooks waits for the request's end, then fails as a database
// driver does when its connection was closed under a cancelled statement:
// with an error of its own, not the context's.
type cutNotebooks struct{ coffer.NotebookService }

func (cutNotebooks) FindNotebook(ctx context.Context, id string) (*coffer.Notebook, error) {
	<-ctx.Done()
	return nil, driver.ErrBadConn
}

func (cutNotebooks) DeleteNotebook(ctx context.Context, id string) error {
	return driver.ErrBadConn // not cancelled: a fault
}

// TestCancelledRequestNot500: an error that a request's end causes is
// answered 503 unavailable, whatever form the storage gave it; the same
// error in a request that did not end is still a 500.
func TestCancelledRequestNot500(t *testing.T) {
	logs := &syncBuffer{}
	srv := api.New(api.Services{Auth: oneCaller{}, Notebooks: cutNotebooks{}}, api.Config{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), RequestTimeout: 100 * time.Millisecond})
	ts := httptest.NewServer(srv.Handler())
	e := &Env{TB: t, URL: ts.URL, Logs: logs, srv: ts}
	defer ts.Close()
	r := e.Do("GET", "/api/v1/notebooks/nb_x", "cfs_anything", nil)
	r.WantProblem(503, "unavailable")
	e.Do("DELETE", "/api/v1/notebooks/nb_x", "cfs_anything", nil).WantProblem(500, "internal")
	ts.Close()
	if out := logs.String(); !strings.Contains(out, `"msg":"unavailable"`) || !strings.Contains(out, "bad connection") {
		t.Errorf("the cause is not logged:\n%s", out)
	}
}
