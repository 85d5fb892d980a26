package filter_test

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// TestCompileSortKey: a field with a sort key compiles = and in through
// the key as well as the value (so an index on the key serves them), and
// everything else as before; the SQL is never NULL.
func TestCompileSortKey(t *testing.T) {
	key := func(v any) any { return "K(" + v.(string) + ")" }
	sch := testSchema{"name": {Name: "name", Type: coffer.TypeText, SQL: `t."c"`, Sort: `t."k"`, Key: key}}
	for _, c := range []struct {
		src, sql string
		args     []any
	}{
		{`name = "Ab"`, `(t."k" IS NOT NULL AND t."k" = ? AND (t."c" IS NOT NULL AND t."c" = ?))`, []any{"K(Ab)", "Ab"}},
		{`name in ["a", "b"]`, `(t."k" IS NOT NULL AND t."k" IN (?, ?) AND (t."c" IS NOT NULL AND t."c" IN (?, ?)))`, []any{"K(a)", "K(b)", "a", "b"}},
		{`name != "Ab"`, `(t."c" IS NULL OR t."c" <> ?)`, []any{"Ab"}},
		{`!(name in ["a"])`, `(t."c" IS NULL OR t."c" NOT IN (?))`, []any{"a"}},
		{`name < "b"`, `(t."c" IS NOT NULL AND t."c" < ?)`, []any{"b"}},
	} {
		e, err := filter.Parse(c.src)
		if err != nil {
			t.Fatal(err)
		}
		sql, args, err := filter.Compile(e, sch, filter.Env{}, testDialect{})
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if sql != c.sql || !slices.Equal(args, c.args) {
			t.Errorf("%s:\n got  %s %v\n want %s %v", c.src, sql, args, c.sql, c.args)
		}
	}
}
