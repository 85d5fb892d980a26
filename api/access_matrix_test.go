package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// The access-control matrix (DESIGN.md §6): every endpoint × each role ×
// representative grant shapes → the expected status and, for reads,
// exactly the expected records and cells (absent, null or the value).

// Callers of the matrix, in the order of the columns of mxRow.
const (
	cOwner = iota
	cAdmin
	cEditor
	cViewer
	cStranger
	cRowOnly    // grant: rows team = "red", * read
	cColOnly    // grant: every row, note none, * read
	cViewScoped // grant scoped to the view Adults (age >= 30; name, age)
	cGroup      // grant to a group of the caller: rows age < 40, * read
	cUserCond   // grant: rows note = @user.email, * read
	cCapMissing // grant: * write, no capability
	cMixed      // two grants: red rows * read; every row note none, * read
	cRowWriter  // grant: rows team = "red", note read, * write, create and delete
	mxCallers
)

var mxNames = [mxCallers]string{"owner", "admin", "editor", "viewer", "stranger", "rowOnly", "colOnly", "viewScoped", "groupBased", "userCond", "capMissing", "mixed", "rowWriter"}

// mxRow is one expected status per caller, in the order above.
type mxRow [mxCallers]int

type mxCaller struct {
	idx             int
	name, key, id   string
	email           string
	sees            map[string]map[string]any // record name → exactly its fields
	cols            []string                  // the columns of People it sees, in order
	visible, hidden string                    // a record it sees; one it does not ("" none)
	access          map[string]string         // explain: column → write, read or hidden
	tables          []string                  // the tables it lists
}

type mxWorld struct {
	*Fixture
	t       *testing.T
	callers []*mxCaller
	rec     map[string]string // record name → id
	ucEmail string            // userCond's e-mail, the note of Grace
	spare   string            // a user id for grants made in the matrix
	nbName  string
	seq     int
}

func (w *mxWorld) nb() string     { return "/api/v1/notebooks/" + w.NB }
func (w *mxWorld) people() string { return w.nb() + "/tables/People" }

func (w *mxWorld) recURL(name string) string {
	id, ok := w.rec[name]
	if !ok {
		id = w.MissingRec
	}
	return w.people() + "/records/" + id
}

func (w *mxWorld) unique(prefix string) string {
	w.seq++
	return fmt.Sprintf("%s%d", prefix, w.seq)
}

// mustMatrixWorld builds the fixture, the callers and their grants, all
// through the API except the group (organizations are made in SQL).
func mustMatrixWorld(t *testing.T) *mxWorld {
	t.Helper()
	f := MustFixture(t)
	w := &mxWorld{Fixture: f, t: t, nbName: "Main",
		rec: map[string]string{"Ada": f.Recs[0], "Grace": f.Recs[1], "Linus": f.Recs[2]}}
	alice := f.userID(f.Alice)
	for i := range mxCallers {
		c := &mxCaller{idx: i, name: mxNames[i]}
		if i == cOwner {
			c.key, c.id, c.email = f.Alice, alice, "alice@example.com"
		} else {
			c.email = strings.ToLower(c.name) + "@example.com"
			c.id = f.MustUser(c.email, c.name).ID
			c.key = f.MustLogin(c.email)
		}
		w.callers = append(w.callers, c)
	}
	w.spare = f.MustUser("spare@example.com", "Spare").ID
	w.ucEmail = w.callers[cUserCond].email

	for i, role := range map[int]string{cAdmin: "admin", cEditor: "editor", cViewer: "viewer"} {
		f.Do("PUT", w.nb()+"/members/"+w.callers[i].id, f.Alice, map[string]string{"role": role}).WantStatus(http.StatusOK)
	}
	// Grace's note is userCond's e-mail: the one row its grant matches.
	f.Do("PATCH", w.recURL("Grace"), f.Alice, map[string]any{"fields": map[string]any{"note": w.ucEmail}}).WantStatus(http.StatusOK)

	// The group of groupBased, in an organization of its own.
	orgID, grp := coffer.NewID(coffer.PrefixOrg), coffer.NewID(coffer.PrefixGroup)
	now := time.Now().UnixMicro()
	f.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)", orgID, "Matrix Org", now, now)
	f.MustExec("INSERT INTO {p}user_groups (id, org_id, name, created_at) VALUES (?, ?, ?, ?)", grp, orgID, "Youngsters", now)
	f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", orgID, w.callers[cGroup].id, now)
	f.MustExec("INSERT INTO {p}group_members (group_id, user_id) VALUES (?, ?)", grp, w.callers[cGroup].id)
	f.Clock.Advance(2 * time.Second)

	user := func(i int) map[string]any { return map[string]any{"type": "user", "id": w.callers[i].id} }
	read := map[string]any{"*": "read"}
	for _, g := range []map[string]any{
		{"principal": user(cRowOnly), "table": "People", "rows": `team = "red"`, "columns": read},
		{"principal": user(cColOnly), "table": "People", "columns": map[string]any{"note": "none", "*": "read"}},
		{"principal": user(cViewScoped), "table": "People", "view": "Adults", "columns": read},
		{"principal": map[string]any{"type": "group", "id": grp}, "table": "People", "rows": "age < 40", "columns": read},
		{"principal": user(cUserCond), "table": "People", "rows": "note = @user.email"},
		{"principal": user(cCapMissing), "table": "People", "columns": map[string]any{"*": "write"}, "capabilities": []string{}},
		{"principal": user(cMixed), "table": "People", "rows": `team = "red"`, "columns": read},
		{"principal": user(cMixed), "table": "People", "columns": map[string]any{"note": "none", "*": "read"}},
		{"principal": user(cRowWriter), "table": "People", "rows": `team = "red"`, "columns": map[string]any{"note": "read", "*": "write"}, "capabilities": []string{"create", "delete"}},
	} {
		f.Do("POST", w.nb()+"/grants", f.Alice, g).WantStatus(http.StatusCreated)
	}

	// What each caller must see: exactly these records and cells.
	full := map[string]map[string]any{
		"Ada":   {"name": "Ada", "age": 36.0, "team": "red", "note": "hello"},
		"Grace": {"name": "Grace", "age": 45.0, "team": "blue", "note": w.ucEmail},
		"Linus": {"name": "Linus", "age": 20.0, "team": "red", "note": nil},
	}
	all := []string{"name", "age", "team", "note"}
	only := func(name string, cols ...string) map[string]any {
		m := map[string]any{}
		for _, c := range cols {
			m[c] = full[name][c]
		}
		return m
	}
	rows := func(cols []string, names ...string) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, n := range names {
			m[n] = only(n, cols...)
		}
		return m
	}
	noNote := []string{"name", "age", "team"}
	// Explain shows a caller who may not manage grants only the columns
	// they see somewhere: one hidden in every row is not named.
	acc := func(name, age, team, note string) map[string]string {
		m := map[string]string{"name": name, "age": age, "team": team, "note": note}
		maps.DeleteFunc(m, func(_, a string) bool { return a == "hidden" })
		return m
	}
	for _, c := range w.callers {
		c.cols, c.visible, c.tables = all, "Ada", []string{"People", "Teams"}
		switch c.idx {
		case cOwner, cAdmin, cEditor:
			c.sees, c.access = rows(all, "Ada", "Grace", "Linus"), acc("write", "write", "write", "write")
		case cViewer:
			c.sees, c.access = rows(all, "Ada", "Grace", "Linus"), acc("read", "read", "read", "read")
		case cStranger:
			c.sees, c.cols, c.hidden, c.tables = nil, nil, "Ada", nil
		case cRowOnly:
			c.sees, c.hidden = rows(all, "Ada", "Linus"), "Grace"
			c.access = acc("read", "read", "read", "read")
		case cColOnly:
			c.sees, c.cols = rows(noNote, "Ada", "Grace", "Linus"), noNote
			c.access = acc("read", "read", "read", "hidden")
		case cViewScoped:
			c.cols = []string{"name", "age"}
			c.sees, c.hidden = rows(c.cols, "Ada", "Grace"), "Linus"
			c.access = acc("read", "read", "hidden", "hidden")
		case cGroup:
			c.sees, c.hidden = rows(all, "Ada", "Linus"), "Grace"
			c.access = acc("read", "read", "read", "read")
		case cUserCond:
			c.sees, c.visible, c.hidden = rows(all, "Grace"), "Grace", "Ada"
			c.access = acc("read", "read", "read", "read")
		case cCapMissing:
			c.sees, c.access = rows(all, "Ada", "Grace", "Linus"), acc("write", "write", "write", "write")
		case cMixed:
			// Grace's note is masked: null, although it holds a value.
			c.sees = rows(all, "Ada", "Linus")
			c.sees["Grace"] = map[string]any{"name": "Grace", "age": 45.0, "team": "blue", "note": nil}
			c.visible = "Grace"
			c.access = acc("read", "read", "read", "read")
		case cRowWriter:
			c.sees, c.hidden = rows(all, "Ada", "Linus"), "Grace"
			c.access = acc("write", "write", "write", "read")
		}
		if c.idx >= cRowOnly {
			c.tables = []string{"People"}
		}
	}
	return w
}

// status checks a response's status (and problem document) in subtest t;
// it reports whether the status is the expected one.
func mxStatus(t *testing.T, r *Response, want int) bool {
	t.Helper()
	r.TB = t
	if r.Status != want {
		t.Errorf("%s %s: status %d, want %d; body: %s", r.Method, r.Path, r.Status, want, r.Body)
		return false
	}
	if want >= 400 {
		code := map[int]string{400: coffer.EINVALID, 403: coffer.EFORBIDDEN, 404: coffer.ENOTFOUND}[want]
		r.WantProblem(want, code)
	}
	return true
}

// sameAsMissing checks that a refusal of a hidden object is byte for byte
// the answer for a missing one.
func mxSameAsMissing(t *testing.T, hidden, missing *Response) {
	t.Helper()
	if hidden.Status != missing.Status || string(hidden.Body) != string(missing.Body) {
		t.Errorf("%s %s answers %d %s; the missing object %d %s", hidden.Method, hidden.Path, hidden.Status, hidden.Body, missing.Status, missing.Body)
	}
}

type mxRecord struct {
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

func (w *mxWorld) wantFields(t *testing.T, got, want map[string]any, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: fields %v, want exactly %v", what, jsonString(got), jsonString(want))
	}
}

// wantList checks a record list: exactly the records named, in this
// order, each with exactly the caller's cells.
func (w *mxWorld) wantList(t *testing.T, c *mxCaller, r *Response, names []string) {
	t.Helper()
	var l struct {
		Records []mxRecord `json:"records"`
		Total   *int       `json:"total"`
	}
	r.TB = t
	r.JSON(&l)
	var got []string
	for _, rec := range l.Records {
		n, _ := rec.Fields["name"].(string)
		got = append(got, n)
		if want, ok := c.sees[n]; ok {
			w.wantFields(t, rec.Fields, want, "list record "+n)
		}
		if rec.ID != w.rec[n] {
			t.Errorf("list record %s has id %s, want %s", n, rec.ID, w.rec[n])
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s %s lists %q, want %q", r.Method, r.Path, got, names)
	}
	if l.Total != nil && *l.Total != len(names) {
		t.Errorf("%s %s counts %d, want %d", r.Method, r.Path, *l.Total, len(names))
	}
}

// seen returns the names of the records the caller sees, sorted, that
// keep pred (evaluated on the caller's own cells).
func (c *mxCaller) seen(pred func(map[string]any) bool) []string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(c.sees)) {
		if pred == nil || pred(c.sees[n]) {
			out = append(out, n)
		}
	}
	return out
}

// aliceFields reads a record as its owner.
func (w *mxWorld) aliceFields(t *testing.T, name string) map[string]any {
	t.Helper()
	var rec mxRecord
	r := w.Do("GET", w.recURL(name), w.Alice, nil)
	r.TB = t
	r.WantStatus(http.StatusOK).JSON(&rec)
	return rec.Fields
}

func (w *mxWorld) countAll(t *testing.T) int {
	t.Helper()
	var l struct{ Records []mxRecord }
	r := w.Do("GET", w.people()+"/records", w.Alice, nil)
	r.TB = t
	r.WantStatus(http.StatusOK).JSON(&l)
	return len(l.Records)
}

// tmpRecord creates, as Alice, a record every grant of the matrix matches
// (red, 33, note userCond's e-mail) and returns its id.
func (w *mxWorld) tmpRecord(t *testing.T) string {
	t.Helper()
	var rec mxRecord
	r := w.Do("POST", w.people()+"/records", w.Alice, map[string]any{"fields": map[string]any{"name": "Tmp", "age": 33, "team": "red", "note": w.ucEmail}})
	r.TB = t
	r.WantStatus(http.StatusCreated).JSON(&rec)
	return rec.ID
}

func (w *mxWorld) deleteAsAlice(t *testing.T, path string) {
	t.Helper()
	if r := w.Do("DELETE", path, w.Alice, nil); r.Status != http.StatusNoContent && r.Status != http.StatusNotFound {
		t.Errorf("cleanup DELETE %s: %d %s", path, r.Status, r.Body)
	}
}

type mxEndpoint struct {
	name string
	want mxRow
	do   func(t *testing.T, c *mxCaller, want int)
}

func (w *mxWorld) endpoints() []mxEndpoint {
	const (
		ok   = http.StatusOK
		made = http.StatusCreated
		gone = http.StatusNoContent
		no   = http.StatusForbidden
		nf   = http.StatusNotFound
		bad  = http.StatusBadRequest // a column hidden in every row: unknown
	)
	// A read of a record: exactly the caller's cells, or exactly the
	// answer of a missing record.
	getRecord := func(name string) func(t *testing.T, c *mxCaller, want int) {
		return func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.recURL(name), c.key, nil)
			if !mxStatus(t, r, want) {
				return
			}
			if want == ok {
				var rec mxRecord
				r.JSON(&rec)
				w.wantFields(t, rec.Fields, c.sees[name], "GET "+name)
				return
			}
			mxSameAsMissing(t, r, w.Do("GET", w.recURL(""), c.key, nil))
		}
	}
	listFilter := func(filter string, pred func(map[string]any) bool) func(t *testing.T, c *mxCaller, want int) {
		return func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.people()+"/records?count=true&sort=name&filter="+url.QueryEscape(filter), c.key, nil)
			if mxStatus(t, r, want) && want == ok {
				w.wantList(t, c, r, c.seen(pred))
			}
		}
	}
	// PATCH one cell of a record to value, check the answer and the
	// stored record, and put it back as Alice.
	patchField := func(t *testing.T, c *mxCaller, name, col string, value any, want int) {
		before := w.aliceFields(t, name)
		r := w.Do("PATCH", w.recURL(name), c.key, map[string]any{"fields": map[string]any{col: value}})
		changed := r.Status == ok
		if mxStatus(t, r, want) && want == ok && c.sees[name] != nil {
			var rec mxRecord
			r.JSON(&rec)
			wantF := maps.Clone(c.sees[name])
			wantF[col] = value
			w.wantFields(t, rec.Fields, wantF, "PATCH answer")
		}
		after := w.aliceFields(t, name)
		if changed {
			if after[col] != value {
				t.Errorf("after PATCH %s's %s is %v, want %v", name, col, after[col], value)
			}
			w.Do("PATCH", w.recURL(name), w.Alice, map[string]any{"fields": map[string]any{col: before[col]}}).WantStatus(ok)
		} else if !reflect.DeepEqual(after, before) {
			t.Errorf("a refused PATCH changed %s from %v to %v", name, before, after)
			w.Do("PATCH", w.recURL(name), w.Alice, map[string]any{"fields": before}).WantStatus(ok)
		}
	}
	batch := func(create bool) func(t *testing.T, c *mxCaller, want int) {
		return func(t *testing.T, c *mxCaller, want int) {
			before := w.aliceFields(t, c.visible)
			n := w.countAll(t)
			age := before["age"].(float64)
			ops := []map[string]any{{"op": "update", "id": w.rec[c.visible], "fields": map[string]any{"age": age + 1}}}
			if create {
				ops = append([]map[string]any{{"op": "create", "fields": map[string]any{"name": "Batch", "age": 33, "team": "red"}}}, ops...)
			}
			r := w.Do("POST", w.people()+"/records/batch", c.key, map[string]any{"operations": ops})
			if r.Status == ok {
				var res struct{ Results []mxRecord }
				r.JSON(&res)
				if create && len(res.Results) == 2 {
					defer w.deleteAsAlice(t, w.people()+"/records/"+res.Results[0].ID)
				}
				w.Do("PATCH", w.recURL(c.visible), w.Alice, map[string]any{"fields": map[string]any{"age": age}}).WantStatus(ok)
			}
			mxStatus(t, r, want)
			if r.Status != ok {
				if after := w.aliceFields(t, c.visible); !reflect.DeepEqual(after, before) {
					t.Errorf("a refused batch changed %s from %v to %v", c.visible, before, after)
				}
				if m := w.countAll(t); m != n {
					t.Errorf("a refused batch changed the number of records from %d to %d", n, m)
				}
			}
		}
	}

	// Columns of mxRow: owner admin editor viewer stranger rowOnly colOnly viewScoped groupBased userCond capMissing mixed rowWriter.
	return []mxEndpoint{
		{"GET_notebook", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.nb(), c.key, nil)
			if mxStatus(t, r, want) && want == ok {
				if nb := r.Map(); nb["id"] != w.NB || nb["name"] != w.nbName {
					t.Errorf("notebook %v", nb)
				}
				return
			}
			mxSameAsMissing(t, r, w.Do("GET", "/api/v1/notebooks/"+w.MissingNB, c.key, nil))
		}},
		{"GET_notebooks_list", mxRow{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			var l struct{ Notebooks []coffer.Notebook }
			r := w.Do("GET", "/api/v1/notebooks", c.key, nil)
			if !mxStatus(t, r, want) {
				return
			}
			r.JSON(&l)
			has := slices.ContainsFunc(l.Notebooks, func(nb coffer.Notebook) bool { return nb.ID == w.NB })
			if has != (c.idx != cStranger) {
				t.Errorf("lists the notebook: %v", has)
			}
			if slices.ContainsFunc(l.Notebooks, func(nb coffer.Notebook) bool { return nb.ID == w.BobNB }) {
				t.Errorf("lists Bob's notebook")
			}
		}},
		{"GET_tables", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			var l struct{ Tables []coffer.Table }
			r := w.Do("GET", w.nb()+"/tables", c.key, nil)
			if !mxStatus(t, r, want) || want != ok {
				return
			}
			r.JSON(&l)
			var names []string
			for _, tb := range l.Tables {
				names = append(names, tb.Name)
				if tb.Name == "People" {
					if got := colNames(tb.Columns); !slices.Equal(got, c.cols) {
						t.Errorf("People listed with columns %q, want %q", got, c.cols)
					}
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, c.tables) {
				t.Errorf("tables %q, want %q", names, c.tables)
			}
		}},
		{"GET_table_People", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.people(), c.key, nil)
			if mxStatus(t, r, want) && want == ok {
				var tb coffer.Table
				r.JSON(&tb)
				if got := colNames(tb.Columns); !slices.Equal(got, c.cols) {
					t.Errorf("columns %q, want %q", got, c.cols)
				}
			}
		}},
		{"GET_table_Teams", mxRow{ok, ok, ok, ok, nf, nf, nf, nf, nf, nf, nf, nf, nf}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.nb()+"/tables/Teams", c.key, nil)
			if mxStatus(t, r, want) && want == nf {
				mxSameAsMissing(t, r, w.Do("GET", w.nb()+"/tables/Nope", c.key, nil))
			}
			mxStatus(t, w.Do("GET", w.nb()+"/tables/Teams/records", c.key, nil), want)
		}},
		{"GET_records", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.people()+"/records?count=true&sort=name", c.key, nil)
			if mxStatus(t, r, want) && want == ok {
				w.wantList(t, c, r, c.seen(nil))
			}
		}},
		{"GET_records_sorted_by_age_desc", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.people()+"/records?sort=-age", c.key, nil)
			if mxStatus(t, r, want) && want == ok {
				names := c.seen(nil)
				slices.SortFunc(names, func(a, b string) int { return int(c.sees[b]["age"].(float64) - c.sees[a]["age"].(float64)) })
				w.wantList(t, c, r, names)
			}
		}},
		// Filters see the caller's cells: a masked note is null to them; a
		// column hidden in every row is unknown to them (400, as any).
		{"GET_records_filter_note_eq", mxRow{ok, ok, ok, ok, nf, ok, bad, bad, ok, ok, ok, ok, ok},
			listFilter(`note = "`+w.ucEmail+`"`, func(m map[string]any) bool { return m["note"] == w.ucEmail })},
		{"GET_records_filter_note_null", mxRow{ok, ok, ok, ok, nf, ok, bad, bad, ok, ok, ok, ok, ok},
			listFilter(`note is null`, func(m map[string]any) bool { return m["note"] == nil })},
		{"GET_records_filter_team", mxRow{ok, ok, ok, ok, nf, ok, ok, bad, ok, ok, ok, ok, ok},
			listFilter(`team = "blue"`, func(m map[string]any) bool { return m["team"] == "blue" })},
		{"GET_records_sort_note", mxRow{ok, ok, ok, ok, nf, ok, bad, bad, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			mxStatus(t, w.Do("GET", w.people()+"/records?sort=note", c.key, nil), want)
		}},
		{"GET_record_Ada", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, nf, ok, ok, ok}, getRecord("Ada")},
		{"GET_record_Grace", mxRow{ok, ok, ok, ok, nf, nf, ok, ok, nf, ok, ok, ok, nf}, getRecord("Grace")},
		{"GET_record_Linus", mxRow{ok, ok, ok, ok, nf, ok, ok, nf, ok, nf, ok, ok, ok}, getRecord("Linus")},
		{"POST_record", mxRow{made, made, made, no, nf, no, no, bad, no, no, no, no, made}, func(t *testing.T, c *mxCaller, want int) {
			n := w.countAll(t)
			r := w.Do("POST", w.people()+"/records", c.key, map[string]any{"fields": map[string]any{"name": "New", "age": 33, "team": "red"}})
			if r.Status == made {
				var rec mxRecord
				r.JSON(&rec)
				defer w.deleteAsAlice(t, w.people()+"/records/"+rec.ID)
			}
			if mxStatus(t, r, want) && want != made {
				if m := w.countAll(t); m != n {
					t.Errorf("a refused create changed the number of records from %d to %d", n, m)
				}
			}
		}},
		{"POST_record_out_of_scope", mxRow{made, made, made, no, nf, no, no, bad, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			n := w.countAll(t)
			r := w.Do("POST", w.people()+"/records", c.key, map[string]any{"fields": map[string]any{"name": "Blue", "team": "blue"}})
			if r.Status == made {
				var rec mxRecord
				r.JSON(&rec)
				defer w.deleteAsAlice(t, w.people()+"/records/"+rec.ID)
			}
			if mxStatus(t, r, want) && want != made {
				if m := w.countAll(t); m != n {
					t.Errorf("a refused create changed the number of records from %d to %d", n, m)
				}
			}
		}},
		{"PATCH_record_visible", mxRow{ok, ok, ok, no, nf, no, no, no, no, no, ok, no, ok}, func(t *testing.T, c *mxCaller, want int) {
			patchField(t, c, c.visible, "age", w.aliceFields(t, c.visible)["age"].(float64)+1, want)
		}},
		// Writes are checked after the change too: a row may not leave the
		// rows of the grant that allows the write.
		{"PATCH_record_move_out", mxRow{ok, ok, ok, no, nf, no, no, bad, no, no, ok, no, no}, func(t *testing.T, c *mxCaller, want int) {
			team := map[any]string{"red": "blue", "blue": "red"}[w.aliceFields(t, c.visible)["team"]]
			patchField(t, c, c.visible, "team", team, want)
		}},
		// Write needs write on every changed column.
		{"PATCH_record_readonly_column", mxRow{ok, ok, ok, no, nf, no, bad, bad, no, no, ok, no, no}, func(t *testing.T, c *mxCaller, want int) {
			patchField(t, c, c.visible, "note", "changed", want)
		}},
		{"PATCH_record_two_columns", mxRow{ok, ok, ok, no, nf, no, bad, bad, no, no, ok, no, no}, func(t *testing.T, c *mxCaller, want int) {
			before := w.aliceFields(t, c.visible)
			r := w.Do("PATCH", w.recURL(c.visible), c.key, map[string]any{"fields": map[string]any{"name": "Two", "note": "two"}})
			if r.Status == ok {
				defer w.Do("PATCH", w.recURL(c.visible), w.Alice, map[string]any{"fields": map[string]any{"name": before["name"], "note": before["note"]}}).WantStatus(ok)
			}
			mxStatus(t, r, want)
			if r.Status != ok {
				if after := w.aliceFields(t, c.visible); !reflect.DeepEqual(after, before) {
					t.Errorf("a refused PATCH changed %s from %v to %v", c.visible, before, after)
				}
			}
		}},
		{"PATCH_record_hidden", mxRow{nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf}, func(t *testing.T, c *mxCaller, want int) {
			body := map[string]any{"fields": map[string]any{"name": "x"}}
			if c.hidden == "" { // sees every record: a missing one
				mxStatus(t, w.Do("PATCH", w.recURL(""), c.key, body), want)
				return
			}
			before := w.aliceFields(t, c.hidden)
			r := w.Do("PATCH", w.recURL(c.hidden), c.key, body)
			mxStatus(t, r, want)
			mxSameAsMissing(t, r, w.Do("PATCH", w.recURL(""), c.key, body))
			if after := w.aliceFields(t, c.hidden); !reflect.DeepEqual(after, before) {
				t.Errorf("PATCH of a hidden record changed %s from %v to %v", c.hidden, before, after)
				w.Do("PATCH", w.recURL(c.hidden), w.Alice, map[string]any{"fields": before}).WantStatus(ok)
			}
		}},
		{"DELETE_record_visible", mxRow{gone, gone, gone, no, nf, no, no, no, no, no, no, no, gone}, func(t *testing.T, c *mxCaller, want int) {
			id := w.tmpRecord(t)
			defer w.deleteAsAlice(t, w.people()+"/records/"+id)
			mxStatus(t, w.Do("DELETE", w.people()+"/records/"+id, c.key, nil), want)
			exists := w.Do("GET", w.people()+"/records/"+id, w.Alice, nil).Status == ok
			if exists != (want != gone) {
				t.Errorf("after DELETE (want %d) the record exists: %v", want, exists)
			}
		}},
		{"DELETE_record_hidden", mxRow{nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf}, func(t *testing.T, c *mxCaller, want int) {
			if c.hidden == "" {
				mxStatus(t, w.Do("DELETE", w.recURL(""), c.key, nil), want)
				return
			}
			r := w.Do("DELETE", w.recURL(c.hidden), c.key, nil)
			mxStatus(t, r, want)
			mxSameAsMissing(t, r, w.Do("DELETE", w.recURL(""), c.key, nil))
			if w.Do("GET", w.recURL(c.hidden), w.Alice, nil).Status != ok {
				t.Fatalf("DELETE of a hidden record deleted %s", c.hidden)
			}
		}},
		{"POST_batch_create_update", mxRow{ok, ok, ok, no, nf, no, no, no, no, no, no, no, ok}, batch(true)},
		{"POST_batch_update", mxRow{ok, ok, ok, no, nf, no, no, no, no, no, ok, no, ok}, batch(false)},
		{"POST_view", mxRow{made, made, made, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("POST", w.people()+"/views", c.key, map[string]any{"name": w.unique("View "), "filter": "age > 1"})
			if r.Status == made {
				defer w.deleteAsAlice(t, w.people()+"/views/"+r.Map()["id"].(string))
			}
			mxStatus(t, r, want)
		}},
		{"POST_column", mxRow{made, made, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("POST", w.people()+"/columns", c.key, map[string]any{"name": w.unique("extra"), "type": "text"})
			if r.Status == made {
				defer w.deleteAsAlice(t, w.people()+"/columns/"+r.Map()["id"].(string))
			}
			mxStatus(t, r, want)
		}},
		{"PATCH_notebook", mxRow{ok, ok, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("PATCH", w.nb(), c.key, map[string]any{"name": "Renamed"})
			if r.Status == ok {
				defer w.Do("PATCH", w.nb(), w.Alice, map[string]any{"name": w.nbName}).WantStatus(ok)
			}
			mxStatus(t, r, want)
		}},
		// A new table is visible to roles only: grant holders (scoped to
		// People) get 404 for it, exactly as for a missing table, and 403
		// for People, which they see but may not change.
		{"DELETE_table", mxRow{gone, gone, no, no, nf, nf, nf, nf, nf, nf, nf, nf, nf}, func(t *testing.T, c *mxCaller, want int) {
			name := w.unique("Tmp")
			w.Do("POST", w.nb()+"/tables", w.Alice, map[string]any{"name": name, "columns": []map[string]any{{"name": "x", "type": "text"}}}).WantStatus(made)
			defer w.deleteAsAlice(t, w.nb()+"/tables/"+name)
			r := w.Do("DELETE", w.nb()+"/tables/"+name, c.key, nil)
			mxStatus(t, r, want)
			if want == nf {
				mxSameAsMissing(t, r, w.Do("DELETE", w.nb()+"/tables/Nope", c.key, nil))
			}
			if want != gone {
				people := no
				if c.name == "stranger" {
					people = nf
				}
				mxStatus(t, w.Do("DELETE", w.people(), c.key, nil), people)
			}
		}},
		{"GET_members", mxRow{ok, ok, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			mxStatus(t, w.Do("GET", w.nb()+"/members", c.key, nil), want)
		}},
		{"GET_grants", mxRow{ok, ok, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			mxStatus(t, w.Do("GET", w.nb()+"/grants", c.key, nil), want)
		}},
		{"POST_grant", mxRow{made, made, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("POST", w.nb()+"/grants", c.key, map[string]any{"principal": map[string]any{"type": "user", "id": w.spare}, "table": "People"})
			if r.Status == made {
				defer w.deleteAsAlice(t, w.nb()+"/grants/"+r.Map()["id"].(string))
			}
			mxStatus(t, r, want)
		}},
		{"GET_explain_self", mxRow{ok, ok, ok, ok, nf, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, c *mxCaller, want int) {
			r := w.Do("GET", w.nb()+"/access/explain?table=People", c.key, nil)
			if !mxStatus(t, r, want) || want != ok {
				return
			}
			var e coffer.AccessExplanation
			r.JSON(&e)
			got := map[string]string{}
			for _, col := range e.Columns {
				got[col.Name] = col.Access
			}
			if !e.Visible || e.User.ID != c.id || !maps.Equal(got, c.access) {
				t.Errorf("explanation: visible %v, user %s, columns %v; want visible, %s, %v", e.Visible, e.User.ID, got, c.id, c.access)
			}
		}},
		{"GET_explain_other", mxRow{ok, ok, no, no, nf, no, no, no, no, no, no, no, no}, func(t *testing.T, c *mxCaller, want int) {
			mxStatus(t, w.Do("GET", w.nb()+"/access/explain?table=People&user="+w.spare, c.key, nil), want)
		}},
	}
}

func colNames(cols []*coffer.Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name)
	}
	return out
}

// TestAccessMatrix runs every endpoint as every caller of the matrix.
func TestAccessMatrix(t *testing.T) {
	w := mustMatrixWorld(t)
	cells := 0
	for _, ep := range w.endpoints() {
		for _, c := range w.callers {
			cells++
			t.Run(ep.name+"/"+c.name, func(t *testing.T) { ep.do(t, c, ep.want[c.idx]) })
		}
	}
	// The fixture is as it was: every write above was refused or undone.
	for _, name := range []string{"Ada", "Grace", "Linus"} {
		got := w.aliceFields(t, name)
		if want := w.callers[cOwner].sees[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("after the matrix %s is %v, want %v", name, got, want)
		}
	}
	if n := w.countAll(t); n != 3 {
		t.Errorf("after the matrix People has %d records, want 3", n)
	}
	t.Logf("%d cells", cells)
}

// TestAccessMatrixCrossNotebook: ids of another notebook's tables,
// records, views, columns and grants, used under this notebook's path,
// answer exactly as missing ones, both ways, and change nothing.
func TestAccessMatrixCrossNotebook(t *testing.T) {
	f := MustFixture(t)
	spare := f.MustUser("spare@example.com", "Spare").ID
	type side struct {
		key, nb, table, tableName, col, rec, view, grant string
	}
	// Alice's side: People, Ada, the view Adults, a grant to the spare user.
	var ag coffer.Grant
	f.Do("POST", "/api/v1/notebooks/"+f.NB+"/grants", f.Alice, map[string]any{"principal": map[string]any{"type": "user", "id": spare}, "table": "People"}).
		WantStatus(http.StatusCreated).JSON(&ag)
	alice := side{key: f.Alice, nb: f.NB, table: f.People, tableName: "People", col: f.colID("name"), rec: f.Recs[0], view: f.View, grant: ag.ID}
	// Bob's side: a table Secret with a record and a view, a grant.
	var bt coffer.Table
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/tables", f.Bob, map[string]any{"name": "Secret", "columns": []map[string]any{{"name": "name", "type": "text"}}}).
		WantStatus(http.StatusCreated).JSON(&bt)
	var br mxRecord
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/tables/Secret/records", f.Bob, map[string]any{"fields": map[string]any{"name": "Bob's secret"}}).
		WantStatus(http.StatusCreated).JSON(&br)
	var bv coffer.View
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/tables/Secret/views", f.Bob, map[string]any{"name": "All"}).WantStatus(http.StatusCreated).JSON(&bv)
	var bg coffer.Grant
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/grants", f.Bob, map[string]any{"principal": map[string]any{"type": "user", "id": spare}, "table": "Secret"}).
		WantStatus(http.StatusCreated).JSON(&bg)
	bob := side{key: f.Bob, nb: f.BobNB, table: bt.ID, tableName: "Secret", col: bt.Columns[0].ID, rec: br.ID, view: bv.ID, grant: bg.ID}
	missing := side{table: coffer.NewID(coffer.PrefixTable), col: coffer.NewID(coffer.PrefixColumn), rec: coffer.NewID(coffer.PrefixRecord),
		view: coffer.NewID(coffer.PrefixView), grant: coffer.NewID(coffer.PrefixGrant)}

	// snapshot is what each side's owner sees of their objects.
	snapshot := func(s side) string {
		var b strings.Builder
		nb := "/api/v1/notebooks/" + s.nb
		for _, p := range []string{nb, nb + "/tables", nb + "/tables/" + s.table + "/records/" + s.rec, nb + "/tables/" + s.table + "/views/" + s.view, nb + "/grants"} {
			r := f.Do("GET", p, s.key, nil).WantStatus(http.StatusOK)
			b.Write(r.Body)
		}
		return b.String()
	}
	before := map[string]string{"alice": snapshot(alice), "bob": snapshot(bob)}

	type req struct {
		name, method, path string
		body               func(o side) any
		status             int
	}
	nf := http.StatusNotFound
	reqs := []req{
		{"GET table", "GET", "/tables/{table}", nil, nf},
		{"PATCH table", "PATCH", "/tables/{table}", func(side) any { return map[string]any{"name": "Stolen"} }, nf},
		{"DELETE table", "DELETE", "/tables/{table}", nil, nf},
		{"GET records of table", "GET", "/tables/{table}/records", nil, nf},
		{"POST record in table", "POST", "/tables/{table}/records", func(side) any { return map[string]any{"fields": map[string]any{"name": "x"}} }, nf},
		{"POST batch in table", "POST", "/tables/{table}/records/batch", func(side) any {
			return map[string]any{"operations": []map[string]any{{"op": "create", "fields": map[string]any{"name": "x"}}}}
		}, nf},
		{"POST column in table", "POST", "/tables/{table}/columns", func(side) any { return map[string]any{"name": "x", "type": "text"} }, nf},
		{"GET views of table", "GET", "/tables/{table}/views", nil, nf},
		{"PATCH column", "PATCH", "/tables/{own}/columns/{col}", func(side) any { return map[string]any{"name": "stolen"} }, nf},
		{"DELETE column", "DELETE", "/tables/{own}/columns/{col}", nil, nf},
		{"GET record", "GET", "/tables/{own}/records/{rec}", nil, nf},
		{"PATCH record", "PATCH", "/tables/{own}/records/{rec}", func(side) any { return map[string]any{"fields": map[string]any{"name": "x"}} }, nf},
		{"DELETE record", "DELETE", "/tables/{own}/records/{rec}", nil, nf},
		{"POST batch update record", "POST", "/tables/{own}/records/batch", func(o side) any {
			return map[string]any{"operations": []map[string]any{{"op": "update", "id": o.rec, "fields": map[string]any{"name": "x"}}}}
		}, nf},
		{"POST batch delete record", "POST", "/tables/{own}/records/batch", func(o side) any {
			return map[string]any{"operations": []map[string]any{{"op": "delete", "id": o.rec}}}
		}, nf},
		{"GET view", "GET", "/tables/{own}/views/{view}", nil, nf},
		{"PATCH view", "PATCH", "/tables/{own}/views/{view}", func(side) any { return map[string]any{"name": "Stolen"} }, nf},
		{"DELETE view", "DELETE", "/tables/{own}/views/{view}", nil, nf},
		{"GET records through view", "GET", "/tables/{own}/records?view={view}", nil, nf},
		{"GET grant", "GET", "/grants/{grant}", nil, nf},
		{"PATCH grant", "PATCH", "/grants/{grant}", func(side) any { return map[string]any{"rows": ""} }, nf},
		{"DELETE grant", "DELETE", "/grants/{grant}", nil, nf},
		{"POST grant on table", "POST", "/grants", func(o side) any {
			return map[string]any{"principal": map[string]any{"type": "user", "id": spare}, "table": o.table}
		}, nf},
		// docs/access.md: a view that is not of the table is a field error.
		{"POST grant on view", "POST", "/grants", func(o side) any {
			return map[string]any{"principal": map[string]any{"type": "user", "id": spare}, "table": "{own}", "view": o.view}
		}, http.StatusBadRequest},
		{"GET explain table", "GET", "/access/explain?table={table}", nil, nf},
		{"GET explain record", "GET", "/access/explain?table={own}&record={rec}", nil, nf},
	}
	for _, dir := range []struct {
		name       string
		self, othr side
	}{{"bob_ids_in_alice_notebook", alice, bob}, {"alice_ids_in_bob_notebook", bob, alice}} {
		for _, rq := range reqs {
			t.Run(dir.name+"/"+strings.ReplaceAll(rq.name, " ", "_"), func(t *testing.T) {
				fill := func(o side) (string, any) {
					p := strings.NewReplacer("{table}", o.table, "{own}", dir.self.table, "{col}", o.col, "{rec}", o.rec,
						"{view}", o.view, "{grant}", o.grant).Replace(rq.path)
					var body any
					if rq.body != nil {
						b, _ := json.Marshal(rq.body(o))
						body = []byte(strings.ReplaceAll(string(b), "{own}", dir.self.table))
					}
					return "/api/v1/notebooks/" + dir.self.nb + p, body
				}
				p, body := fill(dir.othr)
				r := f.Do(rq.method, p, dir.self.key, body)
				code := coffer.ENOTFOUND
				if rq.status == http.StatusBadRequest {
					code = coffer.EINVALID
				}
				r.TB = t
				r.WantProblem(rq.status, code)
				mp, mbody := fill(missing)
				mxSameAsMissing(t, r, f.Do(rq.method, mp, dir.self.key, mbody))
				if strings.Contains(string(r.Body), dir.othr.nb) || strings.Contains(string(r.Body), dir.othr.tableName) {
					t.Errorf("the answer names the other notebook: %s", r.Body)
				}
			})
		}
	}
	if got := snapshot(alice); got != before["alice"] {
		t.Errorf("Alice's notebook changed:\n%s\nwas\n%s", got, before["alice"])
	}
	if got := snapshot(bob); got != before["bob"] {
		t.Errorf("Bob's notebook changed:\n%s\nwas\n%s", got, before["bob"])
	}
}

// TestAccessMatrixSchemaScope: the schema capability of a grant scoped to
// one table changes that table only. A table the caller cannot see
// answers every schema change exactly like a missing one and is left as
// it was.
func TestAccessMatrixSchemaScope(t *testing.T) {
	f := MustFixture(t)
	bob := f.userID(f.Bob)
	nb := "/api/v1/notebooks/" + f.NB
	f.Do("POST", nb+"/grants", f.Alice, map[string]any{"principal": map[string]any{"type": "user", "id": bob}, "table": "People", "capabilities": []string{"schema"}}).
		WantStatus(http.StatusCreated)
	teams := func() string {
		return string(f.Do("GET", nb+"/tables/Teams", f.Alice, nil).WantStatus(http.StatusOK).Body)
	}
	before := teams()

	t.Run("GET_invisible_table", func(t *testing.T) {
		r := f.Do("GET", nb+"/tables/Teams", f.Bob, nil)
		mxStatus(t, r, http.StatusNotFound)
		mxSameAsMissing(t, r, f.Do("GET", nb+"/tables/Nope", f.Bob, nil))
	})
	t.Run("POST_column_scoped_table", func(t *testing.T) {
		mxStatus(t, f.Do("POST", nb+"/tables/People/columns", f.Bob, map[string]any{"name": "extra", "type": "text"}), http.StatusCreated)
	})
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"POST_column", "POST", "/columns", map[string]any{"name": "x", "type": "text"}},
		{"PATCH_table", "PATCH", "", map[string]any{"name": "Renamed"}},
		{"DELETE_table", "DELETE", "", nil},
	} {
		// A schema grant on People gives nothing on Teams, which Bob cannot
		// see: changes to it answer exactly like a missing table. (This was
		// a bug: the schema right of any grant of the notebook counted.)
		t.Run("invisible_table_"+c.name, func(t *testing.T) {
			r := f.Do(c.method, nb+"/tables/Teams"+c.path, f.Bob, c.body)
			mxStatus(t, r, http.StatusNotFound)
			mxSameAsMissing(t, r, f.Do(c.method, nb+"/tables/Nope"+c.path, f.Bob, c.body))
			// Put Teams back as it was for the next case.
			switch {
			case c.name == "PATCH_table" && r.Status == http.StatusOK:
				f.Do("PATCH", nb+"/tables/Renamed", f.Alice, map[string]any{"name": "Teams"}).WantStatus(http.StatusOK)
			case c.name == "POST_column" && r.Status == http.StatusCreated:
				f.Do("DELETE", nb+"/tables/Teams/columns/"+r.Map()["id"].(string), f.Alice, nil).WantStatus(http.StatusNoContent)
			case c.name == "DELETE_table" && r.Status == http.StatusNoContent:
				t.Fatalf("Bob deleted the table Teams he cannot see")
			}
			var got, want coffer.Table
			json.Unmarshal([]byte(teams()), &got)
			json.Unmarshal([]byte(before), &want)
			if got.Name != want.Name || !slices.Equal(colNames(got.Columns), colNames(want.Columns)) {
				t.Errorf("Teams is now %s, was %s", teams(), before)
			}
		})
	}
}

// TestAccessMatrixSchema extends the matrix with the schema capability
// and view-scoped grants: schema changes and view edits × roles and grant
// shapes. A column hidden from the caller answers exactly as an unknown
// one; a view that scopes a grant, and a column an access rule names,
// change only by those who may manage grants.
func TestAccessMatrixSchema(t *testing.T) {
	const (
		ok, made, gone     = http.StatusOK, http.StatusCreated, http.StatusNoContent
		bad, no, nf, unpro = http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity
	)
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	people := nb + "/tables/People"
	names := []string{"owner", "admin", "editor", "viewer", "rowSchema", "viewSchema", "plain"}
	keys := map[string]string{"owner": f.Alice}
	ids := map[string]string{}
	for _, n := range names[1:] {
		ids[n] = f.MustUser(n+"@example.com", n).ID
		keys[n] = f.MustLogin(n + "@example.com")
	}
	for n, role := range map[string]string{"admin": "admin", "editor": "editor", "viewer": "viewer"} {
		f.Do("PUT", nb+"/members/"+ids[n], f.Alice, map[string]string{"role": role}).WantStatus(ok)
	}
	user := func(n string) map[string]any { return map[string]any{"type": "user", "id": ids[n]} }
	for _, g := range []map[string]any{
		// rowSchema: red rows, note hidden, schema right.
		{"principal": user("rowSchema"), "table": "People", "rows": `team = "red"`, "columns": map[string]any{"note": "none", "*": "write"}, "capabilities": []string{"schema"}},
		// viewSchema: scoped to Adults (age >= 30; name, age), schema right.
		{"principal": user("viewSchema"), "table": "People", "view": "Adults", "columns": map[string]any{"*": "read"}, "capabilities": []string{"schema"}},
		// plain: red rows, every column, no capability.
		{"principal": user("plain"), "table": "People", "rows": `team = "red"`, "columns": map[string]any{"*": "read"}},
	} {
		f.Do("POST", nb+"/grants", f.Alice, g).WantStatus(made)
	}
	seq := 0
	uniq := func(p string) string { seq++; return fmt.Sprintf("%s%d", p, seq) }
	status := func(t *testing.T, r *Response, want int) bool {
		t.Helper()
		r.TB = t
		if r.Status != want {
			t.Errorf("%s %s: status %d, want %d; body: %s", r.Method, r.Path, r.Status, want, r.Body)
			return false
		}
		return true
	}
	// hiddenLikeUnknown: where the caller gets 404 (or 400 for a list),
	// the answer about the hidden column is the answer about "nope".
	likeUnknown := func(t *testing.T, r, unknown *Response, hidden string) {
		t.Helper()
		if strings.ReplaceAll(string(r.Body), hidden, "nope") != string(unknown.Body) || r.Status != unknown.Status {
			t.Errorf("%s %s answers %d %s; an unknown column %d %s", r.Method, r.Path, r.Status, r.Body, unknown.Status, unknown.Body)
		}
	}
	type row [7]int
	for _, ep := range []struct {
		name string
		want row
		do   func(t *testing.T, key string, want int)
	}{
		// A new column: visible to rowSchema (its grant's default is
		// write), hidden from viewSchema (not a column of Adults).
		{"PATCH_column_rename", row{ok, ok, no, no, ok, nf, no}, func(t *testing.T, key string, want int) {
			col := uniq("c")
			f.Do("POST", people+"/columns", f.Alice, map[string]any{"name": col, "type": "number"}).WantStatus(made)
			defer f.Do("DELETE", people+"/columns/"+col+"x", f.Alice, nil)
			defer f.Do("DELETE", people+"/columns/"+col, f.Alice, nil)
			r := f.Do("PATCH", people+"/columns/"+col, key, map[string]any{"name": col + "x"})
			if status(t, r, want) && want == nf {
				likeUnknown(t, r, f.Do("PATCH", people+"/columns/nope", key, map[string]any{"name": col + "x"}), col)
			}
		}},
		// age is named by the filter of Adults, which scopes a grant.
		{"PATCH_column_named_by_rule", row{ok, ok, no, no, no, no, no}, func(t *testing.T, key string, want int) {
			r := f.Do("PATCH", people+"/columns/age", key, map[string]any{"name": "years"})
			if r.Status == ok {
				defer f.Do("PATCH", people+"/columns/years", f.Alice, map[string]any{"name": "age"}).WantStatus(ok)
			}
			status(t, r, want)
		}},
		// note is hidden from both schema grantees: unknown to them.
		{"PATCH_column_retype_dry_run", row{unpro, unpro, no, no, nf, nf, no}, func(t *testing.T, key string, want int) {
			r := f.Do("PATCH", people+"/columns/note", key, map[string]any{"type": "number", "dry_run": true})
			if status(t, r, want) && want == nf {
				likeUnknown(t, r, f.Do("PATCH", people+"/columns/nope", key, map[string]any{"type": "number", "dry_run": true}), "note")
			}
		}},
		{"PATCH_hidden_column", row{ok, ok, no, no, nf, nf, no}, func(t *testing.T, key string, want int) {
			col := uniq("h")
			f.Do("POST", people+"/columns", f.Alice, map[string]any{"name": col, "type": "text"}).WantStatus(made)
			defer f.Do("DELETE", people+"/columns/"+col, f.Alice, nil)
			// Hidden from viewSchema (not a column of Adults); rowSchema
			// sees it (its grant's default is write): use note for it.
			target := col
			if key == keys["rowSchema"] {
				target = "note"
			}
			r := f.Do("PATCH", people+"/columns/"+target, key, map[string]any{"options": map[string]any{}})
			if status(t, r, want) && want == nf {
				likeUnknown(t, r, f.Do("PATCH", people+"/columns/nope", key, map[string]any{"options": map[string]any{}}), target)
			}
		}},
		{"DELETE_hidden_column", row{gone, gone, no, no, gone, nf, no}, func(t *testing.T, key string, want int) {
			col := uniq("d")
			f.Do("POST", people+"/columns", f.Alice, map[string]any{"name": col, "type": "text"}).WantStatus(made)
			defer f.Do("DELETE", people+"/columns/"+col, f.Alice, nil)
			r := f.Do("DELETE", people+"/columns/"+col, key, nil)
			if status(t, r, want) && want == nf {
				likeUnknown(t, r, f.Do("DELETE", people+"/columns/nope", key, nil), col)
			}
		}},
		{"PATCH_scoping_view", row{ok, ok, no, no, no, no, no}, func(t *testing.T, key string, want int) {
			r := f.Do("PATCH", people+"/views/Adults", key, map[string]any{"filter": "", "columns": []string{}})
			if r.Status == ok {
				defer f.Do("PATCH", people+"/views/Adults", f.Alice, map[string]any{"filter": "age >= 30", "columns": []string{"name", "age"}}).WantStatus(ok)
			}
			status(t, r, want)
		}},
		{"DELETE_scoping_view", row{gone, gone, no, no, no, no, no}, func(t *testing.T, key string, want int) {
			v := uniq("Scope")
			f.Do("POST", people+"/views", f.Alice, map[string]any{"name": v, "filter": "age > 1"}).WantStatus(made)
			defer f.Do("DELETE", people+"/views/"+v, f.Alice, nil)
			var g coffer.Grant
			f.Do("POST", nb+"/grants", f.Alice, map[string]any{"principal": user("plain"), "table": "People", "view": v}).WantStatus(made).JSON(&g)
			defer f.Do("DELETE", nb+"/grants/"+g.ID, f.Alice, nil)
			status(t, f.Do("DELETE", people+"/views/"+v, key, nil), want)
		}},
		{"PATCH_free_view", row{ok, ok, ok, no, ok, ok, no}, func(t *testing.T, key string, want int) {
			v := uniq("Free")
			f.Do("POST", people+"/views", f.Alice, map[string]any{"name": v, "filter": "age > 1"}).WantStatus(made)
			defer f.Do("DELETE", people+"/views/"+v, f.Alice, nil)
			status(t, f.Do("PATCH", people+"/views/"+v, key, map[string]any{"filter": ""}), want)
		}},
		{"GET_records_sort_hidden", row{ok, ok, ok, ok, bad, bad, ok}, func(t *testing.T, key string, want int) {
			r := f.Do("GET", people+"/records?sort=note", key, nil)
			if status(t, r, want) && want == bad {
				likeUnknown(t, r, f.Do("GET", people+"/records?sort=nope", key, nil), "note")
			}
		}},
	} {
		for i, n := range names {
			t.Run(ep.name+"/"+n, func(t *testing.T) { ep.do(t, keys[n], ep.want[i]) })
		}
	}
}
