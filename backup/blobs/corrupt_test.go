package blobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

// flipByte flips one byte of the object key in the directory store at dir.
func flipByte(tb testing.TB, dir, key string, off int64) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestCorruptPack flips one byte of a blob inside a pack: opening that
// file with its key fails with sealed.ErrIntegrity, its neighbours in the
// pack still open.
func TestCorruptPack(t *testing.T) {
	ctx := context.Background()
	files, dir := mustLocal(t, t.TempDir()), t.TempDir()
	dst := mustLocal(t, dir)
	fs := []file{mustFile(t, files, 1, 3000), mustFile(t, files, 2, 4000), mustFile(t, files, 3, 200_000)}
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Object != es[1].Object {
		t.Fatal("the two small files are not in one pack")
	}
	for _, c := range []struct {
		name string
		i    int
		off  int64
	}{
		{"chunk of a packed blob", 0, es[0].Length / 2},
		{"header of a packed blob", 1, 10},
		{"large blob", 2, es[2].Length - 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			flipByte(t, dir, es[c.i].Object, es[c.i].Offset+c.off)
			if _, err := openFile(t, dst, es[c.i], fs[c.i]); !errors.Is(err, sealed.ErrIntegrity) {
				t.Fatalf("opening the corrupt file: %v, want ErrIntegrity", err)
			}
			flipByte(t, dir, es[c.i].Object, es[c.i].Offset+c.off) // repair
		})
	}
	if got, err := openFile(t, dst, es[1], fs[1]); err != nil || !bytes.Equal(got, fs[1].plain) {
		t.Fatalf("neighbour after repair: %v", err)
	}
	// Another file's key (or id) does not open a blob.
	if _, err := sealed.NewReader(blobs.Opener(ctx, dst, es[0]), es[0].Length, fs[1].key, fs[0].ref.FileID); !errors.Is(err, sealed.ErrIntegrity) {
		t.Fatalf("wrong key: %v, want ErrIntegrity", err)
	}
}

// TestCorruptPackHeader: a pack whose header does not read back is not
// trusted; the next Backup copies its blobs again into a new pack.
func TestCorruptPackHeader(t *testing.T) {
	ctx := context.Background()
	files, dir := mustLocal(t, t.TempDir()), t.TempDir()
	dst := &counting{Store: mustLocal(t, dir)}
	fs := []file{mustFile(t, files, 1, 3000), mustFile(t, files, 2, 4000)}
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, dir, es[0].Object, 12) // inside the JSON header
	dst.reset()
	es2, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	if puts, _, _ := dst.reset(); puts != 1 || es2[0].Object == es[0].Object {
		t.Fatalf("after a corrupt pack header: %d Puts, entries %v", puts, es2)
	}
	for i, f := range fs {
		if got, err := openFile(t, dst, es2[i], f); err != nil || !bytes.Equal(got, f.plain) {
			t.Fatalf("file %d: %v", i, err)
		}
	}
}

// TestBackupErrors: bad inputs and a files store that does not match the
// refs are errors with stable codes, and a short object fetches as an
// unexpected EOF.
func TestBackupErrors(t *testing.T) {
	ctx := context.Background()
	files, dst := mustLocal(t, t.TempDir()), mustLocal(t, t.TempDir())
	f := mustFile(t, files, 1, 3000)
	big := mustFile(t, files, 2, 100_000)
	if _, err := blobs.Backup(ctx, []byte("short"), files, dst, nb, refsOf([]file{f})); code(err) != coffer.EINVALID {
		t.Errorf("short MAC key: %v, want EINVALID", err)
	}
	if _, err := blobs.Backup(ctx, macKey(), files, dst, "../x", refsOf([]file{f})); code(err) != coffer.EINVALID {
		t.Errorf("bad notebook: %v, want EINVALID", err)
	}
	missing := f.ref
	missing.BlobKey, missing.FileID = "files/"+nb+"/gone", "gone"
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, []blobs.Ref{missing}); code(err) != coffer.ENOTFOUND {
		t.Errorf("missing blob: %v, want ENOTFOUND", err)
	}
	for _, r := range []blobs.Ref{f.ref, big.ref} {
		for _, d := range []int64{-1, 1} {
			wrong := r
			wrong.Size += d
			if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, []blobs.Ref{wrong}); code(err) != coffer.EINTEGRITY {
				t.Errorf("size %+d on %d bytes: %v, want EINTEGRITY", d, r.Size, err)
			}
		}
	}
	var left []string
	dst.List(ctx, "", func(in blob.Info) error { left = append(left, in.Key); return nil })
	if len(left) != 0 {
		t.Fatalf("failed Backups left %v", left)
	}
	// Size unknown: asked of the files store.
	unknown := []blobs.Ref{f.ref, big.ref}
	unknown[0].Size, unknown[1].Size = 0, -1
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, unknown)
	if err != nil || es[0].Length != f.ref.Size || es[1].Length != big.ref.Size {
		t.Fatalf("sizes unknown: %v, %v", es, err)
	}
	short := es[1]
	short.Length += 10
	rc, err := blobs.Fetch(ctx, dst, short)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Fetch past the end: %v, want io.ErrUnexpectedEOF", err)
	}
	rc.Close()
	if _, err := blobs.Fetch(ctx, dst, blobs.Entry{Object: es[0].Object, Offset: -1, Length: 3}); code(err) != coffer.EINVALID {
		t.Fatalf("Fetch at -1: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	if _, err := blobs.Backup(cctx, macKey(), files, dst, nb, unknown); err == nil {
		t.Fatal("Backup with a done context succeeded")
	}
}

// TestOpenerRanges: ranges of an entry never reach past it into its
// neighbours in the pack.
func TestOpenerRanges(t *testing.T) {
	ctx := context.Background()
	files, dst := mustLocal(t, t.TempDir()), mustLocal(t, t.TempDir())
	fs := []file{mustFile(t, files, 1, 300), mustFile(t, files, 2, 400), mustFile(t, files, 3, 500)}
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := io.ReadAll(must(blobs.Fetch(ctx, dst, es[1])))
	if err != nil {
		t.Fatal(err)
	}
	open := blobs.Opener(ctx, dst, es[1])
	for _, c := range []struct{ off, n int64 }{{0, -1}, {0, 10}, {5, math.MaxInt64}, {es[1].Length - 1, -1}, {es[1].Length, 5}, {es[1].Length + 7, 5}} {
		got, err := io.ReadAll(must(open(c.off, c.n)))
		if err != nil {
			t.Fatal(err)
		}
		want := whole[min(c.off, int64(len(whole))):]
		if c.n >= 0 && c.n < int64(len(want)) {
			want = want[:c.n]
		}
		if !bytes.Equal(got, want) {
			t.Errorf("range (%d, %d): %d bytes, want %d", c.off, c.n, len(got), len(want))
		}
	}
	if _, err := open(-1, 1); code(err) != coffer.EINVALID {
		t.Errorf("negative offset: %v", err)
	}
}

func must(rc io.ReadCloser, err error) io.ReadCloser {
	if err != nil {
		panic(err)
	}
	return rc
}
