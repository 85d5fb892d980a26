package storetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// conversionCase changes the column "V" of a fresh table holding the
// values in, and expects the values out, in the same order.
type conversionCase struct {
	name string
	from coffer.ColumnInput
	upd  coffer.ColumnUpdate
	in   []any
	out  []any
}

func typePtr(t coffer.ColumnType) *coffer.ColumnType { return &t }

func testTypeChanges(t *testing.T, open Opener) {
	s := open(t)

	t.Run("Convertible", func(t *testing.T) {
		testTypeChangesConvertible(t, s)
	})

	t.Run("Unconvertible", func(t *testing.T) {
		testTypeChangesUnconvertible(t, s)
	})

	t.Run("Refused", func(t *testing.T) {
		testTypeChangesRefused(t, s)
	})
}

// testTypeChangesConvertible is the subtest Convertible of testTypeChanges.
func testTypeChangesConvertible(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Convert")
	rgb := []string{"red", "green", "blue"}
	tests := []conversionCase{
		{"text to number", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeNumber)},
			[]any{"42", " -7 ", "1e2", nil}, []any{json.Number("42"), json.Number("-7"), json.Number("100"), nil}},
		{"text to number with precision", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeNumber), Options: &coffer.ColumnOptions{Precision: 2}},
			[]any{"3.5", "4"}, []any{json.Number("3.50"), json.Number("4.00")}},
		{"number to text", col("V", coffer.TypeNumber), coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)},
			[]any{42, -7, nil}, []any{"42", "-7", nil}},
		{"decimal to text keeps the decimals", col("V", coffer.TypeNumber, precision(2)), coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)},
			[]any{"3.1", "0"}, []any{"3.10", "0.00"}},
		{"precision 0 to 2", col("V", coffer.TypeNumber), coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Precision: 2}},
			[]any{5, -3, nil}, []any{json.Number("5.00"), json.Number("-3.00"), nil}},
		{"precision 2 to 0 of whole numbers", col("V", coffer.TypeNumber, precision(2)), coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Precision: 0}},
			[]any{"5.00", "-3"}, []any{json.Number("5"), json.Number("-3")}},
		{"single to multi select keeps the choices", col("V", coffer.TypeSingleSelect, choices(rgb...)), coffer.ColumnUpdate{Type: typePtr(coffer.TypeMultiSelect)},
			[]any{"red", "blue", nil}, []any{[]string{"red"}, []string{"blue"}, nil}},
		{"multi to single select of one choice", col("V", coffer.TypeMultiSelect, choices(rgb...)), coffer.ColumnUpdate{Type: typePtr(coffer.TypeSingleSelect)},
			[]any{[]any{"green"}, nil}, []any{"green", nil}},
		{"multi select to text", col("V", coffer.TypeMultiSelect, choices(rgb...)), coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)},
			[]any{[]any{"blue", "red"}}, []any{"red, blue"}},
		{"text to multi select", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeMultiSelect), Options: &coffer.ColumnOptions{Choices: rgb}},
			[]any{"blue, red", "green"}, []any{[]string{"red", "blue"}, []string{"green"}}},
		{"text to boolean", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeBoolean)},
			[]any{"yes", "FALSE", "1"}, []any{true, false, true}},
		{"boolean to number", col("V", coffer.TypeBoolean), coffer.ColumnUpdate{Type: typePtr(coffer.TypeNumber)},
			[]any{true, false}, []any{json.Number("1"), json.Number("0")}},
		{"text to date", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeDate)},
			[]any{"2024-02-29", "2024-01-31T23:30:00-02:00"}, []any{"2024-02-29", "2024-02-01"}},
		{"date to datetime", col("V", coffer.TypeDate), coffer.ColumnUpdate{Type: typePtr(coffer.TypeDateTime)},
			[]any{"2024-02-29"}, []any{"2024-02-29T00:00:00Z"}},
		{"datetime to date", col("V", coffer.TypeDateTime), coffer.ColumnUpdate{Type: typePtr(coffer.TypeDate)},
			[]any{"2024-02-29T23:59:59Z"}, []any{"2024-02-29"}},
		{"text to long text", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeLongText)},
			[]any{"abc"}, []any{"abc"}},
		{"long text to text", col("V", coffer.TypeLongText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)},
			[]any{"abc"}, []any{"abc"}},
		{"text to email", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeEmail)},
			[]any{" ada@example.com "}, []any{"ada@example.com"}},
		{"rename and retype at once", col("V", coffer.TypeText), coffer.ColumnUpdate{Name: strPtr("V"), Type: typePtr(coffer.TypeNumber)},
			[]any{"8"}, []any{json.Number("8")}},
		{"multiple links to single of at most one", col("V", coffer.TypeLink, linkTo("Targets", true)),
			coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Table: "Targets", Multiple: false}},
			[]any{"$t1", nil}, []any{"$t1", nil}},
	}
	MustTable(t, e.ctx, s, e.nb, "Targets")
	target := MustRecord(t, e.ctx, s, e.nb, "Targets", nil)
	subst := func(v any) any {
		if v == "$t1" {
			return []string{target.ID}
		}
		return v
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := MustTable(t, e.ctx, s, e.nb, tt.name, tt.from, col("Other", coffer.TypeText))
			colID := tb.Columns[0].ID
			var recs []*coffer.Record
			for _, v := range tt.in {
				recs = append(recs, MustRecord(t, e.ctx, s, e.nb, tb.ID, map[string]any{"V": subst(v), "Other": "keep"}))
			}
			// A dry run checks without changing anything.
			dry := tt.upd
			dry.DryRun = true
			c, err := s.UpdateColumn(e.ctx, e.nb, tb.ID, "V", dry)
			if err != nil {
				t.Fatalf("dry run: %v (fields %v)", err, coffer.ErrorFields(err))
			}
			if tt.upd.Type != nil && c.Type != *tt.upd.Type {
				t.Errorf("dry run returns type %s, want %s", c.Type, *tt.upd.Type)
			}
			if got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, recs[0].ID).Fields["V"]; !reflect.DeepEqual(got, recs[0].Fields["V"]) {
				t.Errorf("after dry run V = %s, want it unchanged: %s", show(got), show(recs[0].Fields["V"]))
			}
			if after, _ := s.FindTable(e.ctx, e.nb, tb.ID); after == nil || mustJSON(t, after.Columns[0]) != mustJSON(t, tb.Columns[0]) {
				t.Errorf("after dry run the column changed")
			}

			c, err = s.UpdateColumn(e.ctx, e.nb, tb.ID, "V", tt.upd)
			if err != nil {
				t.Fatalf("UpdateColumn: %v (fields %v)", err, coffer.ErrorFields(err))
			}
			if c.ID != colID {
				t.Errorf("column id changed from %s to %s", colID, c.ID)
			}
			after, err := s.FindTable(e.ctx, e.nb, tb.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := mustJSON(t, after.Columns[0]), mustJSON(t, c); a != b {
				t.Errorf("FindTable gives the column as\n%s\nwant what UpdateColumn returned:\n%s", a, b)
			}
			for i, r := range recs {
				got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, r.ID)
				if want := subst(tt.out[i]); !reflect.DeepEqual(got.Fields["V"], want) {
					t.Errorf("value %d: %s converted to %s, want %s", i, show(tt.in[i]), show(got.Fields["V"]), show(want))
				}
				if got.Fields["Other"] != "keep" {
					t.Errorf("value %d: other column changed to %s", i, show(got.Fields["Other"]))
				}
			}
			// The converted column is usable: filter and sort on it.
			if _, err := s.FindRecords(e.ctx, e.nb, tb.ID, coffer.ListQuery{Filter: "V is not null"}); err != nil {
				t.Errorf("filter after conversion: %v", err)
			}
		})
	}
}

// testTypeChangesUnconvertible is the subtest Unconvertible of testTypeChanges.
func testTypeChangesUnconvertible(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Unconvertible")
	tests := []struct {
		name string
		from coffer.ColumnInput
		upd  coffer.ColumnUpdate
		in   []any
		bad  []bool // which values cannot be converted
	}{
		{"text to number", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeNumber)},
			[]any{"42", "abc", nil, "4x"}, []bool{false, true, false, true}},
		{"precision 2 to 0", col("V", coffer.TypeNumber, precision(2)), coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Precision: 0}},
			[]any{"1", "1.5"}, []bool{false, true}},
		{"multi to single select", col("V", coffer.TypeMultiSelect, choices("a", "b")), coffer.ColumnUpdate{Type: typePtr(coffer.TypeSingleSelect)},
			[]any{[]any{"a"}, []any{"a", "b"}}, []bool{false, true}},
		{"fewer choices", col("V", coffer.TypeSingleSelect, choices("a", "b")), coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Choices: []string{"a"}}},
			[]any{"a", "b"}, []bool{false, true}},
		{"text to date", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeDate)},
			[]any{"2024-02-30"}, []bool{true}},
		{"long text to text", col("V", coffer.TypeLongText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)},
			[]any{"two\nlines", "one line"}, []bool{true, false}},
		{"text to boolean", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeBoolean)},
			[]any{"maybe"}, []bool{true}},
		{"number to boolean", col("V", coffer.TypeNumber), coffer.ColumnUpdate{Type: typePtr(coffer.TypeBoolean)},
			[]any{1, 2}, []bool{false, true}},
		{"text to email", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeEmail)},
			[]any{"nobody"}, []bool{true}},
		{"large number to text is fine but huge text to number is not", col("V", coffer.TypeText), coffer.ColumnUpdate{Type: typePtr(coffer.TypeNumber)},
			[]any{strings.Repeat("9", 30)}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := MustTable(t, e.ctx, s, e.nb, tt.name, tt.from)
			var recs []*coffer.Record
			var wantFieldsList []string
			for i, v := range tt.in {
				r := MustRecord(t, e.ctx, s, e.nb, tb.ID, map[string]any{"V": v})
				recs = append(recs, r)
				if tt.bad[i] {
					wantFieldsList = append(wantFieldsList, "records."+r.ID)
				}
			}
			for _, dryRun := range []bool{true, false} {
				upd := tt.upd
				upd.DryRun = dryRun
				_, err := s.UpdateColumn(e.ctx, e.nb, tb.ID, "V", upd)
				if wantCode(t, err, coffer.ECONVERSION) {
					wantOnlyFields(t, err, wantFieldsList...)
				}
			}
			// Nothing changed: type, options and every value.
			after, err := s.FindTable(e.ctx, e.nb, tb.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := mustJSON(t, after.Columns[0]), mustJSON(t, tb.Columns[0]); a != b {
				t.Errorf("column after refused change =\n%s\nwant\n%s", a, b)
			}
			for _, r := range recs {
				got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, r.ID)
				if !reflect.DeepEqual(got.Fields, r.Fields) || got.Version != r.Version {
					t.Errorf("record after refused change = %v (version %d), want %v (version %d)", got.Fields, got.Version, r.Fields, r.Version)
				}
			}
			// The records still take values of the old type.
			MustRecord(t, e.ctx, s, e.nb, tb.ID, map[string]any{"V": tt.in[0]})
		})
	}
}

// testTypeChangesRefused is the subtest Refused of testTypeChanges.
func testTypeChangesRefused(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Refused")
	MustTable(t, e.ctx, s, e.nb, "Targets", col("Name", coffer.TypeText))
	tg := MustRecord(t, e.ctx, s, e.nb, "Targets", nil)
	tb := MustTable(t, e.ctx, s, e.nb, "T", col("Link", coffer.TypeLink, linkTo("Targets", true)), col("Text", coffer.TypeText),
		col("Created", coffer.TypeCreatedAt))
	r := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Link": []any{tg.ID}, "Text": "x"})
	tests := []struct {
		name   string
		column string
		upd    coffer.ColumnUpdate
		code   string
		field  string
	}{
		{"link to text", "Link", coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)}, coffer.EINVALID, "type"},
		{"text to link", "Text", coffer.ColumnUpdate{Type: typePtr(coffer.TypeLink), Options: &coffer.ColumnOptions{Table: "Targets"}}, coffer.EINVALID, "type"},
		{"link to another table", "Link", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Table: "T", Multiple: true}}, coffer.EINVALID, "options.table"},
		{"text to link without table", "Text", coffer.ColumnUpdate{Type: typePtr(coffer.TypeLink)}, coffer.EINVALID, "options.table"},
		{"automatic to text", "Created", coffer.ColumnUpdate{Type: typePtr(coffer.TypeText)}, coffer.EINVALID, "type"},
		{"text to automatic", "Text", coffer.ColumnUpdate{Type: typePtr(coffer.TypeUpdatedAt)}, coffer.EINVALID, "type"},
		{"unknown type", "Text", coffer.ColumnUpdate{Type: typePtr("json")}, coffer.EINVALID, "type"},
		{"bad options", "Text", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Precision: 3}}, coffer.EINVALID, "options.precision"},
		{"select without choices", "Text", coffer.ColumnUpdate{Type: typePtr(coffer.TypeSingleSelect)}, coffer.EINVALID, "options.choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dryRun := range []bool{true, false} {
				upd := tt.upd
				upd.DryRun = dryRun
				_, err := s.UpdateColumn(e.ctx, e.nb, "T", tt.column, upd)
				if wantCode(t, err, tt.code) {
					wantFields(t, err, tt.field)
				}
			}
		})
	}
	after, err := s.FindTable(e.ctx, e.nb, "T")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, after.Columns), mustJSON(t, tb.Columns); a != b {
		t.Errorf("columns after refused changes =\n%s\nwant\n%s", a, b)
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "T", r.ID); !reflect.DeepEqual(got.Fields, r.Fields) {
		t.Errorf("record after refused changes = %v, want %v", got.Fields, r.Fields)
	}
	// A multiple link holding two records cannot become single.
	tg2 := MustRecord(t, e.ctx, s, e.nb, "Targets", nil)
	two := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Link": []any{tg.ID, tg2.ID}})
	_, err = s.UpdateColumn(e.ctx, e.nb, "T", "Link", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Table: "Targets"}})
	if wantCode(t, err, coffer.ECONVERSION) {
		wantOnlyFields(t, err, "records."+two.ID)
	}
	if got, _ := s.FindTable(e.ctx, e.nb, "T"); got == nil || !got.Columns[0].Options.Multiple {
		t.Errorf("link column became single despite the refusal")
	}
}

func strPtr(s string) *string { return &s }
