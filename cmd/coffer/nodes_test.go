package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to drop the test's schemas
)

// nodeChildEnv switches the test binary into a coffer server on the
// PostgreSQL storage named by COFFER_DB and COFFER_DB_SCHEMA.
const nodeChildEnv = "COFFER_NODE_CHILD"

// testPostgresURL is the database of the PostgreSQL tests: as in store/postgres.
func testPostgresURL() string {
	if u := os.Getenv("COFFER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// testPostgres returns a connection to the test database, skipping the
// test when it is unreachable unless COFFER_TEST_REQUIRE names postgres.
func testPostgres(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testPostgresURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "postgres") {
			t.Fatalf("PostgreSQL is required (COFFER_TEST_REQUIRE) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTwoNodes starts two coffer server processes on one PostgreSQL, in an
// instance schema of this test's own (dropped at the end), and checks that
// neither keeps state the other needs: a session made on node 1 works on
// node 2, a record written on node 1 is read on node 2, a column added on
// node 1 can be written on node 2 at once, and logout on node 1 ends the
// session on node 2 at the next request.
func TestTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("two-node test: starts server processes; skipped with -short")
	}
	pg := testPostgres(t)
	schema := "tn_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		ctx := context.Background()
		rows, err := pg.QueryContext(ctx, "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')", schema)
		if err != nil {
			t.Errorf("list test schemas: %v", err)
			return
		}
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, `"`+n+`"`)
		}
		rows.Close()
		if len(names) > 0 {
			if _, err := pg.ExecContext(ctx, "DROP SCHEMA "+strings.Join(names, ", ")+" CASCADE"); err != nil {
				t.Errorf("drop test schemas: %v", err)
			}
		}
	})

	const email, password = "nodes@example.com", "two-node-test-password"
	// The nodes and the command line share the data directory of the audit
	// key and the master key (as the nodes of an instance must share them).
	dataDir := t.TempDir()
	if code := run(context.Background(), []string{"user", "create", "--db", testPostgresURL(), "--db-schema", schema, "--data", dataDir,
		"--email", email, "--name", "Nodes", "--password-stdin"},
		strings.NewReader(password+"\n"), io.Discard, io.Discard); code != 0 {
		t.Fatalf("user create exited with %d", code)
	}

	env := []string{nodeChildEnv + "=1", "COFFER_DB=" + testPostgresURL(), "COFFER_DB_SCHEMA=" + schema, "COFFER_DATA=" + dataDir}
	var nodes [2]*crashChild
	for i := range nodes {
		logPath := filepath.Join(t.TempDir(), "node.log")
		nodes[i] = startChild(t, env, logPath)
		n := nodes[i]
		t.Cleanup(func() {
			n.stop(t)
			if t.Failed() {
				tailLog(t, logPath)
			}
		})
	}
	n1, n2 := nodes[0].base, nodes[1].base

	// Log in on node 1; the session works on node 2.
	c := &crashClient{hc: &http.Client{Timeout: 30 * time.Second}}
	c.setup(t, n1, email, password)
	ctx := context.Background()
	var me struct{ Email string }
	if _, err := c.call(ctx, "GET", n2+"/auth/me", nil, &me); err != nil || me.Email != email {
		t.Fatalf("node 2 with node 1's session: %v %+v", err, me)
	}

	// A record written on node 1 is read on node 2.
	var rec crashRecord
	if _, err := c.call(ctx, "POST", c.records(n1), map[string]any{"fields": map[string]any{"Name": "from node 1", "Age": 7}}, &rec); err != nil {
		t.Fatal(err)
	}
	var got crashRecord
	if _, err := c.call(ctx, "GET", c.records(n2)+"/"+rec.ID, nil, &got); err != nil || got.Fields["Name"] != "from node 1" {
		t.Fatalf("node 2 reads node 1's record: %v %+v", err, got)
	}

	// Live updates: a client streaming from node 2 receives the record
	// written through node 1 (PostgreSQL LISTEN/NOTIFY between nodes).
	frames := streamEvents(t, n2+"/notebooks/"+c.notebook+"/tables/"+c.table+"/events", c.key)
	var live crashRecord
	if _, err := c.call(ctx, "POST", c.records(n1), map[string]any{"fields": map[string]any{"Name": "live from node 1"}}, &live); err != nil {
		t.Fatal(err)
	}
	select {
	case fr := <-frames:
		if !strings.HasPrefix(fr, "event: create\n") || !strings.Contains(fr, live.ID) || !strings.Contains(fr, "live from node 1") {
			t.Fatalf("node 2's stream got %q, want the create of %s", fr, live.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 2's stream received nothing within 10 s of a write on node 1")
	}

	// A column added on node 1 is written through node 2 within a second
	// (node 2 has the table's schema cached by now, until the invalidation
	// from node 1's change reaches it).
	tableURL := n1 + "/notebooks/" + c.notebook + "/tables/" + c.table
	if _, err := c.call(ctx, "POST", tableURL+"/columns", map[string]any{"name": "Added", "type": "text"}, nil); err != nil {
		t.Fatal(err)
	}
	var tb struct{ Columns []struct{ Name string } }
	var err error
	if !within(time.Second, func() bool {
		_, err = c.call(ctx, "GET", n2+"/notebooks/"+c.notebook+"/tables/"+c.table, nil, &tb)
		return err == nil && len(tb.Columns) == 6
	}) {
		t.Fatalf("node 2 lists the column added on node 1: %v %+v", err, tb)
	}
	var rec2 crashRecord
	if _, err := c.call(ctx, "POST", c.records(n2), map[string]any{"fields": map[string]any{"Name": "from node 2", "Added": "new"}}, &rec2); err != nil {
		t.Fatalf("node 2 writes the column added on node 1: %v", err)
	}
	got = crashRecord{}
	if _, err := c.call(ctx, "GET", c.records(n2)+"/"+rec2.ID, nil, &got); err != nil || got.Fields["Added"] != "new" {
		t.Fatalf("node 2 reads the new column: %v %+v", err, got)
	}
	if _, err := c.call(ctx, "GET", c.records(n1)+"/"+rec2.ID, nil, &got); err != nil || got.Fields["Added"] != "new" {
		t.Fatalf("node 1 reads node 2's write of the new column: %v %+v", err, got)
	}

	// A grant made on node 1 lets a second user read through node 2; once
	// revoked on node 1, node 2 denies at the next request.
	const email2 = "reader@example.com"
	if code := run(context.Background(), []string{"user", "create", "--db", testPostgresURL(), "--db-schema", schema, "--data", dataDir,
		"--email", email2, "--name", "Reader", "--password-stdin"},
		strings.NewReader(password+"\n"), io.Discard, io.Discard); code != 0 {
		t.Fatalf("user create exited with %d", code)
	}
	reader := &crashClient{hc: c.hc, notebook: c.notebook, table: c.table}
	var sess2 struct {
		Key  string `json:"session_key"`
		User struct{ ID string }
	}
	if _, err := reader.call(ctx, "POST", n2+"/auth/login", map[string]string{"email": email2, "password": password}, &sess2); err != nil {
		t.Fatal(err)
	}
	reader.key = sess2.Key
	if status, _ := reader.call(ctx, "GET", reader.records(n2)+"/"+rec.ID, nil, nil); status != http.StatusNotFound {
		t.Fatalf("node 2, before any grant: status %d, want 404", status)
	}
	var grant struct{ ID string }
	if _, err := c.call(ctx, "POST", n1+"/notebooks/"+c.notebook+"/grants", map[string]any{
		"principal": map[string]string{"type": "user", "id": sess2.User.ID}, "table": c.table, "columns": map[string]string{"*": "read"},
	}, &grant); err != nil {
		t.Fatalf("grant on node 1: %v", err)
	}
	got = crashRecord{}
	if _, err := reader.call(ctx, "GET", reader.records(n2)+"/"+rec.ID, nil, &got); err != nil || got.Fields["Name"] != "from node 1" {
		t.Fatalf("node 2 with node 1's grant: %v %+v", err, got)
	}
	if _, err := c.call(ctx, "DELETE", n1+"/notebooks/"+c.notebook+"/grants/"+grant.ID, nil, nil); err != nil {
		t.Fatalf("revoke on node 1: %v", err)
	}
	var status int
	if !within(time.Second, func() bool {
		status, _ = reader.call(ctx, "GET", reader.records(n2)+"/"+rec.ID, nil, nil)
		return status == http.StatusNotFound
	}) {
		t.Fatalf("node 2 a second after the revocation on node 1: status %d, want 404", status)
	}

	// Logout on node 1: node 2 answers 401 within a second.
	if _, err := c.call(ctx, "POST", n1+"/auth/logout", nil, nil); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool {
		status, _ = c.call(ctx, "GET", n2+"/auth/me", nil, nil)
		return status == http.StatusUnauthorized
	}) {
		t.Fatalf("node 2 a second after logout on node 1: status %d, want 401", status)
	}
}

// within polls ok until it holds, for up to d: a change made on one node
// holds on every other within a second (its invalidation travels through
// the database, normally in milliseconds).
func within(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// streamEvents follows a server-sent event stream and delivers each event
// (its lines, comments left out) until the test ends.
func streamEvents(t *testing.T, u, key string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("GET %s: status %d", u, res.StatusCode)
	}
	out := make(chan string, 16)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var cur strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.Len() > 0 {
					select {
					case out <- cur.String():
					case <-ctx.Done():
						return
					}
				}
				cur.Reset()
			case !strings.HasPrefix(line, ":"):
				cur.WriteString(line + "\n")
			}
		}
	}()
	return out
}
