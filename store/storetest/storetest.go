// Package storetest is the behaviour suite that every storage backend of
// Coffer must pass. A backend's tests call Run with a function that opens
// a fresh, empty store; the suite then exercises the store only through the
// coffer service interfaces (UserService, AuthService, NotebookService,
// TableService, RecordService and ViewService), so that the same
// expectations hold for SQLite and PostgreSQL alike.
//
// The suite is cut like the services: RunIdentity, RunNotebooks,
// RunSharing, RunHistory and RunAudit run the groups of files
// identity_*.go, notebooks_*.go, sharing_*.go, history_*.go and
// audit_*.go; Run runs them all.
//
// Error expectations are exact: every client mistake the suite makes must
// come back with its documented code, never EINTERNAL.
//
// The MustX helpers create fixtures and fail the test on any error; other
// suites may use them too.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// Opener opens a fresh, empty store for one test. It registers its own
// cleanup with t.
type Opener = func(t *testing.T) *all.Store

// group is one part of a suite: a name and its test.
type group struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// Run runs the whole behaviour suite against the stores that open returns:
// the suites of the identity, notebooks and sharing services, of history
// and of the audit log. Groups run in parallel; each opens its own store.
func Run(t *testing.T, open func(t *testing.T) *all.Store) {
	RunIdentity(t, open)
	RunNotebooks(t, open)
	RunSharing(t, open)
	RunHistory(t, open)
	RunAudit(t, open)
}

// historyGroups are the groups of the history suite (files history_*.go),
// each registered by its file's init.
var historyGroups []group

// RunHistory runs the suite of history, undo, time travel, access records
// and the audit log (files history_*.go).
func RunHistory(t *testing.T, open Opener) {
	runGroups(t, open, historyGroups)
}

// RunIdentity runs the suite of the identity service (files identity_*.go).
func RunIdentity(t *testing.T, open Opener) {
	runGroups(t, open, []group{
		{"Users", testUsers},
		{"MFA", testMFA},
		{"PasswordReset", testPasswordReset},
		{"Identity", testIdentity},
		{"Orgs", testOrgs},
		{"ClaimInstance", testClaimInstance},
	})
}

// RunNotebooks runs the suite of the notebooks service (files notebooks_*.go).
func RunNotebooks(t *testing.T, open Opener) {
	runGroups(t, open, []group{
		{"Notebooks", testNotebooks},
		{"Tables", testTables},
		{"Indexes", testIndexes},
		{"Values", testValues},
		{"TypeChanges", testTypeChanges},
		{"Records", testRecords},
		{"Batch", testBatch},
		{"Lists", testLists},
		{"ListBudget", testListBudget},
		{"FilterProperty", testFilterProperty},
		{"Views", testViews},
		{"FieldOrder", testFieldOrder},
		{"Collation", testCollation},
		{"SortKeyMigration", testSortKeyMigration},
		{"LongTextKeys", testLongTextKeys},
		{"Concurrency", testConcurrency},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ClientMistakes", testClientMistakes},
		{"SecretColumns", testSecretColumns},
		{"Files", testFiles},
	})
}

// RunSharing runs the suite of the sharing service (files sharing_*.go).
func RunSharing(t *testing.T, open Opener) {
	runGroups(t, open, []group{
		{"SharingEvents", testSharingEvents},
		{"AccessProperty", testAccessProperty},
		{"Sharing", testSharing},
	})
}

func runGroups(t *testing.T, open Opener, groups []group) {
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.fn(t, open)
		})
	}
}

// TestPassword is the password of the accounts that MustUser creates.
const TestPassword = "correct horse battery staple"

var userSeq atomic.Int64

// MustUser creates an account with a unique e-mail address and returns a
// context carrying it as the caller, as the API would after login.
func MustUser(tb testing.TB, s coffer.UserService) (context.Context, *coffer.User) {
	tb.Helper()
	n := userSeq.Add(1)
	u, err := s.CreateUser(context.Background(), coffer.UserInput{
		Email:    fmt.Sprintf("user%d@example.com", n),
		Name:     fmt.Sprintf("User %d", n),
		Password: TestPassword,
	})
	if err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	return CallerContext(u), u
}

// CallerContext returns a context whose caller is u.
func CallerContext(u *coffer.User) context.Context {
	return coffer.WithCaller(context.Background(), &coffer.Caller{UserID: u.ID, Email: u.Email, Name: u.Name, Operator: u.Operator})
}

// MustNotebook creates a notebook owned by the caller of ctx.
func MustNotebook(tb testing.TB, ctx context.Context, s coffer.NotebookService, name string) *coffer.Notebook {
	tb.Helper()
	nb, err := s.CreateNotebook(ctx, name)
	if err != nil {
		tb.Fatalf("CreateNotebook(%q): %v", name, err)
	}
	return nb
}

// MustTable creates a table with the given columns.
func MustTable(tb testing.TB, ctx context.Context, s coffer.TableService, notebook, name string, cols ...coffer.ColumnInput) *coffer.Table {
	tb.Helper()
	t, err := s.CreateTable(ctx, notebook, coffer.TableInput{Name: name, Columns: cols})
	if err != nil {
		tb.Fatalf("CreateTable(%q): %v (fields %v)", name, err, coffer.ErrorFields(err))
	}
	return t
}

// MustRecord creates a record.
func MustRecord(tb testing.TB, ctx context.Context, s coffer.RecordService, notebook, table string, fields map[string]any) *coffer.Record {
	tb.Helper()
	r, err := s.CreateRecord(ctx, notebook, table, fields)
	if err != nil {
		tb.Fatalf("CreateRecord(%v): %v (fields %v)", fields, err, coffer.ErrorFields(err))
	}
	return r
}

// MustFindRecord reads a record.
func MustFindRecord(tb testing.TB, ctx context.Context, s coffer.RecordService, notebook, table, id string) *coffer.Record {
	tb.Helper()
	r, err := s.FindRecord(ctx, notebook, table, id)
	if err != nil {
		tb.Fatalf("FindRecord(%s): %v", id, err)
	}
	return r
}

// MustList reads one page of records.
func MustList(tb testing.TB, ctx context.Context, s coffer.RecordService, notebook, table string, q coffer.ListQuery) *coffer.RecordList {
	tb.Helper()
	l, err := s.FindRecords(ctx, notebook, table, q)
	if err != nil {
		tb.Fatalf("FindRecords(%+v): %v (fields %v)", q, err, coffer.ErrorFields(err))
	}
	return l
}

// MustListAll pages through every record that q selects, following cursors.
func MustListAll(tb testing.TB, ctx context.Context, s coffer.RecordService, notebook, table string, q coffer.ListQuery) []*coffer.Record {
	tb.Helper()
	var out []*coffer.Record
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			tb.Fatalf("FindRecords(%+v): more than 10000 pages; the cursor does not advance", q)
		}
		l := MustList(tb, ctx, s, notebook, table, q)
		out = append(out, l.Records...)
		if l.NextCursor == nil {
			return out
		}
		q.Cursor = *l.NextCursor
	}
}

// MustCount returns the number of records of a table.
func MustCount(tb testing.TB, ctx context.Context, s coffer.RecordService, notebook, table string) int64 {
	tb.Helper()
	l := MustList(tb, ctx, s, notebook, table, coffer.ListQuery{Count: true, Limit: 1})
	if l.Total == nil {
		tb.Fatalf("FindRecords with Count: Total is nil")
	}
	return *l.Total
}

// wantCode fails the test unless err has exactly the code want ("" for
// success). It reports EINTERNAL with its hidden cause, to ease debugging.
func wantCode(tb testing.TB, err error, want string) bool {
	tb.Helper()
	got := coffer.ErrorCode(err)
	if got != want {
		tb.Errorf("error code = %q, want %q (error: %v; fields: %v)", got, want, err, coffer.ErrorFields(err))
		return false
	}
	return true
}

// wantFields fails the test unless err lists a problem for each field.
func wantFields(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	var got []string
	for _, fe := range coffer.ErrorFields(err) {
		got = append(got, fe.Field)
		if fe.Message == "" {
			tb.Errorf("field error %q has no message", fe.Field)
		}
	}
	for _, f := range fields {
		if !slices.Contains(got, f) {
			tb.Errorf("error fields = %q, want one for %q (error: %v)", got, f, err)
		}
	}
}

// wantOnlyFields is wantFields that also refuses problems for other fields.
func wantOnlyFields(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	wantFields(tb, err, fields...)
	for _, fe := range coffer.ErrorFields(err) {
		if !slices.Contains(fields, fe.Field) {
			tb.Errorf("unexpected error field %q: %s (want only %q)", fe.Field, fe.Message, fields)
		}
	}
}

// ids returns the ids of records, in order.
func ids(rs []*coffer.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// names returns the values of the field "Name" of records, in order.
func names(rs []*coffer.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = r.Fields["Name"].(string)
	}
	return out
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// clock is a settable clock for Store.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// col is a shorthand for a column definition.
func col(name string, t coffer.ColumnType, opts ...func(*coffer.ColumnOptions)) coffer.ColumnInput {
	in := coffer.ColumnInput{Name: name, Type: t}
	for _, o := range opts {
		o(&in.Options)
	}
	return in
}

func choices(c ...string) func(*coffer.ColumnOptions) {
	return func(o *coffer.ColumnOptions) { o.Choices = c }
}

func precision(p int) func(*coffer.ColumnOptions) {
	return func(o *coffer.ColumnOptions) { o.Precision = p }
}

func linkTo(table string, multiple bool) func(*coffer.ColumnOptions) {
	return func(o *coffer.ColumnOptions) { o.Table, o.Multiple = table, multiple }
}

// setup is a store with one user and one notebook, the starting point of
// most tests.
type setup struct {
	s   *all.Store
	ctx context.Context
	u   *coffer.User
	nb  string
}

func newSetup(t *testing.T, s *all.Store, name string) *setup {
	t.Helper()
	ctx, u := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, name)
	return &setup{s: s, ctx: ctx, u: u, nb: nb.ID}
}

// quoteList formats strings for messages.
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
