package transfer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/store/storetest"
	"github.com/cofferhq/coffer/store/transfer"
)

// TestCopyComputesSortKeys: a copy between backends leaves every keyed
// column of the destination with current keys, computed from the values
// (before any store opens it), and binary columns without keys.
func TestCopyComputesSortKeys(t *testing.T) {
	ctx := context.Background()
	for _, dst := range destinations {
		t.Run(dst.name, func(t *testing.T) {
			a := openSQLite(t)
			s := all.New(a, keyring.ForTests())
			cctx, _ := storetest.MustUser(t, s)
			nb := storetest.MustNotebook(t, cctx, s, "N")
			tbl := storetest.MustTable(t, cctx, s, nb.ID, "T",
				coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
				coffer.ColumnInput{Name: "Raw", Type: coffer.TypeText, Options: coffer.ColumnOptions{Collation: "binary"}})
			names := []string{"émile", "Emile", "zoe", "Zoë", "ß", "apple"}
			for _, n := range names {
				storetest.MustRecord(t, cctx, s, nb.ID, tbl.ID, map[string]any{"Name": n, "Raw": n})
			}
			storetest.MustRecord(t, cctx, s, nb.ID, tbl.ID, map[string]any{})
			b := dst.open(t)
			if err := transfer.Copy(ctx, a, b); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			db, release, err := b.Notebook(ctx, nb.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			d := b.Dialect()
			short := func(id string) string { return strings.TrimPrefix(id, coffer.PrefixColumn) }
			for _, c := range tbl.Columns {
				var format string
				if err := db.R.QueryRowContext(ctx, d.Rebind("SELECT sort_key FROM "+db.Prefix+"_columns WHERE id = ?"), c.ID).Scan(&format); err != nil {
					t.Fatal(err)
				}
				want := catalog.SortKeyFormat
				if c.Name == "Raw" {
					want = ""
				}
				if format != want {
					t.Errorf("%s: sort_key = %q, want %q", c.Name, format, want)
				}
			}
			rows, err := db.R.QueryContext(ctx, `SELECT "c_`+short(tbl.Columns[0].ID)+`", "k_`+short(tbl.Columns[0].ID)+`" FROM `+db.Prefix+`"t_`+strings.TrimPrefix(tbl.ID, coffer.PrefixTable)+`"`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var v *string
				var k []byte
				if err := rows.Scan(&v, &k); err != nil {
					t.Fatal(err)
				}
				n++
				switch {
				case v == nil && k != nil:
					t.Errorf("NULL value with key %x", k)
				case v != nil && !bytes.Equal(k, catalog.SortKey(*v)):
					t.Errorf("%q: key %x, want %x", *v, k, catalog.SortKey(*v))
				}
			}
			if err := rows.Err(); err != nil || n != len(names)+1 {
				t.Errorf("%d rows (%v), want %d", n, err, len(names)+1)
			}
		})
	}
}
