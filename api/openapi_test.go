package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// servedDocument starts a server without services (enough for the routes,
// the document and authentication failures) and fetches the document.
func servedDocument(t *testing.T) (*api.Server, *httptest.Server, map[string]any) {
	t.Helper()
	srv := api.New(api.Services{}, api.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	res, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !json.Valid(body) {
		t.Fatal("the OpenAPI document is not valid JSON")
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return srv, ts, doc
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// resolve follows a local $ref.
func resolve(doc map[string]any, v any) map[string]any {
	m := obj(v)
	for i := 0; i < 10 && m != nil; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = obj(cur)[part]
		}
		m = obj(cur)
	}
	return m
}

// TestOpenAPIInSync fails when the document and Routes() disagree, or when
// an operation lacks what clients need.
func TestOpenAPIInSync(t *testing.T) {
	srv, ts, doc := servedDocument(t)

	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info := obj(doc["info"])
	if info["title"] == "" || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}
	scheme := obj(obj(obj(doc["components"])["securitySchemes"])["bearerAuth"])
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("bearerAuth security scheme: %v", scheme)
	}

	// Routes and documented operations match exactly.
	want := map[string]bool{}
	for _, r := range srv.Routes() {
		for _, m := range r.Methods {
			want[strings.ToLower(m)+" "+r.Pattern] = true
		}
	}
	paths := obj(doc["paths"])
	got := map[string]bool{}
	for p, item := range paths {
		for _, m := range httpMethods {
			if _, ok := obj(item)[m]; ok {
				got[m+" "+p] = true
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("route %s is missing from the OpenAPI document", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("the OpenAPI document has %s, which Routes() lacks", k)
		}
	}
	if len(want) == 0 {
		t.Fatal("Routes() is empty")
	}

	// Every operation: summary, responses, unique operationId, declared path
	// parameters, error responses as problem+json.
	ids := map[string]string{}
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for p, item := range paths {
		pathParams := obj(item)["parameters"]
		for _, m := range httpMethods {
			op := obj(obj(item)[m])
			if op == nil {
				continue
			}
			name := strings.ToUpper(m) + " " + p
			if s, _ := op["summary"].(string); strings.TrimSpace(s) == "" {
				t.Errorf("%s: no summary", name)
			}
			responses := obj(op["responses"])
			if len(responses) == 0 {
				t.Errorf("%s: no responses", name)
			}
			hasSuccess := false
			for code, r := range responses {
				r := resolve(doc, r)
				if r == nil || r["description"] == nil {
					t.Errorf("%s: response %s has no description", name, code)
					continue
				}
				if strings.HasPrefix(code, "2") {
					hasSuccess = true
				}
				if strings.HasPrefix(code, "4") || strings.HasPrefix(code, "5") || code == "default" {
					if _, ok := obj(r["content"])["application/problem+json"]; !ok {
						t.Errorf("%s: error response %s is not application/problem+json", name, code)
					}
				}
			}
			if !hasSuccess {
				t.Errorf("%s: no 2xx response", name)
			}
			if id, _ := op["operationId"].(string); id == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", name, id, other)
			} else {
				ids[id] = name
			}
			declared := map[string]bool{}
			for _, list := range []any{pathParams, op["parameters"]} {
				l, _ := list.([]any)
				for _, prm := range l {
					prm := resolve(doc, prm)
					if prm["in"] == "path" {
						if prm["required"] != true {
							t.Errorf("%s: path parameter %v is not required", name, prm["name"])
						}
						declared[prm["name"].(string)] = true
					}
				}
			}
			for _, mm := range paramRe.FindAllStringSubmatch(p, -1) {
				if !declared[mm[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", name, mm[1])
				}
				delete(declared, mm[1])
			}
			for extra := range declared {
				t.Errorf("%s: declares path parameter %q that the path lacks", name, extra)
			}
		}
	}

	// Security: an operation answers 401 without credentials exactly when
	// the document says it needs the bearer key.
	global, _ := doc["security"].([]any)
	for _, r := range srv.Routes() {
		for _, m := range r.Methods {
			op := obj(obj(paths[r.Pattern])[strings.ToLower(m)])
			if op == nil {
				continue
			}
			path := paramRe.ReplaceAllString(r.Pattern, "x")
			req, _ := http.NewRequest(m, ts.URL+path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			sec := global
			if s, ok := op["security"]; ok {
				sec, _ = s.([]any)
			}
			needsAuth := len(sec) > 0
			if gotAuth := res.StatusCode == 401; gotAuth != needsAuth {
				t.Errorf("%s %s: answers %d without credentials, but the document says security %v", m, r.Pattern, res.StatusCode, sec)
			}
			if _, ok := obj(op["responses"])["401"]; needsAuth && !ok {
				t.Errorf("%s %s: needs a bearer key but documents no 401", m, r.Pattern)
			}
		}
	}

	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && resolve(doc, x) == nil {
				t.Errorf("%s: $ref %q does not resolve", at, ref)
			}
			for k, y := range x {
				walk(y, at+"/"+k)
			}
		case []any:
			for _, y := range x {
				walk(y, at)
			}
		}
	}
	walk(doc, "#")
}

// TestOpenAPIContract checks the parts of the document that mirror Go
// types and constants: schemas against JSON tags, the code and type enums,
// and the list and If-Match parameters.
func TestOpenAPIContract(t *testing.T) {
	_, _, doc := servedDocument(t)
	schemas := obj(obj(doc["components"])["schemas"])

	for name, v := range map[string]any{
		"Notebook": coffer.Notebook{}, "NotebookUpdate": coffer.NotebookUpdate{},
		"Table": coffer.Table{}, "TableInput": coffer.TableInput{}, "TableUpdate": coffer.TableUpdate{}, "TableLayout": coffer.TableLayout{},
		"Column": coffer.Column{}, "ColumnInput": coffer.ColumnInput{}, "ColumnOptions": coffer.ColumnOptions{}, "ColumnUpdate": coffer.ColumnUpdate{},
		"Record": coffer.Record{}, "RecordList": coffer.RecordList{}, "BatchOp": coffer.BatchOp{}, "BatchResult": coffer.BatchResult{},
		"View": coffer.View{}, "ViewInput": coffer.ViewInput{}, "ViewUpdate": coffer.ViewUpdate{},
		"Session": coffer.Session{}, "SessionInfo": coffer.SessionInfo{}, "APIKey": coffer.APIKey{}, "APIKeyInput": coffer.APIKeyInput{},
		"User": coffer.User{}, "FieldError": coffer.FieldError{}, "Problem": api.Problem{},
		"TOTPEnrolment": coffer.TOTPEnrolment{}, "Passkey": coffer.Passkey{}, "MFAStatus": coffer.MFAStatus{},
		"SSOProvider": coffer.SSOProvider{}, "SSOProviderInput": coffer.SSOProviderInput{},
		"PasswordResetRequest": api.ResetRequest{}, "PasswordResetConfirm": api.ResetConfirm{}, "PasswordResetAccepted": api.ResetAccepted{},
		"Organization": coffer.Organization{}, "OrganizationInput": coffer.OrganizationInput{}, "OrganizationUpdate": coffer.OrganizationUpdate{},
		"Policy": coffer.Policy{}, "Membership": coffer.Membership{}, "Group": coffer.Group{},
		"PasswordChange": api.PasswordChange{}, "PasswordChanged": api.PasswordChanged{},
		"Principal": coffer.Principal{}, "Member": coffer.Member{}, "MemberInput": coffer.MemberInput{},
		"Grant": coffer.Grant{}, "GrantInput": coffer.GrantInput{}, "GrantUpdate": coffer.GrantUpdate{},
		"AccessExplanation": coffer.AccessExplanation{}, "AccessSource": coffer.AccessSource{}, "ColumnAccess": coffer.ColumnAccess{},
		"ExplainedUser": coffer.ExplainedUser{},
		"HistoryPoint":  coffer.HistoryPoint{}, "RevertResult": coffer.RevertResult{},
		"UndoOptions": coffer.UndoOptions{}, "ActionDone": coffer.ActionDone{}, "RecordRef": coffer.RecordRef{}, "CellRef": coffer.CellRef{},
		"File": coffer.File{}, "FileLink": coffer.FileLink{}, "FileLinkInput": coffer.FileLinkInput{},
		"TrashRecord": coffer.TrashRecord{}, "TrashColumn": coffer.TrashColumn{}, "TrashTable": coffer.TrashTable{}, "SchemaTrash": coffer.SchemaTrash{},
	} {
		s := obj(schemas[name])
		if s == nil {
			t.Errorf("schema %s is missing", name)
			continue
		}
		var got []string
		for k := range obj(s["properties"]) {
			got = append(got, k)
		}
		sort.Strings(got)
		if want := jsonFields(reflect.TypeOf(v)); !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, the Go type %v", name, got, want)
		}
	}

	codes := []string{coffer.EINVALID, coffer.ENOTFOUND, coffer.ECONFLICT, coffer.EVERSION, coffer.ECONVERSION,
		coffer.EUNAUTHORIZED, coffer.EFORBIDDEN, coffer.ETOOLARGE, coffer.EUNAVAILABLE, coffer.EINTERNAL,
		coffer.ETOOMANY, coffer.ERESTRICTED, coffer.ESESSION, coffer.ETOOCOMPLEX, coffer.ETIMEOUT, coffer.ESTREAMS, coffer.EHISTORY, coffer.EASOFTOOLARGE, coffer.ENOTHINGTOUNDO, coffer.ENOTHINGTOREDO, coffer.EINTEGRITY, coffer.ERANGE, "method_not_allowed", "unsupported_media_type"}
	enum := strings1(obj(obj(obj(schemas["Problem"])["properties"])["code"])["enum"])
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("Problem.code enum lacks %q", c)
		}
	}
	var types []string
	for _, ct := range coffer.ColumnTypes {
		types = append(types, string(ct))
	}
	if got := strings1(obj(schemas["ColumnType"])["enum"]); !slices.Equal(got, types) {
		t.Errorf("ColumnType enum %v, want %v", got, types)
	}

	paths := obj(doc["paths"])
	params := func(path, method string) map[string]string {
		out := map[string]string{}
		item := obj(paths[path])
		for _, list := range []any{item["parameters"], obj(item[method])["parameters"]} {
			l, _ := list.([]any)
			for _, p := range l {
				p := resolve(doc, p)
				out[p["in"].(string)+":"+p["name"].(string)] = p["name"].(string)
			}
		}
		return out
	}
	const recs = "/api/v1/notebooks/{notebook}/tables/{table}/records"
	list := params(recs, "get")
	for _, q := range []string{"filter", "sort", "limit", "cursor", "fields", "count", "view", "as_of"} {
		if _, ok := list["query:"+q]; !ok {
			t.Errorf("GET %s lacks query parameter %s", recs, q)
		}
	}
	if desc, _ := obj(obj(paths[recs])["get"])["description"].(string); !strings.Contains(desc, "&&") || !strings.Contains(desc, "is null") {
		t.Errorf("GET %s: the description does not explain the filter language", recs)
	}
	for _, m := range []string{"patch", "delete"} {
		if _, ok := params(recs+"/{record}", m)["header:If-Match"]; !ok {
			t.Errorf("%s %s/{record} lacks the If-Match header", strings.ToUpper(m), recs)
		}
	}
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func strings1(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
