package filter_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"modernc.org/sqlite"
)

func init() {
	// coffer_fold is the case folding of the test dialect: strings.ToLower
	// on text, NULL on NULL.
	sqlite.MustRegisterDeterministicScalarFunction("coffer_fold", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case nil:
				return nil, nil
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			case int64:
				return fmt.Sprint(v), nil
			case float64:
				return fmt.Sprint(v), nil
			}
			return nil, fmt.Errorf("coffer_fold: unexpected %T", args[0])
		})
}

// testDialect is the SQLite dialect of the tests.
type testDialect struct{}

func (testDialect) ContainsFold(expr, ph string) string {
	return "instr(coffer_fold(" + expr + "), coffer_fold(" + ph + ")) > 0"
}

// testSchema is a Schema over a map.
type testSchema map[string]*filter.Field

func (s testSchema) Field(name string) (*filter.Field, bool) {
	f, ok := s[name]
	return f, ok
}

// column describes a column of the test table.
type column struct {
	name string
	typ  coffer.ColumnType
	sql  string // column of table t
}

// columns are the columns of the test table t.
var columns = []column{
	{"name", coffer.TypeText, "c_name"},
	{"age", coffer.TypeNumber, "c_age"},
	{"done", coffer.TypeBoolean, "c_done"},
	{"due", coffer.TypeDate, "c_due"},
	{"team", coffer.TypeSingleSelect, "c_team"},
	{"email", coffer.TypeEmail, "c_email"},
	{"owner", coffer.TypeCreatedBy, "c_owner"},
	{"First name", coffer.TypeText, "c_first"},
	{"created", coffer.TypeCreatedAt, "c_created"},
	{"tags", coffer.TypeMultiSelect, "c_tags"},
	{"people", coffer.TypeLink, "c_people"},
	{"in", coffer.TypeText, "c_in"}, // a column named like a keyword
}

var (
	teamChoices = []string{"red", "green", "blue", "Élan"}
	tagChoices  = []string{"a", "b", "c", "Ünï", "sales"}
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// convertFor returns the Convert of a column of the test table: the
// storage forms are text, int64 hundredths for numbers, 0/1 for booleans,
// "YYYY-MM-DD" dates and RFC 3339 UTC datetimes.
func convertFor(typ coffer.ColumnType) func(any) (any, error) {
	return func(lit any) (any, error) {
		switch typ {
		case coffer.TypeNumber:
			n, ok := lit.(json.Number)
			if !ok {
				return nil, errorf("expected a number")
			}
			r, ok := new(big.Rat).SetString(string(n))
			if !ok || len(n) > 30 {
				return nil, errorf("expected a number")
			}
			r.Mul(r, big.NewRat(100, 1))
			if !r.IsInt() {
				return nil, errorf("at most 2 decimal places")
			}
			if !r.Num().IsInt64() {
				return nil, errorf("the number is too large")
			}
			return r.Num().Int64(), nil
		case coffer.TypeBoolean:
			b, ok := lit.(bool)
			if !ok {
				return nil, errorf("expected true or false")
			}
			if b {
				return int64(1), nil
			}
			return int64(0), nil
		}
		s, ok := lit.(string)
		if !ok {
			return nil, errorf("expected a string")
		}
		switch typ {
		case coffer.TypeDate:
			if _, err := time.Parse("2006-01-02", s); err != nil {
				return nil, errorf("expected a date (YYYY-MM-DD)")
			}
		case coffer.TypeCreatedAt:
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return nil, errorf("expected a date and time")
			}
			return t.UTC().Format(time.RFC3339), nil
		case coffer.TypeSingleSelect:
			if !slices.Contains(teamChoices, s) {
				return nil, errorf("not one of the choices")
			}
		case coffer.TypeMultiSelect:
			if !slices.Contains(tagChoices, s) {
				return nil, &coffer.Error{Code: coffer.EINVALID, Message: "not one of the choices"}
			}
		case coffer.TypeEmail:
			if !strings.Contains(s, "@") {
				return nil, errorf("expected an email address")
			}
		}
		return s, nil
	}
}

// newSchema returns the schema of the test table t.
func newSchema() testSchema {
	s := testSchema{}
	for _, c := range columns {
		f := &filter.Field{Name: c.name, Type: c.typ, Convert: convertFor(c.typ)}
		col := `t."` + c.sql + `"`
		if f.IsList() {
			f.Contains = func(ph string) string {
				return "EXISTS (SELECT 1 FROM json_each(" + col + ") WHERE value = " + ph + ")"
			}
			f.Empty = col + " IS NULL"
		} else {
			f.SQL = col
		}
		s[c.name] = f
	}
	return s
}

// row is a row of the test table: storage values by column name.
type row map[string]any

// mustOpenDB opens an in-memory SQLite database with the test table t
// holding rows (with ids 1, 2, …).
func mustOpenDB(tb testing.TB, rows []row) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	defs := []string{"id INTEGER PRIMARY KEY"}
	names := []string{"id"}
	for _, c := range columns {
		typ := "TEXT"
		switch c.typ {
		case coffer.TypeNumber, coffer.TypeBoolean:
			typ = "INTEGER"
		}
		defs = append(defs, `"`+c.sql+`" `+typ)
		names = append(names, `"`+c.sql+`"`)
	}
	if _, err := db.Exec("CREATE TABLE t (" + strings.Join(defs, ", ") + ")"); err != nil {
		tb.Fatal(err)
	}
	ins := "INSERT INTO t (" + strings.Join(names, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(columns)) + ")"
	for i, r := range rows {
		args := []any{i + 1}
		for _, c := range columns {
			v := r[c.name]
			if l, ok := v.([]string); ok {
				b, _ := json.Marshal(l)
				v = string(b)
			}
			args = append(args, v)
		}
		if _, err := db.Exec(ins, args...); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// query runs the compiled filter on t and returns, for every row in id
// order, whether it matches. It fails when the filter is ever NULL.
func query(db *sql.DB, where string, args []any) ([]bool, error) {
	rs, err := db.Query("SELECT id, ("+where+") FROM t ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var got []bool
	for rs.Next() {
		var id int64
		var v sql.NullInt64
		if err := rs.Scan(&id, &v); err != nil {
			return nil, err
		}
		if !v.Valid || (v.Int64 != 0 && v.Int64 != 1) {
			return nil, fmt.Errorf("row %d: the filter gave %v, want 0 or 1", id, v)
		}
		got = append(got, v.Int64 == 1)
	}
	return got, rs.Err()
}

// evalRows evaluates e on every row with filter.Eval.
func evalRows(e filter.Expr, s filter.Schema, env filter.Env, rows []row) ([]bool, error) {
	var want []bool
	for _, r := range rows {
		ok, err := filter.Eval(e, s, env, func(name string) any { return r[name] })
		if err != nil {
			return nil, err
		}
		want = append(want, ok)
	}
	return want, nil
}

// sqlToken matches the tokens that compiled SQL may hold with the test
// schema and dialect. Anything else (a quote, a number other than 0 or 1)
// would mean that a value was spliced into the SQL.
var sqlToken = regexp.MustCompile(`^(?:\s+|t\."c_[a-z]+"|\(|\)|,|\?|=|<>|<=|>=|<|>|IS|NOT|NULL|AND|OR|IN|EXISTS|SELECT|FROM|WHERE|value|json_each|instr|coffer_fold|1|0)`)

// checkSQL checks that sql is made of trusted tokens only and has one
// placeholder per argument.
func checkSQL(sql string, args []any) error {
	for rest := sql; rest != ""; {
		m := sqlToken.FindString(rest)
		if m == "" {
			return fmt.Errorf("unexpected SQL text at %q", rest)
		}
		rest = rest[len(m):]
	}
	if n := strings.Count(sql, "?"); n != len(args) {
		return fmt.Errorf("%d placeholders for %d arguments", n, len(args))
	}
	for _, a := range args {
		if a == nil {
			return errors.New("a nil argument")
		}
	}
	return nil
}

// errText returns the user-visible text of an error, for comparisons.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return coffer.ErrorCode(err) + ": " + coffer.ErrorMessage(err) + fmt.Sprint(coffer.ErrorFields(err))
}

func jsonNumber(s string) json.Number { return json.Number(s) }

// fieldMessage returns the message of the first field of err.
func fieldMessage(err error) string {
	if fs := coffer.ErrorFields(err); len(fs) > 0 {
		return fs[0].Message
	}
	return ""
}
