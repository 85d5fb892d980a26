package api_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestTimeTravelHTTP: as_of on record get and list, the revert endpoints,
// and their problems (a bad moment, one the history does not reach, no
// access).
func TestTimeTravelHTTP(t *testing.T) {
	f := MustFixture(t)
	f.Clock.Freeze()
	rec := "/api/v1/notebooks/" + f.NB + "/tables/People/records/" + f.Recs[0]
	list := "/api/v1/notebooks/" + f.NB + "/tables/People/records"
	f.Clock.Advance(time.Second)
	before := f.Clock.Now()
	f.Clock.Advance(time.Second)
	f.Do("PATCH", rec, f.Alice, map[string]any{"fields": map[string]any{"name": "Ada L.", "age": 37}}).WantStatus(http.StatusOK)
	f.Clock.Advance(time.Second)

	asOf := "?as_of=" + url.QueryEscape(before.Format(time.RFC3339Nano))
	r := f.Do("GET", rec+asOf, f.Alice, nil).WantStatus(http.StatusOK)
	if r.Header.Get("ETag") != "" {
		t.Errorf("a past record has ETag %q", r.Header.Get("ETag"))
	}
	var past coffer.Record
	r.JSON(&past)
	if past.Fields["name"] != "Ada" {
		t.Errorf("as of before the change: %v", past.Fields)
	}
	var l struct {
		Records []coffer.Record      `json:"records"`
		AsOf    *coffer.HistoryPoint `json:"as_of"`
	}
	f.Do("GET", list+asOf+"&filter="+url.QueryEscape(`name = "Ada"`), f.Alice, nil).WantStatus(http.StatusOK).JSON(&l)
	if len(l.Records) != 1 || l.AsOf == nil || l.AsOf.Seq == 0 {
		t.Fatalf("list as of before the change: %+v", l)
	}
	seq := strconv.FormatInt(l.AsOf.Seq, 10)
	f.Do("GET", rec+"?as_of="+seq, f.Alice, nil).WantStatus(http.StatusOK).JSON(&past)
	if past.Fields["name"] != "Ada" {
		t.Errorf("as of action %s: %v", seq, past.Fields)
	}

	f.Do("GET", rec+"?as_of=yesterday", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", list+"?as_of=-3", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", rec+"?as_of=999999", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", rec+asOf, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)

	// Revert the record by sequence number (a JSON number), then by time.
	var res coffer.RevertResult
	f.Do("POST", rec+"/revert", f.Alice, map[string]any{"to": l.AsOf.Seq, "columns": []string{"age"}}).WantStatus(http.StatusOK).JSON(&res)
	if len(res.Updated) != 1 || res.Seq == 0 {
		t.Errorf("revert of age: %+v", res)
	}
	var now coffer.Record
	f.Do("GET", rec, f.Alice, nil).WantStatus(http.StatusOK).JSON(&now)
	if now.Fields["name"] != "Ada L." || now.Fields["age"] != float64(36) {
		t.Errorf("after the revert of age: %v", now.Fields)
	}
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/revert", f.Alice, map[string]any{"to": before.Format(time.RFC3339Nano)}).WantStatus(http.StatusOK).JSON(&res)
	if len(res.Updated) != 1 {
		t.Errorf("table revert: %+v", res)
	}
	f.Do("POST", rec+"/revert", f.Alice, map[string]any{"to": "soon"}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", rec+"/revert", f.Alice, map[string]any{"columns": []string{"age"}}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", rec+"/revert", f.Alice, map[string]any{"to": 1, "extra": true}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", rec+"/revert", f.Bob, map[string]any{"to": 1}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)

	// An action kept only for undo (history off) hides what came before.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.Dir, "notebooks", f.NB+".db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// A notebook that keeps a day of history does not reach back two.
	exec("UPDATE _schema_version SET history_days = 1, version = version + 1")
	f.Clock.Advance(48 * time.Hour)
	f.Alice = f.MustLogin("alice@example.com") // the session expired meanwhile
	f.Do("GET", rec+asOf, f.Alice, nil).WantProblem(http.StatusUnprocessableEntity, coffer.EHISTORY)
	f.Do("GET", rec+"?as_of="+url.QueryEscape(f.Clock.Now().Format(time.RFC3339)), f.Alice, nil).WantStatus(http.StatusOK)
	exec("UPDATE _schema_version SET history_days = 0, version = version + 1")
	f.Do("GET", rec+asOf, f.Alice, nil).WantStatus(http.StatusOK)
	// Once the oldest action is pruned, the moment before it is out of reach.
	f.Do("GET", list+"?as_of=0", f.Alice, nil).WantStatus(http.StatusOK)
	exec("DELETE FROM _changes WHERE seq = (SELECT min(seq) FROM _actions)")
	exec("DELETE FROM _actions WHERE seq = (SELECT min(seq) FROM _actions)")
	f.Do("GET", list+"?as_of=0", f.Alice, nil).WantProblem(http.StatusUnprocessableEntity, coffer.EHISTORY)
	exec("UPDATE _actions SET history = 0 WHERE seq = (SELECT max(seq) FROM _actions)")
	f.Do("GET", rec+asOf, f.Alice, nil).WantProblem(http.StatusUnprocessableEntity, coffer.EHISTORY)
	f.Do("POST", rec+"/revert", f.Alice, map[string]any{"to": l.AsOf.Seq}).WantProblem(http.StatusUnprocessableEntity, coffer.EHISTORY)
}
