package access_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
)

// The engine's property test: random grants, rows and subjects; the SQL
// that Compile produces, run on SQLite, must show exactly the rows and
// cells that a reference evaluator, written here from the rules alone,
// says the subject may see. Never a hidden row or cell, never a missing
// one.

// The test table: column ids, their filter names and types.
var testCols = []struct {
	id, name string
	typ      coffer.ColumnType
}{
	{"col_owner", "owner", coffer.TypeText},
	{"col_team", "team", coffer.TypeText},
	{"col_age", "age", coffer.TypeNumber},
	{"col_note", "note", coffer.TypeText},
	{"col_salary", "salary", coffer.TypeNumber},
}

var (
	users  = []string{"usr_a", "usr_b", "usr_c", "usr_d"}
	groups = []string{"grp_1", "grp_2", "grp_3"}
	teams  = []string{"red", "blue", "green"}
	// rowConds are the conditions random grants choose from.
	rowConds = []string{
		"", "", `owner = @user.id`, `team = "red"`, `age > 30`, `"grp_1" in @user.groups`,
		`team = "blue" && age <= 40`, `owner != @user.id || note is null`, `note ~ "x"`, `salary is null`,
		`owner = @user.id && !(team in ["green"])`,
	}
	rights = []access.Right{access.None, access.Read, access.Write}
)

type testSchema map[string]*filter.Field

func (s testSchema) Field(name string) (*filter.Field, bool) { f, ok := s[name]; return f, ok }

func schema() testSchema {
	s := testSchema{}
	for _, c := range testCols {
		f := &filter.Field{Name: c.name, Type: c.typ, SQL: "t." + c.id}
		if c.typ == coffer.TypeNumber {
			f.Convert = func(lit any) (any, error) {
				n, ok := lit.(json.Number)
				if !ok {
					return nil, fmt.Errorf("expected a number")
				}
				return n.Int64()
			}
		}
		s[c.name] = f
	}
	return s
}

type dialect struct{}

func (dialect) ContainsFold(expr, ph string) string {
	return "instr(lower(" + expr + "), lower(" + ph + ")) > 0"
}

type row map[string]any // by column name, plus "id"

func randomRows(rng *rand.Rand, n int) []row {
	out := make([]row, n)
	for i := range out {
		r := row{"id": "rec_" + strconv.Itoa(i)}
		maybe := func(v any) any {
			if rng.IntN(6) == 0 {
				return nil
			}
			return v
		}
		r["owner"] = maybe(users[rng.IntN(len(users))])
		r["team"] = maybe(teams[rng.IntN(len(teams))])
		r["age"] = maybe(int64(18 + rng.IntN(50)))
		r["note"] = maybe([]string{"x", "xy", "hello", "X marks"}[rng.IntN(4)])
		r["salary"] = maybe(int64(rng.IntN(100000)))
		out[i] = r
	}
	return out
}

func randomGrants(rng *rand.Rand, n int) []access.Grant {
	out := make([]access.Grant, n)
	for i := range out {
		g := access.Grant{ID: "grt_" + strconv.Itoa(i), TableID: "tbl_t", Rows: rowConds[rng.IntN(len(rowConds))]}
		switch rng.IntN(5) {
		case 0, 1:
			g.Principal = access.Principal{Type: access.PrincipalUser, ID: users[rng.IntN(len(users))]}
		case 2, 3:
			g.Principal = access.Principal{Type: access.PrincipalGroup, ID: groups[rng.IntN(len(groups))]}
		default:
			g.Principal = access.Principal{Type: access.PrincipalMembers}
		}
		if rng.IntN(6) == 0 {
			g.TableID = "tbl_other"
		} else if rng.IntN(6) == 0 {
			g.TableID = ""
		}
		g.Columns = map[string]access.Right{}
		if rng.IntN(3) > 0 {
			g.Columns["*"] = rights[rng.IntN(3)]
		}
		for _, c := range testCols {
			if rng.IntN(3) == 0 {
				g.Columns[c.id] = rights[rng.IntN(3)]
			}
		}
		if rng.IntN(2) == 0 {
			g.ViewID = "viw_" + strconv.Itoa(rng.IntN(3))
		}
		out[i] = g
	}
	return out
}

// Views of the test table: a filter and visible columns each; viw_2 is
// deleted (grants on it give nothing).
var views = map[string]*coffer.View{
	"viw_0": {ID: "viw_0", Filter: `age >= 25`, Columns: []string{"col_owner", "col_age", "col_note"}},
	"viw_1": {ID: "viw_1", Filter: ``, Columns: nil},
}

func randomSubject(rng *rand.Rand) access.Subject {
	s := access.Subject{UserID: users[rng.IntN(len(users))]}
	s.Email = s.UserID + "@example.com"
	for _, g := range groups {
		if rng.IntN(2) == 0 {
			s.Groups = append(s.Groups, g)
		}
	}
	s.Role = []string{"", "", "", access.RoleViewer, access.RoleEditor, access.RoleOwner}[rng.IntN(6)]
	return s
}

// reference says, from the rules alone, whether the subject sees a row
// and each of its cells.
func reference(t *testing.T, s access.Subject, grants []access.Grant, r row) (visible bool, cells map[string]bool) {
	cells = map[string]bool{}
	if s.Role != "" {
		visible = true
		for _, c := range testCols {
			cells[c.id] = true
		}
		return
	}
	sch := schema()
	env := filter.Env{UserID: s.UserID, UserEmail: s.Email, UserGroups: s.Groups}
	for _, g := range grants {
		applies := false
		switch g.Principal.Type {
		case access.PrincipalUser:
			applies = g.Principal.ID == s.UserID
		case access.PrincipalGroup:
			applies = slices.Contains(s.Groups, g.Principal.ID)
		case access.PrincipalMembers:
			applies = s.Role != ""
		}
		if !applies || (g.TableID != "" && g.TableID != "tbl_t") {
			continue
		}
		conds := []string{g.Rows}
		var viewCols []string
		if g.ViewID != "" {
			v, ok := views[g.ViewID]
			if !ok {
				continue
			}
			conds = append(conds, v.Filter)
			viewCols = v.Columns
		}
		match := true
		for _, src := range conds {
			e, err := filter.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			if e == nil {
				continue
			}
			ok, err := filter.Eval(e, sch, env, func(name string) any { return r[name] })
			if err != nil {
				t.Fatal(err)
			}
			match = match && ok
		}
		if !match {
			continue
		}
		visible = true
		for _, c := range testCols {
			if viewCols != nil && !slices.Contains(viewCols, c.id) {
				continue
			}
			right, ok := g.Columns[c.id]
			if !ok {
				right, ok = g.Columns["*"]
			}
			if ok && (right == access.Read || right == access.Write) {
				cells[c.id] = true
			}
		}
	}
	return
}

func openDB(t *testing.T, rows []row) *sql.DB {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	cols := []string{"id TEXT PRIMARY KEY"}
	for _, c := range testCols {
		typ := "TEXT"
		if c.typ == coffer.TypeNumber {
			typ = "INTEGER"
		}
		cols = append(cols, c.id+" "+typ)
	}
	if _, err := db.Exec("CREATE TABLE t_t (" + strings.Join(cols, ", ") + ")"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		args := []any{r["id"]}
		ph := []string{"?"}
		for _, c := range testCols {
			args = append(args, r[c.name])
			ph = append(ph, "?")
		}
		if _, err := db.Exec("INSERT INTO t_t VALUES ("+strings.Join(ph, ", ")+")", args...); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func table() access.Table {
	var ids []string
	for _, c := range testCols {
		ids = append(ids, c.id)
	}
	return access.Table{ID: "tbl_t", Columns: ids, View: func(id string) (*coffer.View, bool) { v, ok := views[id]; return v, ok }}
}

// query runs the plan and returns, per visible row id, its cells (nil
// where masked).
func query(t *testing.T, db *sql.DB, p *access.Plan) map[string][]any {
	sel := []string{"t.id"}
	for _, c := range testCols {
		sel = append(sel, p.Mask(c.id, "t."+c.id))
	}
	from := "t_t t"
	if !p.Full && p.Select != "" {
		from = "(SELECT t.*" + p.Select + " FROM t_t t) t"
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + from + " WHERE " + p.Row
	rows, err := db.Query(q, p.Args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string][]any{}
	for rows.Next() {
		vals := make([]any, len(sel))
		ptrs := make([]any, len(sel))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out[vals[0].(string)] = vals[1:]
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCase compares the plan's answer with the reference and returns
// the first difference, or "".
func checkCase(t *testing.T, db *sql.DB, rows []row, s access.Subject, grants []access.Grant, mutate func(*access.Plan)) string {
	d := access.Decide(s, grants, table())
	p := access.Compile(d, schema(), s.Env(), dialect{}, "t")
	if mutate != nil {
		mutate(p)
	}
	got := query(t, db, p)
	for _, r := range rows {
		id := r["id"].(string)
		visible, cells := reference(t, s, grants, r)
		vals, seen := got[id]
		if seen != visible {
			return fmt.Sprintf("row %s: engine visible=%v, reference %v", id, seen, visible)
		}
		if !visible {
			continue
		}
		for i, c := range testCols {
			want := any(nil)
			if cells[c.id] {
				want = r[c.name]
			}
			if fmt.Sprint(vals[i]) != fmt.Sprint(want) {
				return fmt.Sprintf("row %s cell %s: engine %v, reference %v (readable %v)", id, c.name, vals[i], want, cells[c.id])
			}
		}
	}
	for _, c := range testCols {
		ref := refFilterable(s, grants, c.id)
		if d.Filterable(c.id) != ref {
			return fmt.Sprintf("column %s: engine filterable=%v, reference %v", c.name, d.Filterable(c.id), ref)
		}
	}
	return ""
}

// refFilterable: a column may be filtered on when some applicable grant
// (or a role) gives read on it, whatever the rows.
func refFilterable(s access.Subject, grants []access.Grant, col string) bool {
	if s.Role != "" {
		return true
	}
	for _, g := range grants {
		ok := (g.Principal.Type == access.PrincipalUser && g.Principal.ID == s.UserID) ||
			(g.Principal.Type == access.PrincipalGroup && slices.Contains(s.Groups, g.Principal.ID))
		if !ok || (g.TableID != "" && g.TableID != "tbl_t") {
			continue
		}
		if g.ViewID != "" {
			v, exists := views[g.ViewID]
			if !exists || (v.Columns != nil && !slices.Contains(v.Columns, col)) {
				continue
			}
		}
		r, has := g.Columns[col]
		if !has {
			r, has = g.Columns["*"]
		}
		if has && r != access.None {
			return true
		}
	}
	return false
}

func propCases() (seed uint64, n int) {
	seed, n = 1, 400
	if v, err := strconv.ParseUint(os.Getenv("COFFER_PROP_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("COFFER_PROP_CASES")); err == nil && v > 0 {
		n = v
	}
	return seed, n
}

func TestEngineAgainstReference(t *testing.T) {
	seed, n := propCases()
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := randomRows(rng, 40)
	db := openDB(t, rows)
	for i := 0; i < n; i++ {
		s := randomSubject(rng)
		grants := randomGrants(rng, 1+rng.IntN(4))
		if diff := checkCase(t, db, rows, s, grants, nil); diff != "" {
			gj, _ := json.Marshal(grants)
			t.Fatalf("case %d (COFFER_PROP_SEED=%d): subject %+v, grants %s: %s", i, seed, s, gj, diff)
		}
	}
}

// TestEngineMutantsCaught shows the property test is able to fail: each
// deliberately broken variant of the engine leaks or loses something that
// the reference catches within the same random cases.
func TestEngineMutantsCaught(t *testing.T) {
	for name, mutate := range access.Mutants() {
		t.Run(name, func(t *testing.T) {
			seed, n := propCases()
			rng := rand.New(rand.NewPCG(seed, 7))
			rows := randomRows(rng, 40)
			db := openDB(t, rows)
			for i := 0; i < n; i++ {
				s := randomSubject(rng)
				grants := randomGrants(rng, 1+rng.IntN(4))
				if diff := checkCase(t, db, rows, s, grants, mutate); diff != "" {
					t.Logf("caught at case %d: %s", i, diff)
					return
				}
			}
			t.Fatalf("the mutant %q passed %d random cases: the property test cannot see this fault", name, n)
		})
	}
}
