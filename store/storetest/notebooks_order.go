package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// testFieldOrder: records list their fields in column order, in gets, lists
// (also with a field selection) and in their JSON.
func testFieldOrder(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Order")
	tbl := MustTable(t, ctx, s, nb.ID, "T",
		coffer.ColumnInput{Name: "Zeta", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Alpha", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Mid", Type: coffer.TypeBoolean})
	rec := MustRecord(t, ctx, s, nb.ID, tbl.ID, map[string]any{"Alpha": json.Number("1"), "Zeta": "z"})
	want := []string{"Zeta", "Alpha", "Mid"}
	if got := MustFindRecord(t, ctx, s, nb.ID, tbl.ID, rec.ID).Order; !slices.Equal(got, want) {
		t.Errorf("get: order %v, want %v", got, want)
	}
	list := MustList(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Fields: []string{"Mid", "Zeta"}})
	if got := list.Records[0].Order; !slices.Equal(got, []string{"Mid", "Zeta"}) {
		t.Errorf("list with fields: order %v, want [Mid Zeta]", got)
	}
	b, err := json.Marshal(list.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(string(b), `"Mid"`), strings.Index(string(b), `"Zeta"`); i < 0 || j < 0 || i > j {
		t.Errorf("JSON not in the selected order: %s", b)
	}
}
