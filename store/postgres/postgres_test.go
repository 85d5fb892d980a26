package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/storetest"
)

// testURL is the database the tests use: COFFER_TEST_POSTGRES_URL, or a
// local server with trust authentication.
func testURL() string {
	if u := os.Getenv("COFFER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// requirePostgres skips the test when PostgreSQL is unreachable, unless
// COFFER_TEST_REQUIRE names postgres: then it fails.
func requirePostgres(t *testing.T) {
	t.Helper()
	reachOnce.Do(func() {
		db, err := sql.Open("pgx", testURL())
		if err != nil {
			reachErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reachErr = db.PingContext(ctx)
	})
	if reachErr == nil {
		return
	}
	if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "postgres") {
		t.Fatalf("PostgreSQL is required (COFFER_TEST_REQUIRE) but unreachable at %s: %v", testURL(), reachErr)
	}
	fmt.Printf("skipping PostgreSQL tests: unreachable at %s: %v\n", testURL(), reachErr)
	t.Skipf("PostgreSQL unreachable: %v", reachErr)
}

// randomName returns a fresh lower-case identifier starting with prefix.
func randomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:10])
}

// openBackend opens a backend in schemas of its own, dropped at cleanup.
func openBackend(t *testing.T) *postgres.Backend {
	t.Helper()
	return openBackendURL(t, testURL())
}

// openBackendURL is openBackend on another connection string.
func openBackendURL(t *testing.T, url string) *postgres.Backend {
	t.Helper()
	requirePostgres(t)
	return openBackendOpts(t, url, testOptions())
}

// testOptions names fresh schemas for one test store.
func testOptions() postgres.Options {
	base := randomName("ct_")
	return postgres.Options{Schema: base, NotebookSchemaPrefix: base + "_n"}
}

// openBackendOpts opens a backend on the schemas of opts and drops them at cleanup.
func openBackendOpts(t *testing.T, url string, opts postgres.Options) *postgres.Backend {
	t.Helper()
	ctx := context.Background()
	b, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() {
		defer b.Close()
		rows, err := b.Pool().QueryContext(ctx, "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)",
			opts.Schema, opts.NotebookSchemaPrefix)
		if err != nil {
			t.Errorf("list test schemas: %v", err)
			return
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Error(err)
			}
			names = append(names, `"`+n+`"`)
		}
		rows.Close()
		if len(names) > 0 {
			if _, err := b.Pool().ExecContext(ctx, "DROP SCHEMA "+strings.Join(names, ", ")+" CASCADE"); err != nil {
				t.Errorf("drop test schemas: %v", err)
			}
		}
	})
	return b
}

// TestStore runs the behaviour suite on PostgreSQL, each store in its own
// instance schema.
func TestStore(t *testing.T) {
	requirePostgres(t)
	storetest.Run(t, func(t *testing.T) *all.Store {
		return all.New(openBackend(t), keyring.ForTests())
	})
}

// TestSSO runs the single sign-on flow on PostgreSQL.
func TestSSO(t *testing.T) {
	requirePostgres(t)
	storetest.SSO(t, openBackend(t))
}

func TestRebind(t *testing.T) {
	d := postgres.TestDialect
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{`x = '?' AND "q?" = ?`, `x = '?' AND "q?" = $1`},
		{`x = 'it''s ?' AND y = ?`, `x = 'it''s ?' AND y = $1`},
		{"a = ? -- why?\n AND b = ?", "a = $1 -- why?\n AND b = $2"},
		{"a = ? /* ? */ AND b = ?", "a = $1 /* ? */ AND b = $2"},
		{"x = 'open ?", "x = 'open ?"},
	} {
		if got := d.Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestNotebookSchemas checks that a notebook lives in a schema of its own,
// that a missing one answers not found, and that dropping removes it.
func TestNotebookSchemas(t *testing.T) {
	ctx := context.Background()
	b := openBackend(t)
	id := coffer.NewID(coffer.PrefixNotebook)
	if _, _, err := b.Notebook(ctx, id); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("open a missing notebook: got %v, want not_found", err)
	}
	if err := b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateNotebook(ctx, id); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("create twice: got %v, want conflict", err)
	}
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM "+db.Prefix+"_tables").Scan(&n); err != nil {
		t.Errorf("read the notebook's catalogue: %v", err)
	}
	release()
	if err := b.DropNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Notebook(ctx, id); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("open a dropped notebook: got %v, want not_found", err)
	}
	if _, _, err := b.Notebook(ctx, "nb_bad"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("open a malformed id: got %v, want not_found", err)
	}
}

// TestStatementTimeout: every connection runs with a statement timeout, 30 s
// unless the connection string sets one.
func TestStatementTimeout(t *testing.T) {
	ctx := context.Background()
	show := func(b *postgres.Backend) string {
		var v string
		if err := b.Pool().QueryRowContext(ctx, "SHOW statement_timeout").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(openBackend(t)); got != "30s" {
		t.Errorf("default statement_timeout = %q, want 30s", got)
	}
	sep := "?"
	if strings.Contains(testURL(), "?") {
		sep = "&"
	}
	if got := show(openBackendURL(t, testURL()+sep+"statement_timeout=5000")); got != "5s" {
		t.Errorf("statement_timeout from the URL = %q, want 5s", got)
	}
	if got := show(openBackendURL(t, testURL()+sep+"options=-c%20statement_timeout%3D7s")); got != "7s" {
		t.Errorf("statement_timeout from the URL's options = %q, want 7s", got)
	}
}

// TestCheckDurabilityHere: the test server is durable, so the check passes.
func TestCheckDurabilityHere(t *testing.T) {
	b := openBackend(t)
	if _, err := b.CheckDurability(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// nodePair opens two stores on one instance schema of opts, as two coffer
// nodes with one master key; the schemas are dropped at cleanup.
func nodePair(t *testing.T, opts postgres.Options) (n1, n2 *all.Store) {
	t.Helper()
	b1 := openBackendOpts(t, testURL(), opts)
	b2, err := postgres.Open(context.Background(), testURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	keys := keyring.ForTests()
	return all.New(b1, keys), all.New(b2, keys)
}

// signedInOnBoth creates an account through n1, signs it in there and
// returns its caller on each node (n2 must know n1's session at once) and
// the session key.
func signedInOnBoth(t *testing.T, n1, n2 *all.Store, email string) (ctx1, ctx2 context.Context, key string) {
	t.Helper()
	ctx := context.Background()
	const password = "a long enough password, surely"
	if _, err := n1.CreateUser(ctx, coffer.UserInput{Email: email, Name: "Two", Password: password}); err != nil {
		t.Fatal(err)
	}
	sess, err := n1.Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := n1.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := n2.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatalf("node 2 does not know node 1's session: %v", err)
	}
	return coffer.WithCaller(ctx, c1), coffer.WithCaller(ctx, c2), sess.Key
}

// TestTwoNodes: two stores on one database, as two coffer nodes, see each
// other's changes at once: nothing is served from one node's memory.
func TestTwoNodes(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	n1, n2 := nodePair(t, testOptions())
	ctx1, ctx2, key := signedInOnBoth(t, n1, n2, "two@example.com")
	const password = "a long enough password, surely"

	nb, err := n1.CreateNotebook(ctx1, "Shared")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := n1.CreateTable(ctx1, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeText}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := n1.CreateRecord(ctx1, nb.ID, tb.ID, map[string]any{"A": "one"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := n2.FindRecord(ctx2, nb.ID, tb.ID, rec.ID); err != nil || got.Fields["A"] != "one" {
		t.Fatalf("node 2 reads node 1's record: %v %v", got, err)
	}
	// Node 2 has the schema cached now; a column added on node 1 must be
	// writable through node 2 at once.
	if _, err := n1.CreateColumn(ctx1, nb.ID, tb.ID, coffer.ColumnInput{Name: "B", Type: coffer.TypeNumber}); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 sees the new column", func() error {
		got, err := n2.FindTable(ctx2, nb.ID, tb.ID)
		if err == nil && len(got.Columns) != 2 {
			err = fmt.Errorf("%d columns, want 2", len(got.Columns))
		}
		return err
	})
	withinSecond(t, "node 2 writes the column added on node 1", func() error {
		_, err := n2.CreateRecord(ctx2, nb.ID, tb.ID, map[string]any{"A": "two", "B": 2})
		return err
	})
	// Access across nodes: rights cached on node 2 follow changes made on
	// node 1 at once (grants bump the notebook's access_version, group
	// memberships the access epoch).
	op, err := n1.CreateUser(ctx, coffer.UserInput{Email: "op@example.com", Name: "Op", Password: password, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	opCtx := coffer.WithCaller(ctx, &coffer.Caller{UserID: op.ID, Email: op.Email, Operator: true})
	reader, err := n1.CreateUser(ctx, coffer.UserInput{Email: "reader@example.com", Name: "Reader", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	rctx := coffer.WithCaller(ctx, &coffer.Caller{UserID: reader.ID, Email: reader.Email})
	org, err := n1.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Org", Owner: coffer.CallerFrom(ctx1).UserID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n1.SetOrgMember(opCtx, org.ID, reader.ID, coffer.OrgMember); err != nil {
		t.Fatal(err)
	}
	grp, err := n1.CreateGroup(opCtx, org.ID, "Readers")
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.AddGroupMember(opCtx, org.ID, grp.ID, reader.ID); err != nil {
		t.Fatal(err)
	}
	table := tb.ID
	g, err := n1.CreateGrant(ctx1, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "group", ID: grp.ID}, Table: &table, Columns: map[string]string{"*": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2, the group's grant made on node 1", func() error {
		_, err := n2.FindRecord(rctx, nb.ID, tb.ID, rec.ID)
		return err
	})
	if err := n1.RemoveGroupMember(opCtx, org.ID, grp.ID, reader.ID); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 after the removal from the group on node 1", wantCode(coffer.ENOTFOUND, func() error {
		_, err := n2.FindRecord(rctx, nb.ID, tb.ID, rec.ID)
		return err
	}))
	if err := n1.AddGroupMember(opCtx, org.ID, grp.ID, reader.ID); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 after the return to the group", func() error {
		_, err := n2.FindRecord(rctx, nb.ID, tb.ID, rec.ID)
		return err
	})
	if err := n1.DeleteGrant(ctx1, nb.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 after the grant's deletion on node 1", wantCode(coffer.ENOTFOUND, func() error {
		_, err := n2.FindRecord(rctx, nb.ID, tb.ID, rec.ID)
		return err
	}))

	// Registry rows: a rename on node 1 is seen by node 2, as is a deletion.
	name := "Renamed"
	if _, err := n1.UpdateNotebook(ctx1, nb.ID, coffer.NotebookUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 sees the rename", func() error {
		got, err := n2.FindNotebook(ctx2, nb.ID)
		if err == nil && got.Name != name {
			err = fmt.Errorf("name %q, want %q", got.Name, name)
		}
		return err
	})
	if err := n1.DeleteNotebook(ctx1, nb.ID); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 after deletion on node 1", wantCode(coffer.ENOTFOUND, func() error {
		_, err := n2.FindRecord(ctx2, nb.ID, tb.ID, rec.ID)
		return err
	}))
	// Logout on node 1 ends the session on node 2.
	if err := n1.Logout(ctx1); err != nil {
		t.Fatal(err)
	}
	withinSecond(t, "node 2 after logout on node 1", wantCode(coffer.EUNAUTHORIZED, func() error {
		_, err := n2.Authenticate(ctx, key)
		return err
	}))
}

// withinSecond polls check until it returns nil, for up to the second in
// which a change made on one node must hold on every other (its cache
// invalidation travels over LISTEN/NOTIFY), and fails the test with what
// and the last error otherwise.
func withinSecond(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 1 s", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantCode turns call into a check that holds when call fails with code.
func wantCode(code string, call func() error) func() error {
	return func() error {
		if err := call(); coffer.ErrorCode(err) != code {
			return fmt.Errorf("got %v, want %s", err, code)
		}
		return nil
	}
}

// TestTwoNodesAttempts: bursts of wrong passwords and codes spread over two
// stores on one database (two nodes) count one by one, as on one node.
func TestTwoNodesAttempts(t *testing.T) {
	requirePostgres(t)
	opts := testOptions()
	b1 := openBackendOpts(t, testURL(), opts)
	b2, err := postgres.Open(context.Background(), testURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	storetest.ConcurrentAttempts(t, all.New(b1, keyring.ForTests()), all.New(b2, keyring.ForTests()))
}

// TestTwoNodesAudit: appends and checkpoints from two stores on one
// database (two nodes) make one consistent audit log.
func TestTwoNodesAudit(t *testing.T) {
	requirePostgres(t)
	opts := testOptions()
	b1 := openBackendOpts(t, testURL(), opts)
	b2, err := postgres.Open(context.Background(), testURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	storetest.ConcurrentAudit(t, all.New(b1, keyring.ForTests()), all.New(b2, keyring.ForTests()))
}
