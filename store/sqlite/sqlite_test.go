package sqlite_test

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestStore runs the behaviour suite on SQLite, each store in its own
// temporary data directory.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *all.Store {
		return open(t, sqlite.Options{})
	})
}

// TestStoreSmallPool runs the suite again with a notebook pool of one and a
// single reader, so notebooks are closed and reopened between calls and
// readers queue behind each other.
func TestStoreSmallPool(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the second run of the suite in -short mode")
	}
	storetest.Run(t, func(t *testing.T) *all.Store {
		return open(t, sqlite.Options{MaxOpenNotebooks: 1, Readers: 1})
	})
}

func open(t *testing.T, opts sqlite.Options) *all.Store {
	t.Helper()
	b, err := sqlite.Open(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return all.New(b, keyring.ForTests())
}

// TestNotebookPoolKeepsNewHandle opens more notebooks at once than the pool
// holds: every handle in use must stay open.
func TestNotebookPoolKeepsNewHandle(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{MaxOpenNotebooks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ids := []string{coffer.NewID(coffer.PrefixNotebook), coffer.NewID(coffer.PrefixNotebook)}
	for _, id := range ids {
		if err := b.CreateNotebook(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	db1, release1, err := b.Notebook(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer release1()
	db2, release2, err := b.Notebook(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	for i, db := range []*store.DB{db1, db2} {
		if err := db.R.PingContext(ctx); err != nil {
			t.Errorf("notebook %d in use: reader: %v", i, err)
		}
		if err := db.W.PingContext(ctx); err != nil {
			t.Errorf("notebook %d in use: writer: %v", i, err)
		}
	}
	release1()
	release2()
	if n := b.OpenNotebooks(); n > 1 {
		t.Errorf("OpenNotebooks = %d after release, want at most 1", n)
	}
}

// TestDropNotebookInUse deletes a notebook while a request still holds it:
// the request finishes on its open handle, and the notebook is gone after.
func TestDropNotebookInUse(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DropNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM _tables").Scan(&n); err != nil {
		t.Errorf("a request in flight lost its notebook: %v", err)
	}
	release()
	if err := db.R.PingContext(ctx); err == nil {
		t.Errorf("the dropped notebook stays open after its last release")
	}
	if _, _, err := b.Notebook(ctx, id); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("open a dropped notebook: got %v, want not_found", err)
	}
}

// TestCreateNotebookTwice: creating a notebook's storage over an existing
// one is refused and leaves the existing database untouched.
func TestCreateNotebookTwice(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateNotebook(ctx, id); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("create twice: got %v, want conflict", err)
	}
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		t.Fatalf("the existing notebook is gone: %v", err)
	}
	defer release()
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM _tables").Scan(&n); err != nil {
		t.Errorf("the existing notebook was damaged: %v", err)
	}
}

// TestSSO runs the single sign-on flow on SQLite.
func TestSSO(t *testing.T) {
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	storetest.SSO(t, b)
}
