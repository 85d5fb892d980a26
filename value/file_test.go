package value_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/value"
)

// TestFileCells: a file cell reads back as files with their URLs; only
// well-formed lists are taken; file columns neither convert to other
// types nor compare in filters.
func TestFileCells(t *testing.T) {
	c := &coffer.Column{Type: coffer.TypeFile}
	id := "fil_" + strings.Repeat("b", 52)
	sha := strings.Repeat("a", 64)
	stored, err := value.FromJSON(c, []any{map[string]any{"id": id, "name": "x.pdf", "size": json.Number("3"), "type": "application/pdf", "sha256": sha, "url": "/ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := value.ToJSON(c, stored).([]coffer.File)
	if !ok || len(got) != 1 || got[0] != (coffer.File{ID: id, Name: "x.pdf", Size: 3, Type: "application/pdf", SHA256: sha, URL: "/files/" + id}) {
		t.Fatalf("ToJSON = %#v", value.ToJSON(c, stored))
	}
	for _, bad := range []any{"x", json.Number("1"), true, map[string]any{"id": id},
		[]any{map[string]any{"id": "rec_1", "sha256": sha}},
		[]any{map[string]any{"id": id, "sha256": "zz"}},
		[]any{map[string]any{"id": id, "sha256": sha, "size": json.Number("-1")}},
	} {
		if _, err := value.FromJSON(c, bad); err == nil {
			t.Errorf("FromJSON(%#v) accepted", bad)
		}
	}
	if v, err := value.FromJSON(c, nil); v != nil || err != nil {
		t.Errorf("FromJSON(nil) = %v, %v", v, err)
	}
	if _, err := value.Convert(c, &coffer.Column{Type: coffer.TypeText}, stored); err == nil {
		t.Error("a file cell converted to text")
	}
	if _, err := value.Convert(&coffer.Column{Type: coffer.TypeText}, c, "x"); err == nil {
		t.Error("text converted to a file cell")
	}
	if _, err := value.FromFilter(c, "x"); err == nil {
		t.Error("a file column compared in a filter")
	}
	if _, ok := value.DecodeFiles("not json"); ok {
		t.Error("DecodeFiles took garbage")
	}
}
