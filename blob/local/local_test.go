package local_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/local"
)

func mustOpen(t *testing.T, dir string) *local.Store {
	t.Helper()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLocal(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return mustOpen(t, t.TempDir()) })
}

// TestLocalStaysInside checks that no key and no symbolic link in the
// directory reaches a file outside it.
func TestLocalStaysInside(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	root := filepath.Join(parent, "blobs")
	outside := filepath.Join(parent, "outside")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, root)
	for _, k := range []string{"../outside/secret", "../../x", "/etc/passwd", root + "/x", "a/../../outside/secret"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", k)
		}
		if _, err := s.Open(ctx, k, 0, -1); err == nil {
			t.Errorf("Open(%q) succeeded", k)
		}
	}
	// Symbolic links placed in the directory (by someone with access to
	// it) are not followed out: not for writing, reading, stat or listing.
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "filelink")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "dirlink/new", strings.NewReader("x")); err == nil {
		t.Error("Put through a symbolic link to outside succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("a file was created outside the store")
	}
	for _, k := range []string{"dirlink/secret", "filelink"} {
		if rc, err := s.Open(ctx, k, 0, -1); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("Open(%q) read %q through a symbolic link", k, b)
		}
		if _, err := s.Stat(ctx, k); err == nil {
			t.Errorf("Stat(%q) through a symbolic link succeeded", k)
		}
	}
	if err := s.Delete(ctx, "dirlink/secret"); err == nil {
		if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
			t.Error("Delete removed a file outside the store")
		}
	}
	var listed []string
	if err := s.List(ctx, "", func(in blob.Info) error { listed = append(listed, in.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("List shows %q through symbolic links", listed)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "outside" {
		t.Errorf("the outside file changed: %q", b)
	}
}

// TestLocalFiles checks what a Put leaves on disk: the file at the key's
// path, mode 0600, and no temporary file, also after a failed Put.
func TestLocalFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := mustOpen(t, root)
	blobtest.MustPut(t, s, "n/1/f", []byte("data"))
	fi, err := os.Stat(filepath.Join(root, "n", "1", "f"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("blob file: %v, %v", fi, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "n/1/g", strings.NewReader("x")); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := s.Put(ctx, "n/1/h", iotest.ErrReader(errors.New("boom"))); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	var names []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if len(names) != 1 || names[0] != "/n/1/f" {
		t.Fatalf("files in the store: %q, want only /n/1/f", names)
	}
}

// TestLocalCollectIncomplete checks that Collect removes the temporary
// files of Puts interrupted by a crash once past the grace period.
func TestLocalCollectIncomplete(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := mustOpen(t, root)
	blobtest.MustPut(t, s, "n/1/kept", []byte("x"))
	dead := filepath.Join(root, "n", "1", ".tmp-0123456789abcdef01234567")
	fresh := filepath.Join(root, "n", "1", ".tmp-fresh")
	for _, p := range []string{dead, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(dead, old, old); err != nil {
		t.Fatal(err)
	}
	var listed []string
	s.List(ctx, "", func(in blob.Info) error { listed = append(listed, in.Key); return nil })
	if len(listed) != 1 {
		t.Fatalf("List shows temporary files: %q", listed)
	}
	keep := func(string) (bool, error) { return true, nil }
	if _, err := blob.Collect(ctx, s, "n/", time.Now().Add(-time.Hour), keep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an old temporary file survived Collect: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a recent temporary file (a Put under way) was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "n", "1", "kept")); err != nil {
		t.Errorf("a kept blob was removed: %v", err)
	}
}

// TestLocalLargePuts: blobs past several writeback requests (every 8 MiB
// the kernel is asked to start writing) come back byte for byte, through
// Put and through PutWriter, with no temporary file left.
func TestLocalLargePuts(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	ctx := context.Background()
	data := blobtest.Pattern(21, 20<<20+3)
	n, err := s.Put(ctx, "big/put", iotest.HalfReader(bytesReader(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	n, err = s.PutWriter(ctx, "big/writer", func(w io.Writer) error {
		for p := data; len(p) > 0; {
			k := min(len(p), 262160)
			if _, err := w.Write(p[:k]); err != nil {
				return err
			}
			p = p[k:]
		}
		return nil
	})
	if err != nil || n != int64(len(data)) {
		t.Fatalf("PutWriter = %d, %v", n, err)
	}
	for _, k := range []string{"big/put", "big/writer"} {
		if got := blobtest.MustRead(t, s, k, 0, -1); string(got) != string(data) {
			t.Fatalf("%s: read back %d bytes, differing", k, len(got))
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "big"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("directory holds %d entries (%v), want the 2 blobs", len(entries), err)
	}
}

func bytesReader(b []byte) io.Reader { return strings.NewReader(string(b)) }
