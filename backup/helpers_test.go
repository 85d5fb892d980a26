package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
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
func openPostgres(t *testing.T) store.Backend {
	t.Helper()
	ctx := context.Background()
	base := "bk_" + strings.ToLower(rand.Text()[:10])
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

func openSQLite(t *testing.T) store.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// backends are the live backends every test runs on.
var backends = []struct {
	name string
	open func(*testing.T) store.Backend
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

// env is one instance with a backup service.
type env struct {
	st      *all.Store
	svc     *backup.Service
	primary location.Location
	second  location.Location
	files   blob.Store
	ctx     context.Context // the owner's
	owner   *coffer.User
	cfg     backup.Config
}

func mustLocal(t *testing.T) blob.Store {
	t.Helper()
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newEnv opens a service on b with a primary and a second location in
// temporary directories, and a files store.
func newEnv(t *testing.T, b store.Backend) *env {
	t.Helper()
	e := &env{st: all.New(b, keyring.ForTests())}
	e.files = mustLocal(t)
	e.st.SetFiles(notebooks.FileConfig{Blobs: e.files})
	e.primary = location.New("primary", mustLocal(t))
	e.second = location.New("second", mustLocal(t))
	e.cfg = backup.Config{Primary: e.primary, Second: &e.second, Files: e.files, TempDir: t.TempDir()}
	e.svc = backup.New(e.st, e.cfg)
	e.ctx, e.owner = storetest.MustUser(t, e.st)
	return e
}

// notebook makes a notebook with a table "People" (Name text, A and B
// numbers, Doc file) and n records whose names hold marker.
func (e *env) notebook(t *testing.T, n int, marker string) (*coffer.Notebook, *coffer.Table) {
	t.Helper()
	nb := storetest.MustNotebook(t, e.ctx, e.st, "Backups "+marker)
	tb := storetest.MustTable(t, e.ctx, e.st, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "A", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "B", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "Doc", Type: coffer.TypeFile},
	)
	for i := range n {
		storetest.MustRecord(t, e.ctx, e.st, nb.ID, "People", map[string]any{"Name": fmt.Sprintf("%s %d", marker, i), "A": i, "B": i})
	}
	return nb, tb
}

// liveSums are the plain checksums of a live notebook.
func liveSums(t *testing.T, b store.Backend, id string) []transfer.Sum {
	t.Helper()
	db, release, err := b.Notebook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	sums, err := transfer.NotebookSums(context.Background(), b.Dialect(), db, sha256New)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// sameSums fails unless two lists of sums are equal (names and values).
func sameSums(t *testing.T, what string, got, want []transfer.Sum) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tables, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Rows != want[i].Rows || got[i].Checksum != want[i].Checksum {
			t.Errorf("%s: table %s: %d rows %s, want %s %d rows %s", what, got[i].Name, got[i].Rows, got[i].Checksum[:8], want[i].Name, want[i].Rows, want[i].Checksum[:8])
		}
	}
}

// openSQL opens a SQLite file read-only.
func openSQL(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readObject reads a whole object.
func readObject(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flip rewrites object key with one byte changed at off.
func flip(t *testing.T, s blob.Store, key string, off int) {
	t.Helper()
	b := readObject(t, s, key)
	b[off] ^= 0x01
	if _, err := s.Put(context.Background(), key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

// objects lists every key in a store.
func objects(t *testing.T, s blob.Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), "", func(in blob.Info) error {
		keys = append(keys, in.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}
