package postgres_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store/all"
)

// TestNotifyRolledBack checks what the live-update events rely on:
// PostgreSQL delivers a notification only when its transaction commits,
// and drops one sent in a subtransaction rolled back to its savepoint.
func TestNotifyRolledBack(t *testing.T) {
	requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch := randomName("ct_ch_")
	l, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	if _, err := l.Exec(ctx, "LISTEN "+ch); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, q := range []string{
		"BEGIN", "SELECT pg_notify('" + ch + "', 'aborted')", "ROLLBACK",
		"BEGIN", "SAVEPOINT w", "SELECT pg_notify('" + ch + "', 'savepoint')", "ROLLBACK TO w", "RELEASE w",
		"SELECT pg_notify('" + ch + "', 'committed')", "COMMIT",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	n, err := l.WaitForNotification(ctx)
	if err != nil || n.Payload != "committed" {
		t.Fatalf("first notification %+v, %v: want only the committed one", n, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	if n, err := l.WaitForNotification(wctx); err == nil {
		t.Fatalf("unexpected notification %q", n.Payload)
	}
}

// TestLiveTwoStores: a write through one store reaches the subscribers of
// another on the same database; a batch that fails sends nothing; stores
// of another instance schema hear nothing.
func TestLiveTwoStores(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	n1, n2 := nodePair(t, testOptions())
	other := all.New(openBackend(t), keyring.ForTests())
	ctx1, nb, tb := mustLiveTable(t, n1, "live@example.com")
	sub, err := n2.Subscribe(ctx, nb.ID, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	foreign, err := other.Subscribe(ctx, nb.ID, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	next := func() live.Event {
		t.Helper()
		select {
		case e := <-sub.Events():
			return e
		case <-sub.Dropped():
			t.Fatalf("dropped: %s", sub.Reason())
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
		}
		return live.Event{}
	}

	rec, err := n1.CreateRecord(ctx1, nb.ID, tb.ID, map[string]any{"A": 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := next(); !reflect.DeepEqual(e, live.Event{Notebook: nb.ID, Table: tb.ID, Record: rec.ID, Op: live.OpCreate, Version: 1}) {
		t.Fatalf("create event %+v", e)
	}
	// A batch whose first operation succeeds and second fails validation
	// is rolled back: no event.
	if _, err := n1.Batch(ctx1, nb.ID, tb.ID, []coffer.BatchOp{
		{Op: coffer.OpUpdate, ID: rec.ID, Fields: map[string]any{"A": 2}},
		{Op: coffer.OpCreate, Fields: map[string]any{"A": "not a number"}},
	}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("failing batch: %v", err)
	}
	// Many records in one batch: chunked notifications, one event each.
	ops := make([]coffer.BatchOp, 200) // below the subscriber buffer (live.DefaultBuffer), over one notification
	for i := range ops {
		ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"A": i}}
	}
	res, err := n1.Batch(ctx1, nb.ID, tb.ID, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		if e := next(); e.Op != live.OpCreate || e.Record != res.Results[i].ID {
			t.Fatalf("batch event %d: %+v (the failed batch must send nothing)", i, e)
		}
	}
	// An update carries the ids of the columns it set across nodes: the
	// delivery checks them to say nothing of a change hidden from a reader.
	if _, err := n1.UpdateRecord(ctx1, nb.ID, tb.ID, rec.ID, map[string]any{"A": 3}, 0); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Op != live.OpUpdate || e.Record != rec.ID || !reflect.DeepEqual(e.Cols, []string{tb.Columns[0].ID}) {
		t.Fatalf("update event %+v, want the id of column A in Cols", e)
	}
	if err := n1.DeleteRecord(ctx1, nb.ID, tb.ID, rec.ID, 0); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Op != live.OpDelete || e.Record != rec.ID {
		t.Fatalf("delete event %+v", e)
	}
	select {
	case e := <-foreign.Events():
		t.Fatalf("another instance schema heard %+v", e)
	default:
	}
}

// TestLiveListenerReconnects: when the listener's connection dies, the
// node reconnects, ends its subscriptions (events sent meanwhile are lost,
// so clients must reload) and delivers events again to new ones.
func TestLiveListenerReconnects(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	opts := testOptions()
	b := openBackendOpts(t, testURL(), opts)
	st := all.New(b, keyring.ForTests())
	owner, nb, tb := mustLiveTable(t, st, "reconnect@example.com")
	sub, err := st.Subscribe(ctx, nb.ID, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// The listener is the connection whose last statement is the LISTEN
	// of this instance's channel.
	h := fnv.New64a()
	h.Write([]byte(opts.Schema))
	listen := fmt.Sprintf(`LISTEN "coffer_live_%016x"`, h.Sum64())
	var killed int
	if err := b.Pool().QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()", listen).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the listener: %d connections, %v", killed, err)
	}
	select {
	case <-sub.Dropped():
	case <-time.After(15 * time.Second):
		t.Fatal("the subscription was not ended after the listener's connection died")
	}
	again, err := st.Subscribe(ctx, nb.ID, tb.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	rec, err := st.CreateRecord(owner, nb.ID, tb.ID, map[string]any{"A": 1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-again.Events():
		if e.Record != rec.ID {
			t.Fatalf("event %+v, want the new record", e)
		}
	case <-again.Dropped():
		t.Fatalf("dropped: %s", again.Reason())
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the listener reconnected")
	}
}

// mustLiveTable creates an account, and as it a notebook with a table T of
// one number column A; it returns the owner's context.
func mustLiveTable(t *testing.T, st *all.Store, email string) (context.Context, *coffer.Notebook, *coffer.Table) {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, coffer.UserInput{Email: email, Name: "Live", Password: "a long enough password, surely"})
	if err != nil {
		t.Fatal(err)
	}
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: u.ID, Email: u.Email})
	nb, err := st.CreateNotebook(owner, "Live")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := st.CreateTable(owner, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeNumber}}})
	if err != nil {
		t.Fatal(err)
	}
	return owner, nb, tb
}
