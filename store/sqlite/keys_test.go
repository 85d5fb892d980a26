package sqlite_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// openSQLite opens a backend on dir, closed at cleanup.
func openSQLite(t *testing.T, dir string) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestKeys runs the keyring suite on SQLite; the second node is a second
// backend on the same data directory.
func TestKeys(t *testing.T) {
	storetest.Keys(t, storetest.KeysOpener{
		Open:  func(t *testing.T) store.Backend { return openSQLite(t, t.TempDir()) },
		Again: func(t *testing.T, b store.Backend) store.Backend { return openSQLite(t, b.(*sqlite.Backend).Dir()) },
	})
}

// TestKeysAtRest scans every file of the data directory (databases and
// their write-ahead logs) and of the blob store for the secrets in clear:
// TOTP, SSO and webhook secrets, keys kept as hashes, a file's content,
// an encrypted cell, its column's password and a password cell.
func TestKeysAtRest(t *testing.T) {
	dir := t.TempDir()
	b := openSQLite(t, dir)
	secrets, control, blobDir := storetest.KeysPlaintexts(t, b)
	files, found := 0, false
	scan := func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		found = found || bytes.Contains(data, []byte(control))
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the secret %.8s… in clear", path, s)
			}
		}
		return nil
	}
	// The data directory (databases and their write-ahead logs) and the
	// blob store holding the files.
	for _, root := range []string{dir, blobDir} {
		if err := filepath.WalkDir(root, scan); err != nil {
			t.Fatal(err)
		}
	}
	if files < 3 || !found {
		t.Fatalf("scanned %d files; the control value found: %v", files, found)
	}
}
