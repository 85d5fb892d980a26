package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/value"
)

// TestAccessProperty is the randomized check of the access engine through
// the API: random grants and roles for random callers over a table of
// random records; every list (with random filters and sorts, and its
// count) and every get must show exactly what a reference evaluator,
// written here from the documented rules, says the caller may see. Never
// a hidden row, cell or count; never a missing one. Each case also tries
// a random update, allowed exactly when the rules allow it (and changing
// nothing otherwise). The default number of cases is enough to catch an
// engine that forgets to check the row after an update.
//
// COFFER_PROP_SEED and COFFER_PROP_CASES change the seed and the number of
// cases (the default run is short; docs/access.md gives a long run).
func TestAccessProperty(t *testing.T) {
	seed, cases := uint64(11), 400
	if v, err := strconv.ParseUint(os.Getenv("COFFER_PROP_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("COFFER_PROP_CASES")); err == nil && v > 0 {
		cases = v
	}
	if testing.Short() {
		cases = min(cases, 40)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	hrng := rand.New(rand.NewPCG(seed, 4)) // history capabilities, apart: the cases stay those of the seed
	w := newAccessWorld(t, rng)
	for i := 0; i < cases; i++ {
		c := w.randomCase(rng)
		historyCaps(hrng, &c)
		diff := w.check(t, c, rng)
		if diff == "" {
			diff = w.checkHistory(t, c)
		}
		if diff != "" {
			gj, _ := json.Marshal(c.grants)
			t.Fatalf("case %d (COFFER_PROP_SEED=%d): caller %s role %q groups %v, grants %s:\n%s", i, seed, c.user.name, c.role, w.groupsOf[c.user.id], gj, diff)
		}
	}
}

type worldUser struct {
	id, name, email, key string
}

type accessWorld struct {
	*Env
	owner    string // session key of the owner
	nb       string
	table    *coffer.Table
	cols     map[string]*coffer.Column // by name
	view     string                    // id of the view "Adults"
	users    []worldUser
	groups   []string
	groupsOf map[string][]string // user id -> group ids
	records  []map[string]any    // the owner's view: every field, storage form, plus "id"
	missing  string              // a record id that does not exist
}

var (
	propTeams = []string{"red", "blue", "green"}
	// grantRows are the row conditions random grants choose from.
	grantRows = []string{"", "", "owner = @user.id", `team = "red"`, "age > 30", `"GROUP1" in @user.groups`,
		`team = "blue" && age <= 40`, `owner != @user.id || note is null`, `note ~ "x"`, "salary is null"}
	// listFilters are the filters random lists choose from.
	listFilters = []string{"", "age > 30", `team = "red"`, `note ~ "x"`, "salary is null", "owner = @user.id",
		"salary > 50000", `!(team in ["green"]) && age <= 50`}
	listSorts  = []string{"", "age", "-age", "note,-salary", "-team", "salary"}
	propRights = []string{"none", "read", "write"}
	propCols   = []string{"owner", "team", "age", "note", "salary"}
)

func newAccessWorld(t *testing.T, rng *rand.Rand) *accessWorld {
	e := MustEnv(t)
	e.MustUser("owner@example.com", "Owner")
	w := &accessWorld{Env: e, owner: e.MustLogin("owner@example.com"), cols: map[string]*coffer.Column{}, groupsOf: map[string][]string{}}
	var nb coffer.Notebook
	e.Do("POST", "/api/v1/notebooks", w.owner, map[string]any{"name": "People"}).WantStatus(http.StatusCreated).JSON(&nb)
	w.nb = nb.ID
	var tbl coffer.Table
	e.Do("POST", "/api/v1/notebooks/"+nb.ID+"/tables", w.owner, map[string]any{"name": "Staff", "columns": []map[string]any{
		{"name": "owner", "type": "text"},
		{"name": "team", "type": "single_select", "options": map[string]any{"choices": propTeams}},
		{"name": "age", "type": "number"},
		{"name": "note", "type": "text"},
		{"name": "salary", "type": "number"},
	}}).WantStatus(http.StatusCreated).JSON(&tbl)
	w.table = &tbl
	for _, c := range tbl.Columns {
		w.cols[c.Name] = c
	}
	var v coffer.View
	e.Do("POST", "/api/v1/notebooks/"+nb.ID+"/tables/Staff/views", w.owner, map[string]any{
		"name": "Adults", "filter": "age >= 30", "columns": []string{"owner", "age", "note"}}).WantStatus(http.StatusCreated).JSON(&v)
	w.view = v.ID

	e.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES ('org_00000000000000000000000009', 'Org', '{}', 0, 0)")
	// The owner belongs to the organization: its groups count by name too.
	e.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) SELECT 'org_00000000000000000000000009', id, 'org-owner', 0 FROM {p}users WHERE email_key = 'owner@example.com'")
	for i := 1; i <= 3; i++ {
		g := fmt.Sprintf("grp_0000000000000000000000000%d", i)
		e.MustExec("INSERT INTO {p}user_groups (id, org_id, name, created_at) VALUES (?, 'org_00000000000000000000000009', ?, 0)", g, "GROUP"+strconv.Itoa(i))
		w.groups = append(w.groups, g)
	}
	for i := 1; i <= 4; i++ {
		email := fmt.Sprintf("u%d@example.com", i)
		u := e.MustUser(email, fmt.Sprintf("U%d", i))
		wu := worldUser{id: u.ID, name: u.Name, email: u.Email}
		for _, g := range w.groups {
			if rng.IntN(2) == 0 {
				e.MustExec("INSERT INTO {p}group_members (group_id, user_id) VALUES (?, ?)", g, u.ID)
				w.groupsOf[u.ID] = append(w.groupsOf[u.ID], g)
			}
		}
		wu.key = e.MustLogin(email)
		w.users = append(w.users, wu)
	}
	var ops []map[string]any
	for i := 0; i < 30; i++ {
		f := map[string]any{}
		maybe := func(name string, v any) {
			if rng.IntN(6) > 0 {
				f[name] = v
			}
		}
		maybe("owner", w.users[rng.IntN(len(w.users))].id)
		maybe("team", propTeams[rng.IntN(3)])
		maybe("age", 18+rng.IntN(50))
		maybe("note", []string{"x", "xy", "hello", "X marks"}[rng.IntN(4)])
		maybe("salary", rng.IntN(100000))
		ops = append(ops, map[string]any{"op": "create", "fields": f})
	}
	e.Do("POST", "/api/v1/notebooks/"+nb.ID+"/tables/Staff/records/batch", w.owner, map[string]any{"operations": ops}).WantStatus(http.StatusOK)
	var list struct {
		Records []json.RawMessage `json:"records"`
	}
	e.Do("GET", "/api/v1/notebooks/"+nb.ID+"/tables/Staff/records?limit=1000", w.owner, nil).WantStatus(http.StatusOK).JSON(&list)
	for _, raw := range list.Records {
		w.records = append(w.records, w.stored(t, raw))
	}
	w.missing = "rec_" + strings.Repeat("0", 26)
	return w
}

// stored decodes a record of the API into storage values by column name.
func (w *accessWorld) stored(t *testing.T, raw []byte) map[string]any {
	var r struct {
		ID     string         `json:"id"`
		Fields map[string]any `json:"fields"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{"id": r.ID}
	for name, v := range r.Fields {
		c := w.cols[name]
		if c == nil {
			t.Fatalf("record has an unknown field %q", name)
		}
		sv, err := value.FromJSON(c, v)
		if err != nil {
			t.Fatalf("field %s=%v: %v", name, v, err)
		}
		out[name] = sv
	}
	return out
}

func (w *accessWorld) recURL(id string) string {
	return "/api/v1/notebooks/" + w.nb + "/tables/Staff/records/" + id
}

// propGrant is a grant of a case, by column names.
type propGrant struct {
	PrincipalType string            `json:"principal_type"`
	PrincipalID   string            `json:"principal_id,omitempty"`
	View          bool              `json:"view,omitempty"`
	Rows          string            `json:"rows,omitempty"`
	Columns       map[string]string `json:"columns"`
	Caps          []string          `json:"caps,omitempty"`
}

type propCase struct {
	user   worldUser
	role   string
	grants []propGrant
}

func (w *accessWorld) randomCase(rng *rand.Rand) propCase {
	c := propCase{user: w.users[rng.IntN(len(w.users))]}
	c.role = []string{"", "", "", "", "viewer", "editor"}[rng.IntN(6)]
	for i := rng.IntN(4); i >= 0; i-- {
		g := propGrant{Rows: grantRows[rng.IntN(len(grantRows))], Columns: map[string]string{}}
		switch rng.IntN(5) {
		case 0, 1:
			g.PrincipalType, g.PrincipalID = "user", w.users[rng.IntN(len(w.users))].id
		case 2, 3:
			g.PrincipalType, g.PrincipalID = "group", w.groups[rng.IntN(len(w.groups))]
		default:
			g.PrincipalType = "members"
		}
		if rng.IntN(3) > 0 {
			g.Columns["*"] = propRights[rng.IntN(3)]
		}
		for _, col := range propCols {
			if rng.IntN(3) == 0 {
				g.Columns[col] = propRights[rng.IntN(3)]
			}
		}
		g.View = rng.IntN(4) == 0
		if rng.IntN(3) == 0 {
			g.Caps = []string{"schema"}
		}
		c.grants = append(c.grants, g)
	}
	return c
}

// install writes the case's grants and role (as the sharing API would),
// and lets the access caches expire.
func (w *accessWorld) install(c propCase) {
	w.MustExec("DELETE FROM {p}grants")
	w.MustExec("DELETE FROM {p}notebook_members WHERE role <> 'owner'")
	if c.role != "" {
		w.MustExec("INSERT INTO {p}notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, 'user', ?, ?, 0)", w.nb, c.user.id, c.role)
	}
	for i, g := range c.grants {
		cols := map[string]string{}
		for name, r := range g.Columns {
			if name != "*" {
				name = w.cols[name].ID
			}
			cols[name] = r
		}
		cj, _ := json.Marshal(cols)
		caps, _ := json.Marshal(append([]string{}, g.Caps...))
		view := ""
		if g.View {
			view = w.view
		}
		w.MustExec("INSERT INTO {p}grants (id, notebook_id, principal_type, principal_id, table_id, view_id, rows_filter, column_rights, capabilities, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
			fmt.Sprintf("gnt_%026d", i), w.nb, g.PrincipalType, g.PrincipalID, w.table.ID, view, g.Rows, string(cj), string(caps))
	}
	w.Clock.Advance(2 * time.Second) // past the caches' one second
}

// reference computes, from the rules alone, which rows the caller sees and
// which cells of each are readable, and which columns are readable in some
// row.
func (w *accessWorld) reference(t *testing.T, c propCase) (rows map[string]map[string]bool, readable map[string]bool) {
	rows, readable = map[string]map[string]bool{}, map[string]bool{}
	groups := w.groupsOf[c.user.id]
	env := w.env(c)
	type applicable struct {
		conds []string
		cols  map[string]bool // readable columns
	}
	var apps []applicable
	if c.role != "" {
		all := map[string]bool{}
		for _, col := range propCols {
			all[col] = true
		}
		apps = append(apps, applicable{cols: all})
	}
	for _, g := range c.grants {
		ok := (g.PrincipalType == "user" && g.PrincipalID == c.user.id) ||
			(g.PrincipalType == "group" && slices.Contains(groups, g.PrincipalID)) ||
			(g.PrincipalType == "members" && c.role != "")
		if !ok {
			continue
		}
		a := applicable{conds: []string{g.Rows}, cols: map[string]bool{}}
		for _, col := range propCols {
			if g.View && !slices.Contains([]string{"owner", "age", "note"}, col) {
				continue
			}
			r, has := g.Columns[col]
			if !has {
				r = g.Columns["*"]
			}
			if r == "read" || r == "write" {
				a.cols[col] = true
			}
		}
		if g.View {
			a.conds = append(a.conds, "age >= 30")
		}
		apps = append(apps, a)
	}
	for _, a := range apps {
		for col := range a.cols {
			readable[col] = true
		}
	}
	for _, r := range w.records {
		for _, a := range apps {
			if !w.eval(t, a.conds, env, r) {
				continue
			}
			cells := rows[r["id"].(string)]
			if cells == nil {
				cells = map[string]bool{}
				rows[r["id"].(string)] = cells
			}
			for col := range a.cols {
				cells[col] = true
			}
		}
	}
	return rows, readable
}

func (w *accessWorld) schema() propSchema {
	s := propSchema{}
	for name, c := range w.cols {
		c := c
		s[name] = &filter.Field{Name: name, Type: c.Type, SQL: "unused", Convert: func(lit any) (any, error) { return value.FromFilter(c, lit) }}
	}
	return s
}

type propSchema map[string]*filter.Field

func (s propSchema) Field(name string) (*filter.Field, bool) { f, ok := s[name]; return f, ok }

func (w *accessWorld) eval(t *testing.T, conds []string, env filter.Env, row map[string]any) bool {
	for _, src := range conds {
		e, err := filter.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			continue
		}
		ok, err := filter.Eval(e, w.schema(), env, func(name string) any { return row[name] })
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return false
		}
	}
	return true
}

// masked is a record as the caller should see it: readable cells, NULL
// for the others, and no field for columns hidden in every row.
func masked(r map[string]any, cells, readable map[string]bool) map[string]any {
	out := map[string]any{}
	for _, col := range propCols {
		if !readable[col] {
			continue
		}
		if cells[col] {
			out[col] = r[col]
		} else {
			out[col] = nil
		}
	}
	return out
}

// filterCols lists the columns a filter or sort names.
func filterCols(src string) []string {
	var out []string
	for _, col := range propCols {
		if strings.Contains(src, col) {
			out = append(out, col)
		}
	}
	return out
}

func (w *accessWorld) check(t *testing.T, c propCase, rng *rand.Rand) string {
	w.install(c)
	rows, readable := w.reference(t, c)
	visibleTable := len(rows) > 0 || c.role != "" || w.hasApplicable(c)
	env := w.env(c)

	// A list with a random filter and sort, and its count.
	fsrc, ssrc := listFilters[rng.IntN(len(listFilters))], listSorts[rng.IntN(len(listSorts))]
	q := url.Values{"filter": {fsrc}, "sort": {ssrc}, "limit": {"1000"}, "count": {"true"}}
	resp := w.Do("GET", "/api/v1/notebooks/"+w.nb+"/tables/Staff/records?"+q.Encode(), c.user.key, nil)
	hidden := false
	for _, col := range append(filterCols(fsrc), filterCols(ssrc)...) {
		if !readable[col] {
			hidden = true
		}
	}
	switch {
	case !visibleTable:
		if resp.Status != http.StatusNotFound {
			return fmt.Sprintf("list of a table the caller cannot see: status %d, want 404: %s", resp.Status, resp.Body)
		}
	case hidden:
		// Exactly the answer for an unknown column of the same length.
		uf, us := fsrc, ssrc
		for _, col := range propCols {
			if !readable[col] {
				uf, us = strings.ReplaceAll(uf, col, unknownName(col)), strings.ReplaceAll(us, col, unknownName(col))
			}
		}
		uq := url.Values{"filter": {uf}, "sort": {us}, "limit": {"1000"}, "count": {"true"}}
		unknown := w.Do("GET", "/api/v1/notebooks/"+w.nb+"/tables/Staff/records?"+uq.Encode(), c.user.key, nil)
		if resp.Status != http.StatusBadRequest || !sameUnknown(resp.Body, unknown.Body, readable) {
			return fmt.Sprintf("list filtered or sorted (%q, %q) by a column hidden in every row: %d %s; an unknown column answers %d %s", fsrc, ssrc, resp.Status, resp.Body, unknown.Status, unknown.Body)
		}
	default:
		if resp.Status != http.StatusOK {
			return fmt.Sprintf("list (%q, %q): status %d: %s", fsrc, ssrc, resp.Status, resp.Body)
		}
		var list struct {
			Records []json.RawMessage `json:"records"`
			Total   int               `json:"total"`
		}
		if err := json.Unmarshal(resp.Body, &list); err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]any{}
		for _, r := range w.records {
			id := r["id"].(string)
			cells, ok := rows[id]
			if !ok {
				continue
			}
			m := masked(r, cells, readable)
			if fsrc != "" && !w.eval(t, []string{fsrc}, env, m) {
				continue
			}
			want[id] = m
		}
		if list.Total != len(want) || len(list.Records) != len(want) {
			return fmt.Sprintf("list (%q, %q): %d records, total %d; the reference has %d", fsrc, ssrc, len(list.Records), list.Total, len(want))
		}
		for _, raw := range list.Records {
			got := w.stored(t, raw)
			id := got["id"].(string)
			delete(got, "id")
			exp, ok := want[id]
			if !ok {
				return fmt.Sprintf("list (%q, %q) shows record %s, which the reference hides", fsrc, ssrc, id)
			}
			if d := diffFields(got, exp); d != "" {
				return fmt.Sprintf("list (%q, %q), record %s: %s", fsrc, ssrc, id, d)
			}
		}
	}

	// Every record by id: visible ones exactly as masked, the others
	// exactly like a record that does not exist.
	missBody := w.Do("GET", w.recURL(w.missing), c.user.key, nil).WantStatus(http.StatusNotFound).Body
	for _, r := range w.records {
		id := r["id"].(string)
		resp := w.Do("GET", w.recURL(id), c.user.key, nil)
		cells, visible := rows[id]
		if !visible {
			if resp.Status != http.StatusNotFound || !sameProblem(resp.Body, missBody) {
				return fmt.Sprintf("get of hidden record %s: status %d body %s; want the answer of a missing record %s", id, resp.Status, resp.Body, missBody)
			}
			continue
		}
		if resp.Status != http.StatusOK {
			return fmt.Sprintf("get of visible record %s: status %d: %s", id, resp.Status, resp.Body)
		}
		got := w.stored(t, resp.Body)
		delete(got, "id")
		if d := diffFields(got, masked(r, cells, readable)); d != "" {
			return fmt.Sprintf("get of record %s: %s", id, d)
		}
	}
	if d := w.checkWrite(t, c, rng); d != "" {
		return d
	}
	if !visibleTable {
		return ""
	}
	if d := w.checkSchema(t, c, rows, readable); d != "" {
		return d
	}
	return w.checkLive(t, c, rng, rows)
}

// unknownName is a name of no column, as long as col.
func unknownName(col string) string { return strings.Repeat("z", len(col)) }

// sameUnknown reports whether an answer about hidden columns is the answer
// about unknown ones, once their names are swapped.
func sameUnknown(hidden, unknown []byte, readable map[string]bool) bool {
	h := string(hidden)
	for _, col := range propCols {
		if !readable[col] {
			h = strings.ReplaceAll(h, `\"`+col+`\"`, `\"`+unknownName(col)+`\"`)
		}
	}
	return h == string(unknown)
}

// checkWrite tries one random update and compares the answer, and the
// stored record, with the rules: 404 for a record the caller cannot see;
// otherwise allowed when one grant (or the role) gives write on every
// changed column and matches the record both before and after.
func (w *accessWorld) checkWrite(t *testing.T, c propCase, rng *rand.Rand) string {
	i := rng.IntN(len(w.records))
	old := w.records[i]
	id := old["id"].(string)
	change := map[string]any{}
	for len(change) == 0 {
		for _, col := range propCols {
			if rng.IntN(3) > 0 {
				continue
			}
			switch col {
			case "owner":
				change[col] = w.users[rng.IntN(len(w.users))].id
			case "team":
				change[col] = propTeams[rng.IntN(3)]
			case "age":
				change[col] = 18 + rng.IntN(50)
			case "note":
				change[col] = []string{"x", "hello", "X marks"}[rng.IntN(3)]
			case "salary":
				change[col] = rng.IntN(100000)
			}
			if rng.IntN(8) == 0 {
				change[col] = nil
			}
		}
	}
	// The new row in storage form.
	newRow := map[string]any{}
	for k, v := range old {
		newRow[k] = v
	}
	body, _ := json.Marshal(map[string]any{"fields": change})
	var decoded struct {
		Fields map[string]any `json:"fields"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	for col, v := range decoded.Fields {
		sv, err := value.FromJSON(w.cols[col], v)
		if err != nil {
			t.Fatal(err)
		}
		newRow[col] = sv
	}
	// The reference.
	env := w.env(c)
	type cond struct {
		conds []string
		write map[string]bool
	}
	var conds []cond
	if c.role != "" {
		all := map[string]bool{}
		for _, col := range propCols {
			all[col] = c.role == "editor"
		}
		conds = append(conds, cond{write: all})
	}
	groups := w.groupsOf[c.user.id]
	for _, g := range c.grants {
		if !((g.PrincipalType == "user" && g.PrincipalID == c.user.id) ||
			(g.PrincipalType == "group" && slices.Contains(groups, g.PrincipalID)) ||
			(g.PrincipalType == "members" && c.role != "")) {
			continue
		}
		cd := cond{conds: []string{g.Rows}, write: map[string]bool{}}
		if g.View {
			cd.conds = append(cd.conds, "age >= 30")
		}
		for _, col := range propCols {
			if g.View && !slices.Contains([]string{"owner", "age", "note"}, col) {
				continue
			}
			r, has := g.Columns[col]
			if !has {
				r = g.Columns["*"]
			}
			cd.write[col] = r == "write"
		}
		conds = append(conds, cd)
	}
	visible, allowed := false, false
	for _, cd := range conds {
		if !w.eval(t, cd.conds, env, old) {
			continue
		}
		visible = true
		writes := true
		for col := range change {
			writes = writes && cd.write[col]
		}
		if writes && w.eval(t, cd.conds, env, newRow) {
			allowed = true
		}
	}
	unknownCol := false
	_, readable := w.reference(t, c)
	for col := range change {
		unknownCol = unknownCol || !readable[col]
	}
	want := http.StatusOK
	switch {
	case !visible && len(conds) == 0 && !w.hasApplicable(c):
		want = http.StatusNotFound // not even the notebook
	case unknownCol:
		want = http.StatusBadRequest // a column hidden in every row is unknown
	case !visible:
		want = http.StatusNotFound
	case !allowed:
		want = http.StatusForbidden
	}
	resp := w.Do("PATCH", w.recURL(id), c.user.key, map[string]any{"fields": change})
	after := w.stored(t, w.Do("GET", w.recURL(id), w.owner, nil).WantStatus(http.StatusOK).Body)
	changed := diffFields(withoutID(after), withoutID(old)) != ""
	if resp.Status != want {
		return fmt.Sprintf("update of %s with %v: status %d, the rules say %d (visible %v): %s", id, change, resp.Status, want, visible, resp.Body)
	}
	if want != http.StatusOK && changed {
		return fmt.Sprintf("a refused update of %s with %v changed the record", id, change)
	}
	w.records[i] = after
	return ""
}

func withoutID(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "id" {
			out[k] = v
		}
	}
	return out
}

func (w *accessWorld) hasApplicable(c propCase) bool {
	for _, g := range c.grants {
		if (g.PrincipalType == "user" && g.PrincipalID == c.user.id) ||
			(g.PrincipalType == "group" && slices.Contains(w.groupsOf[c.user.id], g.PrincipalID)) ||
			(g.PrincipalType == "members" && c.role != "") {
			return true
		}
	}
	return false
}

// sameProblem compares two problem documents, ignoring nothing: they must
// be byte for byte the same.
func sameProblem(a, b []byte) bool { return bytes.Equal(a, b) }

func diffFields(got, want map[string]any) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, gok := got[k]
		wv, wok := want[k]
		if gok != wok {
			return fmt.Sprintf("field %q present=%v, reference present=%v", k, gok, wok)
		}
		if fmt.Sprint(g) != fmt.Sprint(wv) {
			return fmt.Sprintf("field %q = %v, reference %v", k, g, wv)
		}
	}
	return ""
}

// env is @user of the caller: groups by id, and by name (they belong to
// the owner's organization).
func (w *accessWorld) env(c propCase) filter.Env {
	groups := append([]string(nil), w.groupsOf[c.user.id]...)
	for _, g := range w.groupsOf[c.user.id] {
		groups = append(groups, "GROUP"+g[len(g)-1:])
	}
	return filter.Env{UserID: c.user.id, UserEmail: c.user.email, UserGroups: groups}
}

// caller's applicable grants of a case.
func (w *accessWorld) applicable(c propCase) []propGrant {
	var out []propGrant
	for _, g := range c.grants {
		if (g.PrincipalType == "user" && g.PrincipalID == c.user.id) ||
			(g.PrincipalType == "group" && slices.Contains(w.groupsOf[c.user.id], g.PrincipalID)) ||
			(g.PrincipalType == "members" && c.role != "") {
			out = append(out, g)
		}
	}
	return out
}

// owned reads every record as the owner, by id.
func (w *accessWorld) owned(t *testing.T) map[string]map[string]any {
	var list struct {
		Records []json.RawMessage `json:"records"`
	}
	w.Do("GET", "/api/v1/notebooks/"+w.nb+"/tables/Staff/records?limit=1000", w.owner, nil).WantStatus(http.StatusOK).JSON(&list)
	out := map[string]map[string]any{}
	for _, raw := range list.Records {
		r := w.stored(t, raw)
		out[r["id"].(string)] = r
	}
	return out
}

// checkSchema tries schema changes and a view edit as the caller: on a
// column hidden from them in every row, exactly the answers for an unknown
// column; on a column named by an access rule (any grant's condition, or
// the view Adults when it scopes a grant), a refusal unless they manage
// grants (never, here); otherwise a conversion report naming exactly the
// records whose cell they read and that fail, or conversion_blocked when
// only cells they cannot read fail. Nothing is changed by a refusal.
func (w *accessWorld) checkSchema(t *testing.T, c propCase, rows map[string]map[string]bool, readable map[string]bool) string {
	hasSchema, anyView := false, false
	for _, g := range w.applicable(c) {
		hasSchema = hasSchema || slices.Contains(g.Caps, "schema")
	}
	refs := map[string]bool{}
	for _, g := range c.grants {
		for _, col := range filterCols(g.Rows) {
			refs[col] = true
		}
		anyView = anyView || g.View
	}
	if anyView {
		for _, col := range []string{"owner", "age", "note"} {
			refs[col] = true
		}
	}
	before := w.owned(t)
	base := "/api/v1/notebooks/" + w.nb + "/tables/Staff/columns/"
	for _, col := range propCols {
		target := map[string]any{"type": "number"}
		if w.cols[col].Type == coffer.TypeNumber {
			target = map[string]any{"type": "single_select", "options": map[string]any{"choices": []string{"x"}}}
		}
		dry := map[string]any{"dry_run": true}
		for k, v := range target {
			dry[k] = v
		}
		reqs := []struct {
			method string
			body   any
		}{{"PATCH", map[string]any{"name": col + "_r"}}, {"PATCH", dry}, {"PATCH", target}, {"DELETE", nil}}
		if !readable[col] {
			for _, rq := range reqs {
				got := w.Do(rq.method, base+col, c.user.key, rq.body)
				got2 := w.Do(rq.method, base+w.cols[col].ID, c.user.key, rq.body)
				unknown := w.Do(rq.method, base+unknownName(col), c.user.key, rq.body)
				if !sameUnknown(got.Body, unknown.Body, readable) || got.Status != unknown.Status || got2.Status != unknown.Status || !bytes.Equal(got2.Body, unknown.Body) {
					return fmt.Sprintf("%s of hidden column %s %v: %d %s; an unknown column answers %d %s", rq.method, col, rq.body, got.Status, got.Body, unknown.Status, unknown.Body)
				}
			}
			continue
		}
		if !hasSchema || refs[col] {
			for _, rq := range reqs {
				if r := w.Do(rq.method, base+col, c.user.key, rq.body); r.Status != http.StatusForbidden {
					return fmt.Sprintf("%s of column %s %v without the right to change it (schema %v, named by a rule %v): %d %s", rq.method, col, rq.body, hasSchema, refs[col], r.Status, r.Body)
				}
			}
			continue
		}
		// The reference report: every stored value fails this conversion.
		var seen []string
		hiddenFail := false
		for id, r := range before {
			if r[col] == nil {
				continue
			}
			if cells, ok := rows[id]; ok && cells[col] {
				seen = append(seen, "records."+id)
			} else {
				hiddenFail = true
			}
		}
		sort.Strings(seen)
		for _, body := range []map[string]any{dry, target} {
			r := w.Do("PATCH", base+col, c.user.key, body)
			var p problem
			json.Unmarshal(r.Body, &p)
			switch {
			case len(seen) > 0:
				got := p.fieldNames()
				if r.Status != http.StatusUnprocessableEntity || p.Code != coffer.ECONVERSION || strings.Join(got, ",") != strings.Join(seen, ",") ||
					!strings.HasPrefix(p.Detail, fmt.Sprintf("%d value(s)", len(seen))) {
					return fmt.Sprintf("conversion of %s %v: %d %s; the reference reports %v", col, body, r.Status, r.Body, seen)
				}
			case hiddenFail:
				if r.Status != http.StatusUnprocessableEntity || p.Code != coffer.ECONVERSIONBLOCKED || len(p.Errors) != 0 {
					return fmt.Sprintf("conversion of %s %v failing on hidden cells only: %d %s, want conversion_blocked", col, body, r.Status, r.Body)
				}
			default:
				if body["dry_run"] == nil {
					continue // would convert: not tried for real
				}
				if r.Status != http.StatusOK {
					return fmt.Sprintf("dry run of %s %v: %d %s, want 200", col, body, r.Status, r.Body)
				}
			}
		}
		// A rename there and back.
		for _, names := range [][2]string{{col, col + "_r"}, {col + "_r", col}} {
			if r := w.Do("PATCH", base+names[0], c.user.key, map[string]any{"name": names[1]}); r.Status != http.StatusOK {
				return fmt.Sprintf("rename of %s to %s: %d %s", names[0], names[1], r.Status, r.Body)
			}
		}
	}
	if after := w.owned(t); !reflect.DeepEqual(after, before) {
		return "the caller's schema changes changed the records"
	}
	// A view edit that would widen a grant scoped to it.
	views := "/api/v1/notebooks/" + w.nb + "/tables/Staff/views/"
	r := w.Do("PATCH", views+"Adults", c.user.key, map[string]any{"filter": "", "columns": []string{}})
	want := http.StatusOK
	switch {
	case c.role != "editor" && !hasSchema:
		want = http.StatusForbidden
	case !readable["age"]:
		want = http.StatusNotFound // its filter names a column hidden from them
	case anyView:
		want = http.StatusForbidden // it scopes a grant
	}
	if r.Status != want {
		return fmt.Sprintf("PATCH of the view Adults: %d %s, want %d", r.Status, r.Body, want)
	}
	if want == http.StatusNotFound {
		if miss := w.Do("PATCH", views+"Nope", c.user.key, map[string]any{"filter": "", "columns": []string{}}); !bytes.Equal(miss.Body, r.Body) {
			return fmt.Sprintf("PATCH of a view hidden from the caller: %s; a missing view: %s", r.Body, miss.Body)
		}
	}
	if want == http.StatusOK {
		w.Do("PATCH", views+"Adults", w.owner, map[string]any{"filter": "age >= 30", "columns": []string{"owner", "age", "note"}}).WantStatus(http.StatusOK)
	} else if d := w.Do("DELETE", views+"Adults", c.user.key, nil); d.Status != want {
		return fmt.Sprintf("DELETE of the view Adults: %d %s, want %d", d.Status, d.Body, want)
	}
	return ""
}

// checkLive follows the table as the caller while the owner changes a
// cell hidden from them (in a column no condition of theirs names), then
// one they read: the first event must be the second change, exactly as
// the reference masks the record.
func (w *accessWorld) checkLive(t *testing.T, c propCase, rng *rand.Rand, rows map[string]map[string]bool) string {
	named := map[string]bool{}
	for _, g := range w.applicable(c) {
		for _, col := range filterCols(g.Rows) {
			named[col] = true
		}
		if g.View {
			named["age"] = true
		}
	}
	type cell struct {
		i   int
		col string
	}
	var hiddenCells, seenCells []cell
	for i, r := range w.records {
		cells := rows[r["id"].(string)]
		for _, col := range propCols {
			if named[col] || col == "owner" || col == "team" {
				continue
			}
			if cells[col] {
				seenCells = append(seenCells, cell{i, col})
			} else {
				hiddenCells = append(hiddenCells, cell{i, col})
			}
		}
	}
	if len(hiddenCells) == 0 || len(seenCells) == 0 {
		return ""
	}
	s := openStreamAt(w.Env, c.user.key, w.nb, "Staff")
	defer s.cancel()
	set := func(ce cell) {
		v := any(rng.IntN(100000))
		if ce.col == "note" {
			v = fmt.Sprintf("n%d", rng.IntN(1000))
		}
		id := w.records[ce.i]["id"].(string)
		w.Do("PATCH", w.recURL(id), w.owner, map[string]any{"fields": map[string]any{ce.col: v}}).WantStatus(http.StatusOK)
		w.records[ce.i] = w.stored(t, w.Do("GET", w.recURL(id), w.owner, nil).WantStatus(http.StatusOK).Body)
	}
	h := hiddenCells[rng.IntN(len(hiddenCells))]
	v := seenCells[rng.IntN(len(seenCells))]
	set(h)
	set(v)
	fr := s.next()
	id := w.records[v.i]["id"].(string)
	_, readable := w.reference(t, c)
	if fr.event != "update" {
		return fmt.Sprintf("live: first frame %+v after a hidden change of %s and a visible one of %s", fr, h.col, v.col)
	}
	got := w.stored(t, []byte(fr.data))
	if got["id"] != id {
		return fmt.Sprintf("live: the change of hidden cell %s of %s was sent: %s", h.col, w.records[h.i]["id"], fr.data)
	}
	if d := diffFields(withoutID(got), masked(w.records[v.i], rows[id], readable)); d != "" {
		return fmt.Sprintf("live: event of %s: %s", id, d)
	}
	return ""
}
