package filter_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

var testEnv = filter.Env{UserID: "u1", UserEmail: "ada@example.com", UserGroups: []string{"sales", "red"}}

func TestCompile(t *testing.T) {
	tests := []struct {
		src      string
		env      *filter.Env // testEnv when nil
		wantSQL  string
		wantArgs []any
	}{
		{``, nil, `1=1`, nil},
		{`age > 30`, nil, `(t."c_age" IS NOT NULL AND t."c_age" > ?)`, []any{int64(3000)}},
		{`age != 3.5`, nil, `(t."c_age" IS NULL OR t."c_age" <> ?)`, []any{int64(350)}},
		{`!(age > 1)`, nil, `(t."c_age" IS NULL OR t."c_age" <= ?)`, []any{int64(100)}},
		{`!(age >= 1e3)`, nil, `(t."c_age" IS NULL OR t."c_age" < ?)`, []any{int64(100000)}},
		{`!(age < -1)`, nil, `(t."c_age" IS NULL OR t."c_age" >= ?)`, []any{int64(-100)}},
		{`!(age <= 0)`, nil, `(t."c_age" IS NULL OR t."c_age" > ?)`, []any{int64(0)}},
		{`!!(age = 2)`, nil, `(t."c_age" IS NOT NULL AND t."c_age" = ?)`, []any{int64(200)}},
		{`age > 30 && team = "red"`, nil,
			`((t."c_age" IS NOT NULL AND t."c_age" > ?) AND (t."c_team" IS NOT NULL AND t."c_team" = ?))`,
			[]any{int64(3000), "red"}},
		{`!(age > 30 || done = true)`, nil,
			`((t."c_age" IS NULL OR t."c_age" <= ?) AND (t."c_done" IS NULL OR t."c_done" <> ?))`,
			[]any{int64(3000), int64(1)}},
		{`!(age > 30 && done = false)`, nil,
			`((t."c_age" IS NULL OR t."c_age" <= ?) OR (t."c_done" IS NULL OR t."c_done" <> ?))`,
			[]any{int64(3000), int64(0)}},
		{`name ~ "smi"`, nil, `(t."c_name" IS NOT NULL AND instr(coffer_fold(t."c_name"), coffer_fold(?)) > 0)`, []any{"smi"}},
		{`name !~ "smi"`, nil, `(t."c_name" IS NULL OR NOT (instr(coffer_fold(t."c_name"), coffer_fold(?)) > 0))`, []any{"smi"}},
		{`email ~ "example"`, nil, `(t."c_email" IS NOT NULL AND instr(coffer_fold(t."c_email"), coffer_fold(?)) > 0)`, []any{"example"}},
		{`team in ["red", "blue"]`, nil, `(t."c_team" IS NOT NULL AND t."c_team" IN (?, ?))`, []any{"red", "blue"}},
		{`team not in ["red"]`, nil, `(t."c_team" IS NULL OR t."c_team" NOT IN (?))`, []any{"red"}},
		{`team in []`, nil, `1=0`, nil},
		{`team not in []`, nil, `1=1`, nil},
		{`due is null`, nil, `t."c_due" IS NULL`, nil},
		{`due is not null`, nil, `t."c_due" IS NOT NULL`, nil},
		{`!(due is null)`, nil, `t."c_due" IS NOT NULL`, nil},
		{`due >= "2024-01-31"`, nil, `(t."c_due" IS NOT NULL AND t."c_due" >= ?)`, []any{"2024-01-31"}},
		{`created < "2024-01-02T03:04:05+02:00"`, nil, `(t."c_created" IS NOT NULL AND t."c_created" < ?)`, []any{"2024-01-02T01:04:05Z"}},
		{"`First name` = \"Ada\"", nil, `(t."c_first" IS NOT NULL AND t."c_first" = ?)`, []any{"Ada"}},
		{"`in` = \"x\"", nil, `(t."c_in" IS NOT NULL AND t."c_in" = ?)`, []any{"x"}},
		{`owner = @user.id`, nil, `(t."c_owner" IS NOT NULL AND t."c_owner" = ?)`, []any{"u1"}},
		{`owner != @user.email`, nil, `(t."c_owner" IS NULL OR t."c_owner" <> ?)`, []any{"ada@example.com"}},
		{`owner = @user.id`, &filter.Env{}, `1=0`, nil},
		{`owner != @user.id`, &filter.Env{}, `1=1`, nil},
		{`name ~ @user.email`, &filter.Env{}, `1=0`, nil},
		{`name !~ @user.email`, &filter.Env{}, `1=1`, nil},
		{`team = @user.id`, nil, `1=0`, nil}, // "u1" is not a choice: matches nothing
		{`team in @user.groups`, nil, `(t."c_team" IS NOT NULL AND t."c_team" IN (?))`, []any{"red"}},
		{`owner in @user.groups`, nil, `(t."c_owner" IS NOT NULL AND t."c_owner" IN (?, ?))`, []any{"sales", "red"}},
		{`owner not in @user.groups`, &filter.Env{}, `1=1`, nil},
		{`owner in [@user.id, "u9", @user.email]`, &filter.Env{UserID: "u1"}, `(t."c_owner" IS NOT NULL AND t."c_owner" IN (?, ?))`, []any{"u1", "u9"}},
		{`"sales" in @user.groups`, nil, `1=1`, nil},
		{`"eng" in @user.groups`, nil, `1=0`, nil},
		{`"eng" not in @user.groups`, nil, `1=1`, nil},
		{`@user.id in @user.groups`, &filter.Env{UserID: "x", UserGroups: []string{"x"}}, `1=1`, nil},
		{`"" in @user.groups`, &filter.Env{UserGroups: []string{""}}, `1=0`, nil},
		{`"sales" in @user.groups || age > 1`, nil, `1=1`, nil},
		{`"sales" in @user.groups && age > 1`, nil, `(t."c_age" IS NOT NULL AND t."c_age" > ?)`, []any{int64(100)}},
		{`"eng" in @user.groups || age > 1 || owner = @user.id`, nil,
			`((t."c_age" IS NOT NULL AND t."c_age" > ?) OR (t."c_owner" IS NOT NULL AND t."c_owner" = ?))`,
			[]any{int64(100), "u1"}},
		{`!("eng" in @user.groups || age > 1)`, nil, `(t."c_age" IS NULL OR t."c_age" <= ?)`, []any{int64(100)}},
		{`"a" in tags`, nil, `(EXISTS (SELECT 1 FROM json_each(t."c_tags") WHERE value = ?))`, []any{"a"}},
		{`"a" not in tags`, nil, `NOT (EXISTS (SELECT 1 FROM json_each(t."c_tags") WHERE value = ?))`, []any{"a"}},
		{`!("a" not in tags)`, nil, `(EXISTS (SELECT 1 FROM json_each(t."c_tags") WHERE value = ?))`, []any{"a"}},
		{`tags is null`, nil, `(t."c_tags" IS NULL)`, nil},
		{`tags is not null`, nil, `NOT (t."c_tags" IS NULL)`, nil},
		{`@user.id in people`, nil, `(EXISTS (SELECT 1 FROM json_each(t."c_people") WHERE value = ?))`, []any{"u1"}},
		{`@user.id in people`, &filter.Env{}, `1=0`, nil},
		{`@user.id not in people`, &filter.Env{}, `1=1`, nil},
		{`done = true`, nil, `(t."c_done" IS NOT NULL AND t."c_done" = ?)`, []any{int64(1)}},
		{`name = "it's; DROP TABLE t; --"`, nil, `(t."c_name" IS NOT NULL AND t."c_name" = ?)`, []any{"it's; DROP TABLE t; --"}},
	}
	s := newSchema()
	for _, tt := range tests {
		env := testEnv
		if tt.env != nil {
			env = *tt.env
		}
		e, err := filter.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		sql, args, err := filter.Compile(e, s, env, testDialect{})
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		if got, want := sql, tt.wantSQL; got != want {
			t.Errorf("Compile(%q) SQL\n got %s\nwant %s", tt.src, got, want)
		}
		if got, want := args, tt.wantArgs; !reflect.DeepEqual(got, want) {
			t.Errorf("Compile(%q) args = %#v, want %#v", tt.src, got, want)
		}
		if err := checkSQL(sql, args); err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`nope = 1`, `at position 1: unknown column "nope"`},
		{`age > 1 && "a" in nope`, `at position 19: unknown column "nope"`},
		{`age = "x"`, `at position 7: column "age": expected a number`},
		{`age = 1.234`, `at position 7: column "age": at most 2 decimal places`},
		{`age in [1, "x"]`, `at position 12: column "age": expected a number`},
		{`done = 1`, `at position 8: column "done": expected true or false`},
		{`done > true`, `at position 1: column "done" is a boolean and cannot be compared with '>'; use '=' or '!='`},
		{`done in [true]`, `at position 1: column "done" is a boolean: use '=' or '!='`},
		{`age ~ "1"`, `at position 1: column "age" is a number: '~' only works on text columns`},
		{`due !~ "2024"`, `at position 1: column "due" is a date: '!~' only works on text columns`},
		{`age = @user.id`, `at position 7: column "age" is a number and cannot be compared with @user.id`},
		{`age in [1, @user.email]`, `at position 12: column "age" is a number and cannot be compared with @user.email`},
		{`age in @user.groups`, `at position 8: column "age" is a number and cannot be compared with @user.groups`},
		{`due = "2024-02-30"`, `at position 7: column "due": expected a date (YYYY-MM-DD)`},
		{`team = "purple"`, `at position 8: column "team": not one of the choices`},
		{`"zzz" in tags`, `at position 1: column "tags": not one of the choices`},
		{`tags = "a"`, `at position 1: column "tags" holds a list: write "value" in tags, "value" not in tags or tags is null`},
		{`tags in ["a"]`, `at position 1: column "tags" holds a list: write "value" in tags, "value" not in tags or tags is null`},
		{`tags ~ "a"`, `at position 1: column "tags" holds a list: write "value" in tags, "value" not in tags or tags is null`},
		{`"a" in name`, `at position 8: column "name" is not a list: write name = value or name in [...]`},
		{"\"a\" in `First name`", "at position 8: column \"First name\" is not a list: write `First name` = value or `First name` in [...]"},
		{`1 in @user.groups`, `at position 1: @user.groups holds group names: compare it with a string`},
		{`email = "nobody"`, `at position 9: column "email": expected an email address`},
	}
	s := newSchema()
	for _, tt := range tests {
		e, err := filter.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		_, _, err = filter.Compile(e, s, testEnv, testDialect{})
		if err == nil {
			t.Errorf("Compile(%q): no error, want %q", tt.src, tt.want)
			continue
		}
		checkInvalid(t, err, "filter", tt.want)
		_, evalErr := filter.Eval(e, s, testEnv, func(string) any { return nil })
		if got, want := errText(evalErr), errText(err); got != want {
			t.Errorf("Eval(%q) error = %s, want %s", tt.src, got, want)
		}
	}
}

func TestCompileMisconfigured(t *testing.T) {
	s := testSchema{
		"x":    {Name: "x", Type: coffer.TypeText},
		"list": {Name: "list", Type: coffer.TypeMultiSelect},
		"ok":   {Name: "ok", Type: coffer.TypeText, SQL: "t.ok"},
	}
	for _, src := range []string{`x = "a"`, `"a" in list`, `list is null`} {
		e, err := filter.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := filter.Compile(e, s, filter.Env{}, testDialect{}); coffer.ErrorCode(err) != coffer.EINTERNAL {
			t.Errorf("Compile(%q) = %v, want an internal error", src, err)
		}
	}
	e, _ := filter.Parse(`ok ~ "a"`)
	if _, _, err := filter.Compile(e, s, filter.Env{}, nil); coffer.ErrorCode(err) != coffer.EINTERNAL {
		t.Errorf("Compile with no dialect = %v, want an internal error", err)
	}
	// Without Convert, values are bound as they are, numbers as int64 or float64.
	e, _ = filter.Parse(`ok in ["a", 1, 2.5, true]`)
	_, args, err := filter.Compile(e, s, filter.Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := args, []any{"a", int64(1), 2.5, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %#v, want %#v", got, want)
	}
	// A complex field SQL goes in parentheses.
	s["c"] = &filter.Field{Name: "c", Type: coffer.TypeText, SQL: `CASE WHEN t.ok THEN t."c" END`}
	e, _ = filter.Parse(`c = "a"`)
	sql, _, err := filter.Compile(e, s, filter.Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sql, `((CASE WHEN t.ok THEN t."c" END) IS NOT NULL AND (CASE WHEN t.ok THEN t."c" END) = ?)`; got != want {
		t.Errorf("SQL = %s, want %s", got, want)
	}
}

func TestEval(t *testing.T) {
	s := newSchema()
	r := row{"name": "Élodie Smith", "age": int64(3050), "done": int64(1), "tags": []string{"a", "Ünï"}, "owner": "u1"}
	tests := []struct {
		src  string
		want bool
	}{
		{``, true},
		{`name ~ "ÉLO"`, true},
		{`name ~ "smi"`, true},
		{`name ~ ""`, true},
		{`name !~ "x"`, true},
		{`age > 30.49`, true},
		{`age > 30.5`, false},
		{`age >= 30.5`, true},
		{`done = true`, true},
		{`done != true`, false},
		{`due is null`, true},
		{`due = "2024-01-01"`, false},
		{`due != "2024-01-01"`, true},
		{`!(due > "2024-01-01")`, true},
		{`team !~ "x"`, true},
		{`team not in ["red"]`, true},
		{`team in ["red"]`, false},
		{`"Ünï" in tags`, true},
		{`"b" in tags`, false},
		{`"b" not in tags`, true},
		{`tags is null`, false},
		{`people is null`, true},
		{`@user.id in people`, false},
		{`@user.id not in people`, true},
		{`owner = @user.id && "sales" in @user.groups`, true},
		{`!(owner = @user.id || age < 0)`, false},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		got, err := filter.Eval(e, s, testEnv, func(name string) any { return r[name] })
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.src, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Eval(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

// TestCompileHandBuiltTrees checks the errors of trees that Parse never
// builds but a caller may: a comparison without its value, a search for a
// list, a list longer than MaxList, and in with a single value. Compile
// and Eval give the same error.
func TestCompileHandBuiltTrees(t *testing.T) {
	long := make([]filter.Operand, filter.MaxList+1)
	for i := range long {
		long[i] = &filter.Literal{Value: json.Number("1"), P: 9}
	}
	age := &filter.FieldRef{Name: "age", P: 1}
	tests := []struct {
		e    filter.Expr
		code string
		want string
	}{
		{&filter.Compare{Op: filter.OpGt, Left: age, P: 5},
			coffer.EINVALID, `at position 5: expected a value after '>'`},
		{&filter.Compare{Op: filter.OpContains, Left: &filter.FieldRef{Name: "name", P: 1}, Right: &filter.List{P: 8}, P: 6},
			coffer.EINVALID, `at position 6: expected a string after '~'`},
		{&filter.Compare{Op: filter.OpIn, Left: age, Right: &filter.List{Elems: long, P: 8}, P: 5},
			coffer.ETOOCOMPLEX, `at position 8: a list can hold at most 100 values`},
		{&filter.Compare{Op: filter.OpNotIn, Left: age, Right: &filter.Literal{Value: "x", P: 9}, P: 5},
			coffer.EINVALID, `at position 5: expected a list [...] or @user.groups after 'not in'`},
	}
	s := newSchema()
	for _, tt := range tests {
		_, _, err := filter.Compile(tt.e, s, testEnv, testDialect{})
		if coffer.ErrorCode(err) != tt.code || fieldMessage(err) != tt.want {
			t.Errorf("Compile(%s) = %v, want %s %q", tt.e, err, tt.code, tt.want)
		}
		_, evalErr := filter.Eval(tt.e, s, testEnv, func(string) any { return nil })
		if got, want := errText(evalErr), errText(err); got != want {
			t.Errorf("Eval(%s) error = %s, want %s", tt.e, got, want)
		}
	}
}
