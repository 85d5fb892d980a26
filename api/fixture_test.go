package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// Fixture is a server with two users: Alice owns notebook NB with tables
// People (name, age, team, note) and Teams, three records and a view
// "Adults"; Bob owns notebook BobNB.
type Fixture struct {
	*Env
	Alice, Bob   string // session keys
	NB, BobNB    string // notebook ids
	People       string // table id
	Recs         []string
	View         string // view id
	MissingNB    string // a well-formed notebook id that does not exist
	MissingRec   string // a well-formed record id that does not exist
	replacements *strings.Replacer
}

// MustFixture builds the fixture on a fresh server.
func MustFixture(tb testing.TB) *Fixture {
	tb.Helper()
	e := MustEnv(tb)
	e.MustUser("alice@example.com", "Alice")
	e.MustUser("bob@example.com", "Bob")
	f := &Fixture{Env: e, Alice: e.MustLogin("alice@example.com"), Bob: e.MustLogin("bob@example.com")}
	var nb, bnb coffer.Notebook
	e.Do("POST", "/api/v1/notebooks", f.Alice, map[string]any{"name": "Main"}).WantStatus(http.StatusCreated).JSON(&nb)
	e.Do("POST", "/api/v1/notebooks", f.Bob, map[string]any{"name": "Main"}).WantStatus(http.StatusCreated).JSON(&bnb)
	f.NB, f.BobNB = nb.ID, bnb.ID
	var tbl coffer.Table
	e.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables", f.Alice, map[string]any{
		"name": "People",
		"columns": []map[string]any{
			{"name": "name", "type": "text"},
			{"name": "age", "type": "number"},
			{"name": "team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue"}}},
			{"name": "note", "type": "text"},
		},
	}).WantStatus(http.StatusCreated).JSON(&tbl)
	f.People = tbl.ID
	e.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables", f.Alice, map[string]any{
		"name": "Teams", "columns": []map[string]any{{"name": "name", "type": "text"}},
	}).WantStatus(http.StatusCreated)
	for _, fields := range []map[string]any{
		{"name": "Ada", "age": 36, "team": "red", "note": "hello"},
		{"name": "Grace", "age": 45, "team": "blue"},
		{"name": "Linus", "age": 20, "team": "red"},
	} {
		var rec coffer.Record
		e.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/records", f.Alice, map[string]any{"fields": fields}).
			WantStatus(http.StatusCreated).JSON(&rec)
		f.Recs = append(f.Recs, rec.ID)
	}
	var v coffer.View
	e.Do("POST", "/api/v1/notebooks/"+f.NB+"/tables/People/views", f.Alice, map[string]any{
		"name": "Adults", "filter": "age >= 30", "sort": "-age", "columns": []string{"name", "age"},
	}).WantStatus(http.StatusCreated).JSON(&v)
	f.View = v.ID
	f.MissingNB = coffer.NewID(coffer.PrefixNotebook)
	f.MissingRec = coffer.NewID(coffer.PrefixRecord)
	f.replacements = strings.NewReplacer(
		"{nb}", f.NB, "{bobnb}", f.BobNB, "{missingnb}", f.MissingNB,
		"{people}", f.People, "{rec}", f.Recs[0], "{rec2}", f.Recs[1], "{missingrec}", f.MissingRec,
		"{view}", f.View,
	)
	return f
}

// Path fills the placeholders of a scenario path.
func (f *Fixture) Path(p string) string { return f.replacements.Replace(p) }
