package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// endlessQuery is a query that never finishes on its own: a recursive
// count on SQLite (constant memory), a long sleep on PostgreSQL.
func endlessQuery(r *sql.DB, mark string) string {
	if isSQLite(r) {
		return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c /* " + mark + " */"
	}
	return "SELECT count(*) FROM pg_sleep(3600) /* " + mark + " */"
}

func isSQLite(r *sql.DB) bool { return strings.Contains(fmt.Sprintf("%T", r.Driver()), "sqlite") }

// listResult is what one FindRecords in a goroutine gave.
type listResult struct {
	n   int
	err error
}

func goList(s *all.Store, ctx context.Context, nb string) chan listResult {
	ch := make(chan listResult, 1)
	go func() {
		l, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{Count: true})
		r := listResult{err: err}
		if l != nil {
			r.n = len(l.Records)
		}
		ch <- r
	}()
	return ch
}

// waitFor polls cond (a synchronization, not a measure: the bound only
// turns a hang into a failure).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func recv(t *testing.T, ch chan listResult) listResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("a list did not return within 60 s: its cancellation did not interrupt it")
		return listResult{}
	}
}

// testListBudget: a list past its time budget is cancelled, its query
// interrupted in the database, with ETIMEOUT; one caller holds at most half
// of a notebook's read connections, so another caller's list is served
// while the first caller's extra list waits for a slot of its own (and
// gives ETIMEOUT if none frees within the budget).
func testListBudget(t *testing.T, open Opener) {
	s := open(t)
	e := newSetup(t, s, "Budget")
	MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText))
	MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "Ada"})
	bobCtx, bob := MustUser(t, s)
	if _, err := s.PutMember(e.ctx, e.nb, bob.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	defer s.SetListHook(nil)
	defer s.SetListTimeout(0)

	t.Run("Timeout", func(t *testing.T) {
		testListBudgetTimeout(t, s, e)
	})

	// hold makes the owner's lists block in the hook (holding their read
	// slot) until release closes; it returns their results and leaves one
	// more list of the owner waiting for a slot.
	hold := func(t *testing.T) (release chan struct{}, held []chan listResult, extra chan listResult) {
		release = make(chan struct{})
		entered := make(chan struct{}, 1000)
		s.SetListHook(func(ctx context.Context, r *sql.DB) error {
			if coffer.CallerFrom(ctx).UserID == e.u.ID {
				entered <- struct{}{}
				<-release
			}
			return nil
		})
		for len(held) < 100 {
			ch := goList(s, e.ctx, e.nb)
			waited := false
			waitFor(t, "the list to hold a slot or wait for one", func() bool {
				if len(entered) > len(held) {
					return true
				}
				waited = s.ListsWaiting() == 1
				return waited
			})
			if waited {
				if len(held) == 0 {
					t.Fatal("the caller's first list waits: it holds no slot")
				}
				return release, held, ch
			}
			held = append(held, ch)
		}
		t.Fatal("100 lists of one caller all hold a read slot")
		return
	}

	t.Run("OthersServed", func(t *testing.T) {
		testListBudgetOthersServed(t, hold, s, bobCtx, e)
	})

	t.Run("WaitBounded", func(t *testing.T) {
		testListBudgetWaitBounded(t, hold, s, e)
	})
}

// testListBudgetTimeout is the subtest Timeout of testListBudget.
func testListBudgetTimeout(t *testing.T, s *all.Store, e *setup) {
	s.SetListTimeout(200 * time.Millisecond)
	defer s.SetListTimeout(0)
	mark := fmt.Sprintf("endless-%d", time.Now().UnixNano())
	var readers *sql.DB
	s.SetListHook(func(ctx context.Context, r *sql.DB) error {
		readers = r
		var n int64
		return r.QueryRowContext(ctx, endlessQuery(r, mark)).Scan(&n)
	})
	r := recv(t, goList(s, e.ctx, e.nb))
	if coffer.ErrorCode(r.err) != coffer.ETIMEOUT || !strings.Contains(coffer.ErrorMessage(r.err), "time budget") {
		t.Fatalf("endless list: %v, want %s", r.err, coffer.ETIMEOUT)
	}
	if !isSQLite(readers) {
		// The server stops the statement too (a cancel request), not
		// only the client waiting for it: it leaves pg_stat_activity
		// long before the statement timeout.
		waitFor(t, "the cancelled statement to end on the server", func() bool {
			var n int
			err := readers.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", mark).Scan(&n)
			return err == nil && n == 0
		})
	}
	// The interrupted connection serves the next list.
	s.SetListHook(nil)
	s.SetListTimeout(0)
	for range 8 {
		if r := recv(t, goList(s, e.ctx, e.nb)); r.err != nil || r.n != 1 {
			t.Fatalf("list after a cancelled one: %v, %d records", r.err, r.n)
		}
	}
}

// testListBudgetOthersServed is the subtest OthersServed of testListBudget.
func testListBudgetOthersServed(t *testing.T, hold func(t *testing.T) (release chan struct{}, held []chan listResult, extra chan listResult), s *all.Store, bobCtx context.Context, e *setup) {
	release, held, extra := hold(t)
	// Another caller's list is served meanwhile.
	if r := recv(t, goList(s, bobCtx, e.nb)); r.err != nil || r.n != 1 {
		t.Fatalf("the other caller's list: %v, %d records", r.err, r.n)
	}
	if n := s.ListsWaiting(); n != 1 {
		t.Errorf("%d lists waiting after the other caller's, want the owner's extra one", n)
	}
	select {
	case r := <-extra:
		t.Fatalf("the owner's extra list ran while its slots were held: %v", r.err)
	default:
	}
	close(release)
	for _, ch := range append(held, extra) {
		if r := recv(t, ch); r.err != nil || r.n != 1 {
			t.Errorf("owner's list: %v, %d records", r.err, r.n)
		}
	}
}

// testListBudgetWaitBounded is the subtest WaitBounded of testListBudget.
func testListBudgetWaitBounded(t *testing.T, hold func(t *testing.T) (release chan struct{}, held []chan listResult, extra chan listResult), s *all.Store, e *setup) {
	release, held, extra := hold(t)
	// The extra list started with the default budget; one started now
	// with a short budget gives up waiting with ETIMEOUT.
	s.SetListTimeout(100 * time.Millisecond)
	short := goList(s, e.ctx, e.nb)
	if r := recv(t, short); coffer.ErrorCode(r.err) != coffer.ETIMEOUT {
		t.Errorf("a list waiting for a slot past its budget: %v, want %s", r.err, coffer.ETIMEOUT)
	}
	s.SetListTimeout(0)
	close(release)
	for _, ch := range append(held, extra) {
		if r := recv(t, ch); r.err != nil {
			t.Errorf("owner's list: %v", r.err)
		}
	}
}
