package filter_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// fuzzSeeds are interesting filters to start fuzzing from.
var fuzzSeeds = []string{
	``,
	`age > 30 && team = "red"`,
	`name ~ "smi" || name !~ "ÉLO"`,
	`team in ["red", "blue"] && team not in []`,
	`due is null || due is not null`,
	`!(age > 1 || !(done = true))`,
	`owner = @user.id || owner != @user.email`,
	`"sales" in @user.groups && owner in @user.groups`,
	`"a" in tags && "Ünï" not in tags || tags is null`,
	`@user.id in people`,
	"`First name` = \"Ada\" && `in` ~ \"x\"",
	`age >= -0.5e1 && age < 1E3 && age <= 3.50`,
	`created > "2024-01-02T03:04:05+02:00"`,
	`name = "\u00e9\ud83d\ude00\"\\\n\t"`,
	`a = null`,
	`((((age = 1))))`,
	`!!!!age = 1`,
	`name in [@user.id, @user.email, "x"]`,
	`age = "x"`,
	`"x" in name`,
	`tags = "a"`,
	`@`,
	"`a``b` = 1",
	`a in [1,2`,
	strings.Repeat("(", 40) + "age = 1" + strings.Repeat(")", 40),
}

var fuzzDB struct {
	once sync.Once
	rows []row
}

// FuzzCompile parses and compiles arbitrary filters: nothing may panic,
// errors must be EINVALID, and a filter that compiles must run on SQLite
// and select exactly the rows that Eval accepts.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	fuzzDB.once.Do(func() {
		r := rand.New(rand.NewPCG(3, 4))
		for range 12 {
			fuzzDB.rows = append(fuzzDB.rows, randomRow(r))
		}
		fuzzDB.rows = append(fuzzDB.rows, row{})
	})
	db := mustOpenDB(f, fuzzDB.rows)
	s := newSchema()
	envs := []filter.Env{
		testEnv,
		{},
		{UserID: "u2", UserEmail: "bob@x.org", UserGroups: []string{"eng", "u1", "Ada"}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := filter.Parse(src)
		if err != nil {
			checkFilterError(t, src, err)
			return
		}
		if e == nil {
			if strings.TrimSpace(src) != "" {
				t.Fatalf("Parse(%q) = nil", src)
			}
		} else if canon := e.String(); len(canon) <= filter.MaxLength {
			e2, err := filter.Parse(canon)
			if err != nil {
				t.Fatalf("Parse(%q) = %q, which does not parse: %v", src, canon, err)
			}
			if got := e2.String(); got != canon {
				t.Fatalf("Parse(%q) = %q, which parses to %q", src, canon, got)
			}
		}
		for _, env := range envs {
			sql, args, err := filter.Compile(e, s, env, testDialect{})
			want, evalErr := evalRows(e, s, env, fuzzDB.rows)
			if got, want := errText(evalErr), errText(err); got != want {
				t.Fatalf("%q: Eval error %q, Compile error %q", src, got, want)
			}
			if err != nil {
				checkFilterError(t, src, err)
				return
			}
			if err := checkSQL(sql, args); err != nil {
				t.Fatalf("%q: %v\n%s", src, err, sql)
			}
			got, err := query(db, sql, args)
			if err != nil {
				t.Fatalf("%q: %v\n%s %#v", src, err, sql, args)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q with %+v:\nSQL %s %#v\n got %v\nwant %v", src, env, sql, args, got, want)
			}
		}
	})
}

// checkFilterError checks that err is an EINVALID error about the filter.
func checkFilterError(t *testing.T, src string, err error) {
	t.Helper()
	var e *coffer.Error
	if !errors.As(err, &e) || (e.Code != coffer.EINVALID && e.Code != coffer.ETOOCOMPLEX) || len(e.Fields) != 1 || e.Fields[0].Field != "filter" || e.Message == "" {
		t.Fatalf("%q: got %#v, want an EINVALID or ETOOCOMPLEX error about the filter", src, err)
	}
}
