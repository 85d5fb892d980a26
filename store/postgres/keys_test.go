package postgres_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestKeys runs the keyring suite on PostgreSQL; the second node is a
// second backend on the same schemas.
func TestKeys(t *testing.T) {
	requirePostgres(t)
	var mu sync.Mutex
	opts := map[store.Backend]postgres.Options{}
	storetest.Keys(t, storetest.KeysOpener{
		Open: func(t *testing.T) store.Backend {
			o := testOptions()
			b := openBackendOpts(t, testURL(), o)
			mu.Lock()
			opts[b] = o
			mu.Unlock()
			return b
		},
		Again: func(t *testing.T, b store.Backend) store.Backend {
			mu.Lock()
			o := opts[b]
			mu.Unlock()
			again, err := postgres.Open(context.Background(), testURL(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { again.Close() })
			return again
		},
	})
}

// TestKeysAtRest reads every row of every table of the instance's and
// its notebooks' schemas as text, and every blob of the file store, and
// finds none of the secrets in clear (see storetest.KeysPlaintexts).
func TestKeysAtRest(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	o := testOptions()
	b := openBackendOpts(t, testURL(), o)
	secrets, control, blobDir := storetest.KeysPlaintexts(t, b)
	blobs := 0
	err := filepath.WalkDir(blobDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		blobs++
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("blob %s holds the secret %.8s… in clear", path, s)
			}
		}
		return nil
	})
	if err != nil || blobs == 0 {
		t.Fatalf("scanned %d blobs: %v", blobs, err)
	}
	found := false
	rows, err := b.Pool().QueryContext(ctx, "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = $1 OR starts_with(schemaname, $2)", o.Schema, o.NotebookSchemaPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s, n string
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, `"`+s+`"."`+n+`"`)
	}
	rows.Close()
	if len(tables) < 20 {
		t.Fatalf("found %d tables", len(tables))
	}
	for _, tbl := range tables {
		rs, err := b.Pool().QueryContext(ctx, "SELECT t::text FROM "+tbl+" t")
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var row string
			if err := rs.Scan(&row); err != nil {
				t.Fatal(err)
			}
			found = found || strings.Contains(row, control)
			for _, s := range secrets {
				if strings.Contains(row, s) {
					t.Errorf("%s holds the secret %.8s… in clear", tbl, s)
				}
			}
		}
		rs.Close()
	}
	if !found {
		t.Error("the scan did not find the control value stored in clear")
	}
}
