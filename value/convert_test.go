package value_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/value"
)

func TestConvert(t *testing.T) {
	colors := selectColumn(coffer.TypeSingleSelect, "red", "green", "blue", "a, b")
	warm := selectColumn(coffer.TypeSingleSelect, "red", "orange")
	tags := selectColumn(coffer.TypeMultiSelect, "red", "green", "blue", "a, b")
	warmTags := selectColumn(coffer.TypeMultiSelect, "orange", "red")
	yesNo := selectColumn(coffer.TypeSingleSelect, "true", "false")
	created := column(coffer.TypeCreatedAt)

	tests := []struct {
		name     string
		from, to *coffer.Column
		in       any
		want     any
		wantErr  string
	}{
		{"nil", text, number(0), nil, nil, ""},
		{"nil to automatic", text, created, nil, nil, ""},

		// to text
		{"text to text", text, text, "abc", "abc", ""},
		{"long text to text", longText, text, "one line", "one line", ""},
		{"long text with newline to text", longText, text, "a\nb", nil, `"a\nb" contains a line break`},
		{"long text too long for text", longText, text, strings.Repeat("a", 10001), nil, `"` + strings.Repeat("a", 40) + `…" is longer than 10000 bytes`},
		{"text to long text", text, longText, "abc", "abc", ""},
		{"number to text", number(2), text, int64(1250), "12.50", ""},
		{"negative number to text", number(0), text, int64(-3), "-3", ""},
		{"number float64 to text", number(2), text, float64(1250), "12.50", ""},
		{"boolean to text", boolean, text, true, "true", ""},
		{"boolean int64 to text", boolean, longText, int64(0), "false", ""},
		{"date to text", date, text, "2024-01-31", "2024-01-31", ""},
		{"datetime to text", datetime, text, micros("2024-01-31T09:30:00.5Z"), "2024-01-31T09:30:00.5Z", ""},
		{"single to text", colors, text, "green", "green", ""},
		{"multi to text", tags, text, `["red","blue"]`, "red, blue", ""},
		{"email to text", email, text, "a@b.co", "a@b.co", ""},
		{"url to long text", url, longText, "https://x.org", "https://x.org", ""},
		{"phone to text", phone, text, "+1 555", "+1 555", ""},

		// to number
		{"text to number", text, number(2), "12.5", int64(1250), ""},
		{"text with spaces to number", text, number(0), " 42 ", int64(42), ""},
		{"text exponent to number", text, number(0), "1e3", int64(1000), ""},
		{"text to number not a number", text, number(0), "abc", nil, `"abc" is not a number`},
		{"text to number decimals", text, number(2), "1.234", nil, `"1.234" has more than 2 decimal places`},
		{"text to number one decimal", text, number(1), "1.25", nil, `"1.25" has more than 1 decimal place`},
		{"text to number not whole", text, number(0), "1.5", nil, `"1.5" is not a whole number`},
		{"text to number overflow", text, number(0), "1e30", nil, `"1e30" is out of range`},
		{"phone to number", phone, number(0), "112", int64(112), ""},
		{"single to number", selectColumn(coffer.TypeSingleSelect, "1", "2"), number(1), "2", int64(20), ""},
		{"number more precision", number(1), number(3), int64(125), int64(12500), ""},
		{"number less precision", number(3), number(1), int64(12500), int64(125), ""},
		{"number less precision loses", number(3), number(1), int64(12345), nil, "12.345 has more than 1 decimal place"},
		{"number to integer loses", number(2), number(0), int64(150), nil, "1.50 is not a whole number"},
		{"number rescale overflow", number(0), number(9), int64(10000000000), nil, "10000000000 is out of range"},
		{"number same precision", number(2), number(2), int64(-1), int64(-1), ""},
		{"boolean true to number", boolean, number(2), true, int64(100), ""},
		{"boolean false to number", boolean, number(2), false, int64(0), ""},
		{"boolean int64 to number", boolean, number(0), int64(1), int64(1), ""},
		{"date to number", date, number(0), "2024-01-31", nil, `"2024-01-31" is not a number`},
		{"multi to number", tags, number(0), `["red"]`, nil, `"red" is not a number`},

		// to boolean
		{"number 0 to boolean", number(2), boolean, int64(0), false, ""},
		{"number 1 to boolean", number(2), boolean, int64(100), true, ""},
		{"number 1 integer to boolean", number(0), boolean, int64(1), true, ""},
		{"number 2 to boolean", number(0), boolean, int64(2), nil, "2 is not 0 or 1"},
		{"number 0.5 to boolean", number(1), boolean, int64(5), nil, "0.5 is not 0 or 1"},
		{"text yes", text, boolean, "Yes", true, ""},
		{"text NO", text, boolean, "NO", false, ""},
		{"text TRUE", text, boolean, " TRUE ", true, ""},
		{"text 0", text, boolean, "0", false, ""},
		{"text 1", longText, boolean, "1", true, ""},
		{"text blank", text, boolean, "   ", nil, ""},
		{"text empty", text, boolean, "", nil, ""},
		{"text maybe", text, boolean, "maybe", nil, `"maybe" is not true, false, yes, no, 1 or 0`},
		{"single to boolean", yesNo, boolean, "false", false, ""},
		{"boolean to boolean", boolean, boolean, true, true, ""},

		// to date
		{"text to date", text, date, "2024-02-29", "2024-02-29", ""},
		{"text RFC 3339 to date", text, date, "2024-01-31T23:30:00-02:00", "2024-02-01", ""},
		{"text invalid date", text, date, "2023-02-29", nil, `"2023-02-29" is not a date (YYYY-MM-DD)`},
		{"text not a date", text, date, "tomorrow", nil, `"tomorrow" is not a date (YYYY-MM-DD)`},
		{"datetime to date", datetime, date, micros("2024-01-31T23:59:59.999999Z"), "2024-01-31", ""},
		{"datetime before epoch to date", datetime, date, int64(-1), "1969-12-31", ""},
		{"datetime out of range to date", datetime, date, int64(-1 << 62), nil, ""},
		{"number to date", number(0), date, int64(20240131), nil, `"20240131" is not a date (YYYY-MM-DD)`},

		// to datetime
		{"date to datetime", date, datetime, "2024-01-31", micros("2024-01-31T00:00:00Z"), ""},
		{"text to datetime", text, datetime, "2024-01-31T09:30:00+01:00", micros("2024-01-31T08:30:00Z"), ""},
		{"text date to datetime", text, datetime, "2024-01-31", micros("2024-01-31T00:00:00Z"), ""},
		{"text precise to datetime", text, datetime, "2024-01-31T09:30:00.0000001Z", nil, `"2024-01-31T09:30:00.0000001Z" is more precise than microseconds`},
		{"text out of range to datetime", text, datetime, "9999-12-31T23:00:00-02:00", nil, `"9999-12-31T23:00:00-02:00" is out of range`},
		{"text not datetime", text, datetime, "noon", nil, `"noon" is not a date and time (RFC 3339)`},
		{"datetime to datetime", datetime, datetime, int64(5), int64(5), ""},
		{"boolean to datetime", boolean, datetime, true, nil, `"true" is not a date and time (RFC 3339)`},

		// to single_select
		{"text to single", text, colors, "red", "red", ""},
		{"text trimmed to single", text, colors, " blue ", "blue", ""},
		{"text to single not a choice", text, colors, "pink", nil, `"pink" is not one of the choices`},
		{"single to single", colors, warm, "red", "red", ""},
		{"single to single removed", colors, warm, "green", nil, `"green" is not one of the choices`},
		{"multi one to single", tags, colors, `["blue"]`, "blue", ""},
		{"multi two to single", tags, colors, `["red","blue"]`, nil, "holds 2 choices; a single select holds at most one"},
		{"multi one removed to single", tags, warm, `["blue"]`, nil, `"blue" is not one of the choices`},
		{"boolean to single", boolean, yesNo, true, "true", ""},
		{"number to single", number(0), selectColumn(coffer.TypeSingleSelect, "1", "2"), int64(2), "2", ""},

		// to multi_select
		{"single to multi", colors, tags, "green", `["green"]`, ""},
		{"single with comma to multi", colors, tags, "a, b", `["a, b"]`, ""},
		{"single to multi removed", colors, warmTags, "blue", nil, `"blue" is not one of the choices`},
		{"multi to multi reordered", tags, warmTags, `["red"]`, `["red"]`, ""},
		{"multi to multi reorders", selectColumn(coffer.TypeMultiSelect, "a", "b"), selectColumn(coffer.TypeMultiSelect, "b", "a"), `["a","b"]`, `["b","a"]`, ""},
		{"multi to multi removed", tags, warmTags, `["red","green"]`, nil, `"green" is not one of the choices`},
		{"text to multi", text, tags, "blue, red,green, blue", `["red","green","blue"]`, ""},
		{"text whole choice to multi", text, tags, "a, b", `["a, b"]`, ""},
		{"text empty parts to multi", text, tags, " , ,", nil, ""},
		{"text to multi not a choice", text, tags, "red, pink", nil, `"pink" is not one of the choices`},

		// to email, url, phone
		{"text to email", text, email, " ada@example.com ", "ada@example.com", ""},
		{"text to email invalid", text, email, "ada at example", nil, `"ada at example" is not an email address`},
		{"text to url", text, url, "https://example.com", "https://example.com", ""},
		{"text to url invalid", text, url, "example.com", nil, `"example.com" is not an http or https URL`},
		{"text to phone", text, phone, "+1 (555) 010-9999", "+1 (555) 010-9999", ""},
		{"number to phone", number(0), phone, int64(5550100), "5550100", ""},
		{"text to phone invalid", text, phone, "call me", nil, `"call me" is not a phone number (3 to 20 digits, with spaces and + - ( ) .)`},
		{"email to url", email, url, "a@b.co", nil, `"a@b.co" is not an http or https URL`},

		// links
		{"link single to multiple", link1, linkN, []string{rec1}, []string{rec1}, ""},
		{"link multiple to single", linkN, link1, []string{rec1}, []string{rec1}, ""},
		{"link multiple to single too many", linkN, link1, []string{rec1, rec2}, nil, "holds 2 records; a single link holds at most one"},
		{"link empty", linkN, link1, []string{}, nil, ""},
		{"link to text", linkN, text, []string{rec1}, nil, "link columns cannot be converted"},
		{"text to link", text, link1, rec1, nil, "link columns cannot be converted"},

		// automatic and unknown types
		{"created_at to datetime", created, datetime, int64(0), nil, "automatic columns cannot be converted"},
		{"text to created_by", text, column(coffer.TypeCreatedBy), "usr_1", nil, "automatic columns cannot be converted"},
		{"unknown", column("money"), text, "1", nil, "has an unknown type"},
		{"unreadable", number(0), text, "abc", nil, "the stored value cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := value.Convert(tt.from, tt.to, tt.in)
			if tt.name == "datetime out of range to date" { // message holds a formatted year
				if err == nil {
					t.Fatalf("Convert = %#v; want an error", got)
				}
				return
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Convert(%s→%s, %#v) = %#v, %v; want error %q", tt.from.Type, tt.to.Type, short(tt.in), got, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Convert returned %#v with its error", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Convert(%s→%s, %#v) = %#v, %v; want %#v", tt.from.Type, tt.to.Type, short(tt.in), got, err, tt.want)
			}
			// A converted value is a valid value of the new column.
			if got != nil {
				if back, err := value.FromJSON(tt.to, reencode(t, value.ToJSON(tt.to, got))); err != nil || !reflect.DeepEqual(back, got) {
					t.Fatalf("converted value %#v does not round-trip: %#v, %v", got, back, err)
				}
			}
		})
	}
}

// TestConvertEveryPair checks that no pair of types panics, and that a
// successful conversion yields a valid value of the new column.
func TestConvertEveryPair(t *testing.T) {
	samples := map[coffer.ColumnType]any{
		coffer.TypeText:         "12",
		coffer.TypeLongText:     "red,\nblue",
		coffer.TypeNumber:       int64(1),
		coffer.TypeBoolean:      true,
		coffer.TypeDate:         "2024-01-31",
		coffer.TypeDateTime:     micros("2024-01-31T09:30:00Z"),
		coffer.TypeSingleSelect: "1",
		coffer.TypeMultiSelect:  `["1"]`,
		coffer.TypeEmail:        "a@b.co",
		coffer.TypeURL:          "https://b.co",
		coffer.TypePhone:        "123",
		coffer.TypeLink:         []string{rec1},
		coffer.TypeCreatedAt:    int64(0),
		coffer.TypeCreatedBy:    "usr_1",
		coffer.TypeUpdatedAt:    int64(0),
		coffer.TypeUpdatedBy:    "usr_1",
		coffer.TypeEncrypted:    sealedSample, // a password column's {"set":true} does not round-trip: left out
	}
	columnOf := func(ty coffer.ColumnType) *coffer.Column {
		c := column(ty)
		switch ty {
		case coffer.TypeSingleSelect, coffer.TypeMultiSelect:
			c.Options.Choices = []string{"1", "true", "12", "red", "blue"}
		case coffer.TypeLink:
			c.Options.Table = "tbl_x"
		}
		return c
	}
	for _, from := range coffer.ColumnTypes {
		for _, to := range coffer.ColumnTypes {
			fc, tc := columnOf(from), columnOf(to)
			got, err := value.Convert(fc, tc, samples[from])
			t.Logf("%s → %s: %#v, %v", from, to, got, err)
			if err != nil || got == nil {
				continue
			}
			if back, err := value.FromJSON(tc, reencode(t, value.ToJSON(tc, got))); err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("%s → %s: converted %#v does not round-trip: %#v, %v", from, to, got, back, err)
			}
		}
	}
}

func TestCheckOptions(t *testing.T) {
	long := strings.Repeat("é", 101)
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = strings.Repeat("x", i+1)[:min(i+1, 100)] + string(rune('a'+i%26))
	}
	tests := []struct {
		name string
		typ  coffer.ColumnType
		opts coffer.ColumnOptions
		want []coffer.FieldError
	}{
		{"text", coffer.TypeText, coffer.ColumnOptions{}, nil},
		{"number", coffer.TypeNumber, coffer.ColumnOptions{Precision: 9}, nil},
		{"number negative", coffer.TypeNumber, coffer.ColumnOptions{Precision: -1},
			[]coffer.FieldError{{Field: "options.precision", Message: "must be between 0 and 9"}}},
		{"number 10", coffer.TypeNumber, coffer.ColumnOptions{Precision: 10},
			[]coffer.FieldError{{Field: "options.precision", Message: "must be between 0 and 9"}}},
		{"precision on text", coffer.TypeText, coffer.ColumnOptions{Precision: 2},
			[]coffer.FieldError{{Field: "options.precision", Message: "applies only to number columns"}}},
		{"single", coffer.TypeSingleSelect, coffer.ColumnOptions{Choices: []string{"a", "b"}}, nil},
		{"single no choices", coffer.TypeSingleSelect, coffer.ColumnOptions{},
			[]coffer.FieldError{{Field: "options.choices", Message: "must list at least one choice"}}},
		{"multi bad choices", coffer.TypeMultiSelect, coffer.ColumnOptions{Choices: []string{"a", " ", long, "a", "x\ny", "b"}},
			[]coffer.FieldError{
				{Field: "options.choices[1]", Message: "must not be empty"},
				{Field: "options.choices[2]", Message: "must be at most 100 characters long"},
				{Field: "options.choices[3]", Message: "repeats options.choices[0]"},
				{Field: "options.choices[4]", Message: "must be valid UTF-8 text on one line, without control characters"},
			}},
		{"trimmed duplicate", coffer.TypeMultiSelect, coffer.ColumnOptions{Choices: []string{"a", " a "}},
			[]coffer.FieldError{{Field: "options.choices[1]", Message: "repeats options.choices[0]"}}},
		{"too many choices", coffer.TypeSingleSelect, coffer.ColumnOptions{Choices: tooMany},
			[]coffer.FieldError{{Field: "options.choices", Message: "must list at most 1000 choices"}}},
		{"choices on text", coffer.TypeText, coffer.ColumnOptions{Choices: []string{"a"}},
			[]coffer.FieldError{{Field: "options.choices", Message: "apply only to single_select and multi_select columns"}}},
		{"link", coffer.TypeLink, coffer.ColumnOptions{Table: "People", Multiple: true}, nil},
		{"link without table", coffer.TypeLink, coffer.ColumnOptions{Table: "  "},
			[]coffer.FieldError{{Field: "options.table", Message: "is required for a link column"}}},
		{"link with precision", coffer.TypeLink, coffer.ColumnOptions{Table: "t", Precision: 1},
			[]coffer.FieldError{{Field: "options.precision", Message: "applies only to number columns"}}},
		{"number with link options", coffer.TypeNumber, coffer.ColumnOptions{Table: "t", Multiple: true},
			[]coffer.FieldError{
				{Field: "options.table", Message: "applies only to link columns"},
				{Field: "options.multiple", Message: "applies only to link columns"},
			}},
		{"automatic", coffer.TypeCreatedAt, coffer.ColumnOptions{}, nil},
		{"automatic with options", coffer.TypeUpdatedBy, coffer.ColumnOptions{Precision: 1, Choices: []string{"a"}},
			[]coffer.FieldError{
				{Field: "options.precision", Message: "applies only to number columns"},
				{Field: "options.choices", Message: "apply only to single_select and multi_select columns"},
			}},
		{"unknown type", "money", coffer.ColumnOptions{},
			[]coffer.FieldError{{Field: "type", Message: "must be one of text, long_text, number, boolean, date, datetime, single_select, multi_select, email, url, phone, link, created_at, created_by, updated_at, updated_by, encrypted, password, file"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			got := value.CheckOptions(tt.typ, &o)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("CheckOptions(%s, %+v) =\n%+v\nwant\n%+v", tt.typ, short(tt.opts), got, tt.want)
			}
		})
	}

	t.Run("normalizes", func(t *testing.T) {
		o := coffer.ColumnOptions{Choices: []string{" red ", "blue\t"}}
		if errs := value.CheckOptions(coffer.TypeSingleSelect, &o); errs != nil {
			t.Fatal(errs)
		}
		if got, want := o.Choices, []string{"red", "blue"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("choices = %q; want %q", got, want)
		}
		o = coffer.ColumnOptions{Table: " People "}
		if errs := value.CheckOptions(coffer.TypeLink, &o); errs != nil || o.Table != "People" {
			t.Fatalf("table = %q, %v; want %q", o.Table, errs, "People")
		}
	})
	t.Run("nil options", func(t *testing.T) {
		if errs := value.CheckOptions(coffer.TypeText, nil); errs != nil {
			t.Fatal(errs)
		}
		if errs := value.CheckOptions(coffer.TypeLink, nil); len(errs) != 1 {
			t.Fatalf("got %v; want one error", errs)
		}
	})
}

// TestEveryTypeHasItsSteps checks that the tables of FromJSON, ToJSON and
// Convert (parsers, readers and converters) hold every column type: a
// type missing from one would be refused as unknown, or read as empty.
func TestEveryTypeHasItsSteps(t *testing.T) {
	samples := map[coffer.ColumnType]any{
		coffer.TypeText:         "x",
		coffer.TypeLongText:     "x",
		coffer.TypeNumber:       "1",
		coffer.TypeBoolean:      true,
		coffer.TypeDate:         "2024-01-31",
		coffer.TypeDateTime:     "2024-01-31T09:30:00Z",
		coffer.TypeSingleSelect: "red",
		coffer.TypeMultiSelect:  []any{"red"},
		coffer.TypeEmail:        "a@b.co",
		coffer.TypeURL:          "https://b.co",
		coffer.TypePhone:        "123",
		coffer.TypeLink:         rec1,
		coffer.TypeCreatedAt:    int64(1),
		coffer.TypeCreatedBy:    "usr_1",
		coffer.TypeUpdatedAt:    int64(1),
		coffer.TypeUpdatedBy:    "usr_1",
		coffer.TypeEncrypted:    map[string]any{"sealed": sealedSample},
		coffer.TypePassword:     "a password",
		coffer.TypeFile:         []any{map[string]any{"id": "fil_" + strings.Repeat("a", 52), "name": "a.txt", "size": json.Number("1"), "type": "text/plain", "sha256": strings.Repeat("0", 64)}},
	}
	for _, ty := range coffer.ColumnTypes {
		c := column(ty)
		c.Options.Choices = []string{"red"}
		sample, ok := samples[ty]
		if !ok {
			t.Errorf("%s: no sample in this test", ty)
			continue
		}
		stored := sample
		if !ty.Automatic() {
			var err error
			if stored, err = value.FromJSON(c, sample); err != nil || stored == nil {
				t.Errorf("%s: FromJSON(%#v) = %#v, %v", ty, sample, stored, err)
				continue
			}
			if same, err := value.Convert(c, c, stored); err != nil || !reflect.DeepEqual(same, stored) {
				t.Errorf("%s: Convert to itself of %#v = %#v, %v", ty, stored, same, err)
			}
		}
		if out := value.ToJSON(c, stored); out == nil {
			t.Errorf("%s: ToJSON(%#v) = nil", ty, stored)
		}
	}
}

// sealedSample has the layout of a sealed value (version 1, nonce, tag).
var sealedSample = colkey.Encode(append([]byte{colkey.Version}, make([]byte, colkey.Overhead+3)...))
