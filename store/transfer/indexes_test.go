package transfer_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/store/storetest"
	"github.com/cofferhq/coffer/store/transfer"
)

// TestCopyKeepsDeclaredIndexes: a copy between backends brings a table's
// declared indexes, in the catalogue and as SQL indexes on the destination.
func TestCopyKeepsDeclaredIndexes(t *testing.T) {
	ctx := context.Background()
	for _, dst := range destinations {
		t.Run(dst.name, func(t *testing.T) {
			a := openSQLite(t)
			s := all.New(a, keyring.ForTests())
			cctx, _ := storetest.MustUser(t, s)
			nb := storetest.MustNotebook(t, cctx, s, "N")
			tbl := storetest.MustTable(t, cctx, s, nb.ID, "T",
				coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
				coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber})
			storetest.MustRecord(t, cctx, s, nb.ID, tbl.ID, map[string]any{"Name": "a", "Age": 3})
			ix, err := s.CreateIndex(cctx, nb.ID, tbl.ID, coffer.IndexInput{Columns: []string{"Name", "-Age"}})
			if err != nil {
				t.Fatal(err)
			}
			b := dst.open(t)
			if err := transfer.Copy(ctx, a, b); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			got, err := all.New(b, keyring.ForTests()).FindIndexes(cctx, nb.ID, tbl.ID)
			if err != nil || len(got) != 1 || got[0].ID != ix.ID || !slices.Equal(got[0].Columns, []string{"Name", "-Age"}) {
				t.Fatalf("FindIndexes on the copy = %+v, %v", got, err)
			}
			db, release, err := b.Notebook(ctx, nb.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			name := strings.Trim(catalog.UnqualifiedDeclaredIndex(ix.ID), `"`)
			var n int
			if b.Dialect().Name() == "postgres" {
				err = db.R.QueryRowContext(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = $2", strings.Trim(strings.TrimSuffix(db.Prefix, "."), `"`), name).Scan(&n)
			} else {
				err = db.R.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", name).Scan(&n)
			}
			if err != nil || n != 1 {
				t.Errorf("the SQL index %s on the copy: %d, %v", name, n, err)
			}
		})
	}
}
