package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/value"
)

// testFilterProperty is a randomized test of filters, sorts and paging
// through the record service: for random filters over a table of random
// records (many cells empty), the records that FindRecords pages through
// must be exactly those that the reference evaluator filter.Eval accepts,
// counted exactly, in the order of a random sort, each once. A filter that
// Eval refuses must be refused by the service with EINVALID, never
// EINTERNAL, and one that Eval accepts must be accepted.
//
// The default run uses a fixed seed and is quick. For a long run, set
//
//	COFFER_PROP_SEED=<uint64>  the seed (default 1; "random" picks one)
//	COFFER_PROP_CASES=<n>      the number of filters (default 300)
//
// e.g. COFFER_PROP_SEED=random COFFER_PROP_CASES=20000 go test -run 'Store/FilterProperty' ./store/...
// A failure prints the seed, so that the run can be repeated.
func testFilterProperty(t *testing.T, open Opener) {
	seed := uint64(1)
	if v := os.Getenv("COFFER_PROP_SEED"); v == "random" {
		seed = rand.Uint64()
	} else if v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("COFFER_PROP_SEED=%q: %v", v, err)
		}
		seed = n
	}
	cases := 300
	if v := os.Getenv("COFFER_PROP_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("COFFER_PROP_CASES=%q: want a positive number", v)
		}
		cases = n
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("filter property test failed with COFFER_PROP_SEED=%d COFFER_PROP_CASES=%d", seed, cases)
		}
	})
	r := rand.New(rand.NewPCG(seed, 0x5eed))

	s := open(t)
	clk := newClock(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC))
	s.Now = clk.Now
	e := newSetup(t, s, "Property")
	p := &propTest{t: t, r: r, seed: seed, e: e, clk: clk}
	p.build()

	env := filter.Env{UserID: e.u.ID, UserEmail: e.u.Email}
	valid, refused, matched := 0, 0, 0
	for i := range cases {
		if t.Failed() {
			break // the first failing case says enough
		}
		src := p.expr(3)
		sort := p.sort()
		n, ok := p.check(i, src, sort, env)
		if !ok {
			refused++
			continue
		}
		valid++
		matched += n
	}
	t.Logf("seed %d: %d filters on %d records: %d valid (%d matching records in all), %d refused",
		seed, cases, len(p.recs), valid, matched, refused)
	if valid < cases/2 {
		t.Errorf("seed %d: only %d of %d random filters are valid; the generator needs fixing", seed, valid, cases)
	}
}

// Pools of values: records and filters draw from the same small pools so
// that comparisons often hold.
var (
	propTexts = []string{"Élodie", "élodie", "ÉLODIE", "Elodie", "ß", "straße", "STRASSE", "ss", "İstanbul", "istanbul", "ISTANBUL",
		"ı", "Ada", "ada", "Ada Lovelace", "Zoë", "zoe", "Ω", "ω", "ǅ", "a\"b", `x\y`, "100%", "a_b", " padded ", "日本語", "ab", "b"}
	propNeedles = []string{"é", "É", "lod", "ß", "SS", "ss", "i̇", "İ", "ı", "ist", "ada", "ω", "Ω", "ǆ", "\"", `\`, "%", "_", " ", "本", "zz", "a", "B"}
	propLong    = []string{"first line\nsecond line", "Élodie wrote:\n\tß and İ", "ada", "line\r\nbreak", "über\nÜBER", "a"}
	propQty     = []string{"0", "1", "-1", "7", "-7", "42", "-42", "1000", "-999", "3",
		"9223372036854775807", "-9223372036854775808", "9007199254740993"}
	propPrice = []string{"0", "0.01", "-0.01", "3.50", "3.5", "-12.25", "12.25", "100", "-100.99", "1e2", "2.5E1", "0.10",
		"92233720368547758.07", "-92233720368547758.08", "90071992547409.93"}
	// Numbers that the columns refuse: too precise or out of range.
	propBadNumbers = []string{"1.5", "9223372036854775808", "-9223372036854775809", "0.001", "92233720368547758.08"}
	propDates      = []string{"2024-01-01", "2024-01-31", "2023-12-31", "2024-02-29", "1999-09-09", "0001-01-01", "9999-12-31"}
	propTimes      = []string{"2024-01-02T03:04:05Z", "2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05.000001Z", "2023-06-01T00:00:00Z",
		"2025-01-01T12:00:00-01:00", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "2024-03-01T09:00:00Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"}
	propTeams  = []string{"blue", "green", "red", "été"} // a choice sorts as its text, by collation
	propTags   = []string{"cs", "math", "navy", "ß"}
	propEmails = []string{"ada@example.com", "ADA@example.com", "bob@x.org", "élodie@exemple.fr", "z@z.io"}
)

func propPick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// propCol is a column of the property test table.
type propCol struct {
	name string
	typ  coffer.ColumnType
}

var propCols = []propCol{
	{"Name", coffer.TypeText},
	{"Notes", coffer.TypeLongText},
	{"Qty", coffer.TypeNumber},
	{"Price", coffer.TypeNumber},
	{"Done", coffer.TypeBoolean},
	{"Due on", coffer.TypeDate},
	{"At", coffer.TypeDateTime},
	{"Team", coffer.TypeSingleSelect},
	{"Tags", coffer.TypeMultiSelect},
	{"Mail", coffer.TypeEmail},
	{"Ref", coffer.TypeLink},
	{"Author", coffer.TypeCreatedBy},
	{"Made", coffer.TypeCreatedAt},
	// System fields, named in filters and sorts as well.
	{"id", coffer.TypeText},
	{"created_by", coffer.TypeCreatedBy},
	{"updated_by", coffer.TypeUpdatedBy},
	{"created_at", coffer.TypeCreatedAt},
	{"updated_at", coffer.TypeUpdatedAt},
}

// propRec is a record as the reference evaluator sees it: the storage form
// of each field by its name.
type propRec struct {
	id   string
	vals map[string]any
}

type propTest struct {
	t     *testing.T
	r     *rand.Rand
	seed  uint64
	e     *setup
	clk   *clock
	table *coffer.Table
	other []string // ids of the records of the linked table
	recs  []*propRec
	sch   *propSchema
}

// build creates the tables and random records, and reads them back in
// storage form.
func (p *propTest) build() {
	t, e, r := p.t, p.e, p.r
	other := MustTable(t, e.ctx, e.s, e.nb, "Other", col("Label", coffer.TypeText))
	for i := range 5 {
		p.other = append(p.other, MustRecord(t, e.ctx, e.s, e.nb, other.ID, map[string]any{"Label": fmt.Sprintf("o%d", i)}).ID)
	}
	MustTable(t, e.ctx, e.s, e.nb, "Things",
		col("Name", coffer.TypeText), col("Notes", coffer.TypeLongText),
		col("Qty", coffer.TypeNumber), col("Price", coffer.TypeNumber, precision(2)),
		col("Done", coffer.TypeBoolean), col("Due on", coffer.TypeDate), col("At", coffer.TypeDateTime),
		col("Team", coffer.TypeSingleSelect, choices(propTeams...)),
		col("Tags", coffer.TypeMultiSelect, choices(propTags...)),
		col("Mail", coffer.TypeEmail), col("Ref", coffer.TypeLink, linkTo(other.ID, true)),
		col("Author", coffer.TypeCreatedBy), col("Made", coffer.TypeCreatedAt))

	// 60 records in batches, the clock moving between them so that
	// created_at has runs of equal values; then some updates.
	var created []string
	for b := range 6 {
		ops := make([]coffer.BatchOp, 10)
		for i := range ops {
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: p.randomFields()}
		}
		res, err := e.s.Batch(e.ctx, e.nb, "Things", ops)
		if err != nil {
			t.Fatalf("seed %d: Batch %d: %v (fields %v)", p.seed, b, err, coffer.ErrorFields(err))
		}
		created = append(created, ids(res.Results)...)
		p.clk.Add(time.Duration(1+r.IntN(3)) * time.Second)
	}
	for range 8 {
		id := propPick(r, created)
		if _, err := e.s.UpdateRecord(e.ctx, e.nb, "Things", id, p.randomFields(), 0); err != nil {
			t.Fatalf("seed %d: UpdateRecord: %v (fields %v)", p.seed, err, coffer.ErrorFields(err))
		}
		p.clk.Add(time.Second)
	}

	tbl, err := e.s.FindTable(e.ctx, e.nb, "Things")
	if err != nil {
		t.Fatalf("FindTable: %v", err)
	}
	p.table = tbl
	p.sch = newPropSchema(tbl)
	all := MustListAll(t, e.ctx, e.s, e.nb, "Things", coffer.ListQuery{Limit: coffer.MaxPageSize})
	if len(all) != len(created) {
		t.Fatalf("listed %d records, created %d", len(all), len(created))
	}
	for _, rec := range all {
		p.recs = append(p.recs, p.storageForm(rec))
	}
}

// randomFields returns the fields of a random record, about a third empty.
func (p *propTest) randomFields() map[string]any {
	r := p.r
	f := map[string]any{}
	empty := func() bool { return r.IntN(3) == 0 }
	if !empty() {
		f["Name"] = propPick(r, propTexts)
	}
	if !empty() {
		f["Notes"] = propPick(r, propLong)
	}
	if !empty() {
		f["Qty"] = json.Number(propPick(r, propQty))
	}
	if !empty() {
		f["Price"] = json.Number(propPick(r, propPrice))
	}
	if !empty() {
		f["Done"] = r.IntN(2) == 0
	}
	if !empty() {
		f["Due on"] = propPick(r, propDates)
	}
	if !empty() {
		f["At"] = propPick(r, propTimes)
	}
	if !empty() {
		f["Team"] = propPick(r, propTeams)
	}
	if !empty() {
		var l []string
		for _, c := range propTags {
			if r.IntN(3) == 0 {
				l = append(l, c)
			}
		}
		f["Tags"] = l // may be empty
	}
	if !empty() {
		f["Mail"] = propPick(r, propEmails)
	}
	if !empty() {
		var l []string
		for _, id := range p.other {
			if r.IntN(3) == 0 {
				l = append(l, id)
			}
		}
		r.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		f["Ref"] = l
	}
	// Sometimes an explicit empty value rather than an absent one.
	if r.IntN(4) == 0 {
		f[propPick(r, []string{"Name", "Qty", "Done", "Tags", "Ref", "Team"})] = nil
	}
	return f
}

// storageForm turns a record read from the service back into the storage
// form of each field, as Eval takes it.
func (p *propTest) storageForm(rec *coffer.Record) *propRec {
	out := &propRec{id: rec.ID, vals: map[string]any{
		"id":         rec.ID,
		"created_by": rec.CreatedBy,
		"updated_by": rec.UpdatedBy,
		"created_at": rec.CreatedAt.UnixMicro(),
		"updated_at": rec.UpdatedAt.UnixMicro(),
	}}
	for _, c := range p.table.Columns {
		switch c.Type {
		case coffer.TypeCreatedBy:
			out.vals[c.Name] = rec.CreatedBy
			continue
		case coffer.TypeCreatedAt:
			out.vals[c.Name] = rec.CreatedAt.UnixMicro()
			continue
		}
		v, err := value.FromJSON(c, rec.Fields[c.Name])
		if err != nil {
			p.t.Fatalf("record %s field %q = %#v: %v", rec.ID, c.Name, rec.Fields[c.Name], err)
		}
		if c.Type == coffer.TypeMultiSelect && v != nil {
			// Stored as a JSON array; Eval takes the list.
			var l []string
			if err := json.Unmarshal([]byte(v.(string)), &l); err != nil {
				p.t.Fatalf("record %s field %q: storage form %q: %v", rec.ID, c.Name, v, err)
			}
			v = l
		}
		out.vals[c.Name] = v
	}
	return out
}

// propSchema is an independent filter.Schema of the test table for Eval:
// the columns by name (in any case) or id, then the system fields.
type propSchema struct {
	byKey map[string]*filter.Field
	sys   map[string]*filter.Field
}

func newPropSchema(tbl *coffer.Table) *propSchema {
	s := &propSchema{byKey: map[string]*filter.Field{}, sys: map[string]*filter.Field{}}
	field := func(c *coffer.Column) *filter.Field {
		f := &filter.Field{Name: c.Name, Type: c.Type, SQL: "unused",
			Convert: func(lit any) (any, error) { return value.FromFilter(c, lit) }}
		if f.IsList() {
			f.SQL = ""
			f.Contains = func(string) string { return "unused" }
			f.Empty = "unused"
		}
		return f
	}
	for _, c := range tbl.Columns {
		f := field(c)
		s.byKey[c.ID] = f
		s.byKey[strings.ToLower(c.Name)] = f
	}
	text := func(lit any) (any, error) {
		if v, ok := lit.(string); ok {
			return v, nil
		}
		return nil, fmt.Errorf("expected a string")
	}
	for _, c := range []*coffer.Column{{Name: "created_at", Type: coffer.TypeCreatedAt}, {Name: "updated_at", Type: coffer.TypeUpdatedAt}} {
		s.sys[c.Name] = field(c)
	}
	for _, sf := range []struct {
		name string
		typ  coffer.ColumnType
	}{{"id", coffer.TypeText}, {"created_by", coffer.TypeCreatedBy}, {"updated_by", coffer.TypeUpdatedBy}} {
		s.sys[sf.name] = &filter.Field{Name: sf.name, Type: sf.typ, SQL: "unused", Convert: text}
	}
	return s
}

func (s *propSchema) Field(name string) (*filter.Field, bool) {
	if f := s.byKey[name]; f != nil {
		return f, true
	}
	if f := s.byKey[strings.ToLower(name)]; f != nil {
		return f, true
	}
	f, ok := s.sys[name]
	return f, ok
}

// propDialect lets Compile run on propSchema, to check that it refuses
// exactly what Eval refuses.
type propDialect struct{}

func (propDialect) ContainsFold(expr, ph string) string { return "unused" }

// name returns how a filter or sort writes the column: sometimes in
// another case, in backticks, or by id.
func (p *propTest) name(c propCol) string {
	r := p.r
	n := c.name
	if col := p.table.Column(c.name); col != nil {
		switch r.IntN(12) {
		case 0:
			return col.ID
		case 1:
			n = strings.ToLower(n)
		case 2:
			n = strings.ToUpper(n)
		}
	}
	if strings.Contains(n, " ") || r.IntN(10) == 0 {
		return "`" + n + "`"
	}
	return n
}

// propQuote writes s as a filter string literal, with escapes.
func propQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "é", `\u00e9`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
	return `"` + s + `"`
}

// literal returns a literal for a column of type typ, now and then one
// that the column refuses.
func (p *propTest) literal(c propCol) string {
	r := p.r
	if r.IntN(30) == 0 {
		return propPick(r, []string{`"zzz"`, `7`, `1.234`, `true`, `"2024-13-01"`, `""`, `"purple"`, `-0`})
	}
	switch c.typ {
	case coffer.TypeNumber:
		if r.IntN(20) == 0 {
			return propPick(r, propBadNumbers)
		}
		if c.name == "Qty" {
			return propPick(r, propQty)
		}
		return propPick(r, propPrice)
	case coffer.TypeBoolean:
		return propPick(r, []string{"true", "false"})
	case coffer.TypeDate:
		return propQuote(propPick(r, propDates))
	case coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		if r.IntN(4) == 0 {
			return propQuote(propPick(r, propDates)) // a date is midnight UTC
		}
		return propQuote(propPick(r, propTimes))
	case coffer.TypeSingleSelect:
		return propQuote(propPick(r, propTeams))
	case coffer.TypeMultiSelect:
		return propQuote(propPick(r, propTags))
	case coffer.TypeEmail:
		return propQuote(propPick(r, propEmails))
	case coffer.TypeLink:
		if r.IntN(5) == 0 {
			return propQuote(coffer.NewID(coffer.PrefixRecord))
		}
		return propQuote(propPick(r, p.other))
	case coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
		return propQuote(propPick(r, []string{p.e.u.ID, "usr_nobody", strings.ToUpper(p.e.u.ID), "usr"}))
	case coffer.TypeLongText:
		if r.IntN(2) == 0 {
			return propQuote(propPick(r, propLong))
		}
	}
	if c.name == "id" {
		return propQuote(propPick(r, p.recs).id)
	}
	return propQuote(propPick(r, propTexts))
}

// operand is a literal or, for text-like columns, sometimes a variable.
func (p *propTest) operand(c propCol) string {
	if p.r.IntN(6) == 0 {
		return propPick(p.r, []string{"@user.id", "@user.email"})
	}
	return p.literal(c)
}

func propTextLike(t coffer.ColumnType) bool {
	switch t {
	case coffer.TypeText, coffer.TypeLongText, coffer.TypeEmail, coffer.TypeSingleSelect, coffer.TypeCreatedBy, coffer.TypeUpdatedBy:
		return true
	}
	return false
}

// comparison returns one random comparison.
func (p *propTest) comparison() string {
	r := p.r
	if r.IntN(60) == 0 {
		return propPick(r, []string{"Nope = 1", "Tags > \"cs\"", "Qty ~ \"1\"", "Done < true", "Ref = \"x\"", "Qty =", "(Qty = 1", "Name = @user.groups"})
	}
	c := propPick(r, propCols)
	name := p.name(c)
	if c.typ == coffer.TypeMultiSelect || c.typ == coffer.TypeLink {
		switch r.IntN(6) {
		case 0:
			return name + " is null"
		case 1:
			return name + " is not null"
		case 2:
			return "@user.id " + propPick(r, []string{"in", "not in"}) + " " + name
		}
		return p.literal(c) + propPick(r, []string{" in ", " not in "}) + name
	}
	switch r.IntN(10) {
	case 0:
		return name + propPick(r, []string{" is null", " is not null"})
	case 1, 2:
		var vals []string
		for range r.IntN(4) {
			vals = append(vals, p.operand(c))
		}
		return name + propPick(r, []string{" in ", " not in "}) + "[" + strings.Join(vals, ", ") + "]"
	case 3, 4:
		if propTextLike(c.typ) {
			needle := propQuote(propPick(r, propNeedles))
			if r.IntN(8) == 0 {
				needle = "@user.email"
			}
			return name + propPick(r, []string{" ~ ", " !~ "}) + needle
		}
	}
	ops := []string{"=", "!="}
	if c.typ != coffer.TypeBoolean {
		ops = append(ops, "<", "<=", ">", ">=")
	}
	op := propPick(r, ops)
	if propTextLike(c.typ) {
		return name + " " + op + " " + p.operand(c)
	}
	return name + " " + op + " " + p.literal(c)
}

// expr returns a random filter of at most the given depth.
func (p *propTest) expr(depth int) string {
	r := p.r
	if depth <= 0 || r.IntN(3) == 0 {
		return p.comparison()
	}
	switch r.IntN(5) {
	case 0, 1:
		return p.expr(depth-1) + " && " + p.expr(depth-1)
	case 2:
		return p.expr(depth-1) + " || " + p.expr(depth-1)
	case 3:
		return "!(" + p.expr(depth-1) + ")"
	}
	return "(" + p.expr(depth-1) + ")"
}

// propSortable are the fields a sort may name.
var propSortable = []propCol{
	{"Name", coffer.TypeText}, {"Notes", coffer.TypeLongText}, {"Qty", coffer.TypeNumber}, {"Price", coffer.TypeNumber},
	{"Done", coffer.TypeBoolean}, {"Due on", coffer.TypeDate}, {"At", coffer.TypeDateTime}, {"Team", coffer.TypeSingleSelect},
	{"Mail", coffer.TypeEmail}, {"Author", coffer.TypeCreatedBy}, {"Made", coffer.TypeCreatedAt},
	{"id", coffer.TypeText}, {"created_at", coffer.TypeCreatedAt}, {"updated_at", coffer.TypeUpdatedAt},
}

// propKey is one key of a sort, by field name (Field.Name).
type propKey struct {
	field string
	desc  bool
}

// sortSpec is a random sort of 1 or 2 keys, as source and as keys.
type sortSpec struct {
	src  string
	keys []propKey
}

func (p *propTest) sort() sortSpec {
	r := p.r
	var sp sortSpec
	var parts []string
	for _, i := range r.Perm(len(propSortable))[:1+r.IntN(2)] {
		c := propSortable[i]
		k := propKey{field: c.name, desc: r.IntN(2) == 0}
		sp.keys = append(sp.keys, k)
		prefix := ""
		if k.desc {
			prefix = "-"
		} else if r.IntN(4) == 0 {
			prefix = "+"
		}
		n := c.name
		if strings.Contains(n, " ") {
			n = "`" + n + "`"
		}
		parts = append(parts, prefix+n)
	}
	sp.src = strings.Join(parts, ",")
	return sp
}
