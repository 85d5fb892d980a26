package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// valueCase is one valid input and the JSON form it is returned in.
type valueCase struct {
	in, want any
}

// typeCases are the valid and invalid inputs of one column.
type typeCases struct {
	col     coffer.ColumnInput
	valid   []valueCase
	invalid []any
}

func testValues(t *testing.T, open Opener) {
	s := open(t)

	t.Run("PerType", func(t *testing.T) {
		testValuesPerType(t, s)
	})

	t.Run("AutomaticColumns", func(t *testing.T) {
		testValuesAutomaticColumns(t, open)
	})

	t.Run("Links", func(t *testing.T) {
		testValuesLinks(t, s)
	})
}

// testValuesPerType is the subtest PerType of testValues.
func testValuesPerType(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Values")
	MustTable(t, e.ctx, s, e.nb, "Targets", col("Name", coffer.TypeText))
	t1 := MustRecord(t, e.ctx, s, e.nb, "Targets", map[string]any{"Name": "one"})
	t2 := MustRecord(t, e.ctx, s, e.nb, "Targets", map[string]any{"Name": "two"})
	MustTable(t, e.ctx, s, e.nb, "Elsewhere")
	other := MustRecord(t, e.ctx, s, e.nb, "Elsewhere", nil)
	missing := coffer.NewID(coffer.PrefixRecord)

	cases := []typeCases{
		{col("Text", coffer.TypeText),
			[]valueCase{{"hello", "hello"}, {"  spaced  ", "  spaced  "}, {"Zoë 😀 漢字", "Zoë 😀 漢字"}, {"tab\there", "tab\there"},
				{"", nil}, {nil, nil}, {strings.Repeat("x", 10_000), strings.Repeat("x", 10_000)}, {"'; DROP TABLE x; --", "'; DROP TABLE x; --"}},
			[]any{json.Number("1"), 12, true, []any{"a"}, map[string]any{"a": "b"}, "two\nlines", "nul\x00", "bell\a", "bad \xff", strings.Repeat("x", 10_001)}},
		{col("Long", coffer.TypeLongText),
			[]valueCase{{"line 1\nline 2\r\n", "line 1\nline 2\r\n"}, {strings.Repeat("y", 20_000), strings.Repeat("y", 20_000)}},
			[]any{json.Number("1"), false, "nul\x00", strings.Repeat("y", 1_000_001)}},
		{col("Integer", coffer.TypeNumber),
			[]valueCase{{json.Number("42"), json.Number("42")}, {json.Number("-7"), json.Number("-7")}, {json.Number("0"), json.Number("0")},
				{json.Number("1e3"), json.Number("1000")}, {json.Number("2.000"), json.Number("2")}, {"17", json.Number("17")}, {5, json.Number("5")},
				{int64(-9223372036854775808), json.Number("-9223372036854775808")}, {json.Number("9223372036854775807"), json.Number("9223372036854775807")},
				{float64(12), json.Number("12")}, {nil, nil}, {"", nil}},
			[]any{json.Number("1.5"), "abc", "1,000", true, json.Number("9223372036854775808"), json.Number("1e19"), []any{json.Number("1")}, "NaN", "0x10", 1.5}},
		{col("Decimal", coffer.TypeNumber, precision(2)),
			[]valueCase{{json.Number("3.14"), json.Number("3.14")}, {json.Number("3"), json.Number("3.00")}, {json.Number("3.1"), json.Number("3.10")},
				{json.Number("-0.5"), json.Number("-0.50")}, {json.Number("0.01"), json.Number("0.01")}, {2.25, json.Number("2.25")}},
			[]any{json.Number("3.141"), json.Number("0.001"), "1.2.3", false}},
		{col("Flag", coffer.TypeBoolean),
			[]valueCase{{true, true}, {false, false}, {nil, nil}},
			[]any{"true", "", json.Number("1"), 0, []any{true}}},
		{col("Day", coffer.TypeDate),
			[]valueCase{{"2024-02-29", "2024-02-29"}, {"0001-01-01", "0001-01-01"}, {"9999-12-31", "9999-12-31"}, {"", nil}},
			[]any{"2023-02-29", "2024-1-5", "2024-13-01", "2024-01-31T00:00:00Z", "31/01/2024", "0000-01-01", json.Number("20240101"), true}},
		{col("When", coffer.TypeDateTime),
			[]valueCase{{"2024-01-31T09:30:00Z", "2024-01-31T09:30:00Z"}, {"2024-01-31T09:30:00+02:00", "2024-01-31T07:30:00Z"},
				{"2024-01-31T09:30:00.123456Z", "2024-01-31T09:30:00.123456Z"}, {"2024-01-31T09:30:00.500Z", "2024-01-31T09:30:00.5Z"},
				{"2024-01-31t09:30:00z", "2024-01-31T09:30:00Z"}, {"2024-01-31T09:30:00.1234560Z", "2024-01-31T09:30:00.123456Z"}, {"", nil}},
			[]any{"2024-01-31", "2024-01-31 09:30:00Z", "2024-01-31T09:30:00", "2024-01-31T09:30:00.1234567Z", "2024-01-31T25:00:00Z",
				"0001-01-01T00:00:00+01:00", json.Number("1706693400"), true}},
		{col("Team", coffer.TypeSingleSelect, choices("red", "green", "blue")),
			[]valueCase{{"red", "red"}, {"blue", "blue"}, {"", nil}},
			[]any{"Red", "purple", " red", []any{"red"}, json.Number("1"), true}},
		{col("Tags", coffer.TypeMultiSelect, choices("red", "green", "blue")),
			[]valueCase{{[]any{"blue", "red"}, []string{"red", "blue"}}, {[]string{"green"}, []string{"green"}}, {[]any{"red", "red"}, []string{"red"}},
				{[]any{}, nil}, {nil, nil}, {"", nil}},
			[]any{"red", []any{"purple"}, []any{"red", "Red"}, []any{json.Number("1")}, true, map[string]any{}}},
		{col("Email", coffer.TypeEmail),
			[]valueCase{{"ada@example.com", "ada@example.com"}, {"Ada.Lovelace+tag@Example.co.uk", "Ada.Lovelace+tag@Example.co.uk"}, {"", nil}},
			[]any{"ada", "ada@", "@example.com", "ada@localhost", "Ada <ada@example.com>", "ada@example.com ", "ada@exa mple.com", json.Number("1")}},
		{col("Site", coffer.TypeURL),
			[]valueCase{{"https://example.com/x?y=1#z", "https://example.com/x?y=1#z"}, {"http://localhost:8080", "http://localhost:8080"}, {"", nil}},
			[]any{"ftp://example.com", "example.com", "javascript:alert(1)", "https://", "https://exa mple.com", "/relative", true}},
		{col("Phone", coffer.TypePhone),
			[]valueCase{{"+44 20 7946 0958", "+44 20 7946 0958"}, {"(555) 123-4567", "(555) 123-4567"}, {"112", "112"}, {"", nil}},
			[]any{"12", "call me", "1+2345", "+" + strings.Repeat("1", 21), strings.Repeat("1 ", 21), json.Number("5551234"), true}},
		{col("One", coffer.TypeLink, linkTo("Targets", false)),
			[]valueCase{{t1.ID, []string{t1.ID}}, {[]any{t2.ID}, []string{t2.ID}}, {[]any{t1.ID, t1.ID}, []string{t1.ID}}, {"", nil}, {[]any{}, nil}, {nil, nil}},
			[]any{"garbage", "rec_x", []any{t1.ID, t2.ID}, missing, other.ID, []any{missing}, json.Number("1"), true, t1.ID + " "}},
		{col("Many", coffer.TypeLink, linkTo("Targets", true)),
			[]valueCase{{[]any{t1.ID, t2.ID}, []string{t1.ID, t2.ID}}, {[]string{t2.ID, t1.ID}, []string{t2.ID, t1.ID}},
				{[]any{t2.ID, t1.ID, t2.ID}, []string{t2.ID, t1.ID}}, {[]any{}, nil}, {nil, nil}},
			[]any{t1.ID, []any{t1.ID, "garbage"}, []any{t1.ID, missing}, []any{other.ID}, []any{json.Number("1")}}},
	}
	var cols []coffer.ColumnInput
	for _, tc := range cases {
		cols = append(cols, tc.col)
	}
	tb := MustTable(t, e.ctx, s, e.nb, "Values", cols...)
	base := MustRecord(t, e.ctx, s, e.nb, tb.ID, nil)
	for _, tc := range cases {
		name := tc.col.Name
		t.Run(name, func(t *testing.T) {
			for i, vc := range tc.valid {
				r, err := s.CreateRecord(e.ctx, e.nb, tb.ID, map[string]any{name: vc.in})
				if err != nil {
					t.Errorf("valid[%d] CreateRecord(%s: %s): %v (fields %v)", i, name, show(vc.in), err, coffer.ErrorFields(err))
					continue
				}
				if got := r.Fields[name]; !reflect.DeepEqual(got, vc.want) {
					t.Errorf("valid[%d] CreateRecord(%s: %s) returns %s, want %s", i, name, show(vc.in), show(got), show(vc.want))
				}
				if got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, r.ID).Fields[name]; !reflect.DeepEqual(got, vc.want) {
					t.Errorf("valid[%d] %s: %s reads back as %s, want %s", i, name, show(vc.in), show(got), show(vc.want))
				}
			}
			for i, in := range tc.invalid {
				_, err := s.CreateRecord(e.ctx, e.nb, tb.ID, map[string]any{name: in})
				if !wantCode(t, err, coffer.EINVALID) {
					t.Errorf("invalid[%d] CreateRecord(%s: %s) was accepted", i, name, show(in))
					continue
				}
				wantOnlyFields(t, err, name)
				_, err = s.UpdateRecord(e.ctx, e.nb, tb.ID, base.ID, map[string]any{name: in}, 0)
				if wantCode(t, err, coffer.EINVALID) {
					wantOnlyFields(t, err, name)
				}
			}
		})
	}
	t.Run("EveryBadFieldListed", func(t *testing.T) {
		_, err := s.CreateRecord(e.ctx, e.nb, tb.ID, map[string]any{"Integer": "x", "Day": "x", "Text": "ok", "Nope": 1})
		if wantCode(t, err, coffer.EINVALID) {
			wantOnlyFields(t, err, "Integer", "Day", "Nope")
		}
	})
	t.Run("RefusedWritesChangeNothing", func(t *testing.T) {
		got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, base.ID)
		if got.Version != 1 {
			t.Errorf("version after refused updates = %d, want 1", got.Version)
		}
		for k, v := range got.Fields {
			if v != nil && !strings.HasPrefix(k, "Created") && !strings.HasPrefix(k, "Updated") {
				t.Errorf("field %q = %s after refused updates, want nil", k, show(v))
			}
		}
	})
}

// testValuesAutomaticColumns is the subtest AutomaticColumns of testValues.
func testValuesAutomaticColumns(t *testing.T, open Opener) {
	t.Parallel()
	s := open(t)
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	e := newSetup(t, s, "Auto")
	MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText),
		col("Created", coffer.TypeCreatedAt), col("Author", coffer.TypeCreatedBy),
		col("Updated", coffer.TypeUpdatedAt), col("Editor", coffer.TypeUpdatedBy))
	r := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "a"})
	want := map[string]any{"Name": "a", "Created": "2031-05-06T07:08:09.123456Z", "Author": e.u.ID, "Updated": "2031-05-06T07:08:09.123456Z", "Editor": e.u.ID}
	if !reflect.DeepEqual(r.Fields, want) {
		t.Errorf("new record fields = %v, want %v", r.Fields, want)
	}
	if !r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t0) || r.CreatedBy != e.u.ID || r.UpdatedBy != e.u.ID || r.Version != 1 {
		t.Errorf("new record = %+v, want created and updated at %v by %s, version 1", r, t0, e.u.ID)
	}
	clk.Add(90 * time.Minute)
	u, err := s.UpdateRecord(e.ctx, e.nb, "T", r.ID, map[string]any{"Name": "b"}, r.Version)
	if err != nil {
		t.Fatal(err)
	}
	want["Name"], want["Updated"] = "b", "2031-05-06T08:38:09.123456Z"
	if !reflect.DeepEqual(u.Fields, want) {
		t.Errorf("updated record fields = %v, want %v", u.Fields, want)
	}
	if !u.CreatedAt.Equal(t0) || !u.UpdatedAt.Equal(t0.Add(90*time.Minute)) || u.Version != 2 {
		t.Errorf("updated record = %+v", u)
	}
	for _, name := range []string{"Created", "Author", "Updated", "Editor"} {
		for _, v := range []any{"2020-01-01T00:00:00Z", e.u.ID, nil, ""} {
			_, err := s.CreateRecord(e.ctx, e.nb, "T", map[string]any{name: v})
			if wantCode(t, err, coffer.EINVALID) {
				wantOnlyFields(t, err, name)
			}
			_, err = s.UpdateRecord(e.ctx, e.nb, "T", r.ID, map[string]any{name: v}, 0)
			if wantCode(t, err, coffer.EINVALID) {
				wantOnlyFields(t, err, name)
			}
		}
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "T", r.ID); !reflect.DeepEqual(got.Fields, want) || got.Version != 2 {
		t.Errorf("record after refused writes = %v (version %d), want %v (version 2)", got.Fields, got.Version, want)
	}
	// The automatic columns can be filtered and sorted like the system fields.
	l := MustList(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Filter: `Author = @user.id && Updated > "2031-05-06"`, Sort: "-Updated"})
	if len(l.Records) != 1 {
		t.Errorf("filter on automatic columns gives %d records, want 1", len(l.Records))
	}
}

// testValuesLinks is the subtest Links of testValues.
func testValuesLinks(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Links")
	MustTable(t, e.ctx, s, e.nb, "Companies", col("Name", coffer.TypeText))
	MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText),
		col("Employers", coffer.TypeLink, linkTo("Companies", true)), col("Manager", coffer.TypeLink, linkTo("People", false)))
	a := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "A"})
	b := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "B"})
	c := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "C"})
	boss := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Boss"})
	p := MustRecord(t, e.ctx, s, e.nb, "People", map[string]any{"Name": "Ada", "Employers": []any{c.ID, a.ID, b.ID}, "Manager": boss.ID})
	if got, want := p.Fields["Employers"], []string{c.ID, a.ID, b.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("Employers = %v, want %v (input order)", got, want)
	}
	// A link to a missing record is refused and changes nothing.
	missing := coffer.NewID(coffer.PrefixRecord)
	_, err := s.UpdateRecord(e.ctx, e.nb, "People", p.ID, map[string]any{"Employers": []any{a.ID, missing}, "Name": "changed"}, 0)
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "Employers")
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "People", p.ID); got.Fields["Name"] != "Ada" || got.Version != 1 {
		t.Errorf("record after refused link = %v (version %d), want unchanged", got.Fields, got.Version)
	}
	_, err = s.CreateRecord(e.ctx, e.nb, "People", map[string]any{"Manager": a.ID}) // a record of another table
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "Manager")
	}
	// Deleting a linked record removes it from the links.
	if err := s.DeleteRecord(e.ctx, e.nb, "Companies", a.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := MustFindRecord(t, e.ctx, s, e.nb, "People", p.ID).Fields["Employers"], []string{c.ID, b.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("Employers after deleting A = %v, want %v", got, want)
	}
	if err := s.DeleteRecord(e.ctx, e.nb, "People", boss.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(e.ctx, e.nb, "Companies", []coffer.BatchOp{{Op: coffer.OpDelete, ID: b.ID}, {Op: coffer.OpDelete, ID: c.ID}}); err != nil {
		t.Fatal(err)
	}
	got := MustFindRecord(t, e.ctx, s, e.nb, "People", p.ID)
	if got.Fields["Employers"] != nil || got.Fields["Manager"] != nil {
		t.Errorf("links after deleting every target = %v, want nil", got.Fields)
	}
	l := MustList(t, e.ctx, s, e.nb, "People", coffer.ListQuery{Filter: "Employers is null && Manager is null"})
	if len(l.Records) != 1 || l.Records[0].ID != p.ID {
		t.Errorf("filter on emptied links gives %q, want [%s]", ids(l.Records), p.ID)
	}
	// Updating a link replaces it; empty clears it.
	d := MustRecord(t, e.ctx, s, e.nb, "Companies", map[string]any{"Name": "D"})
	u, err := s.UpdateRecord(e.ctx, e.nb, "People", p.ID, map[string]any{"Employers": []any{d.ID}}, 0)
	if err != nil || !reflect.DeepEqual(u.Fields["Employers"], []string{d.ID}) {
		t.Errorf("UpdateRecord links = %v, %v; want [%s]", u, err, d.ID)
	}
	u, err = s.UpdateRecord(e.ctx, e.nb, "People", p.ID, map[string]any{"Employers": []any{}}, 0)
	if err != nil || u.Fields["Employers"] != nil {
		t.Errorf("UpdateRecord with no links = %v, %v; want nil", u, err)
	}
}

// show formats a value with its Go type, shortening long strings.
func show(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 80 {
		s = s[:60] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}
