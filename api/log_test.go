package api_test

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/auth"
)

// TestRequestLog captures the JSON logs over a run of requests and checks
// that each request gets exactly one "request" line with its status and
// duration, and that no secret (password, session key, its hash) and no
// query string reaches the logs.
func TestRequestLog(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("alice@example.com", "Alice")
	const wrongPassword = "Wrong-Password-Sentinel-91723"
	const filterSecret = "Secret-Filter-Value-55813"

	type sent struct {
		id     string
		status int
		route  string
		user   string
	}
	var reqs []sent
	do := func(method, path, key string, body any, route string, hdr ...string) *Response {
		r := e.Do(method, path, key, body, hdr...)
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s %s: no X-Request-Id", method, path)
		}
		user := ""
		if key != "" && r.Status != http.StatusUnauthorized && r.Status != http.StatusMethodNotAllowed {
			user = u.ID
		}
		reqs = append(reqs, sent{id, r.Status, route, user})
		return r
	}

	do("GET", "/healthz", "", nil, "/healthz")
	do("POST", "/api/v1/auth/login", "", map[string]any{"email": "alice@example.com", "password": wrongPassword}, "/api/v1/auth/login")
	r := do("POST", "/api/v1/auth/login", "", map[string]any{"email": "alice@example.com", "password": testPassword}, "/api/v1/auth/login")
	var sess struct {
		Key string `json:"session_key"`
	}
	r.JSON(&sess)
	key := sess.Key
	do("GET", "/api/v1/auth/me", key, nil, "/api/v1/auth/me")
	var nb struct{ ID string }
	do("POST", "/api/v1/notebooks", key, map[string]any{"name": "Main"}, "/api/v1/notebooks").JSON(&nb)
	do("POST", "/api/v1/notebooks/"+nb.ID+"/tables", key, map[string]any{"name": "T", "columns": []any{map[string]any{"name": "name", "type": "text"}}},
		"/api/v1/notebooks/{notebook}/tables")
	do("POST", "/api/v1/notebooks/"+nb.ID+"/tables/T/records", key, map[string]any{"fields": map[string]any{"name": filterSecret}},
		"/api/v1/notebooks/{notebook}/tables/{table}/records")
	do("GET", "/api/v1/notebooks/"+nb.ID+"/tables/T/records?"+url.Values{"filter": {`name = "` + filterSecret + `"`}}.Encode(), key, nil,
		"/api/v1/notebooks/{notebook}/tables/{table}/records")
	do("GET", "/api/v1/notebooks/"+nb.ID+"/tables/T/records?filter="+url.QueryEscape("name ="), key, nil,
		"/api/v1/notebooks/{notebook}/tables/{table}/records")
	do("GET", "/api/v1/notebooks", "", nil, "/api/v1/notebooks")
	do("GET", "/api/v1/notebooks", "garbage-"+key, nil, "/api/v1/notebooks")
	do("GET", "/nope?token="+key, "", nil, "unmatched")
	do("PUT", "/api/v1/notebooks", key, nil, "/api/v1/notebooks")
	do("POST", "/api/v1/auth/logout", key, nil, "/api/v1/auth/logout")
	// Close waits for the handlers, so every log line is written.
	e.Close()

	logs := e.Logs.String()
	byID := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] != "request" {
			continue
		}
		lines++
		id, _ := m["request_id"].(string)
		byID[id] = append(byID[id], m)
	}
	if lines != len(reqs) {
		t.Errorf("%d request lines for %d requests", lines, len(reqs))
	}
	for _, s := range reqs {
		ls := byID[s.id]
		if len(ls) != 1 {
			t.Errorf("request %s (%s): %d log lines, want 1", s.id, s.route, len(ls))
			continue
		}
		l := ls[0]
		if st, _ := l["status"].(float64); int(st) != s.status {
			t.Errorf("request %s: logged status %v, sent %d", s.route, l["status"], s.status)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("request %s: duration_ms %v", s.route, l["duration_ms"])
		}
		if l["route"] != s.route {
			t.Errorf("request: logged route %v, want %s", l["route"], s.route)
		}
		if l["user"] != s.user {
			t.Errorf("request %s (%d): logged user %q, want %q", s.route, s.status, l["user"], s.user)
		}
		for _, k := range []string{"method", "time", "level", "bytes"} {
			if _, ok := l[k]; !ok {
				t.Errorf("request %s: no %s in %v", s.route, k, l)
			}
		}
	}
	for what, secret := range map[string]string{
		"password":                    testPassword,
		"wrong password":              wrongPassword,
		"session key":                 key,
		"session key without prefix":  strings.TrimPrefix(key, "cfs_"),
		"session key hash (hex)":      hex.EncodeToString(auth.HashToken(key)),
		"session key hash (base64)":   base64.RawStdEncoding.EncodeToString(auth.HashToken(key)),
		"filter value (query string)": filterSecret,
		"e-mail":                      "alice@example.com",
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", what)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs)
	}
}
