package filter_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/filter"
)

func TestParseSort(t *testing.T) {
	type key struct {
		name string
		desc bool
	}
	tests := []struct {
		src  string
		want []key
	}{
		{"", nil},
		{"  ", nil},
		{"age", []key{{"age", false}}},
		{"-age,name", []key{{"age", true}, {"name", false}}},
		{" -age , +name ", []key{{"age", true}, {"name", false}}},
		{"-`First name`,due", []key{{"First name", true}, {"due", false}}},
		{"in", []key{{"in", false}}},
		{"done,team,email,owner,created", []key{{"done", false}, {"team", false}, {"email", false}, {"owner", false}, {"created", false}}},
	}
	s := newSchema()
	for _, tt := range tests {
		keys, err := filter.ParseSort(tt.src, s)
		if err != nil {
			t.Errorf("ParseSort(%q): %v", tt.src, err)
			continue
		}
		var got []key
		for _, k := range keys {
			got = append(got, key{k.Field.Name, k.Desc})
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseSort(%q) = %v, want %v", tt.src, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseSort(%q) = %v, want %v", tt.src, got, tt.want)
				break
			}
			if keys[i].Field != s[tt.want[i].name] {
				t.Errorf("ParseSort(%q): key %d is not the schema's field", tt.src, i)
			}
		}
	}
}

func TestParseSortErrors(t *testing.T) {
	s := newSchema()
	tests := []struct {
		src  string
		want string
	}{
		{"nope", `at position 1: unknown column "nope"`},
		{"-age,nope", `at position 6: unknown column "nope"`},
		{"tags", `at position 1: column "tags" holds a list and cannot be sorted`},
		{"-people", `at position 2: column "people" holds a list and cannot be sorted`},
		{"age,-age", `at position 6: column "age" appears more than once`},
		{"`in`,in", `at position 6: column "in" appears more than once`},
		{"age,", `at position 5: expected a column name`},
		{",age", `at position 1: expected a column name, found ',' (use backticks for names with spaces or symbols)`},
		{"age,,name", `at position 5: expected a column name, found ',' (use backticks for names with spaces or symbols)`},
		{"-", `at position 2: expected a column name`},
		{"--age", `at position 2: expected a column name, found '-' (use backticks for names with spaces or symbols)`},
		{"age name", `at position 5: expected ',' between columns, found 'n'`},
		{"First name", `at position 1: unknown column "First"`},
		{"name -age", `at position 6: expected ',' between columns, found '-'`},
		{"`First name", "at position 1: unterminated column name (missing '`')"},
		{"``", `at position 1: empty column name`},
		{"name,age,done,due,team,email,owner,`First name`,created", `at position 49: a sort can have at most 8 columns`},
		{strings.Repeat(" ", filter.MaxLength) + "a", `the sort is too long (more than 4096 bytes)`},
		{"\xff", `the sort is not valid UTF-8 text`},
	}
	for _, tt := range tests {
		_, err := filter.ParseSort(tt.src, s)
		if err == nil {
			t.Errorf("ParseSort(%q): no error, want %q", tt.src, tt.want)
			continue
		}
		checkInvalid(t, err, "sort", tt.want)
	}
}

// FuzzParseSort checks that ParseSort never panics and fails only with
// EINVALID errors about the sort.
func FuzzParseSort(f *testing.F) {
	for _, s := range []string{"", "-age,name", "-`First name`,due", "tags", "age,age", "`a``b`", ",", "-"} {
		f.Add(s)
	}
	s := newSchema()
	f.Fuzz(func(t *testing.T, src string) {
		keys, err := filter.ParseSort(src, s)
		if err != nil {
			checkInvalid(t, err, "sort", fieldMessage(err))
			return
		}
		if len(keys) > filter.MaxSortKeys {
			t.Fatalf("ParseSort(%q) gave %d keys", src, len(keys))
		}
		for _, k := range keys {
			if k.Field == nil || k.Field.IsList() {
				t.Fatalf("ParseSort(%q) gave key %+v", src, k)
			}
		}
	})
}
