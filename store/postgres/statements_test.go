package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// typeChangeFixture is a notebook with a table whose column "B" is a
// number, one record in it, and a caller who owns it.
type typeChangeFixture struct {
	ctx           context.Context
	nb, tb, rec   string
	version       int64
	writer, other *all.Store
}

// newTypeChangeFixture opens two stores on the same schemas (two nodes),
// each with one connection, so that every statement a store runs twice is
// the prepared one of that connection.
func newTypeChangeFixture(t *testing.T) *typeChangeFixture {
	t.Helper()
	requirePostgres(t)
	ctx := context.Background()
	opts := testOptions()
	opts.MaxConns = 1
	b1 := openBackendOpts(t, testURL(), opts)
	b2, err := postgres.Open(ctx, testURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	s1, s2 := all.New(b1, keyring.ForTests()), all.New(b2, keyring.ForTests())
	u, err := s1.CreateUser(ctx, coffer.UserInput{Email: "tc@example.com", Name: "TC", Password: "a long enough password, surely"})
	if err != nil {
		t.Fatal(err)
	}
	cctx := coffer.WithCaller(ctx, &coffer.Caller{UserID: u.ID, Email: u.Email})
	nb, err := s1.CreateNotebook(cctx, "N")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := s1.CreateTable(cctx, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeText}, {Name: "B", Type: coffer.TypeNumber}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s1.CreateRecord(cctx, nb.ID, tb.ID, map[string]any{"A": "x", "B": 7})
	if err != nil {
		t.Fatal(err)
	}
	return &typeChangeFixture{ctx: cctx, nb: nb.ID, tb: tb.ID, rec: rec.ID, version: rec.Version, writer: s1, other: s2}
}

// use writes b into B of the record and reads it back through s, often
// enough that the server keeps the statements prepared, and checks that B
// reads as want.
func (f *typeChangeFixture) use(t *testing.T, s *all.Store, b any, want any) {
	t.Helper()
	for i := 0; i < 6; i++ {
		upd, err := s.UpdateRecord(f.ctx, f.nb, f.tb, f.rec, map[string]any{"B": b}, f.version)
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		f.version = upd.Version
		got, err := s.FindRecord(f.ctx, f.nb, f.tb, f.rec)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Fields["B"] != want {
			t.Fatalf("B = %#v (%T), want %#v", got.Fields["B"], got.Fields["B"], want)
		}
		list, err := s.FindRecords(f.ctx, f.nb, f.tb, coffer.ListQuery{Limit: 10})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(list.Records) != 1 || list.Records[0].Fields["B"] != want {
			t.Fatalf("list: %+v, want B = %#v", list.Records, want)
		}
	}
}

// changeType makes column B of the fixture's table a text column through s.
func (f *typeChangeFixture) changeType(t *testing.T, s *all.Store) {
	t.Helper()
	tbl, err := s.FindTable(f.ctx, f.nb, f.tb)
	if err != nil {
		t.Fatal(err)
	}
	var col string
	for _, c := range tbl.Columns {
		if c.Name == "B" {
			col = c.ID
		}
	}
	text := coffer.TypeText
	if _, err := s.UpdateColumn(f.ctx, f.nb, f.tb, col, coffer.ColumnUpdate{Type: &text}); err != nil {
		t.Fatalf("change B to text: %v", err)
	}
}

// TestStatementsAfterTypeChange: statements are kept prepared on each
// connection; after a column changes type (dropped and added back under
// the same name), reads and writes of it work at once, on the node that
// changed it and on another node whose connection prepared them before.
func TestStatementsAfterTypeChange(t *testing.T) {
	f := newTypeChangeFixture(t)
	f.use(t, f.writer, 7, json.Number("7"))
	f.use(t, f.other, 7, json.Number("7"))
	f.changeType(t, f.writer)
	f.use(t, f.writer, "seven", "seven")
	f.use(t, f.other, "eight", "eight")
}

// TestStatementsPrepared: a connection keeps the statements it ran
// prepared (the server parses and plans them once), at most
// StatementCacheCapacity of them, and drops them all after a schema change.
func TestStatementsPrepared(t *testing.T) {
	f := newTypeChangeFixture(t)
	b := f.other.Storage.(*postgres.Backend)
	prepared := func() (n int, get bool) {
		t.Helper()
		rows, err := b.Pool().Query("SELECT statement FROM pg_prepared_statements")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(s, "pg_notify") {
				// The invalidation heartbeat's own statement, prepared
				// on whichever connection it borrowed meanwhile.
				continue
			}
			n++
			get = get || strings.Contains(s, "WHERE t.id = $1")
		}
		return n, get
	}
	for i := 0; i < 2; i++ {
		if _, err := f.other.FindRecord(f.ctx, f.nb, f.tb, f.rec); err != nil {
			t.Fatal(err)
		}
	}
	if n, get := prepared(); !get {
		t.Errorf("after two gets, %d statements prepared on the connection, none of them the get's", n)
	}
	for i := 0; i < postgres.StatementCacheCapacity+50; i++ {
		var v int
		if err := b.Pool().QueryRow(fmt.Sprintf("SELECT $1::int + %d", i), 1).Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	// The query asking evicts one, deallocated at the connection's next query.
	if n, _ := prepared(); n > postgres.StatementCacheCapacity+1 {
		t.Errorf("%d statements prepared on one connection, want at most %d", n, postgres.StatementCacheCapacity+1)
	}
	// A schema change on this node: the connection drops them all.
	if _, err := f.other.CreateColumn(f.ctx, f.nb, f.tb, coffer.ColumnInput{Name: "C", Type: coffer.TypeText}); err != nil {
		t.Fatal(err)
	}
	if n, _ := prepared(); n > 1 {
		t.Errorf("%d statements still prepared after a schema change, want at most 1 (the query asking)", n)
	}
}
