package filter_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// Pools of values: rows and filters draw from the same small pools so that
// comparisons often hold.
var (
	textPool   = []string{"Ada", "ada", "ADA LOVELACE", "Élodie", "élodie", "ÉLODIE", "Zoë", "zoe", "smith", "Smith", "b", "Ω", "ß", "straße", "", "a\"b", "x\\y", "İstanbul", "ǅ"}
	needlePool = []string{"ada", "É", "é", "lo", "smi", "SMI", "", "ω", "SS", "ß", "\"", "\\", "zz", "i̇", "ǆ"}
	numberPool = []string{"0", "-12", "3.50", "1e3", "12.5", "100", "-0.01", "30", "30.49", "2.5E1", "-1e-2"}
	datePool   = []string{"2024-01-01", "2024-01-31", "2023-12-31", "2024-02-29", "1999-09-09"}
	timePool   = []string{"2024-01-02T03:04:05Z", "2024-01-02T05:04:05+02:00", "2023-06-01T00:00:00Z", "2025-01-01T12:00:00-01:00"}
	emailPool  = []string{"ada@example.com", "ADA@example.com", "bob@x.org", "élodie@exemple.fr"}
	userPool   = []string{"u1", "u2", "u3", "sales", ""}
	groupPool  = []string{"sales", "eng", "u1", "Ada", "red", "a", ""}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// randomRow returns a row of the test table with about one empty value in four.
func randomRow(r *rand.Rand) row {
	out := row{}
	for _, c := range columns {
		if r.IntN(4) == 0 {
			continue
		}
		f := newSchema()[c.name]
		var lit any
		switch c.typ {
		case coffer.TypeNumber:
			out[c.name] = int64(r.IntN(8001) - 4000)
			if r.IntN(2) == 0 {
				lit = jsonNumber(pick(r, numberPool))
			} else {
				continue
			}
		case coffer.TypeBoolean:
			lit = r.IntN(2) == 0
		case coffer.TypeDate:
			lit = pick(r, datePool)
		case coffer.TypeCreatedAt:
			lit = pick(r, timePool)
		case coffer.TypeSingleSelect:
			lit = pick(r, teamChoices)
		case coffer.TypeEmail:
			lit = pick(r, emailPool)
		case coffer.TypeCreatedBy:
			lit = pick(r, userPool[:3])
		case coffer.TypeMultiSelect, coffer.TypeLink:
			pool := tagChoices
			if c.typ == coffer.TypeLink {
				pool = userPool[:4]
			}
			var l []string
			for _, v := range pool {
				if r.IntN(3) == 0 {
					l = append(l, v)
				}
			}
			if len(l) > 0 {
				out[c.name] = l
			}
			continue
		default:
			lit = pick(r, textPool)
		}
		v, err := f.Convert(lit)
		if err != nil {
			panic(fmt.Sprintf("%s: %v: %v", c.name, lit, err))
		}
		out[c.name] = v
	}
	return out
}

// gen generates random filter source.
type gen struct {
	r *rand.Rand
}

func (g *gen) name(c column) string {
	if strings.Contains(c.name, " ") || c.name == "in" || g.r.IntN(8) == 0 {
		return "`" + c.name + "`"
	}
	return c.name
}

// literal returns a literal for a column of type typ, sometimes of the
// wrong kind.
func (g *gen) literal(typ coffer.ColumnType) string {
	if g.r.IntN(25) == 0 {
		return pick(g.r, []string{`"zzz"`, `7`, `true`, `"2024-13-01"`})
	}
	switch typ {
	case coffer.TypeNumber:
		return pick(g.r, numberPool)
	case coffer.TypeBoolean:
		return pick(g.r, []string{"true", "false"})
	case coffer.TypeDate:
		return quoteLit(pick(g.r, datePool))
	case coffer.TypeCreatedAt:
		return quoteLit(pick(g.r, timePool))
	case coffer.TypeSingleSelect:
		return quoteLit(pick(g.r, teamChoices))
	case coffer.TypeEmail:
		return quoteLit(pick(g.r, emailPool))
	case coffer.TypeCreatedBy:
		return quoteLit(pick(g.r, userPool))
	case coffer.TypeMultiSelect:
		return quoteLit(pick(g.r, tagChoices))
	case coffer.TypeLink:
		return quoteLit(pick(g.r, userPool))
	}
	return quoteLit(pick(g.r, textPool))
}

// quoteLit quotes s as a filter string, with some escapes.
func quoteLit(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "é", `\u00e9`).Replace(s)
	return `"` + s + `"`
}

func (g *gen) value(c column) string {
	textual := c.typ != coffer.TypeNumber && c.typ != coffer.TypeBoolean && c.typ != coffer.TypeDate && c.typ != coffer.TypeCreatedAt
	if textual && g.r.IntN(5) == 0 {
		return pick(g.r, []string{"@user.id", "@user.email"})
	}
	return g.literal(c.typ)
}

func (g *gen) comparison() string {
	c := pick(g.r, columns)
	name := g.name(c)
	if c.typ == coffer.TypeMultiSelect || c.typ == coffer.TypeLink {
		switch g.r.IntN(5) {
		case 0:
			return name + " is null"
		case 1:
			return name + " is not null"
		case 2:
			return "@user.id " + pick(g.r, []string{"in", "not in"}) + " " + name
		}
		return g.literal(c.typ) + " " + pick(g.r, []string{"in", "not in"}) + " " + name
	}
	switch g.r.IntN(12) {
	case 0:
		return name + pick(g.r, []string{" is null", " is not null"})
	case 1:
		n := g.r.IntN(4)
		var vals []string
		for range n {
			vals = append(vals, g.value(c))
		}
		return name + pick(g.r, []string{" in ", " not in "}) + "[" + strings.Join(vals, ", ") + "]"
	case 2:
		if c.typ == coffer.TypeBoolean {
			break
		}
		if c.typ == coffer.TypeNumber {
			return name + " in [" + g.value(c) + "]"
		}
		return name + pick(g.r, []string{" in ", " not in "}) + "@user.groups"
	case 3:
		return quoteLit(pick(g.r, groupPool)) + pick(g.r, []string{" in ", " not in "}) + "@user.groups"
	case 4, 5:
		if c.typ == coffer.TypeBoolean || c.typ == coffer.TypeNumber || c.typ == coffer.TypeDate || c.typ == coffer.TypeCreatedAt {
			break
		}
		if g.r.IntN(6) == 0 {
			return name + pick(g.r, []string{" ~ ", " !~ "}) + "@user.email"
		}
		return name + pick(g.r, []string{" ~ ", " !~ "}) + quoteLit(pick(g.r, needlePool))
	}
	ops := []string{"=", "!="}
	if c.typ != coffer.TypeBoolean {
		ops = append(ops, "<", "<=", ">", ">=")
	}
	return name + " " + pick(g.r, ops) + " " + g.value(c)
}

func (g *gen) expr(depth int) string {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.comparison()
	}
	switch g.r.IntN(4) {
	case 0:
		return g.expr(depth-1) + " && " + g.expr(depth-1)
	case 1:
		return g.expr(depth-1) + " || " + g.expr(depth-1)
	case 2:
		return "!(" + g.expr(depth-1) + ")"
	}
	return "(" + g.expr(depth-1) + ")"
}

func (g *gen) env() filter.Env {
	env := filter.Env{UserID: pick(g.r, userPool), UserEmail: pick(g.r, append(emailPool, ""))}
	for _, gr := range groupPool {
		if g.r.IntN(3) == 0 {
			env.UserGroups = append(env.UserGroups, gr)
		}
	}
	return env
}

// TestCompileMatchesEval runs random filters on random rows in SQLite and
// checks that the rows that match are the ones that Eval accepts, and that
// the SQL is never NULL.
func TestCompileMatchesEval(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]row, 40)
	for i := range rows {
		rows[i] = randomRow(r)
	}
	rows = append(rows, row{}) // a row of empty values
	db := mustOpenDB(t, rows)
	s := newSchema()
	g := &gen{r: r}
	const cases = 2000
	valid, matched := 0, 0
	for range cases {
		src := g.expr(4)
		env := g.env()
		e, err := filter.Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if e2, err := filter.Parse(e.String()); err != nil || e2.String() != e.String() {
			t.Fatalf("round trip of %q: %v, %v", src, e2, err)
		}
		sql, args, err := filter.Compile(e, s, env, testDialect{})
		want, evalErr := evalRows(e, s, env, rows)
		if got, want := errText(evalErr), errText(err); got != want {
			t.Fatalf("%s: Eval error %q, Compile error %q", src, got, want)
		}
		if err != nil {
			if coffer.ErrorCode(err) != coffer.EINVALID {
				t.Fatalf("%s: %v", src, err)
			}
			continue
		}
		valid++
		if err := checkSQL(sql, args); err != nil {
			t.Fatalf("%s: %v\n%s", src, err, sql)
		}
		got, err := query(db, sql, args)
		if err != nil {
			t.Fatalf("%s: %v\n%s %v", src, err, sql, args)
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("row %d %v", i+1, rows[i])
				}
			}
			t.Fatalf("%s with %+v:\nSQL %s %#v\n got %v\nwant %v", src, env, sql, args, got, want)
		}
		for _, m := range got {
			if m {
				matched++
			}
		}
	}
	t.Logf("%d of %d filters valid; %d of %d row matches", valid, cases, matched, valid*len(rows))
	if valid < cases/2 {
		t.Errorf("only %d of %d random filters are valid", valid, cases)
	}
}
