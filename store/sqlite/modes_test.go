package sqlite_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/store/sqlite"
)

// TestOpenTightensModes: a data directory left with looser modes (by an
// older version, a copy, a restore) is tightened when it is opened: files
// 0600, folders 0700, and the backend says what it changed.
func TestOpenTightensModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	extra := filepath.Join(dir, "notebooks", "nb_stray.db")
	if err := os.WriteFile(extra, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "old")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	loose := map[string]fs.FileMode{
		dir:                             0o755,
		filepath.Join(dir, "notebooks"): 0o777,
		sub:                             0o750,
		filepath.Join(dir, "coffer.db"): 0o644,
		extra:                           0o666,
	}
	for p, m := range loose {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	// A symbolic link is not followed (its target is not ours to change).
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	b, err = sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for p := range loose {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o644 {
		t.Errorf("the link's target was changed: %v", fi.Mode().Perm())
	}
	got := b.Tightened()
	slices.Sort(got)
	want := []string{".", "coffer.db", "notebooks", filepath.Join("notebooks", "nb_stray.db"), "old"}
	if !slices.Equal(got, want) {
		t.Errorf("Tightened() = %q, want %q", got, want)
	}
}
