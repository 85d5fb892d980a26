package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
)

// TestAccessLogAPI reads access records over HTTP: the list, a record's
// readers and the CSV export (formula cells neutralized), for owners only
// (a viewer gets 403); bad queries get 400 with field errors.
func TestAccessLogAPI(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("owner-al@example.com", "Owner")
	viewer := e.MustUser("viewer-al@example.com", "Viewer")
	key := e.MustLogin("owner-al@example.com")
	vkey := e.MustLogin("viewer-al@example.com")
	nb := e.Do("POST", "/api/v1/notebooks", key, map[string]any{"name": "Log"}).WantStatus(http.StatusCreated).Map()["id"].(string)
	e.Do("POST", "/api/v1/notebooks/"+nb+"/tables", key, map[string]any{"name": "People", "columns": []map[string]any{{"name": "Name", "type": "text"}}}).WantStatus(http.StatusCreated)
	rec := e.Do("POST", "/api/v1/notebooks/"+nb+"/tables/People/records", key, map[string]any{"fields": map[string]any{"Name": "Ada"}}).WantStatus(http.StatusCreated).Map()["id"].(string)
	e.Do("PUT", "/api/v1/notebooks/"+nb+"/members/"+viewer.ID, key, map[string]any{"role": "viewer"}).WantStatus(http.StatusOK)
	e.Do("PATCH", "/api/v1/notebooks/"+nb+"/settings", key, map[string]any{"access_log": true}).WantStatus(http.StatusOK)

	e.Do("GET", "/api/v1/notebooks/"+nb+"/tables/People/records/"+rec, vkey, nil, "User-Agent", "=HYPERLINK(\"http://x\")").WantStatus(http.StatusOK)
	e.Do("GET", "/api/v1/notebooks/"+nb+"/tables/People/records", vkey, nil).WantStatus(http.StatusOK)
	e.Store.FlushAccessLog()

	r := e.Do("GET", "/api/v1/notebooks/"+nb+"/access-log?kind=record.read&limit=1", key, nil).WantStatus(http.StatusOK)
	checkHeaders(t, r)
	var page struct {
		Entries []struct {
			Kind, UserID, RecordID string
		} `json:"entries"`
		NextCursor *string `json:"next_cursor"`
	}
	r.JSON(&page)
	if len(page.Entries) != 1 || page.NextCursor == nil || page.Entries[0].Kind != "record.read" {
		t.Fatalf("first page: %s", r.Body)
	}
	r = e.Do("GET", "/api/v1/notebooks/"+nb+"/tables/People/records/"+rec+"/readers", key, nil).WantStatus(http.StatusOK)
	r.JSON(&page)
	if len(page.Entries) != 2 {
		t.Errorf("readers: %s", r.Body)
	}
	r = e.Do("GET", "/api/v1/notebooks/"+nb+"/access-log/export?format=csv", key, nil).WantStatus(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export headers: %v", r.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "seq" {
		t.Fatalf("CSV: %v, %q", err, r.Body)
	}
	if !strings.Contains(string(r.Body), `'=HYPERLINK`) || strings.Contains(string(r.Body), `,=HYPERLINK`) {
		t.Errorf("a formula in the user agent is not neutralized: %s", r.Body)
	}
	e.Do("GET", "/api/v1/notebooks/"+nb+"/access-log", vkey, nil).WantProblem(http.StatusForbidden, "forbidden")
	e.Do("GET", "/api/v1/notebooks/"+nb+"/access-log/export?format=xml", key, nil).WantProblem(http.StatusBadRequest, "invalid")
	p := e.Do("GET", "/api/v1/notebooks/"+nb+"/access-log?since=yesterday&limit=0&color=red", key, nil).WantProblem(http.StatusBadRequest, "invalid")
	if got := strings.Join(p.fieldNames(), ","); got != "color,since" {
		t.Errorf("field errors %s", got)
	}
}

// TestWatchAPI creates a watch rule over HTTP: the secret comes once;
// a webhook to a loopback address is refused (the instance does not
// allow private targets by default); deliveries and test answer.
func TestWatchAPI(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("owner-w@example.com", "Owner")
	key := e.MustLogin("owner-w@example.com")
	nb := e.Do("POST", "/api/v1/notebooks", key, map[string]any{"name": "Watched"}).WantStatus(http.StatusCreated).Map()["id"].(string)
	e.Do("POST", "/api/v1/notebooks/"+nb+"/tables", key, map[string]any{"name": "People", "columns": []map[string]any{{"name": "Name", "type": "text"}}}).WantStatus(http.StatusCreated)
	base := "/api/v1/notebooks/" + nb + "/watches"
	p := e.Do("POST", base, key, map[string]any{"table": "People", "events": []string{"change"}, "webhook_url": "http://127.0.0.1:1/hook"}).WantProblem(http.StatusBadRequest, "invalid")
	if got := strings.Join(p.fieldNames(), ","); got != "webhook_url" {
		t.Errorf("field errors %s", got)
	}
	e.Do("POST", base, key, map[string]any{"table": "People", "events": []string{"change"}, "secret": "mine"}).WantProblem(http.StatusBadRequest, "invalid")
	w := e.Do("POST", base, key, map[string]any{"table": "People", "name": "All changes", "events": []string{"change"}, "webhook_url": "https://hooks.example.com/coffer"}).WantStatus(http.StatusCreated).Map()
	id, _ := w["id"].(string)
	if s, _ := w["secret"].(string); !strings.HasPrefix(s, "whsec_") {
		t.Errorf("created rule: %v", w)
	}
	got := e.Do("GET", base+"/"+id, key, nil).WantStatus(http.StatusOK).Map()
	if _, ok := got["secret"]; ok {
		t.Errorf("the secret is shown again: %v", got)
	}
	if l := e.Do("GET", base, key, nil).WantStatus(http.StatusOK).Map()["watches"].([]any); len(l) != 1 {
		t.Errorf("list: %v", l)
	}
	// E-mail only (no SMTP server here: the attempt fails at once, and
	// the log says so), so the test sends nothing over the network.
	t.Cleanup(func() { e.Store.CloseAccessLog(context.Background()) })
	e.Do("PATCH", base+"/"+id, key, map[string]any{"filter": `Name = "Ada"`, "webhook_url": "", "email": true}).WantStatus(http.StatusOK)
	e.Do("POST", base+"/"+id+"/test", key, nil).WantStatus(http.StatusAccepted)
	if ds := e.Do("GET", base+"/"+id+"/deliveries", key, nil).WantStatus(http.StatusOK).Map()["deliveries"].([]any); len(ds) != 1 {
		t.Errorf("deliveries: %v", ds)
	}
	e.Do("DELETE", base+"/"+id, key, nil).WantStatus(http.StatusNoContent)
	e.Do("GET", base+"/"+id, key, nil).WantProblem(http.StatusNotFound, "not_found")
}
