package postgres_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/storetest"
)

// twoNodes is two stores on one database and instance schema, as two
// coffer nodes are: a, where changes are made, and b, whose caches must
// drop what they change.
type twoNodes struct {
	a, b   *all.Store
	ba, bb *postgres.Backend
	opts   postgres.Options
	owner  context.Context // alice, owner of nb, on node a
	nb     *coffer.Notebook
	tb     *coffer.Table
	rec    *coffer.Record
	bob    *coffer.User
	bobKey string // a session key of bob's
}

func openTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	requirePostgres(t)
	opts := testOptions()
	a, b := nodePair(t, opts)
	n := &twoNodes{a: a, b: b, ba: a.Storage.(*postgres.Backend), bb: b.Storage.(*postgres.Backend), opts: opts}
	ctx := context.Background()
	alice, err := n.a.CreateUser(ctx, coffer.UserInput{Email: "alice@example.com", Name: "Alice", Password: storetest.TestPassword})
	if err != nil {
		t.Fatal(err)
	}
	if n.bob, err = n.a.CreateUser(ctx, coffer.UserInput{Email: "bob@example.com", Name: "Bob", Password: storetest.TestPassword}); err != nil {
		t.Fatal(err)
	}
	n.owner = coffer.WithCaller(ctx, &coffer.Caller{UserID: alice.ID, Email: alice.Email})
	if n.nb, err = n.a.CreateNotebook(n.owner, "Shared"); err != nil {
		t.Fatal(err)
	}
	if n.tb, err = n.a.CreateTable(n.owner, n.nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeNumber}}}); err != nil {
		t.Fatal(err)
	}
	if n.rec, err = n.a.CreateRecord(n.owner, n.nb.ID, n.tb.ID, map[string]any{"A": 1}); err != nil {
		t.Fatal(err)
	}
	n.bobKey = n.login(t)
	waitListening(t, n.b)
	return n
}

// schema is the instance schema, quoted.
func (n *twoNodes) schema() string { return `"` + n.opts.Schema + `"` }

// login signs bob in on node a and returns the session key.
func (n *twoNodes) login(t *testing.T) string {
	t.Helper()
	res, err := n.a.Login(context.Background(), "bob@example.com", storetest.TestPassword)
	if err != nil || res.Session == nil {
		t.Fatalf("Login: %v", err)
	}
	return res.Key
}

// waitListening waits until the node hears invalidations (its caches serve).
func waitListening(t *testing.T, s *all.Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.Caches.Usable(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node's invalidation listener is not up after 10 s")
		}
	}
}

// readOnB is one request of bob's on node b: authenticate key, then read
// the record.
func (n *twoNodes) readOnB(key string) error {
	ctx := context.Background()
	c, err := n.b.Authenticate(ctx, key)
	if err != nil {
		return err
	}
	_, err = n.b.FindRecord(coffer.WithCaller(ctx, c), n.nb.ID, n.tb.ID, n.rec.ID)
	return err
}

// refusedWithin polls req until it fails with code, for up to 1 s: the
// bound within which a change on one node holds on every node.
func refusedWithin(t *testing.T, what, code string, req func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if err = req(); coffer.ErrorCode(err) == code {
			return
		}
	}
	t.Fatalf("%s: node b still answers %v after 1 s, want %s", what, err, code)
}

// warm makes a request on node b that must succeed (and fills its caches).
func warm(t *testing.T, req func() error) {
	t.Helper()
	for range 3 {
		if err := req(); err != nil {
			t.Fatalf("request on node b before the change: %v", err)
		}
	}
}

// TestNodeCacheInvalidation: with two nodes on one database, a session,
// API key, grant or membership revoked on node a stops working on node b
// within 1 s, although node b has it cached (for SharedCacheTTL, far
// longer) from a request just before.
func TestNodeCacheInvalidation(t *testing.T) {
	n := openTwoNodes(t)
	ctx := context.Background()
	bob := coffer.WithCaller(ctx, &coffer.Caller{UserID: n.bob.ID, Email: n.bob.Email})
	if _, err := n.a.PutMember(n.owner, n.nb.ID, n.bob.ID, coffer.MemberInput{Role: access.RoleViewer}); err != nil {
		t.Fatal(err)
	}

	t.Run("session", func(t *testing.T) {
		key := n.login(t)
		warm(t, func() error { return n.readOnB(key) })
		c, err := n.a.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.a.RevokeSession(bob, c.SessionID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "revoked session", coffer.EUNAUTHORIZED, func() error { return n.readOnB(key) })
	})

	t.Run("api key", func(t *testing.T) {
		k, err := n.a.CreateAPIKey(bob, coffer.APIKeyInput{Name: "integration"})
		if err != nil {
			t.Fatal(err)
		}
		warm(t, func() error { return n.readOnB(k.Key) })
		if err := n.a.RevokeAPIKey(bob, k.ID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "revoked API key", coffer.EUNAUTHORIZED, func() error { return n.readOnB(k.Key) })
	})

	t.Run("user deactivated", func(t *testing.T) {
		carol, err := n.a.CreateUser(ctx, coffer.UserInput{Email: "carol@example.com", Name: "Carol", Password: storetest.TestPassword})
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.a.Login(ctx, carol.Email, storetest.TestPassword)
		if err != nil {
			t.Fatal(err)
		}
		auth := func() error { _, err := n.b.Authenticate(ctx, res.Key); return err }
		warm(t, auth)
		if _, err := n.ba.Pool().ExecContext(ctx, "UPDATE "+n.schema()+".users SET deactivated_at = 1 WHERE id = $1", carol.ID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "deactivated user (changed outside coffer)", coffer.EUNAUTHORIZED, auth)
	})

	t.Run("membership", func(t *testing.T) {
		warm(t, func() error { return n.readOnB(n.bobKey) })
		if err := n.a.DeleteMember(n.owner, n.nb.ID, n.bob.ID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "removed member", coffer.ENOTFOUND, func() error { return n.readOnB(n.bobKey) })
	})

	t.Run("grant", func(t *testing.T) {
		g, err := n.a.CreateGrant(n.owner, n.nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: access.PrincipalUser, ID: n.bob.ID}, Table: &n.tb.ID})
		if err != nil {
			t.Fatal(err)
		}
		warm(t, func() error { return n.readOnB(n.bobKey) })
		if err := n.a.DeleteGrant(n.owner, n.nb.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "deleted grant", coffer.ENOTFOUND, func() error { return n.readOnB(n.bobKey) })
	})

	t.Run("group membership", func(t *testing.T) {
		// Group memberships move the access epoch, which every notebook's
		// cached rights depend on.
		op := coffer.WithCaller(ctx, &coffer.Caller{UserID: n.bob.ID, Email: n.bob.Email, Operator: true})
		org, err := n.a.CreateOrganization(op, coffer.OrganizationInput{Name: "Acme", Owner: "alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.a.SetOrgMember(n.owner, org.ID, n.bob.ID, coffer.OrgMember); err != nil {
			t.Fatal(err)
		}
		g, err := n.a.CreateGroup(n.owner, org.ID, "Readers")
		if err != nil {
			t.Fatal(err)
		}
		if err := n.a.AddGroupMember(n.owner, org.ID, g.ID, n.bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := n.a.PutMember(n.owner, n.nb.ID, g.ID, coffer.MemberInput{Role: access.RoleViewer}); err != nil {
			t.Fatal(err)
		}
		warm(t, func() error { return n.readOnB(n.bobKey) })
		if err := n.a.RemoveGroupMember(n.owner, org.ID, g.ID, n.bob.ID); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, "removed group member", coffer.ENOTFOUND, func() error { return n.readOnB(n.bobKey) })
	})

	t.Run("schema", func(t *testing.T) {
		// A column added on node a is seen on node b within 1 s, although
		// b has the table's schema cached.
		columns := func() int {
			tb, err := n.b.FindTable(n.owner, n.nb.ID, n.tb.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(tb.Columns)
		}
		before := columns()
		if _, err := n.a.CreateColumn(n.owner, n.nb.ID, n.tb.ID, coffer.ColumnInput{Name: "B", Type: coffer.TypeText}); err != nil {
			t.Fatal(err)
		}
		got := before
		for deadline := time.Now().Add(time.Second); got == before && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			got = columns()
		}
		if got != before+1 {
			t.Fatalf("node b lists %d columns 1 s after a column was added on node a, want %d", got, before+1)
		}
		if _, err := n.b.UpdateRecord(n.owner, n.nb.ID, n.tb.ID, n.rec.ID, map[string]any{"B": "x"}, 0); err != nil {
			t.Fatalf("write of the new column on node b: %v", err)
		}
	})
}

// TestNodeCacheListenerLost: when node b's invalidation listener loses its
// connection, b empties its caches and serves uncached until it listens
// again, since invalidations sent meanwhile are lost. The test loses one
// on purpose: the session is deleted with triggers off (replica mode), so
// b keeps serving it from its cache; killing b's listener must end that.
func TestNodeCacheListenerLost(t *testing.T) {
	n := openTwoNodes(t)
	ctx := context.Background()
	auth := func() error { _, err := n.b.Authenticate(ctx, n.bobKey); return err }
	warm(t, auth)
	pid := n.bb.InvalidationListenerPID()
	n.deleteSessionsUnheard(t, auth)
	// b reconnects only after 3 s: until then it must serve uncached.
	n.bb.DelayInvalidationReconnect(3 * time.Second)
	if _, err := n.ba.Pool().ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, "session deleted while invalidations were lost", coffer.EUNAUTHORIZED, auth)
	if n.b.Caches.Usable() {
		t.Fatal("node b's caches serve while its listener is lost")
	}
	// b listens again, on a new connection.
	waitListening(t, n.b)
	if n.bb.InvalidationListenerPID() == pid {
		t.Fatal("the listener did not reconnect")
	}
}

// TestInvalidationTriggers: the triggers send "kind:id" on the instance's
// channel for changes of what nodes cache, and nothing for the columns
// written on every use (a session's or key's last use, failed logins),
// which would empty the caches all the time.
func TestInvalidationTriggers(t *testing.T) {
	n := openTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	sum := md5.Sum([]byte(n.opts.Schema))
	if _, err := l.Exec(ctx, `LISTEN "coffer_inv_`+hex.EncodeToString(sum[:])+`"`); err != nil {
		t.Fatal(err)
	}
	c, err := n.a.Authenticate(ctx, n.bobKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := n.a.CreateAPIKey(coffer.WithCaller(ctx, c), coffer.APIKeyInput{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	nbSchema := `"` + n.opts.NotebookSchemaPrefix + strings.TrimPrefix(n.nb.ID, coffer.PrefixNotebook) + `"`
	for _, tc := range []struct{ q, want string }{
		{"UPDATE " + n.schema() + ".sessions SET last_seen_at = last_seen_at + 1", ""},
		{"UPDATE " + n.schema() + ".api_keys SET last_used_at = 1", ""},
		{"UPDATE " + n.schema() + ".users SET failed_logins = failed_logins + 1", ""},
		{"UPDATE " + n.schema() + ".sessions SET restriction = 'x' WHERE id = '" + c.SessionID + "'", "session:" + c.SessionID},
		{"DELETE FROM " + n.schema() + ".api_keys WHERE id = '" + k.ID + "'", "apikey:" + k.ID},
		{"UPDATE " + n.schema() + ".users SET name = 'Robert' WHERE id = '" + n.bob.ID + "'", "user:" + n.bob.ID},
		{"UPDATE " + n.schema() + ".notebooks SET access_version = access_version + 1", "notebook:" + n.nb.ID},
		{"UPDATE " + nbSchema + "._schema_version SET version = version + 1", "notebook:" + n.nb.ID},
		{"INSERT INTO " + n.schema() + ".access_epoch (id, epoch) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET epoch = access_epoch.epoch + 1", "access:1"},
	} {
		if _, err := n.ba.Pool().ExecContext(ctx, tc.q); err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		got, err := l.WaitForNotification(wctx)
		for err == nil && strings.HasPrefix(got.Payload, "ping:") { // the nodes' heartbeats
			got, err = l.WaitForNotification(wctx)
		}
		wcancel()
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: sent %q, want nothing", tc.q, got.Payload)
		case tc.want != "" && err != nil:
			t.Errorf("%s: sent nothing, want %q", tc.q, tc.want)
		case tc.want != "" && got.Payload != tc.want:
			t.Errorf("%s: sent %q, want %q", tc.q, got.Payload, tc.want)
		}
	}
}

// deleteSessionsUnheard deletes bob's sessions with the triggers off
// (replica mode), as if their invalidation were lost, and checks that node
// b still serves the session from its cache (which shows that it caches).
func (n *twoNodes) deleteSessionsUnheard(t *testing.T, auth func() error) {
	t.Helper()
	ctx := context.Background()
	conn, err := n.ba.Pool().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET session_replication_role = replica", "DELETE FROM " + n.schema() + ".sessions WHERE user_id = '" + n.bob.ID + "'", "RESET session_replication_role"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := auth(); err != nil {
		t.Fatalf("node b refused the cached session before its listener was lost: %v (is the cache on?)", err)
	}
}

// TestNodeCacheListenerSilent: a listener connection that dies without
// an error (a silent network failure) is found out by the node's missing
// heartbeat: the node then empties its caches, so a change whose
// invalidation it missed holds within about two seconds, not at the end
// of SharedCacheTTL.
func TestNodeCacheListenerSilent(t *testing.T) {
	n := openTwoNodes(t)
	ctx := context.Background()
	auth := func() error { _, err := n.b.Authenticate(ctx, n.bobKey); return err }
	warm(t, auth)
	n.deleteSessionsUnheard(t, auth)
	n.bb.PauseInvalidationHeartbeat(true)
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = auth(); coffer.ErrorCode(err) == coffer.EUNAUTHORIZED {
			return
		}
	}
	t.Fatalf("node b still answers %v 5 s after its listener fell silent, want %s", err, coffer.EUNAUTHORIZED)
}
