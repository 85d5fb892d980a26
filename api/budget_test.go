package api_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// budgetTable makes a user with a notebook and a table of a few records.
func budgetTable(t *testing.T, env *Env, email string) (key, recs string) {
	t.Helper()
	env.MustUser(email, "Budget")
	key = env.MustLogin(email)
	var nb coffer.Notebook
	env.Do("POST", "/api/v1/notebooks", key, map[string]any{"name": "B"}).WantStatus(201).JSON(&nb)
	env.Do("POST", "/api/v1/notebooks/"+nb.ID+"/tables", key, map[string]any{
		"name": "T", "columns": []map[string]any{{"name": "Name", "type": "text"}},
	}).WantStatus(201)
	recs = "/api/v1/notebooks/" + nb.ID + "/tables/T/records"
	for _, n := range []string{"Ada", "Grace"} {
		env.Do("POST", recs, key, map[string]any{"fields": map[string]any{"Name": n}}).WantStatus(201)
	}
	return key, recs
}

// TestFilterCaps: a filter of 127 "~" comparisons (the probe's expensive
// list) is refused before it runs: 400 filter_too_complex naming the
// filter; 32 comparisons are served. A view cannot store one either.
func TestFilterCaps(t *testing.T) {
	env := MustEnv(t)
	key, recs := budgetTable(t, env, "caps@example.com")
	terms := func(n int) string {
		p := make([]string, n)
		for i := range p {
			p[i] = `Name ~ "zz` + strings.Repeat("q", i%7) + `"`
		}
		return strings.Join(p, " || ")
	}
	q := url.Values{"filter": {terms(127)}, "count": {"true"}}
	p := env.Do("GET", recs+"?"+q.Encode(), key, nil).WantProblem(400, "filter_too_complex")
	if len(p.Errors) != 1 || p.Errors[0].Field != "filter" || !strings.Contains(p.Errors[0].Message, "too many comparisons (more than 32)") {
		t.Errorf("problem: %+v", p)
	}
	q.Set("filter", terms(32))
	env.Do("GET", recs+"?"+q.Encode(), key, nil).WantStatus(200)
	views := strings.TrimSuffix(recs, "/records") + "/views"
	env.Do("POST", views, key, map[string]any{"name": "big", "filter": terms(33)}).WantProblem(400, "filter_too_complex")
}

// TestListTimeout: a list whose query cannot finish within the configured
// budget is cancelled and answered 503 query_timeout; the next list is
// served. (The never-ending query comes from the store's test hook.)
func TestListTimeout(t *testing.T) {
	env := MustEnv(t)
	key, recs := budgetTable(t, env, "timeout@example.com")
	env.Store.SetListTimeout(200 * time.Millisecond)
	env.Store.SetListHook(func(ctx context.Context, r *sql.DB) error {
		var n int64
		return r.QueryRowContext(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").Scan(&n)
	})
	p := env.Do("GET", recs+"?count=true", key, nil).WantProblem(503, "query_timeout")
	if !strings.Contains(p.Detail, "time budget") {
		t.Errorf("detail %q", p.Detail)
	}
	env.Store.SetListHook(nil)
	env.Store.SetListTimeout(0)
	var list struct {
		Records []coffer.Record `json:"records"`
	}
	env.Do("GET", recs+"?count=true", key, nil).WantStatus(200).JSON(&list)
	if len(list.Records) != 2 {
		t.Errorf("after the timeout: %d records", len(list.Records))
	}
}
