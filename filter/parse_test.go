package filter_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

func TestParse(t *testing.T) {
	tests := []struct {
		src  string
		want string // canonical form (Expr.String)
	}{
		{`age > 30`, `age > 30`},
		{`age>30&&team="red"`, `age > 30 && team = "red"`},
		{`age > 30 && team = "red" || done = true`, `age > 30 && team = "red" || done = true`},
		{`age > 30 && (team = "red" || done = true)`, `age > 30 && (team = "red" || done = true)`},
		{`(a = 1 && b = 2) && c = 3`, `(a = 1 && b = 2) && c = 3`},
		{`a = 1 || (b = 2 || c = 3)`, `a = 1 || (b = 2 || c = 3)`},
		{`((a = 1))`, `a = 1`},
		{`!(a = 1 || b = 2)`, `!(a = 1 || b = 2)`},
		{`!a = 1`, `!a = 1`},
		{`!(a = 1)`, `!a = 1`},
		{`!!a = 1`, `!!a = 1`},
		{`! ! (a = 1)`, `!!a = 1`},
		{`!(!(a = 1) || b = 2)`, `!(!a = 1 || b = 2)`},
		{`!a = 1 && b = 2`, `!a = 1 && b = 2`},
		{`name ~ "smi"`, `name ~ "smi"`},
		{`name !~ "smi"`, `name !~ "smi"`},
		{`a != -12`, `a != -12`},
		{`a >= 3.50`, `a >= 3.50`},
		{`a <= 1e3`, `a <= 1e3`},
		{`a < -0.5E-2`, `a < -0.5E-2`},
		{`a > 0`, `a > 0`},
		{`done = false`, `done = false`},
		{`done = TRUE`, `done = true`},
		{`status in ["a","b"]`, `status in ["a", "b"]`},
		{`status in []`, `status in []`},
		{`status not in [1, true, "x", @user.id]`, `status not in [1, true, "x", @user.id]`},
		{`due is null`, `due is null`},
		{`due IS NOT NULL`, `due is not null`},
		{`due is  not   null`, `due is not null`},
		{`owner = @user.id`, `owner = @user.id`},
		{`owner = @user.email`, `owner = @user.email`},
		{`team in @user.groups`, `team in @user.groups`},
		{`team not in @user.groups`, `team not in @user.groups`},
		{`"sales" in @user.groups`, `"sales" in @user.groups`},
		{`"sales" not in @user.groups`, `"sales" not in @user.groups`},
		{`"x" in tags`, `"x" in tags`},
		{`"x" not in tags`, `"x" not in tags`},
		{`@user.id in people`, `@user.id in people`},
		{"`First name` = \"Ada\"", "`First name` = \"Ada\""},
		{"`a``b` = 1", "`a``b` = 1"},
		{"`in` = 1", "`in` = 1"},
		{"`Name` = 1", "Name = 1"},
		{`Élodie = "é"`, `Élodie = "é"`},
		{`_x9 = 1`, `_x9 = 1`},
		{`a = "q\"b\\s\/\n\t\r\u00e9\ud83d\ude00"`, `a = "q\"b\\s/\n\t\ré😀"`},
		{`a = "\u0001"`, `a = "\u0001"`},
		{"  a = 1  \n", `a = 1`},
		{"a\u00a0=\u30001", `a = 1`},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.src, got, tt.want)
		}
		// The canonical form parses to the same tree.
		e2, err := filter.Parse(e.String())
		if err != nil {
			t.Errorf("Parse(%q): %v", e.String(), err)
			continue
		}
		if got, want := e2.String(), e.String(); got != want {
			t.Errorf("round trip of %q: got %s, want %s", tt.src, got, want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", " ", "\t\n "} {
		e, err := filter.Parse(src)
		if e != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", src, e, err)
		}
	}
}

func TestParseTree(t *testing.T) {
	e, err := filter.Parse(`!(a > 1) || "x" in tags && b is null`)
	if err != nil {
		t.Fatal(err)
	}
	or, ok := e.(*filter.Or)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("got %#v, want an Or of 2 terms", e)
	}
	not, ok := or.Terms[0].(*filter.Not)
	if !ok {
		t.Fatalf("got %#v, want a Not", or.Terms[0])
	}
	if got, want := not.Pos(), 1; got != want {
		t.Errorf("Not.Pos() = %d, want %d", got, want)
	}
	and, ok := or.Terms[1].(*filter.And)
	if !ok || len(and.Terms) != 2 {
		t.Fatalf("got %#v, want an And of 2 terms", or.Terms[1])
	}
	c := and.Terms[0].(*filter.Compare)
	if got, want := c.Op, filter.OpIn; got != want {
		t.Errorf("Op = %q, want %q", got, want)
	}
	if got, want := c.Pos(), 13; got != want {
		t.Errorf("Pos() = %d, want %d", got, want)
	}
	if lit, ok := c.Left.(*filter.Literal); !ok || lit.Value != "x" {
		t.Errorf("Left = %#v, want the literal \"x\"", c.Left)
	}
	if f, ok := c.Right.(*filter.FieldRef); !ok || f.Name != "tags" {
		t.Errorf("Right = %#v, want the field tags", c.Right)
	}
	c = and.Terms[1].(*filter.Compare)
	if got, want := c.Op, filter.OpIsNull; got != want || c.Right != nil {
		t.Errorf("Op = %q, Right = %v, want %q, nil", got, c.Right, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // the field message
	}{
		{`a =`, `at position 4: expected a value after '='`},
		{`age > 30 && team = `, `at position 20: expected a value after '='`},
		{`a = 1 &&`, `at position 9: expected a condition after '&&'`},
		{`a = 1 ||`, `at position 9: expected a condition after '||'`},
		{`(a = 1`, `at position 7: expected ')' to close the '(' at position 1, found the end of the filter`},
		{`a = 1)`, `at position 6: unmatched ')'`},
		{`a = 1 b = 2`, `at position 7: expected '&&', '||' or the end of the filter, found column "b"`},
		{`a`, `at position 2: expected an operator after column "a"`},
		{`a == 1`, `at position 3: use '=' instead of '=='`},
		{`a !== 1`, `at position 3: use '!=' instead of '!=='`},
		{`a <> 1`, `at position 3: use '!=' instead of '<>'`},
		{`a = 1 & b = 2`, `at position 7: use '&&' for 'and'`},
		{`a = 1 | b = 2`, `at position 7: use '||' for 'or'`},
		{`a = null`, `at position 5: use 'is null' instead of '= null'`},
		{`a != null`, `at position 6: use 'is not null' instead of '!= null'`},
		{`a > null`, `at position 5: null can only be used in 'is null' and 'is not null'`},
		{`null = 1`, `at position 1: null can only be used in 'is null' and 'is not null'`},
		{`a is 1`, `at position 6: expected 'null' after 'is', found a number`},
		{`a is not 1`, `at position 10: expected 'null' after 'is not', found a number`},
		{`a not 1`, `at position 7: expected 'in' after 'not', found a number`},
		{`a in "x"`, `at position 6: expected a list [...] or @user.groups after 'in', found a string`},
		{`a in [1, 2`, `at position 11: expected ']' to close the list at position 6`},
		{`a in [1 2]`, `at position 9: expected ',' or ']' in the list, found a number`},
		{`a in [1,]`, `at position 9: expected a value in the list, found ']'`},
		{`a in [null]`, `at position 7: a list cannot hold null; use 'is null'`},
		{`a in [[1]]`, `at position 7: expected a value in the list, found '['`},
		{`a in [@user.groups]`, `at position 7: @user.groups cannot be an element of a list`},
		{`a = b`, `at position 5: a column can only be compared with a value, not with another column`},
		{`a = [1]`, `at position 5: use 'in' to compare with a list`},
		{`a ~ 1`, `at position 5: expected a string after '~'`},
		{`a !~ true`, `at position 6: expected a string after '!~'`},
		{`a = @user.groups`, `at position 5: @user.groups is a list: use 'in @user.groups'`},
		{`a = @user.name`, `at position 5: unknown variable "@user.name"; use @user.id, @user.email or @user.groups`},
		{`a = @`, `at position 5: expected a variable name after '@' (@user.id, @user.email or @user.groups)`},
		{`@user.groups in a`, `at position 1: @user.groups is a list: write "value" in @user.groups or column in @user.groups`},
		{`"x" = a`, `at position 1: a comparison starts with the column: write column = value`},
		{`"x"`, `at position 4: expected 'in' or 'not in' after the value`},
		{`"x" in [1]`, `at position 8: a list can only follow a column: write column in [...]`},
		{`"x" in 1`, `at position 8: expected a column or @user.groups after 'in', found a number`},
		{`[1] in a`, `at position 1: a list can only follow 'in' or 'not in'`},
		{`a = "abc`, `at position 5: unterminated string`},
		{`a = "\x"`, `at position 6: invalid escape in string; use \", \\, \n, \t, \r or \uXXXX`},
		{`a = "\u12"`, `at position 6: expected four hexadecimal digits after \u`},
		{`a = "\u0000"`, `at position 6: strings cannot contain the NUL character`},
		{`a = "\ud83d"`, `at position 6: invalid surrogate pair in \u escape`},
		{`a = "\ude00"`, `at position 6: invalid surrogate pair in \u escape`},
		{"a = \"x\ny\"", `at position 7: control characters must be escaped in strings (\n, \t or \uXXXX)`},
		{`a = 'x'`, "at position 5: strings are written in double quotes (\"…\"); column names with spaces in backticks (`…`)"},
		{"`a = 1", "at position 1: unterminated column name (missing '`')"},
		{"`` = 1", `at position 1: empty column name`},
		{`a = 012`, `at position 5: invalid number`},
		{`a = 1.`, `at position 5: invalid number`},
		{`a = .5`, `at position 5: unexpected character '.'`},
		{`a = 1e`, `at position 5: invalid number`},
		{`a = 12abc`, `at position 5: invalid number`},
		{`a = - 1`, `at position 5: expected a number after '-'`},
		{`a = 1 # b`, `at position 7: unexpected character '#'`},
		{"a = \x01", `at position 5: unexpected character U+0001`},
		{`é = 1 && ü`, `at position 11: expected an operator after column "ü"`},
		{`()`, `at position 2: expected a condition, found ')'`},
		{`!`, `at position 2: expected a condition after '!'`},
		{`&& a = 1`, `at position 1: expected a condition, found '&&'`},
		{"a = \"\xff\"", `the filter is not valid UTF-8 text`},
	}
	for _, tt := range tests {
		_, err := filter.Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.src, tt.want)
			continue
		}
		checkInvalid(t, err, "filter", tt.want)
	}
}

// checkInvalid checks that err is an EINVALID *coffer.Error about field with
// the given field message.
func checkInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	checkCode(t, err, coffer.EINVALID, field, want)
}

// checkCode is checkInvalid for an error of another code.
func checkCode(t *testing.T, err error, code, field, want string) {
	t.Helper()
	var e *coffer.Error
	if !errors.As(err, &e) {
		t.Errorf("got %T %v, want a *coffer.Error", err, err)
		return
	}
	if got, want := e.Code, code; got != want {
		t.Errorf("code = %q, want %q (%v)", got, want, err)
	}
	if len(e.Fields) != 1 || e.Fields[0].Field != field {
		t.Errorf("fields = %v, want one about %q", e.Fields, field)
		return
	}
	if got := e.Fields[0].Message; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if !strings.Contains(e.Message, want) || !strings.HasSuffix(e.Message, ".") {
		t.Errorf("Message = %q, want a sentence that holds %q", e.Message, want)
	}
}

func TestParseLimits(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("(", n) + "a = 1" + strings.Repeat(")", n) }
	nots := func(n int) string { return strings.Repeat("!", n) + "a = 1" }
	ands := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "a = 1"
		}
		return strings.Join(parts, " && ")
	}
	list := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "1"
		}
		return "a in [" + strings.Join(parts, ",") + "]"
	}
	long := "a = \"" + strings.Repeat("x", filter.MaxLength-6) + "\""
	tests := []struct {
		src  string
		want string // "" for no error
	}{
		{nest(filter.MaxDepth), ""},
		{nest(filter.MaxDepth + 1), "at position 33: the filter is nested too deeply (more than 32 levels)"},
		{nots(filter.MaxDepth), ""},
		{nots(filter.MaxDepth + 1), "at position 33: the filter is nested too deeply (more than 32 levels)"},
		{ands(filter.MaxTerms), ""},
		{ands(filter.MaxTerms + 1), "at position 289: the filter has too many comparisons (more than 32)"},
		{list(100) + " || " + list(100) + " || " + list(51), ""}, // the most values next to 3 comparisons and 2 "||"
		{list(100) + " || " + list(100) + " || " + list(52), "at position 529: the filter is too complex (more than 256 terms)"},
		{list(100), ""},
		{list(101), "at position 207: a list can hold at most 100 values"},
		{long, ""},
		{long + " ", "the filter is too long (more than 4096 bytes)"},
	}
	for _, tt := range tests {
		_, err := filter.Parse(tt.src)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Parse(%.40q…): %v", tt.src, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%.40q…): no error, want %q", tt.src, tt.want)
			continue
		}
		checkCode(t, err, coffer.ETOOCOMPLEX, "filter", tt.want)
	}
}

func TestFieldNames(t *testing.T) {
	e, err := filter.Parse(`(A = 1 || !(B ~ "x")) && C > 2 && D = "e"`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filter.FieldNames(e), []string{"A", "B", "C", "D"}; !slices.Equal(got, want) {
		t.Errorf("FieldNames = %q, want %q", got, want)
	}
}
