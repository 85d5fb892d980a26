package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// BenchmarkHistoryPage reads a page of 50 entries of a notebook whose
// table holds 1,000 records with 10 revisions each: as the owner, for one
// record, and as a grant holder who sees the history of half the rows
// and not every column (each entry then passes the access checks).
func BenchmarkHistoryPage(b *testing.B) {
	be, err := sqlite.Open(context.Background(), b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	s := all.New(be, keyring.ForTests())
	ctx, _ := storetest.MustUser(b, s)
	nb := storetest.MustNotebook(b, ctx, s, "Bench")
	tbl := storetest.MustTable(b, ctx, s, nb.ID, "T",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText}, coffer.ColumnInput{Name: "Team", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Salary", Type: coffer.TypeNumber})
	var ids []string
	for i := range 1000 {
		r := storetest.MustRecord(b, ctx, s, nb.ID, tbl.ID, map[string]any{"Name": fmt.Sprint("n", i), "Team": []string{"red", "blue"}[i%2]})
		ids = append(ids, r.ID)
	}
	for rev := range 9 {
		ops := make([]coffer.BatchOp, 0, len(ids))
		for i, id := range ids {
			ops = append(ops, coffer.BatchOp{Op: "update", ID: id, Fields: map[string]any{"Salary": rev*1000 + i}})
		}
		for len(ops) > 0 {
			n := min(len(ops), 100)
			if _, err := s.Batch(ctx, nb.ID, tbl.ID, ops[:n]); err != nil {
				b.Fatal(err)
			}
			ops = ops[n:]
		}
	}
	gctx, g := storetest.MustUser(b, s)
	if _, err := s.CreateGrant(ctx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &tbl.ID,
		Rows: `Team = "red"`, Columns: map[string]string{"*": "read", "Salary": "none"}, Capabilities: []string{"history"}}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    coffer.HistoryQuery
		grnt bool
	}{
		{"owner", coffer.HistoryQuery{Limit: 50}, false},
		{"owner-record", coffer.HistoryQuery{Table: "T", Record: ids[500], Limit: 50}, false},
		{"grant", coffer.HistoryQuery{Table: "T", Limit: 50}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			cctx := ctx
			if c.grnt {
				cctx = gctx
			}
			for b.Loop() {
				if _, err := s.FindHistory(cctx, nb.ID, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
