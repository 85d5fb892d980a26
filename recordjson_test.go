package coffer_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestRecordJSON checks the hand-written encoder against encoding/json's
// reading of it, and the column order.
func TestRecordJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	r := coffer.Record{
		ID: "rec_x", Version: 3, CreatedAt: at, UpdatedAt: at, CreatedBy: "usr_a", UpdatedBy: "usr_b",
		Fields: map[string]any{
			"b": "quote \" backslash \\ newline \n tab \t nul \x00 html <a&b> sep \u2028 bad \xff end",
			"a": json.Number("12.50"), "c": true, "d": nil, "e": []string{"x", "y\"z"}, "f": int64(-7),
			"g": map[string]int{"k": 1},
		},
		Order: []string{"b", "a", "c", "d", "e", "f", "g", "missing"},
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %s", got)
	}
	if !strings.HasPrefix(string(got), `{"id":"rec_x","fields":{"b":`) || strings.Index(string(got), `"a":`) > strings.Index(string(got), `"c":`) {
		t.Errorf("fields not in column order: %s", got)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	fields := back["fields"].(map[string]any)
	if want := "quote \" backslash \\ newline \n tab \t nul \x00 html <a&b> sep \u2028 bad \ufffd end"; fields["b"] != want {
		t.Errorf("string: got %q, want %q", fields["b"], want)
	}
	if strings.Contains(string(got), "<") || strings.Contains(string(got), "\u2028") {
		t.Errorf("unescaped HTML or line separator in %s", got)
	}
	wantFields := map[string]any{"a": 12.5, "c": true, "d": nil, "e": []any{"x", "y\"z"}, "f": -7.0, "g": map[string]any{"k": 1.0}}
	for k, w := range wantFields {
		if !reflect.DeepEqual(fields[k], w) {
			t.Errorf("field %s: got %#v, want %#v", k, fields[k], w)
		}
	}
	if back["version"] != 3.0 || back["created_at"] != "2026-01-02T03:04:05.000006Z" || back["updated_by"] != "usr_b" {
		t.Errorf("system fields: %s", got)
	}
	// Without Order, fields are sorted by name, as encoding/json does.
	r.Order = nil
	got, _ = json.Marshal(r)
	if i, j := strings.Index(string(got), `"a":`), strings.Index(string(got), `"b":`); i < 0 || i > j {
		t.Errorf("fields not sorted without Order: %s", got)
	}
}
