package transfer_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
	"github.com/cofferhq/coffer/store/transfer"
)

func pgURL() string {
	if u := os.Getenv("COFFER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// openPostgres opens a PostgreSQL backend in fresh schemas, dropped at
// cleanup; it skips when PostgreSQL is unreachable unless
// COFFER_TEST_REQUIRE names postgres.
func openPostgres(t *testing.T) *postgres.Backend {
	t.Helper()
	ctx := context.Background()
	base := "tr_" + strings.ToLower(rand.Text()[:10])
	opts := postgres.Options{Schema: base, NotebookSchemaPrefix: base + "_n"}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := postgres.Open(cctx, pgURL(), opts)
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "postgres") {
			t.Fatalf("PostgreSQL is required (COFFER_TEST_REQUIRE): %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() {
		defer b.Close()
		rows, err := b.Pool().QueryContext(ctx, "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)", opts.Schema, opts.NotebookSchemaPrefix)
		if err != nil {
			t.Errorf("list schemas: %v", err)
			return
		}
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		for _, n := range names {
			if _, err := b.Pool().ExecContext(ctx, `DROP SCHEMA "`+n+`" CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", n, err)
			}
		}
	})
	return b
}

// destinations are the backends a copy from SQLite is tested into.
var destinations = []struct {
	name string
	open func(*testing.T) store.Backend
}{
	{"sqlite", func(t *testing.T) store.Backend { return openSQLite(t) }},
	{"postgres", func(t *testing.T) store.Backend { return openPostgres(t) }},
}

func openSQLite(t *testing.T) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// fixture is what populate made.
type fixture struct {
	owners   map[string]*coffer.User // by notebook id
	password string
	emails   []string
	keys     []string     // session keys
	grantee  *coffer.User // has a grant on Sales.People: red rows, no Salary
	sales    string       // the Sales notebook
	// vault is a table of the Journal notebook with an encrypted and a
	// password column; vaultRecs are its records.
	vault, journal string
	vaultRecs      []string
	vaultOwner     *coffer.User
}

// The passwords of the vault table's columns and cells.
const (
	vaultColumnPassword = "vault column password"
	vaultCellPassword   = "vault cell password"
)

func col(name string, t coffer.ColumnType, opts coffer.ColumnOptions) coffer.ColumnInput {
	return coffer.ColumnInput{Name: name, Type: t, Options: opts}
}

// populate fills an instance through the services: three accounts (one
// operator), sessions, two notebooks with tables of every column type,
// links, views, a column added after the fact, updated and deleted records.
func populate(t *testing.T, s *all.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{owners: map[string]*coffer.User{}, password: "correct horse battery staple"}
	var users []*coffer.User
	for i := range 3 {
		email := fmt.Sprintf("Person%d@Example.com", i)
		u, err := s.CreateUser(ctx, coffer.UserInput{Email: email, Name: fmt.Sprintf("Person %d", i), Password: f.password, Operator: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		f.emails = append(f.emails, email)
		for range 2 {
			sess, err := s.Login(ctx, email, f.password)
			if err != nil {
				t.Fatal(err)
			}
			f.keys = append(f.keys, sess.Key)
		}
	}
	c0, c1 := storetest.CallerContext(users[0]), storetest.CallerContext(users[1])

	nb := storetest.MustNotebook(t, c0, s, "Sales")
	f.owners[nb.ID] = users[0]
	storetest.MustTable(t, c0, s, nb.ID, "Companies", col("Name", coffer.TypeText, coffer.ColumnOptions{}))
	storetest.MustTable(t, c0, s, nb.ID, "People",
		col("Name", coffer.TypeText, coffer.ColumnOptions{}),
		col("Notes", coffer.TypeLongText, coffer.ColumnOptions{}),
		col("Age", coffer.TypeNumber, coffer.ColumnOptions{}),
		col("Salary", coffer.TypeNumber, coffer.ColumnOptions{Precision: 2}),
		col("Active", coffer.TypeBoolean, coffer.ColumnOptions{}),
		col("Born", coffer.TypeDate, coffer.ColumnOptions{}),
		col("Seen", coffer.TypeDateTime, coffer.ColumnOptions{}),
		col("Team", coffer.TypeSingleSelect, coffer.ColumnOptions{Choices: []string{"red", "green", "blue"}}),
		col("Tags", coffer.TypeMultiSelect, coffer.ColumnOptions{Choices: []string{"a", "b", "c"}}),
		col("Email", coffer.TypeEmail, coffer.ColumnOptions{}),
		col("Site", coffer.TypeURL, coffer.ColumnOptions{}),
		col("Phone", coffer.TypePhone, coffer.ColumnOptions{}),
		col("Employers", coffer.TypeLink, coffer.ColumnOptions{Table: "Companies", Multiple: true}),
		col("Manager", coffer.TypeLink, coffer.ColumnOptions{Table: "People"}),
		col("Created", coffer.TypeCreatedAt, coffer.ColumnOptions{}),
		col("Creator", coffer.TypeCreatedBy, coffer.ColumnOptions{}),
		col("Updated", coffer.TypeUpdatedAt, coffer.ColumnOptions{}),
		col("Updater", coffer.TypeUpdatedBy, coffer.ColumnOptions{}),
	)
	var companies []string
	for i := range 20 {
		companies = append(companies, storetest.MustRecord(t, c0, s, nb.ID, "Companies", map[string]any{"Name": fmt.Sprintf("Company %02d", i)}).ID)
	}
	var people []*coffer.Record
	for i := range 250 {
		fields := map[string]any{
			"Name":      fmt.Sprintf("Zoë %03d 😀", i),
			"Notes":     "line 1\nline 2 'quoted' \"double\"",
			"Age":       json.Number(fmt.Sprint(i - 100)),
			"Salary":    json.Number(fmt.Sprintf("%d.%02d", i*1000, i%100)),
			"Active":    i%3 == 0,
			"Born":      fmt.Sprintf("19%02d-%02d-%02d", i%100, i%12+1, i%28+1),
			"Seen":      time.Date(2024, 1, 1, 0, 0, 0, i*1234567000, time.UTC).Format(time.RFC3339Nano),
			"Team":      []string{"red", "green", "blue"}[i%3],
			"Tags":      [][]string{{"a"}, {"c", "a"}, {}, {"a", "b", "c"}}[i%4],
			"Email":     fmt.Sprintf("p%d@example.com", i),
			"Site":      "https://example.com/" + fmt.Sprint(i),
			"Phone":     fmt.Sprintf("+41 44 %03d 00 00", i),
			"Employers": []string{companies[i%20], companies[(i*7)%20]},
		}
		if i%5 == 0 {
			fields["Age"], fields["Active"], fields["Email"] = nil, nil, nil
		}
		if i%17 == 0 {
			fields["Age"] = json.Number("-9223372036854775808")
		}
		if len(people) > 0 {
			fields["Manager"] = people[i/10].ID
		}
		people = append(people, storetest.MustRecord(t, c0, s, nb.ID, "People", fields))
	}
	// Later changes: a column added, updates (versions > 1), deletions.
	if _, err := s.CreateColumn(c0, nb.ID, "People", coffer.ColumnInput{Name: "Score", Type: coffer.TypeNumber, Options: coffer.ColumnOptions{Precision: 3}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 250; i += 7 {
		if _, err := s.UpdateRecord(c0, nb.ID, "People", people[i].ID, map[string]any{"Score": json.Number("1.234"), "Active": false}, people[i].Version); err != nil {
			t.Fatal(err)
		}
	}
	for i := 200; i < 250; i += 9 {
		if err := s.DeleteRecord(c0, nb.ID, "People", people[i].ID, 0); err != nil && coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateView(c0, nb.ID, "People", coffer.ViewInput{Name: "Active reds", Filter: `Active = true && Team = "red"`, Sort: "-Age,Name", Columns: []string{"Name", "Age", "Tags"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateView(c0, nb.ID, "Companies", coffer.ViewInput{Name: "All"}); err != nil {
		t.Fatal(err)
	}

	nb2 := storetest.MustNotebook(t, c1, s, "Journal")
	f.owners[nb2.ID] = users[1]
	storetest.MustTable(t, c1, s, nb2.ID, "Entries",
		col("Title", coffer.TypeText, coffer.ColumnOptions{}),
		col("Done", coffer.TypeBoolean, coffer.ColumnOptions{}),
		col("Related", coffer.TypeLink, coffer.ColumnOptions{Table: "Entries", Multiple: true}))
	var prev string
	for i := range 40 {
		fields := map[string]any{"Title": fmt.Sprintf("Entry %d", i), "Done": i%2 == 0}
		if prev != "" {
			fields["Related"] = []string{prev}
		}
		prev = storetest.MustRecord(t, c1, s, nb2.ID, "Entries", fields).ID
	}
	if _, err := s.CreateView(c1, nb2.ID, "Entries", coffer.ViewInput{Name: "Open", Filter: "Done = false", Sort: "Title"}); err != nil {
		t.Fatal(err)
	}
	storetest.MustTable(t, c1, s, nb2.ID, "Empty")
	vault := storetest.MustTable(t, c1, s, nb2.ID, "Vault",
		col("Secret", coffer.TypeEncrypted, coffer.ColumnOptions{Password: vaultColumnPassword}),
		col("Login", coffer.TypePassword, coffer.ColumnOptions{}))
	f.vault, f.journal, f.vaultOwner = vault.ID, nb2.ID, users[1]
	kc1 := colkey.WithRequest(c1, map[string]string{vault.Column("Secret").ID: vaultColumnPassword}, nil)
	for i := range 3 {
		r := storetest.MustRecord(t, kc1, s, nb2.ID, vault.ID, map[string]any{"Secret": fmt.Sprintf("secret %d", i), "Login": vaultCellPassword})
		f.vaultRecs = append(f.vaultRecs, r.ID)
	}

	// Identity and sharing: an organization with a policy, members and a
	// group; a member and a grant on the Sales notebook; an API key; a
	// pending TOTP enrolment; a reset request; a failed login (throttle
	// counters and events).
	op := storetest.CallerContext(users[0]) // users[0] is an operator
	org, err := s.CreateOrganization(op, coffer.OrganizationInput{Name: "Acme", Owner: users[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateOrganization(op, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{MinLength: 16, History: 3, IdleTimeoutMinutes: 30}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range users[1:] {
		if _, _, err := s.SetOrgMember(op, org.ID, u.ID, coffer.OrgMember); err != nil {
			t.Fatal(err)
		}
	}
	grp, err := s.CreateGroup(op, org.ID, "Sales team")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddGroupMember(op, org.ID, grp.ID, users[2].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(c0, nb.ID, grp.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	people2 := "People"
	if _, err := s.CreateGrant(c0, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: users[1].ID}, Table: &people2,
		Rows: `Team = "red"`, Columns: map[string]string{"Salary": "none", "*": "read"}, Capabilities: []string{"create"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(c1, coffer.APIKeyInput{Name: "sync", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	c1s, err := s.Authenticate(ctx, f.keys[2]) // a login session of users[1]
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginTOTP(coffer.WithCaller(ctx, c1s), f.password); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestPasswordReset(ctx, f.emails[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(coffer.WithClient(ctx, coffer.Client{IP: "192.0.2.9"}), f.emails[2], "not the password, surely"); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Fatalf("failed login: %v", err)
	}
	f.grantee, f.sales = users[1], nb.ID
	return f
}

// sameThroughServices compares every notebook, table, view and record of
// want and got as the services return them.
func sameThroughServices(t *testing.T, f *fixture, want, got *all.Store) {
	t.Helper()
	for nbID, owner := range f.owners {
		ctx := storetest.CallerContext(owner)
		wtables, err := want.FindTables(ctx, nbID)
		if err != nil {
			t.Fatal(err)
		}
		gtables, err := got.FindTables(ctx, nbID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(wtables, gtables) {
			t.Fatalf("notebook %s: tables differ:\n%+v\n%+v", nbID, wtables, gtables)
		}
		for _, tb := range wtables {
			wr := storetest.MustListAll(t, ctx, want, nbID, tb.ID, coffer.ListQuery{})
			gr := storetest.MustListAll(t, ctx, got, nbID, tb.ID, coffer.ListQuery{})
			if len(wr) != len(gr) {
				t.Fatalf("table %s: %d records, want %d", tb.Name, len(gr), len(wr))
			}
			for i := range wr {
				if !reflect.DeepEqual(wr[i], gr[i]) {
					t.Fatalf("table %s record %d differs:\n%#v\n%#v", tb.Name, i, wr[i], gr[i])
				}
			}
			wv, err := want.FindViews(ctx, nbID, tb.ID)
			if err != nil {
				t.Fatal(err)
			}
			gv, err := got.FindViews(ctx, nbID, tb.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(wv, gv) {
				t.Fatalf("table %s: views differ:\n%+v\n%+v", tb.Name, wv, gv)
			}
			for _, v := range wv {
				a := storetest.MustListAll(t, ctx, want, nbID, tb.ID, coffer.ListQuery{View: v.ID})
				b := storetest.MustListAll(t, ctx, got, nbID, tb.ID, coffer.ListQuery{View: v.ID})
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("view %s lists differ", v.Name)
				}
			}
		}
		nbs, err := got.FindNotebooks(ctx)
		wnbs, werr := want.FindNotebooks(ctx)
		if err != nil || werr != nil || !reflect.DeepEqual(nbs, wnbs) || !slices.ContainsFunc(nbs, func(n *coffer.Notebook) bool { return n.ID == nbID }) {
			t.Fatalf("FindNotebooks on the copy: %v, %v; on the source %v, %v", nbs, err, wnbs, werr)
		}
	}
	ctx := context.Background()
	for _, email := range f.emails {
		if _, err := got.Login(ctx, email, f.password); err != nil {
			t.Fatalf("login %s with the old password on the copy: %v", email, err)
		}
		if _, err := got.Login(ctx, email, "wrong password, surely"); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
			t.Fatalf("login with a wrong password: %v", err)
		}
	}
	for _, key := range f.keys {
		wc, err := want.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		gc, err := got.Authenticate(ctx, key)
		if err != nil {
			t.Fatalf("an old session key does not authenticate on the copy: %v", err)
		}
		if !reflect.DeepEqual(wc, gc) {
			t.Fatalf("callers differ: %+v, %+v", wc, gc)
		}
	}
	// Access survives the copy: the grantee sees the same red rows without
	// Salary on both sides.
	if f.grantee != nil {
		gctx := storetest.CallerContext(f.grantee)
		q := coffer.ListQuery{Limit: 1000, Sort: "Name"}
		wl, err := want.FindRecords(gctx, f.sales, "People", q)
		if err != nil {
			t.Fatal(err)
		}
		gl, err := got.FindRecords(gctx, f.sales, "People", q)
		if err != nil {
			t.Fatalf("the grantee lists People on the copy: %v", err)
		}
		if len(wl.Records) == 0 || len(wl.Records) != len(gl.Records) {
			t.Fatalf("the grantee sees %d records on the source, %d on the copy", len(wl.Records), len(gl.Records))
		}
		for i, r := range gl.Records {
			if _, ok := r.Fields["Salary"]; ok || r.Fields["Team"] != "red" || r.ID != wl.Records[i].ID {
				t.Fatalf("the grantee sees on the copy %+v", r.Fields)
			}
		}
	}
}

func mustMigrate(t *testing.T, src, dst store.Backend) *transfer.Report {
	t.Helper()
	ctx := context.Background()
	if err := transfer.Copy(ctx, src, dst); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	r, err := transfer.Verify(ctx, src, dst)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

func TestRoundTripSQLitePostgresSQLite(t *testing.T) {
	ctx := context.Background()
	a := openSQLite(t)
	sa := all.New(a, keyring.ForTests())
	f := populate(t, sa)
	key, sink := auditCheckpoint(t, sa)
	before, err := transfer.Checksums(ctx, a)
	if err != nil {
		t.Fatal(err)
	}

	pg := openPostgres(t)
	r := mustMigrate(t, a, pg)
	var sb strings.Builder
	r.Write(&sb)
	t.Logf("SQLite → PostgreSQL:\n%s", sb.String())
	if r.Databases != 3 || r.Rows < 300 {
		t.Fatalf("report: %d databases, %d rows", r.Databases, r.Rows)
	}
	c := openSQLite(t)
	mustMigrate(t, pg, c)
	if _, err := transfer.Verify(ctx, a, c); err != nil {
		t.Fatalf("Verify original against the round trip: %v", err)
	}
	auditVerifies(t, all.New(pg, keyring.ForTests()), key, sink)
	auditVerifies(t, all.New(c, keyring.ForTests()), key, sink)
	after, err := transfer.Checksums(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatal("the source changed")
	}
	sameThroughServices(t, f, sa, all.New(pg, keyring.ForTests()))
	sameThroughServices(t, f, sa, all.New(c, keyring.ForTests()))
	secretsOpen(t, f, all.New(pg, keyring.ForTests()))
	secretsOpen(t, f, all.New(c, keyring.ForTests()))

	t.Run("NonEmptyDestination", func(t *testing.T) {
		// (The logins of sameThroughServices added sessions on the copies.)
		for _, dst := range []store.Backend{pg, c} {
			prev, err := transfer.Checksums(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			err = transfer.Copy(ctx, a, dst)
			if !errors.Is(err, transfer.ErrNotEmpty) {
				t.Fatalf("copy into a non-empty %s destination: %v", dst.Dialect().Name(), err)
			}
			t.Logf("%s: %v", dst.Dialect().Name(), err)
			now, err := transfer.Checksums(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(prev, now) {
				t.Fatal("the refused copy changed the destination")
			}
		}
	})

	t.Run("Tampered", func(t *testing.T) {
		nbID := ""
		for id, u := range f.owners {
			if u.Operator {
				nbID = id
			}
		}
		tables, err := sa.FindTables(storetest.CallerContext(f.owners[nbID]), nbID)
		if err != nil {
			t.Fatal(err)
		}
		var people *coffer.Table
		for _, tb := range tables {
			if tb.Name == "People" {
				people = tb
			}
		}
		var active string
		for _, c := range people.Columns {
			if c.Name == "Active" {
				active = `"c_` + strings.TrimPrefix(c.ID, coffer.PrefixColumn) + `"`
			}
		}
		tbl := `"t_` + strings.TrimPrefix(people.ID, coffer.PrefixTable) + `"`
		for _, dst := range []store.Backend{pg, c} {
			db, release, err := dst.Notebook(ctx, nbID)
			if err != nil {
				t.Fatal(err)
			}
			var id string
			if err := db.R.QueryRowContext(ctx, "SELECT id FROM "+db.Prefix+tbl+" ORDER BY id LIMIT 1 OFFSET 100").Scan(&id); err != nil {
				t.Fatal(err)
			}
			flip := dst.Dialect().Rebind("UPDATE " + db.Prefix + tbl + " SET " + active + " = NOT COALESCE(" + active + ", FALSE) WHERE id = ?")
			if dst.Dialect().Name() == "sqlite" {
				flip = "UPDATE " + db.Prefix + tbl + " SET " + active + " = 1 - COALESCE(" + active + ", 0) WHERE id = ?"
			}
			res, err := db.W.ExecContext(ctx, flip, id)
			if n, _ := res.RowsAffected(); err != nil || n != 1 {
				t.Fatalf("tamper: %v, %d rows", err, n)
			}
			_, err = transfer.Verify(ctx, a, dst)
			if !errors.Is(err, transfer.ErrMismatch) || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), "(People)") {
				t.Fatalf("tampered %s destination: Verify = %v", dst.Dialect().Name(), err)
			}
			t.Logf("%s: %v", dst.Dialect().Name(), err)
			release()
		}
	})
}

// TestSQLiteToSQLite runs without PostgreSQL.
// auditCheckpoint signs a checkpoint of s's audit log with a new key.
func auditCheckpoint(t *testing.T, s *all.Store) (*audit.Key, audit.Sink) {
	t.Helper()
	ctx := context.Background()
	origin, err := s.Identity.Audit.Origin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sink := audit.Sink{Dir: t.TempDir()}
	k, err := audit.LoadOrCreateKey(sink.Dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Identity.Audit.Checkpoint(ctx, k, sink); err != nil || c == nil || c.Size < 5 {
		t.Fatalf("Checkpoint: %+v, %v", c, err)
	}
	return k, sink
}

// auditVerifies checks that the audit log of a copy verifies with the
// source's key and checkpoints file.
func auditVerifies(t *testing.T, s *all.Store, k *audit.Key, sink audit.Sink) {
	t.Helper()
	notes, err := audit.ReadCheckpointsFile(sink.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Identity.Audit.Verify(context.Background(), k, notes); err != nil || r.Checkpoints != 1 || r.FileCheckpoints != 1 {
		t.Errorf("the copy's audit log: %+v, %v", r, err)
	}
}

func TestSQLiteToSQLite(t *testing.T) {
	a := openSQLite(t)
	sa := all.New(a, keyring.ForTests())
	f := populate(t, sa)
	b := openSQLite(t)
	mustMigrate(t, a, b)
	sameThroughServices(t, f, sa, all.New(b, keyring.ForTests()))
}

// secretsOpen checks that a copy's encrypted cells open with the column
// password (ids, and so the associated data, are kept) and its password
// cells still verify.
func secretsOpen(t *testing.T, f *fixture, st *all.Store) {
	t.Helper()
	ctx := storetest.CallerContext(f.vaultOwner)
	tbl, err := st.FindTable(ctx, f.journal, f.vault)
	if err != nil {
		t.Fatal(err)
	}
	kctx := colkey.WithRequest(ctx, map[string]string{tbl.Column("Secret").ID: vaultColumnPassword}, nil)
	for i, id := range f.vaultRecs {
		r, err := st.FindRecord(kctx, f.journal, f.vault, id)
		if err != nil || r.Fields["Secret"] != fmt.Sprintf("secret %d", i) {
			t.Fatalf("vault record %d on the copy: %v %v", i, r, err)
		}
		if ok, err := st.VerifyCellPassword(ctx, f.journal, f.vault, id, "Login", vaultCellPassword); err != nil || !ok {
			t.Fatalf("vault password %d on the copy: %v %v", i, ok, err)
		}
	}
}
