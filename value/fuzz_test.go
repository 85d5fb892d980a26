package value_test

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/value"
)

// fuzzColumns are the column shapes that FuzzFromJSON tries each input on.
var fuzzColumns = []*coffer.Column{
	text, longText, number(0), number(2), number(9), boolean, date, datetime,
	email, url, phone, single, multi, link1, linkN,
	selectColumn(coffer.TypeMultiSelect, "a", "b,c", `"q"`, "é", "<&>"),
}

func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{
		`null`, `""`, `"abc"`, `"a\nb"`, `"a\u0000b"`, `12.5`, `-0.001`, `1e3`, `"1e-3"`,
		`9223372036854775807`, `-9223372036854775808`, `1e400`, `true`, `false`,
		`"2024-02-29"`, `"2023-02-29"`, `"2024-01-31T09:30:00.123456+05:30"`, `"0001-01-01T00:00:00Z"`,
		`"ada@example.com"`, `"Ada <ada@example.com>"`, `"https://example.com/x?y#z"`, `"+1 (555) 010-9999"`,
		`"red"`, `["red","blue","red"]`, `["b,c","a"]`, `[]`, `{}`, `[1,2]`,
		`"` + rec1 + `"`, `["` + rec1 + `","` + rec2 + `","` + rec1 + `"]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := json.NewDecoder(strings.NewReader(in))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return
		}
		for _, c := range fuzzColumns {
			stored, err := value.FromJSON(c, v)
			// Tolerance: any decoded value as a stored one, and as a filter literal.
			_ = value.ToJSON(c, v)
			_, _ = value.FromFilter(c, v)
			if err != nil {
				if stored != nil {
					t.Fatalf("%s: FromJSON(%s) = %#v with error %v", c.Type, in, stored, err)
				}
				if err.Error() == "" || strings.Contains(err.Error(), string(c.Name)+":") {
					t.Fatalf("%s: bad message %q", c.Type, err)
				}
				continue
			}
			out := value.ToJSON(c, stored)
			b, err := json.Marshal(out)
			if err != nil {
				t.Fatalf("%s: ToJSON(%#v) = %#v does not marshal: %v", c.Type, stored, out, err)
			}
			d := json.NewDecoder(strings.NewReader(string(b)))
			d.UseNumber()
			var again any
			if err := d.Decode(&again); err != nil {
				t.Fatal(err)
			}
			back, err := value.FromJSON(c, again)
			if err != nil || !reflect.DeepEqual(back, stored) {
				t.Fatalf("%s: %s → %#v → %s → %#v, %v", c.Type, in, stored, b, back, err)
			}
			// Converting to text and to the same column never panics, and
			// to the same column keeps the value.
			_, _ = value.Convert(c, text, stored)
			_, _ = value.Convert(c, longText, stored)
			if same, err := value.Convert(c, c, stored); err != nil || !reflect.DeepEqual(same, stored) {
				t.Fatalf("%s: Convert to itself of %#v = %#v, %v", c.Type, stored, same, err)
			}
		}
	})
}

// FuzzNumber checks the exact decimal parser against math/big.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-12.50", "1e3", "1.5e-2", ".5", "9223372036854775807", "-9223372036.854775808", "000.000100e+4"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, p uint8) {
		prec := int(p % 10)
		if strings.Trim(s, "0123456789+-.eE") != "" || strings.ContainsAny(s, "/_") {
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 && len(s)-i > 5 {
			return // big.Rat would compute huge powers
		}
		got, err := value.FromJSON(number(prec), json.Number(s))
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.HasPrefix(strings.TrimLeft(s, "+-"), "0") && !strings.ContainsAny(s, ".eE") && len(strings.TrimLeft(s, "+-")) > 1 {
			// big.Rat may read a leading 0 as octal: only check our side.
			if err == nil && !ok {
				t.Fatalf("%q accepted as %v; big.Rat refuses it", s, got)
			}
			return
		}
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)))
		fits := scaled.IsInt() && scaled.Num().IsInt64()
		if fits != (err == nil) {
			t.Fatalf("%q precision %d: got %v, %v; big.Rat gives %s", s, prec, got, err, scaled.RatString())
		}
		if fits && got.(int64) != scaled.Num().Int64() {
			t.Fatalf("%q precision %d: got %d; want %s", s, prec, got, scaled.RatString())
		}
	})
}
