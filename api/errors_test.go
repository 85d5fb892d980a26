package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// scenario is one request of the error table and what must come back.
type scenario struct {
	name   string
	method string
	path   string   // placeholders: see Fixture.Path
	auth   string   // "" = Alice, "bob", "none", or the literal Authorization header after "raw:"
	header []string // extra headers, name/value pairs
	body   any      // nil, rawBody (sent with the header's Content-Type only) or a JSON value
	status int
	code   string
	fields []string // fields that must be named in errors
	allow  string   // expected Allow header of a 405
	skip   string   // a known bug: the scenario is skipped with this reason
}

const (
	nbPath     = "/api/v1/notebooks/{nb}"
	peoplePath = nbPath + "/tables/People"
	recsPath   = peoplePath + "/records"
)

func jsonCT() []string { return []string{"Content-Type", "application/json"} }

func errorScenarios() []scenario {
	oversized := rawBody(`{"name":"` + strings.Repeat("a", 1<<20) + `"}`)
	ops := make([]map[string]any, 1001)
	for i := range ops {
		ops[i] = map[string]any{"op": "create", "fields": map[string]any{"name": fmt.Sprint("r", i)}}
	}
	badCursor := base64.RawURLEncoding.EncodeToString([]byte(`{"s":"0000000000000000","v":["x"]}`))
	return []scenario{
		// Authentication.
		{name: "no bearer", method: "GET", path: "/api/v1/notebooks", auth: "none", status: 401, code: "unauthorized"},
		{name: "garbage bearer", method: "GET", path: "/api/v1/notebooks", auth: "raw:Bearer garbage", status: 401, code: "unauthorized"},
		{name: "unknown session key", method: "GET", path: "/api/v1/auth/me", auth: "raw:Bearer cfs_" + strings.Repeat("A", 43), status: 401, code: "unauthorized"},
		{name: "huge bearer", method: "GET", path: "/api/v1/auth/me", auth: "raw:Bearer cfs_" + strings.Repeat("A", 5000), status: 401, code: "unauthorized"},
		{name: "basic scheme", method: "GET", path: "/api/v1/notebooks", auth: "raw:Basic YWxpY2U6cGFzc3dvcmQ=", status: 401, code: "unauthorized"},
		{name: "bearer without key", method: "GET", path: "/api/v1/notebooks", auth: "raw:Bearer ", status: 401, code: "unauthorized"},
		{name: "logout without key", method: "POST", path: "/api/v1/auth/logout", auth: "none", status: 401, code: "unauthorized"},
		{name: "private route without key", method: "GET", path: recsPath, auth: "none", status: 401, code: "unauthorized"},
		{name: "login wrong password", method: "POST", path: "/api/v1/auth/login", auth: "none",
			body: map[string]any{"email": "alice@example.com", "password": "not the right password at all"}, status: 401, code: "unauthorized"},
		{name: "login unknown e-mail", method: "POST", path: "/api/v1/auth/login", auth: "none",
			body: map[string]any{"email": "nobody@example.com", "password": testPassword}, status: 401, code: "unauthorized"},

		// Routing.
		{name: "unknown path", method: "GET", path: "/nope", status: 404, code: "not_found"},
		{name: "unknown api path", method: "GET", path: "/api/v1/", status: 404, code: "not_found"},
		{name: "unknown sub-resource", method: "GET", path: nbPath + "/nope", status: 404, code: "not_found"},
		{name: "pprof", method: "GET", path: "/debug/pprof/", status: 404, code: "not_found"},
		{name: "pprof cmdline", method: "GET", path: "/debug/pprof/cmdline", auth: "none", status: 404, code: "not_found"},
		{name: "wrong method on collection", method: "PUT", path: "/api/v1/notebooks", body: map[string]any{}, status: 405, code: "method_not_allowed", allow: "GET, HEAD, POST"},
		{name: "wrong method on login", method: "GET", path: "/api/v1/auth/login", auth: "none", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "wrong method on healthz", method: "POST", path: "/healthz", auth: "none", status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "wrong method on record", method: "PUT", path: recsPath + "/{rec}", status: 405, code: "method_not_allowed", allow: "DELETE, GET, HEAD, PATCH"},
		{name: "wrong method on batch", method: "GET", path: recsPath + "/batch", status: 405, code: "method_not_allowed", allow: "POST"},

		// Media type.
		{name: "body without content type", method: "POST", path: "/api/v1/notebooks", body: rawBody(`{"name":"x"}`), status: 415, code: "unsupported_media_type"},
		{name: "text/plain body", method: "POST", path: "/api/v1/notebooks", header: []string{"Content-Type", "text/plain"}, body: rawBody(`{"name":"x"}`), status: 415, code: "unsupported_media_type"},
		{name: "form body", method: "POST", path: "/api/v1/notebooks", header: []string{"Content-Type", "application/x-www-form-urlencoded"}, body: rawBody(`name=x`), status: 415, code: "unsupported_media_type"},
		{name: "login form body", method: "POST", path: "/api/v1/auth/login", auth: "none", header: []string{"Content-Type", "application/x-www-form-urlencoded"}, body: rawBody("email=a&password=b"), status: 415, code: "unsupported_media_type"},
		{name: "record patch without content type", method: "PATCH", path: recsPath + "/{rec}", body: rawBody(`{"fields":{}}`), status: 415, code: "unsupported_media_type"},

		// Malformed bodies.
		{name: "malformed JSON", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: rawBody(`{"name":`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "syntax error", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: rawBody(`{"name" "x"}`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "empty body", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: rawBody(``), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "trailing value", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: rawBody(`{"name":"x"}{"name":"y"}`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "invalid UTF-8 in a name", method: "POST", path: nbPath + "/tables", header: jsonCT(), body: rawBody("{\"name\":\"\xff\xfe\"}"), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "lone surrogate in a name", method: "POST", path: nbPath + "/tables", header: jsonCT(), body: rawBody(`{"name":"T\ud800"}`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "lone low surrogate in a value", method: "POST", path: recsPath, header: jsonCT(), body: rawBody(`{"fields":{"name":"x\udc00y"}}`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "invalid UTF-8 in a value", method: "POST", path: recsPath, header: jsonCT(), body: rawBody("{\"fields\":{\"name\":\"caf\xe9\"}}"), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "null record body", method: "POST", path: recsPath, header: jsonCT(), body: rawBody(`null`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "null patch body", method: "PATCH", path: recsPath + "/{rec}", header: jsonCT(), body: rawBody(` null `), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "bidi override in a table name", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "\u202Egnp.exe"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "zero-width space in a notebook name", method: "POST", path: "/api/v1/notebooks", body: map[string]any{"name": "CR\u200bM"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "byte-order mark in a column name", method: "POST", path: peoplePath + "/columns", body: map[string]any{"name": "\ufeffage", "type": "number"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "replacement character in a view name", method: "POST", path: peoplePath + "/views", body: map[string]any{"name": "caf\ufffd"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "patch with an empty object", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{}, status: 400, code: "invalid", fields: []string{"fields"}},
		{name: "patch with no fields", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"fields": map[string]any{}}, status: 400, code: "invalid", fields: []string{"fields"}},
		{name: "batch update with no fields", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{map[string]any{"op": "update", "id": "{rec}", "fields": map[string]any{}}}}, status: 400, code: "invalid", fields: []string{"operations[0].fields"}},
		{name: "bidi override in an API key name", method: "POST", path: "/api/v1/api-keys", body: map[string]any{"name": "sync\u202Ejob"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "trailing garbage", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: rawBody(`{"name":"x"} junk`), status: 400, code: "invalid", fields: []string{"body"}},
		{name: "array instead of object", method: "POST", path: "/api/v1/notebooks", body: []any{}, status: 400, code: "invalid", fields: []string{"body"}},
		{name: "mass assignment owner_id", method: "POST", path: "/api/v1/notebooks", body: map[string]any{"name": "x", "owner_id": "usr_x"}, status: 400, code: "invalid", fields: []string{"owner_id"}},
		{name: "mass assignment notebook id", method: "PATCH", path: nbPath, body: map[string]any{"id": "nb_x"}, status: 400, code: "invalid", fields: []string{"id"}},
		{name: "mass assignment record created_by", method: "POST", path: recsPath, body: map[string]any{"fields": map[string]any{}, "created_by": "usr_x"}, status: 400, code: "invalid", fields: []string{"created_by"}},
		{name: "mass assignment record id", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"id": "rec_x", "fields": map[string]any{}}, status: 400, code: "invalid", fields: []string{"id"}},
		{name: "mass assignment column id", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "T", "columns": []any{map[string]any{"name": "a", "type": "text", "id": "col_x"}}}, status: 400, code: "invalid", fields: []string{"id"}},
		{name: "mass assignment view table_id", method: "POST", path: peoplePath + "/views", body: map[string]any{"name": "v", "table_id": "tbl_x"}, status: 400, code: "invalid", fields: []string{"table_id"}},
		{name: "login extra field", method: "POST", path: "/api/v1/auth/login", auth: "none", body: map[string]any{"email": "alice@example.com", "password": testPassword, "operator": true}, status: 400, code: "invalid", fields: []string{"operator"}},
		{name: "wrong type name", method: "POST", path: "/api/v1/notebooks", body: map[string]any{"name": 5}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "wrong type columns", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "T", "columns": "name"}, status: 400, code: "invalid", fields: []string{"columns"}},
		{name: "wrong type fields", method: "POST", path: recsPath, body: map[string]any{"fields": []any{1}}, status: 400, code: "invalid", fields: []string{"fields"}},
		{name: "wrong type version", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"fields": map[string]any{}, "version": "1"}, status: 400, code: "invalid", fields: []string{"version"}},
		{name: "wrong type view columns", method: "POST", path: peoplePath + "/views", body: map[string]any{"name": "v", "columns": "name"}, status: 400, code: "invalid", fields: []string{"columns"}},
		{name: "unknown field table update", method: "PATCH", path: peoplePath, body: map[string]any{"name": "P", "notebook_id": "nb_x"}, status: 400, code: "invalid", fields: []string{"notebook_id"}},
		{name: "unknown field column create", method: "POST", path: peoplePath + "/columns", body: map[string]any{"name": "c", "type": "text", "position": 1}, status: 400, code: "invalid", fields: []string{"position"}},
		{name: "unknown field view update", method: "PATCH", path: peoplePath + "/views/Adults", body: map[string]any{"id": "viw_x"}, status: 400, code: "invalid", fields: []string{"id"}},
		{name: "wrong type batch operations", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": map[string]any{}}, status: 400, code: "invalid", fields: []string{"operations"}},
		{name: "wrong type dry_run", method: "PATCH", path: peoplePath + "/columns/note", body: map[string]any{"dry_run": "yes"}, status: 400, code: "invalid", fields: []string{"dry_run"}},
		{name: "oversized body", method: "POST", path: "/api/v1/notebooks", header: jsonCT(), body: oversized, status: 413, code: "too_large"},
		{name: "oversized record", method: "POST", path: recsPath, header: jsonCT(), body: rawBody(`{"fields":{"name":"` + strings.Repeat("a", 1<<20) + `"}}`), status: 413, code: "too_large"},

		// Invalid values.
		{name: "empty notebook name", method: "POST", path: "/api/v1/notebooks", body: map[string]any{"name": "  "}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "control character in name", method: "POST", path: "/api/v1/notebooks", body: map[string]any{"name": "a\x01b"}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "name too long", method: "PATCH", path: nbPath, body: map[string]any{"name": strings.Repeat("n", 201)}, status: 400, code: "invalid", fields: []string{"name"}},
		{name: "bad table", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "", "columns": []any{
			map[string]any{"name": "x", "type": "nope"}, map[string]any{"name": "", "type": "text"}, map[string]any{"name": "n", "type": "number", "options": map[string]any{"precision": 20}},
		}}, status: 400, code: "invalid", fields: []string{"name", "columns[0].type", "columns[1].name", "columns[2].options.precision"}},
		{name: "duplicate column in new table", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "T2", "columns": []any{
			map[string]any{"name": "a", "type": "text"}, map[string]any{"name": "A", "type": "text"}}}, status: 400, code: "invalid", fields: []string{"columns[1].name"}},
		{name: "bad column", method: "POST", path: peoplePath + "/columns", body: map[string]any{"name": "tags", "type": "multi_select"}, status: 400, code: "invalid", fields: []string{"options.choices"}},
		{name: "bad record values", method: "POST", path: recsPath, body: map[string]any{"fields": map[string]any{"age": "old", "team": "green", "nope": 1}}, status: 400, code: "invalid", fields: []string{"age", "team", "nope"}},
		{name: "automatic field", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"fields": map[string]any{"created_at": "2020-01-01T00:00:00Z"}}, status: 400, code: "invalid", fields: []string{"created_at"}},
		{name: "version on create", method: "POST", path: recsPath, body: map[string]any{"fields": map[string]any{}, "version": 3}, status: 400, code: "invalid", fields: []string{"version"}},
		{name: "bad view", method: "POST", path: peoplePath + "/views", body: map[string]any{"name": "", "filter": "age >", "sort": "nope", "columns": []string{"nope"}}, status: 400, code: "invalid", fields: []string{"name", "filter", "columns[0]"}},
		{name: "bad view update", method: "PATCH", path: peoplePath + "/views/Adults", body: map[string]any{"filter": "nope = 1"}, status: 400, code: "invalid", fields: []string{"filter"}},

		// Missing objects.
		{name: "missing notebook", method: "GET", path: "/api/v1/notebooks/{missingnb}", status: 404, code: "not_found"},
		{name: "garbage notebook id", method: "GET", path: "/api/v1/notebooks/xyz", status: 404, code: "not_found"},
		{name: "missing notebook tables", method: "GET", path: "/api/v1/notebooks/{missingnb}/tables", status: 404, code: "not_found"},
		{name: "missing notebook patch", method: "PATCH", path: "/api/v1/notebooks/{missingnb}", body: map[string]any{"name": "x"}, status: 404, code: "not_found"},
		{name: "missing notebook delete", method: "DELETE", path: "/api/v1/notebooks/{missingnb}", status: 404, code: "not_found"},
		{name: "missing table", method: "GET", path: nbPath + "/tables/Nope", status: 404, code: "not_found"},
		{name: "missing table records", method: "GET", path: nbPath + "/tables/Nope/records", status: 404, code: "not_found"},
		{name: "missing table create record", method: "POST", path: nbPath + "/tables/Nope/records", body: map[string]any{"fields": map[string]any{}}, status: 404, code: "not_found"},
		{name: "missing table delete", method: "DELETE", path: nbPath + "/tables/Nope", status: 404, code: "not_found"},
		{name: "missing column patch", method: "PATCH", path: peoplePath + "/columns/nope", body: map[string]any{"name": "x"}, status: 404, code: "not_found"},
		{name: "missing column delete", method: "DELETE", path: peoplePath + "/columns/nope", status: 404, code: "not_found"},
		{name: "missing record", method: "GET", path: recsPath + "/{missingrec}", status: 404, code: "not_found"},
		{name: "garbage record id", method: "GET", path: recsPath + "/xyz", status: 404, code: "not_found"},
		{name: "missing record patch", method: "PATCH", path: recsPath + "/{missingrec}", body: map[string]any{"fields": map[string]any{"name": "x"}}, status: 404, code: "not_found"},
		{name: "missing record delete", method: "DELETE", path: recsPath + "/{missingrec}", status: 404, code: "not_found"},
		{name: "missing record in batch", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{map[string]any{"op": "delete", "id": "{missingrec}"}}}, status: 404, code: "not_found"},
		{name: "missing view", method: "GET", path: peoplePath + "/views/Nope", status: 404, code: "not_found"},
		{name: "missing view delete", method: "DELETE", path: peoplePath + "/views/Nope", status: 404, code: "not_found"},
		{name: "missing view in list", method: "GET", path: recsPath + "?view=Nope", status: 404, code: "not_found"},
		{name: "another user's notebook", method: "GET", path: "/api/v1/notebooks/{bobnb}", status: 404, code: "not_found"},
		{name: "another user's notebook tables", method: "POST", path: "/api/v1/notebooks/{bobnb}/tables", body: map[string]any{"name": "x"}, status: 404, code: "not_found"},
		{name: "another user's notebook delete", method: "DELETE", path: "/api/v1/notebooks/{bobnb}", status: 404, code: "not_found"},
		{name: "my notebook as another user", method: "GET", path: recsPath, auth: "bob", status: 404, code: "not_found"},

		// Conflicts.
		{name: "duplicate table", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "People"}, status: 409, code: "conflict"},
		{name: "duplicate table other case", method: "POST", path: nbPath + "/tables", body: map[string]any{"name": "people"}, status: 409, code: "conflict"},
		{name: "rename table onto another", method: "PATCH", path: nbPath + "/tables/Teams", body: map[string]any{"name": "PEOPLE"}, status: 409, code: "conflict"},
		{name: "duplicate column", method: "POST", path: peoplePath + "/columns", body: map[string]any{"name": "Name", "type": "text"}, status: 409, code: "conflict", fields: []string{"name"}},
		{name: "rename column onto another", method: "PATCH", path: peoplePath + "/columns/note", body: map[string]any{"name": "age"}, status: 409, code: "conflict"},
		{name: "duplicate view", method: "POST", path: peoplePath + "/views", body: map[string]any{"name": "adults"}, status: 409, code: "conflict"},
		{name: "stale If-Match", method: "PATCH", path: recsPath + "/{rec}", header: []string{"If-Match", `"2"`}, body: map[string]any{"fields": map[string]any{"name": "X"}}, status: 409, code: "version_conflict"},
		{name: "stale weak If-Match", method: "PATCH", path: recsPath + "/{rec}", header: []string{"If-Match", `W/"7"`}, body: map[string]any{"fields": map[string]any{"name": "X"}}, status: 409, code: "version_conflict"},
		{name: "stale body version", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"fields": map[string]any{"name": "X"}, "version": 9}, status: 409, code: "version_conflict"},
		{name: "stale delete", method: "DELETE", path: recsPath + "/{rec}", header: []string{"If-Match", "5"}, status: 409, code: "version_conflict"},
		{name: "stale batch update", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{map[string]any{"op": "update", "id": "{rec}", "version": 9, "fields": map[string]any{"name": "X"}}}}, status: 409, code: "version_conflict", fields: []string{"operations[0].version"}},
		{name: "bad If-Match", method: "PATCH", path: recsPath + "/{rec}", header: []string{"If-Match", "abc"}, body: map[string]any{"fields": map[string]any{}}, status: 400, code: "invalid", fields: []string{"If-Match"}},
		{name: "zero If-Match", method: "PATCH", path: recsPath + "/{rec}", header: []string{"If-Match", `"0"`}, body: map[string]any{"fields": map[string]any{}}, status: 400, code: "invalid", fields: []string{"If-Match"}},
		{name: "negative If-Match", method: "DELETE", path: recsPath + "/{rec}", header: []string{"If-Match", "-1"}, status: 400, code: "invalid", fields: []string{"If-Match"}},
		{name: "If-Match disagrees with body", method: "PATCH", path: recsPath + "/{rec}", header: []string{"If-Match", `"1"`}, body: map[string]any{"fields": map[string]any{}, "version": 2}, status: 400, code: "invalid", fields: []string{"version"}},
		{name: "negative body version", method: "PATCH", path: recsPath + "/{rec}", body: map[string]any{"fields": map[string]any{}, "version": -1}, status: 400, code: "invalid", fields: []string{"version"}},

		// Type conversion.
		{name: "conversion failure", method: "PATCH", path: peoplePath + "/columns/note", body: map[string]any{"type": "number"}, status: 422, code: "conversion_failed", fields: []string{"records.{rec}"}},
		{name: "conversion failure dry run", method: "PATCH", path: peoplePath + "/columns/name", body: map[string]any{"type": "boolean", "dry_run": true}, status: 422, code: "conversion_failed"},

		// Batches.
		{name: "batch of 1001", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": ops}, status: 413, code: "too_large"},
		{name: "empty batch", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{}}, status: 400, code: "invalid", fields: []string{"operations"}},
		{name: "batch bad op", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{map[string]any{"op": "upsert"}, map[string]any{"op": "create", "fields": map[string]any{"age": "x"}}}}, status: 400, code: "invalid", fields: []string{"operations[0].op", "operations[1].fields.age"}},
		{name: "batch unknown op field", method: "POST", path: recsPath + "/batch", body: map[string]any{"operations": []any{map[string]any{"op": "create", "created_by": "usr_x"}}}, status: 400, code: "invalid", fields: []string{"created_by"}},

		// List queries.
		{name: "bad filter", method: "GET", path: recsPath + "?filter=" + q("age >"), status: 400, code: "invalid", fields: []string{"filter"}},
		{name: "unknown filter column", method: "GET", path: recsPath + "?filter=" + q(`nope = 1`), status: 400, code: "invalid", fields: []string{"filter"}},
		{name: "filter type mismatch", method: "GET", path: recsPath + "?filter=" + q(`age = "old"`), status: 400, code: "invalid", fields: []string{"filter"}},
		{name: "filter too long", method: "GET", path: recsPath + "?filter=" + q(strings.Repeat(`name = "x" || `, 400)+`name = "x"`), status: 400, code: "filter_too_complex", fields: []string{"filter"}},
		{name: "bad sort", method: "GET", path: recsPath + "?sort=nope", status: 400, code: "invalid", fields: []string{"sort"}},
		{name: "bad sort syntax", method: "GET", path: recsPath + "?sort=" + q("-,,"), status: 400, code: "invalid", fields: []string{"sort"}},
		{name: "garbage cursor", method: "GET", path: recsPath + "?cursor=" + q("not a cursor!"), status: 400, code: "invalid", fields: []string{"cursor"}},
		{name: "forged cursor", method: "GET", path: recsPath + "?cursor=" + badCursor, status: 400, code: "invalid", fields: []string{"cursor"}},
		{name: "limit not a number", method: "GET", path: recsPath + "?limit=abc", status: 400, code: "invalid", fields: []string{"limit"}},
		{name: "limit zero", method: "GET", path: recsPath + "?limit=0", status: 400, code: "invalid", fields: []string{"limit"}},
		{name: "limit negative", method: "GET", path: recsPath + "?limit=-1", status: 400, code: "invalid", fields: []string{"limit"}},
		{name: "limit too large", method: "GET", path: recsPath + "?limit=1001", status: 400, code: "invalid", fields: []string{"limit"}},
		{name: "limit overflow", method: "GET", path: recsPath + "?limit=99999999999999999999", status: 400, code: "invalid", fields: []string{"limit"}},
		{name: "count not a bool", method: "GET", path: recsPath + "?count=maybe", status: 400, code: "invalid", fields: []string{"count"}},
		{name: "unknown fields param column", method: "GET", path: recsPath + "?fields=nope", status: 400, code: "invalid", fields: []string{"fields"}},
		{name: "unknown query param", method: "GET", path: recsPath + "?foo=1", status: 400, code: "invalid", fields: []string{"foo"}},
		{name: "repeated query param", method: "GET", path: recsPath + "?filter=" + q("age > 1") + "&filter=" + q("age > 2"), status: 400, code: "invalid", fields: []string{"filter"}},
		{name: "malformed query encoding", method: "GET", path: recsPath + "?filter=%zz", status: 400, code: "invalid", fields: []string{"query"}},
		{name: "malformed query key", method: "GET", path: recsPath + "?%zz=1", status: 400, code: "invalid", fields: []string{"query"}},
		{name: "several query problems", method: "GET", path: recsPath + "?limit=x&count=y&bar=z", status: 400, code: "invalid", fields: []string{"limit", "count", "bar"}},
	}
}

// q escapes a query parameter value.
func q(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", "&", "%26", "+", "%2B", "#", "%23", `"`, "%22", "!", "%21", "=", "%3D", ">", "%3E", "<", "%3C", "|", "%7C", ",", "%2C").Replace(s)
}

// TestErrors runs every error scenario against one fixture and checks the
// status, the problem document, its code and field errors, the headers, and
// that nothing internal leaks.
func TestErrors(t *testing.T) {
	f := MustFixture(t)
	for _, sc := range errorScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if sc.skip != "" {
				t.Skip(sc.skip)
			}
			env := *f.Env
			env.TB = t
			key := f.Alice
			var hdr []string
			switch {
			case sc.auth == "none":
				key = ""
			case sc.auth == "bob":
				key = f.Bob
			case strings.HasPrefix(sc.auth, "raw:"):
				key = ""
				hdr = append(hdr, "Authorization", strings.TrimPrefix(sc.auth, "raw:"))
			}
			hdr = append(hdr, sc.header...)
			body := sc.body
			if m, ok := body.(map[string]any); ok {
				body = fillBody(f, m)
			}
			r := env.Do(sc.method, f.Path(sc.path), key, body, hdr...)
			p := r.WantProblem(sc.status, sc.code)
			got := p.fieldNames()
			for _, want := range sc.fields {
				if !slices.Contains(got, f.Path(want)) {
					t.Errorf("errors name %q, want %q among them; body: %s", got, f.Path(want), r.Body)
				}
			}
			if sc.status == http.StatusBadRequest && len(p.Errors) == 0 {
				t.Errorf("400 without errors: %s", r.Body)
			}
			if sc.allow != "" && r.Header.Get("Allow") != sc.allow {
				t.Errorf("Allow = %q, want %q", r.Header.Get("Allow"), sc.allow)
			}
		})
	}
	// Nothing of the failed requests changed the data.
	t.Run("unchanged", func(t *testing.T) {
		env := *f.Env
		env.TB = t
		var rec struct {
			Version int64          `json:"version"`
			Fields  map[string]any `json:"fields"`
		}
		env.Do("GET", f.Path(recsPath+"/{rec}"), f.Alice, nil).WantStatus(200).JSON(&rec)
		if rec.Version != 1 || rec.Fields["name"] != "Ada" || rec.Fields["note"] != "hello" {
			t.Errorf("record changed by failed requests: %+v", rec)
		}
		var list struct {
			Records []any  `json:"records"`
			Total   *int64 `json:"total"`
		}
		env.Do("GET", f.Path(recsPath+"?count=true"), f.Alice, nil).WantStatus(200).JSON(&list)
		if list.Total == nil || *list.Total != 3 {
			t.Errorf("records: total %v, want 3", list.Total)
		}
		var tbl struct {
			Columns []struct{ Name, Type string }
		}
		env.Do("GET", f.Path(peoplePath), f.Alice, nil).WantStatus(200).JSON(&tbl)
		if len(tbl.Columns) != 4 || tbl.Columns[3].Type != "text" || tbl.Columns[0].Type != "text" {
			t.Errorf("columns changed by failed requests: %+v", tbl.Columns)
		}
		var nbs struct{ Notebooks []any }
		env.Do("GET", "/api/v1/notebooks", f.Alice, nil).WantStatus(200).JSON(&nbs)
		if len(nbs.Notebooks) != 1 {
			t.Errorf("notebooks: %d, want 1", len(nbs.Notebooks))
		}
	})
}

// fillBody replaces placeholders in string values of a JSON body (one level
// into operations).
func fillBody(f *Fixture, m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = f.Path(x)
		case []any:
			ys := make([]any, len(x))
			for i, y := range x {
				if ym, ok := y.(map[string]any); ok {
					ys[i] = fillBody(f, ym)
				} else {
					ys[i] = y
				}
			}
			out[k] = ys
		default:
			out[k] = v
		}
	}
	return out
}

// TestExpiredSession: a session key stops working after its lifetime.
func TestExpiredSession(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("alice@example.com", "Alice")
	key := e.MustLogin("alice@example.com")
	e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK)
	e.Clock.Advance(24*time.Hour + time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, "unauthorized")
	e.Do("GET", "/api/v1/notebooks", key, nil).WantProblem(http.StatusUnauthorized, "unauthorized")
}

// TestLoggedOutKey: logout ends the session on the server.
func TestLoggedOutKey(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("alice@example.com", "Alice")
	key := e.MustLogin("alice@example.com")
	e.Do("POST", "/api/v1/auth/logout", key, nil).WantStatus(http.StatusNoContent)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, "unauthorized")
}

// TestNoInference: another user's notebook, and anything under it, answers
// byte for byte like a notebook that does not exist; so does a wrong
// password like an unknown e-mail.
func TestNoInference(t *testing.T) {
	f := MustFixture(t)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/notebooks/%s", nil},
		{"PATCH", "/api/v1/notebooks/%s", map[string]any{"name": "mine now"}},
		{"DELETE", "/api/v1/notebooks/%s", nil},
		{"GET", "/api/v1/notebooks/%s/tables", nil},
		{"POST", "/api/v1/notebooks/%s/tables", map[string]any{"name": "T"}},
		{"GET", "/api/v1/notebooks/%s/tables/People/records", nil},
		{"POST", "/api/v1/notebooks/%s/tables/People/records", map[string]any{"fields": map[string]any{}}},
		{"GET", "/api/v1/notebooks/%s/tables/People/views", nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			env := *f.Env
			env.TB = t
			// Bob asks for Alice's notebook and for one that does not exist.
			other := env.Do(tc.method, fmt.Sprintf(tc.path, f.NB), f.Bob, tc.body)
			missing := env.Do(tc.method, fmt.Sprintf(tc.path, f.MissingNB), f.Bob, tc.body)
			other.WantProblem(http.StatusNotFound, "not_found")
			missing.WantProblem(http.StatusNotFound, "not_found")
			if string(other.Body) != string(missing.Body) {
				t.Errorf("another user's notebook answers\n%s\nbut a missing one answers\n%s", other.Body, missing.Body)
			}
		})
	}
	// Alice's notebook is intact.
	env := *f.Env
	env.TB = t
	var nb struct{ Name string }
	env.Do("GET", "/api/v1/notebooks/"+f.NB, f.Alice, nil).WantStatus(200).JSON(&nb)
	if nb.Name != "Main" {
		t.Errorf("Alice's notebook renamed by Bob: %q", nb.Name)
	}

	wrong := env.Do("POST", "/api/v1/auth/login", "", map[string]any{"email": "alice@example.com", "password": "not the right password at all"})
	unknown := env.Do("POST", "/api/v1/auth/login", "", map[string]any{"email": "nobody@example.com", "password": "not the right password at all"})
	wrong.WantProblem(http.StatusUnauthorized, "unauthorized")
	unknown.WantProblem(http.StatusUnauthorized, "unauthorized")
	if string(wrong.Body) != string(unknown.Body) {
		t.Errorf("login: wrong password answers %s, unknown e-mail %s", wrong.Body, unknown.Body)
	}
}
