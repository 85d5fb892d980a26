package value_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/value"
)

// Record ids for tests.
const (
	rec1 = "rec_0123456789abcdefghjkmnpqrs"
	rec2 = "rec_0123456789abcdefghjkmnpqrt"
	rec3 = "rec_0123456789abcdefghjkmnpqrv"
)

func column(t coffer.ColumnType) *coffer.Column {
	return &coffer.Column{ID: "col_x", Name: "x", Type: t}
}

func number(prec int) *coffer.Column {
	c := column(coffer.TypeNumber)
	c.Options.Precision = prec
	return c
}

func selectColumn(t coffer.ColumnType, choices ...string) *coffer.Column {
	c := column(t)
	c.Options.Choices = choices
	return c
}

func link(multiple bool) *coffer.Column {
	c := column(coffer.TypeLink)
	c.Options.Table = "tbl_people"
	c.Options.Multiple = multiple
	return c
}

var (
	text     = column(coffer.TypeText)
	longText = column(coffer.TypeLongText)
	boolean  = column(coffer.TypeBoolean)
	date     = column(coffer.TypeDate)
	datetime = column(coffer.TypeDateTime)
	email    = column(coffer.TypeEmail)
	url      = column(coffer.TypeURL)
	phone    = column(coffer.TypePhone)
	single   = selectColumn(coffer.TypeSingleSelect, "red", "green", "blue")
	multi    = selectColumn(coffer.TypeMultiSelect, "red", "green", "blue")
	link1    = link(false)
	linkN    = link(true)
)

func n(s string) json.Number { return json.Number(s) }

// decode decodes JSON as the API does.
func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func micros(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func TestFromJSON(t *testing.T) {
	manyChoices := make([]string, 15)
	for i := range manyChoices {
		manyChoices[i] = string(rune('a' + i))
	}
	many := selectColumn(coffer.TypeSingleSelect, manyChoices...)
	manyLinks := make([]any, 1001)
	for i := range manyLinks {
		manyLinks[i] = coffer.NewID(coffer.PrefixRecord)
	}
	dupLinks := make([]any, 3000)
	for i := range dupLinks {
		dupLinks[i] = rec1
	}

	tests := []struct {
		name    string
		col     *coffer.Column
		in      any
		want    any
		wantErr string
	}{
		// nil and empty
		{"text nil", text, nil, nil, ""},
		{"text empty", text, "", nil, ""},
		{"number nil", number(2), nil, nil, ""},
		{"number empty string", number(2), "", nil, ""},
		{"date empty", date, "", nil, ""},
		{"select empty", single, "", nil, ""},
		{"boolean empty string", boolean, "", nil, "must be true or false"},

		// text
		{"text", text, "Ada Lovelace", "Ada Lovelace", ""},
		{"text tab", text, "a\tb", "a\tb", ""},
		{"text unicode", text, "héllo 世界 🙂", "héllo 世界 🙂", ""},
		{"text max", text, strings.Repeat("a", 10000), strings.Repeat("a", 10000), ""},
		{"text too long", text, strings.Repeat("a", 10001), nil, "must be at most 10000 bytes long"},
		{"text newline", text, "a\nb", nil, "must not contain line breaks (a long_text column may)"},
		{"text CR", text, "a\rb", nil, "must not contain line breaks (a long_text column may)"},
		{"text NUL", text, "a\x00b", nil, "must not contain control characters"},
		{"text C1 control", text, "a\u0085b", nil, "must not contain control characters"},
		{"text bad UTF-8", text, "a\xffb", nil, "must be valid UTF-8 text"},
		{"text number", text, n("12"), nil, "must be a string"},
		{"text bool", text, true, nil, "must be a string"},
		{"text object", text, map[string]any{}, nil, "must be a string"},
		{"long text lines", longText, "a\r\nb\n\tc", "a\r\nb\n\tc", ""},
		{"long text max", longText, strings.Repeat("é", 500000), strings.Repeat("é", 500000), ""},
		{"long text too long", longText, strings.Repeat("a", 1000001), nil, "must be at most 1000000 bytes long"},
		{"long text NUL", longText, "a\x00", nil, "must not contain control characters"},
		{"long text bell", longText, "a\a", nil, "must not contain control characters"},

		// number
		{"number int", number(0), n("42"), int64(42), ""},
		{"number negative", number(0), n("-3"), int64(-3), ""},
		{"number scaled", number(2), n("12.5"), int64(1250), ""},
		{"number exact decimals", number(2), n("12.34"), int64(1234), ""},
		{"number trailing zeros", number(0), n("12.000"), int64(12), ""},
		{"number string", number(2), "12.5", int64(1250), ""},
		{"number string exponent", number(0), "1e3", int64(1000), ""},
		{"number exponent decimals", number(3), n("1.5E-3"), int64(2), "must be a number with at most 3 decimal places"},
		{"number negative exponent", number(3), n("15E-3"), int64(15), ""},
		{"number exponent plus", number(0), n("2e+2"), int64(200), ""},
		{"number leading point", number(1), ".5", int64(5), ""},
		{"number zero huge exponent", number(0), n("0e999999999999999999"), int64(0), ""},
		{"number negative zero", number(2), n("-0.00"), int64(0), ""},
		{"number too many decimals", number(2), n("12.345"), nil, "must be a number with at most 2 decimal places"},
		{"number one decimal", number(1), n("0.05"), nil, "must be a number with at most 1 decimal place"},
		{"number not whole", number(0), n("1.5"), nil, "must be a whole number"},
		{"number max int64", number(0), n("9223372036854775807"), int64(9223372036854775807), ""},
		{"number min int64", number(0), n("-9223372036854775808"), int64(-9223372036854775808), ""},
		{"number overflow", number(0), n("9223372036854775808"), nil, "is out of range"},
		{"number overflow scaled", number(9), n("9223372037"), nil, "is out of range"},
		{"number max scaled", number(9), n("9223372036.854775807"), int64(9223372036854775807), ""},
		{"number huge exponent", number(0), n("1e999999999999999999999"), nil, "is out of range"},
		{"number tiny exponent", number(9), n("1e-999999999999999999999"), nil, "must be a number with at most 9 decimal places"},
		{"number many leading zeros", number(0), n("0000000000000000000000000000042"), int64(42), ""},
		{"number NaN", number(0), "NaN", nil, "must be a number"},
		{"number Inf", number(0), "Infinity", nil, "must be a number"},
		{"number words", number(0), "twelve", nil, "must be a number"},
		{"number spaces", number(0), " 12", nil, "must be a number"},
		{"number only sign", number(0), "-", nil, "must be a number"},
		{"number only point", number(0), ".", nil, "must be a number"},
		{"number bad exponent", number(0), "1e", nil, "must be a number"},
		{"number hex", number(0), "0x10", nil, "must be a number"},
		{"number bool", number(0), true, nil, "must be a number"},
		{"number array", number(0), []any{n("1")}, nil, "must be a number"},
		{"number Go int", number(2), 7, int64(700), ""},
		{"number Go float", number(2), 0.1, int64(10), ""},
		{"number Go float too big", number(0), 1e17, nil, "must be a number"},

		// boolean
		{"boolean true", boolean, true, true, ""},
		{"boolean false", boolean, false, false, ""},
		{"boolean string", boolean, "true", nil, "must be true or false"},
		{"boolean number", boolean, n("1"), nil, "must be true or false"},

		// date
		{"date", date, "2024-01-31", "2024-01-31", ""},
		{"date leap day", date, "2024-02-29", "2024-02-29", ""},
		{"date leap century", date, "2000-02-29", "2000-02-29", ""},
		{"date not leap", date, "2023-02-29", nil, "must be a valid date like 2024-01-31"},
		{"date not leap century", date, "1900-02-29", nil, "must be a valid date like 2024-01-31"},
		{"date april 31", date, "2024-04-31", nil, "must be a valid date like 2024-01-31"},
		{"date month 13", date, "2024-13-01", nil, "must be a valid date like 2024-01-31"},
		{"date year 0", date, "0000-01-01", nil, "must be a valid date like 2024-01-31"},
		{"date first", date, "0001-01-01", "0001-01-01", ""},
		{"date last", date, "9999-12-31", "9999-12-31", ""},
		{"date short", date, "2024-1-31", nil, "must be a valid date like 2024-01-31"},
		{"date with time", date, "2024-01-31T00:00:00Z", nil, "must be a valid date like 2024-01-31"},
		{"date slashes", date, "2024/01/31", nil, "must be a valid date like 2024-01-31"},
		{"date sign", date, "+024-01-31", nil, "must be a valid date like 2024-01-31"},
		{"date number", date, n("20240131"), nil, "must be a date like 2024-01-31"},

		// datetime
		{"datetime Z", datetime, "2024-01-31T09:30:00Z", micros("2024-01-31T09:30:00Z"), ""},
		{"datetime offset", datetime, "2024-01-31T09:30:00+02:00", micros("2024-01-31T07:30:00Z"), ""},
		{"datetime negative offset", datetime, "2024-01-31T22:30:00-05:30", micros("2024-02-01T04:00:00Z"), ""},
		{"datetime millis", datetime, "2024-01-31T09:30:00.123Z", micros("2024-01-31T09:30:00.123Z"), ""},
		{"datetime micros", datetime, "2024-01-31T09:30:00.123456Z", micros("2024-01-31T09:30:00.123456Z"), ""},
		{"datetime zero nanos", datetime, "2024-01-31T09:30:00.123456000Z", micros("2024-01-31T09:30:00.123456Z"), ""},
		{"datetime nanos", datetime, "2024-01-31T09:30:00.1234567Z", nil, "must not be more precise than microseconds"},
		{"datetime lowercase", datetime, "2024-01-31t09:30:00z", micros("2024-01-31T09:30:00Z"), ""},
		{"datetime epoch", datetime, "1970-01-01T00:00:00Z", int64(0), ""},
		{"datetime before epoch", datetime, "1969-12-31T23:59:59.999999Z", int64(-1), ""},
		{"datetime first", datetime, "0001-01-01T00:00:00Z", micros("0001-01-01T00:00:00Z"), ""},
		{"datetime before first", datetime, "0001-01-01T00:00:00+00:01", nil, "is out of range (years 0001 to 9999 in UTC)"},
		{"datetime after last", datetime, "9999-12-31T23:59:59-01:00", nil, "is out of range (years 0001 to 9999 in UTC)"},
		{"datetime no zone", datetime, "2024-01-31T09:30:00", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime space", datetime, "2024-01-31 09:30:00Z", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime date only", datetime, "2024-01-31", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime hour 24", datetime, "2024-01-31T24:00:00Z", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime leap second", datetime, "2016-12-31T23:59:60Z", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime bad day", datetime, "2023-02-29T00:00:00Z", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime empty fraction", datetime, "2024-01-31T09:30:00.Z", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime bad offset", datetime, "2024-01-31T09:30:00+0200", nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},
		{"datetime number", datetime, n("1700000000"), nil, "must be an RFC 3339 date and time like 2024-01-31T09:30:00Z"},

		// email
		{"email", email, "ada@example.com", "ada@example.com", ""},
		{"email plus", email, "ada+tag@mail.example.co.uk", "ada+tag@mail.example.co.uk", ""},
		{"email display name", email, "Ada <ada@example.com>", nil, "must be an email address like name@example.com"},
		{"email brackets", email, "<ada@example.com>", nil, "must be an email address like name@example.com"},
		{"email no dot", email, "ada@localhost", nil, "must be an email address like name@example.com"},
		{"email trailing dot", email, "ada@example.", nil, "must be an email address like name@example.com"},
		{"email no at", email, "ada.example.com", nil, "must be an email address like name@example.com"},
		{"email spaces", email, " ada@example.com", nil, "must be an email address like name@example.com"},
		{"email too long", email, strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", nil, "must be an email address like name@example.com"},
		{"email number", email, n("1"), nil, "must be an email address like name@example.com"},

		// url
		{"url https", url, "https://example.com/a?b=c#d", "https://example.com/a?b=c#d", ""},
		{"url http upper", url, "HTTP://Example.com", "HTTP://Example.com", ""},
		{"url port", url, "http://localhost:8080/", "http://localhost:8080/", ""},
		{"url ftp", url, "ftp://example.com", nil, "must be an http or https URL like https://example.com"},
		{"url javascript", url, "javascript:alert(1)", nil, "must be an http or https URL like https://example.com"},
		{"url relative", url, "/path", nil, "must be an http or https URL like https://example.com"},
		{"url no host", url, "https://", nil, "must be an http or https URL like https://example.com"},
		{"url opaque", url, "http:example.com", nil, "must be an http or https URL like https://example.com"},
		{"url space", url, "https://example.com/a b", nil, "must be an http or https URL like https://example.com"},
		{"url too long", url, "https://example.com/" + strings.Repeat("a", 2029), nil, "must be an http or https URL like https://example.com"},
		{"url max", url, "https://example.com/" + strings.Repeat("a", 2028), "https://example.com/" + strings.Repeat("a", 2028), ""},

		// phone
		{"phone", phone, "+33 (1) 23-45.67.89", "+33 (1) 23-45.67.89", ""},
		{"phone short", phone, "112", "112", ""},
		{"phone too few digits", phone, "12", nil, "must be a phone number of 3 to 20 digits"},
		{"phone too many digits", phone, "123456789012345678901", nil, "must be a phone number of 3 to 20 digits"},
		{"phone plus inside", phone, "33+1", nil, "must have a + only as its first character"},
		{"phone letters", phone, "555-CALL", nil, "must be a phone number made of digits, spaces and + - ( ) ."},
		{"phone too long", phone, "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1", nil, "must be at most 40 characters long"},
		{"phone number", phone, n("123"), nil, "must be a phone number"},

		// single_select
		{"single", single, "green", "green", ""},
		{"single not a choice", single, "pink", nil, `must be one of "red", "green", "blue"`},
		{"single case", single, "Red", nil, `must be one of "red", "green", "blue"`},
		{"single array", single, []any{"red"}, nil, `must be one of "red", "green", "blue"`},
		{"single many choices", many, "z", nil, `must be one of "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" and 5 more`},
		{"single no choices", selectColumn(coffer.TypeSingleSelect), "a", nil, "cannot hold a value: the column has no choices"},

		// multi_select
		{"multi", multi, []any{"blue", "red"}, `["red","blue"]`, ""},
		{"multi duplicates", multi, []any{"blue", "red", "blue"}, `["red","blue"]`, ""},
		{"multi empty", multi, []any{}, nil, ""},
		{"multi Go strings", multi, []string{"green"}, `["green"]`, ""},
		{"multi string", multi, "red", nil, "must be an array of choices"},
		{"multi not a choice", multi, []any{"red", "pink"}, nil, `contains "pink", which is not one of "red", "green", "blue"`},
		{"multi number element", multi, []any{n("1")}, nil, "must be an array of choices"},
		{"multi special", selectColumn(coffer.TypeMultiSelect, `a "b" <c>`, "d,e"), []any{"d,e", `a "b" <c>`}, `["a \"b\" <c>","d,e"]`, ""},

		// link
		{"link id", link1, rec1, []string{rec1}, ""},
		{"link array", link1, []any{rec1}, []string{rec1}, ""},
		{"link same twice", link1, []any{rec1, rec1}, []string{rec1}, ""},
		{"link empty array", link1, []any{}, nil, ""},
		{"link two", link1, []any{rec1, rec2}, nil, "must hold at most one record"},
		{"link bad id", link1, "rec_x", nil, "must be a record id"},
		{"link other prefix", link1, "usr_0123456789abcdefghjkmnpqrs", nil, "must be a record id"},
		{"link number", link1, n("1"), nil, "must be a record id"},
		{"links", linkN, []any{rec2, rec1, rec2, rec3}, []string{rec2, rec1, rec3}, ""},
		{"links string", linkN, rec1, nil, "must be an array of record ids"},
		{"links bad id", linkN, []any{rec1, "nope"}, nil, `must hold record ids: "nope" is not one`},
		{"links not strings", linkN, []any{rec1, n("2")}, nil, "must be an array of record ids"},
		{"links too many", linkN, manyLinks, nil, "must hold at most 1000 records"},
		{"links duplicates", linkN, dupLinks, []string{rec1}, ""},

		// automatic and unknown
		{"created_at", column(coffer.TypeCreatedAt), "2024-01-31T09:30:00Z", nil, "is set automatically and cannot be written"},
		{"created_by", column(coffer.TypeCreatedBy), nil, nil, "is set automatically and cannot be written"},
		{"updated_at", column(coffer.TypeUpdatedAt), nil, nil, "is set automatically and cannot be written"},
		{"updated_by", column(coffer.TypeUpdatedBy), "usr_x", nil, "is set automatically and cannot be written"},
		{"unknown type", column("money"), "1", nil, "has an unknown type"},
		{"unknown type nil", column("money"), nil, nil, "has an unknown type"},
		{"nil column", nil, "1", nil, "is not a column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := value.FromJSON(tt.col, tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromJSON(%s, %#v) = %#v, %v; want error %q", typeOf(tt.col), short(tt.in), short(got), err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("FromJSON returned %#v with its error; want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromJSON(%s, %#v): %v", typeOf(tt.col), short(tt.in), err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FromJSON(%s, %#v) = %#v; want %#v", typeOf(tt.col), short(tt.in), short(got), short(tt.want))
			}
			// The JSON form, as the API writes it, reads back to the same
			// storage form.
			back, err := value.FromJSON(tt.col, reencode(t, value.ToJSON(tt.col, got)))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip of %#v = %#v, %v", short(got), short(back), err)
			}
		})
	}
}

func typeOf(c *coffer.Column) string {
	if c == nil {
		return "<nil>"
	}
	return string(c.Type)
}

// short shortens long strings in failure messages.
func short(v any) any {
	if s, ok := v.(string); ok && len(s) > 60 {
		return s[:60] + "…"
	}
	return v
}

// reencode marshals a JSON form and decodes it as the API does.
func reencode(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return decode(t, string(b))
}

func TestToJSON(t *testing.T) {
	at := time.Date(2024, 1, 31, 9, 30, 0, 123456000, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name   string
		col    *coffer.Column
		stored any
		want   any
	}{
		{"nil", text, nil, nil},
		{"text", text, "hello", "hello"},
		{"text bytes", text, []byte("hello"), "hello"},
		{"text empty", text, "", nil},
		{"long text", longText, "a\nb", "a\nb"},
		{"email", email, "ada@example.com", "ada@example.com"},
		{"created_by", column(coffer.TypeCreatedBy), "usr_1", "usr_1"},

		{"number 0 decimals", number(0), int64(42), n("42")},
		{"number 2 decimals", number(2), int64(1250), n("12.50")},
		{"number small", number(2), int64(5), n("0.05")},
		{"number negative small", number(3), int64(-5), n("-0.005")},
		{"number negative", number(2), int64(-1250), n("-12.50")},
		{"number zero", number(2), int64(0), n("0.00")},
		{"number 9 decimals", number(9), int64(1), n("0.000000001")},
		{"number min", number(2), int64(-9223372036854775808), n("-92233720368547758.08")},
		{"number max", number(9), int64(9223372036854775807), n("9223372036.854775807")},
		{"number float64", number(2), float64(1250), n("12.50")},
		{"number float64 fraction", number(2), 12.5, nil},
		{"number bytes", number(2), []byte("1250"), n("12.50")},
		{"number string", number(0), "7", n("7")},
		{"number garbage", number(0), "abc", nil},
		{"number bool", number(0), true, nil},

		{"boolean", boolean, true, true},
		{"boolean int64 1", boolean, int64(1), true},
		{"boolean int64 0", boolean, int64(0), false},
		{"boolean float64", boolean, float64(1), true},
		{"boolean bytes", boolean, []byte("t"), true},
		{"boolean string", boolean, "false", false},
		{"boolean garbage", boolean, "maybe", nil},

		{"date", date, "2024-01-31", "2024-01-31"},
		{"date bytes", date, []byte("2024-01-31"), "2024-01-31"},
		{"date time.Time", date, time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC), "2024-01-31"},
		{"date timestamp string", date, "2024-01-31T00:00:00Z", "2024-01-31"},
		{"date garbage", date, "31/01/2024", nil},

		{"datetime", datetime, at.UnixMicro(), "2024-01-31T09:30:00.123456Z"},
		{"datetime whole second", datetime, micros("2024-01-31T09:30:00Z"), "2024-01-31T09:30:00Z"},
		{"datetime float64", datetime, float64(at.UnixMicro()), "2024-01-31T09:30:00.123456Z"},
		{"datetime time.Time", datetime, at.In(paris), "2024-01-31T09:30:00.123456Z"},
		{"datetime bytes int", datetime, []byte("0"), "1970-01-01T00:00:00Z"},
		{"datetime sqlite text", datetime, "2024-01-31 09:30:00", "2024-01-31T09:30:00Z"},
		{"datetime RFC 3339 text", datetime, "2024-01-31T10:30:00+01:00", "2024-01-31T09:30:00Z"},
		{"created_at", column(coffer.TypeCreatedAt), int64(0), "1970-01-01T00:00:00Z"},
		{"updated_at time.Time", column(coffer.TypeUpdatedAt), at, "2024-01-31T09:30:00.123456Z"},

		{"single", single, "red", "red"},
		{"multi", multi, `["red","blue"]`, []string{"red", "blue"}},
		{"multi bytes", multi, []byte(`["green"]`), []string{"green"}},
		{"multi empty array", multi, `[]`, nil},
		{"multi garbage", multi, `red`, nil},

		{"link", linkN, []string{rec1, rec2}, []string{rec1, rec2}},
		{"link empty", linkN, []string{}, nil},
		{"link single id", link1, rec1, []string{rec1}},
		{"link json array", linkN, []byte(`["` + rec1 + `"]`), []string{rec1}},

		{"unknown type", column("money"), "1", nil},
		{"nil column", nil, "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := value.ToJSON(tt.col, tt.stored)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ToJSON(%s, %#v) = %#v; want %#v", typeOf(tt.col), tt.stored, got, tt.want)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Fatalf("ToJSON result does not marshal: %v", err)
			}
		})
	}
}

func TestFromFilter(t *testing.T) {
	tests := []struct {
		name    string
		col     *coffer.Column
		in      any
		want    any
		wantErr string
	}{
		{"text", text, "smi", "smi", ""},
		{"text empty", text, "", "", ""},
		{"text number", text, n("1"), nil, "must be compared with a string"},
		{"text NUL", text, "a\x00", nil, "must not contain control characters"},
		{"email partial", email, "example.com", "example.com", ""},
		{"created_by", column(coffer.TypeCreatedBy), "usr_1", "usr_1", ""},

		{"number", number(2), n("30"), int64(3000), ""},
		{"number string", number(2), "1.25", int64(125), ""},
		{"number decimals", number(2), n("12.555"), nil, "must be a number with at most 2 decimal places"},
		{"number overflow", number(0), n("1e19"), nil, "is out of range"},
		{"number bool", number(0), true, nil, "must be compared with a number"},
		{"number text", number(0), "x", nil, "must be a number"},

		{"boolean", boolean, false, false, ""},
		{"boolean string", boolean, "false", nil, "must be compared with true or false"},

		{"date", date, "2024-02-29", "2024-02-29", ""},
		{"date invalid", date, "2023-02-29", nil, "must be compared with a date like 2024-01-31"},
		{"date datetime", date, "2024-01-31T00:00:00Z", nil, "must be compared with a date like 2024-01-31"},

		{"datetime", datetime, "2024-01-31T09:30:00+01:00", micros("2024-01-31T08:30:00Z"), ""},
		{"datetime date", datetime, "2024-01-31", micros("2024-01-31T00:00:00Z"), ""},
		{"created_at date", column(coffer.TypeCreatedAt), "2024-01-31", micros("2024-01-31T00:00:00Z"), ""},
		{"datetime invalid", datetime, "yesterday", nil, "must be compared with a date like 2024-01-31 or a date and time like 2024-01-31T09:30:00Z"},
		{"datetime number", datetime, n("1"), nil, "must be compared with a date like 2024-01-31 or a date and time like 2024-01-31T09:30:00Z"},
		{"datetime precise", datetime, "2024-01-31T09:30:00.0000001Z", nil, "must not be more precise than microseconds"},

		{"single", single, "red", "red", ""},
		{"single not a choice", single, "pink", nil, `must be one of "red", "green", "blue"`},
		{"multi one choice", multi, "blue", "blue", ""},
		{"multi not a choice", multi, "pink", nil, `must be one of "red", "green", "blue"`},

		{"link", linkN, rec1, rec1, ""},
		{"link bad", link1, "rec_1", nil, "must be compared with a record id"},
		{"unknown", column("money"), "1", nil, "has an unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := value.FromFilter(tt.col, tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromFilter(%s, %#v) = %#v, %v; want error %q", tt.col.Type, tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FromFilter(%s, %#v) = %#v, %v; want %#v", tt.col.Type, tt.in, got, err, tt.want)
			}
		})
	}
}

// TestDecodedJSON goes from JSON text, decoded as the API decodes it, to the
// storage form and back to JSON text.
func TestDecodedJSON(t *testing.T) {
	tests := []struct {
		col  *coffer.Column
		in   string
		want string
	}{
		{number(2), `12.5`, `12.50`},
		{number(2), `-0.5`, `-0.50`},
		{number(0), `1e3`, `1000`},
		{number(4), `"3.14159e2"`, `314.1590`},
		{boolean, `true`, `true`},
		{datetime, `"2024-06-30T23:30:00-02:00"`, `"2024-07-01T01:30:00Z"`},
		{multi, `["blue","green","blue"]`, `["green","blue"]`},
		{multi, `[]`, `null`},
		{linkN, `["` + rec3 + `","` + rec1 + `"]`, `["` + rec3 + `","` + rec1 + `"]`},
		{link1, `"` + rec1 + `"`, `["` + rec1 + `"]`},
		{text, `"\u003cb\u003e"`, `"\u003cb\u003e"`},
		{text, `null`, `null`},
	}
	for _, tt := range tests {
		stored, err := value.FromJSON(tt.col, decode(t, tt.in))
		if err != nil {
			t.Errorf("FromJSON(%s, %s): %v", tt.col.Type, tt.in, err)
			continue
		}
		b, err := json.Marshal(value.ToJSON(tt.col, stored))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("%s %s: got %s, want %s", tt.col.Type, tt.in, got, tt.want)
		}
	}
}

// TestCheckOptionsLeavesCallerChoices: choices are normalized in a copy,
// never in the caller's slice (which callers may share between requests).
func TestCheckOptionsLeavesCallerChoices(t *testing.T) {
	shared := []string{" red ", "green"}
	o := coffer.ColumnOptions{Choices: shared}
	if errs := value.CheckOptions(coffer.TypeSingleSelect, &o); errs != nil {
		t.Fatal(errs)
	}
	if o.Choices[0] != "red" || shared[0] != " red " {
		t.Errorf("options %q, caller's slice %q; want the options trimmed and the caller's slice untouched", o.Choices, shared)
	}
}
