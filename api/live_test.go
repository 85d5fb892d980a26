package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
)

// frame is one server-sent event.
type frame struct{ event, data string }

// stream is a client following a table's events.
type stream struct {
	tb     testing.TB
	frames chan frame
	cancel context.CancelFunc
}

// openStream connects to the events of a table; it fails the test unless
// the server answers 200 with an event stream. The stream is closed at the
// end of the test, before the server stops.
func openStream(f *Fixture, key, table string) *stream {
	f.TB.Helper()
	return openStreamAt(f.Env, key, f.NB, table)
}

// openStreamAt is openStream on any notebook of a server.
func openStreamAt(e *Env, key, nb, table string) *stream {
	e.TB.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/notebooks/"+nb+"/tables/"+table+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Origin", e.URL)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.TB.Fatalf("open stream: %v", err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") || res.Header.Get("Cache-Control") != "no-store" {
		cancel()
		e.TB.Fatalf("open stream: status %d, headers %v", res.StatusCode, res.Header)
	}
	s := &stream{tb: e.TB, frames: make(chan frame, 64), cancel: cancel}
	go func() {
		defer res.Body.Close()
		defer close(s.frames)
		sc := bufio.NewScanner(res.Body)
		var cur frame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.event != "" {
					s.frames <- cur
				}
				cur = frame{}
			case strings.HasPrefix(line, ":"): // comment: heartbeat
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	e.TB.Cleanup(cancel)
	return s
}

// next returns the next frame, failing the test after a few seconds.
func (s *stream) next() frame {
	s.tb.Helper()
	select {
	case fr, ok := <-s.frames:
		if !ok {
			s.tb.Fatal("the stream closed without a frame")
		}
		return fr
	case <-time.After(5 * time.Second):
		s.tb.Fatal("no frame within 5 s")
	}
	return frame{}
}

// closed checks that the stream ends (after its last frame).
func (s *stream) closed() {
	s.tb.Helper()
	select {
	case fr, ok := <-s.frames:
		if ok {
			s.tb.Fatalf("frame %+v after the end", fr)
		}
	case <-time.After(5 * time.Second):
		s.tb.Fatal("the stream did not close")
	}
}

func (fr frame) record(tb testing.TB) coffer.Record {
	tb.Helper()
	var r coffer.Record
	if err := json.Unmarshal([]byte(fr.data), &r); err != nil {
		tb.Fatalf("frame %+v: %v", fr, err)
	}
	return r
}

func (f *Fixture) create(key string, fields map[string]any) string {
	f.TB.Helper()
	return f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", key, map[string]any{"fields": fields}).
		WantStatus(http.StatusCreated).Map()["id"].(string)
}

// TestLiveUpdates: a stream receives creates, updates and deletes as the
// caller sees them.
func TestLiveUpdates(t *testing.T) {
	f := MustFixture(t)
	s := openStream(f, f.Alice, "People")
	id := f.create(f.Alice, map[string]any{"name": "Edsger", "age": 50, "team": "blue", "note": "n"})
	fr := s.next()
	if r := fr.record(t); fr.event != "create" || r.ID != id || r.Version != 1 || r.Fields["name"] != "Edsger" || r.Fields["note"] != "n" {
		t.Fatalf("create frame %+v", fr)
	}
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+id, f.Alice, map[string]any{"fields": map[string]any{"age": 51}}).WantStatus(http.StatusOK)
	fr = s.next()
	if r := fr.record(t); fr.event != "update" || r.ID != id || r.Version != 2 || r.Fields["age"] != 51.0 {
		t.Fatalf("update frame %+v", fr)
	}
	f.Do("DELETE", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+id, f.Alice, nil).WantStatus(http.StatusNoContent)
	fr = s.next()
	if fr.event != "delete" || fr.data != `{"id":"`+id+`"}` {
		t.Fatalf("delete frame %+v", fr)
	}
	// A batch: one event per changed record; a failed batch sends nothing.
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records/batch", f.Alice, map[string]any{"operations": []map[string]any{
		{"op": "update", "id": f.Recs[0], "fields": map[string]any{"age": 37}},
		{"op": "update", "id": f.Recs[1], "fields": map[string]any{"age": 46}},
		{"op": "delete", "id": f.Recs[1]},
	}}).WantStatus(http.StatusOK)
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records/batch", f.Alice, map[string]any{"operations": []map[string]any{
		{"op": "update", "id": f.Recs[2], "fields": map[string]any{"age": 21}},
		{"op": "update", "id": f.MissingRec, "fields": map[string]any{"age": 1}},
	}}).WantStatus(http.StatusNotFound)
	if fr := s.next(); fr.event != "update" || fr.record(t).ID != f.Recs[0] {
		t.Fatalf("batch, first frame %+v", fr)
	}
	if fr := s.next(); fr.event != "delete" || !strings.Contains(fr.data, f.Recs[1]) {
		t.Fatalf("batch, second frame %+v (want the delete only: last change per record)", fr)
	}
	// Another table's writes are not sent.
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/Teams/records", f.Alice, map[string]any{"fields": map[string]any{"name": "x"}}).WantStatus(http.StatusCreated)
	id = f.create(f.Alice, map[string]any{"name": "Barbara"})
	if fr := s.next(); fr.event != "create" || fr.record(t).ID != id {
		t.Fatalf("frame %+v, want Barbara's create (nothing of the failed batch or of Teams)", fr)
	}
}

// TestLiveUpdatesAccess: a caller limited to some rows and columns gets
// only what he may read, never a hidden column or a delete; revoking his
// grant or ending his session ends the stream at the next event.
func TestLiveUpdatesAccess(t *testing.T) {
	f := MustFixture(t)
	f.MustUser("carol@example.com", "Carol")
	carol := f.MustLogin("carol@example.com")
	carolID := f.userID(carol)
	// No access yet: the table answers like a missing one.
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/events", carol, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.sqlGrant("user", carolID, f.People, "", `team = "red"`,
		map[string]string{f.colID("name"): "read", f.colID("team"): "read", "*": "none"}, "delete")
	s := openStream(f, carol, "People")

	f.create(f.Alice, map[string]any{"name": "Blue", "team": "blue", "note": "secret"})
	f.Do("DELETE", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+f.Recs[0], f.Alice, nil).WantStatus(http.StatusNoContent) // Ada, red
	red := f.create(f.Alice, map[string]any{"name": "Red", "team": "red", "note": "secret", "age": 9})
	fr := s.next()
	if fr.event != "create" || strings.Contains(fr.data, "secret") || strings.Contains(fr.data, "note") || strings.Contains(fr.data, "age") {
		t.Fatalf("Carol's first frame %+v: want the red create without note or age (nothing of the blue record or the delete)", fr)
	}
	if r := fr.record(t); r.ID != red || r.Fields["name"] != "Red" {
		t.Fatalf("Carol's frame %+v", fr)
	}
	// An update that moves a record out of her rows is not sent.
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+red, f.Alice, map[string]any{"fields": map[string]any{"team": "blue"}}).WantStatus(http.StatusOK)

	// Revocation: the next event ends the stream instead of sending data.
	f.MustExec("DELETE FROM {p}grants WHERE principal_id = ?", carolID)
	f.Clock.Advance(2 * time.Second)
	f.create(f.Alice, map[string]any{"name": "Red 2", "team": "red"})
	if fr := s.next(); fr.event != "end" || strings.Contains(fr.data, "Red") {
		t.Fatalf("after revocation: frame %+v, want end", fr)
	}
	s.closed()

	// Logout: the next event ends the stream.
	alice2 := f.MustLogin("alice@example.com")
	s2 := openStream(f, alice2, "People")
	f.Do("POST", "/api/v1/auth/logout", alice2, nil).WantStatus(http.StatusNoContent)
	f.create(f.Alice, map[string]any{"name": "After logout"})
	if fr := s2.next(); fr.event != "end" || strings.Contains(fr.data, "After logout") {
		t.Fatalf("after logout: frame %+v, want end", fr)
	}
	s2.closed()
}

// TestLiveUpdatesRefused: foreign Origin, no key, tables not visible.
func TestLiveUpdatesRefused(t *testing.T) {
	f := MustFixture(t)
	path := "/api/v1/notebooks/" + f.NB + "/tables/People/events"
	f.Do("GET", path, f.Alice, nil, "Origin", "https://evil.example").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("GET", path, "", nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.Do("GET", path, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/Nope/events", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.MissingNB+"/tables/People/events", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestLiveHeartbeatAndDrain: an idle stream gets heartbeats (so proxies
// keep it open), and a server draining for shutdown ends every stream.
func TestLiveHeartbeatAndDrain(t *testing.T) {
	defer api.SetLiveHeartbeat(50 * time.Millisecond)()
	f := MustFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/api/v1/notebooks/"+f.NB+"/tables/People/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.Alice)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	heartbeats := 0
	for heartbeats < 2 && sc.Scan() {
		if sc.Text() == ": heartbeat" {
			heartbeats++
		}
	}
	if heartbeats < 2 {
		t.Fatalf("an idle stream got %d heartbeats", heartbeats)
	}
	f.API.Drain()
	ended := false
	for sc.Scan() {
		if sc.Text() == "event: end" {
			ended = true
		}
	}
	if !ended {
		t.Error("draining the server did not end the stream with an end event")
	}
}
