package blobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/blob/sealed"
)

const nb = "nbk_01kxyz"

func mustLocal(tb testing.TB, dir string) blob.Store {
	tb.Helper()
	s, err := local.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// counting wraps a store and counts Puts, bytes put and Opens.
type counting struct {
	blob.Store
	mu          sync.Mutex
	puts, opens int
	bytes       int64
}

func (c *counting) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, err := c.Store.Put(ctx, key, r)
	c.mu.Lock()
	c.puts++
	c.bytes += n
	c.mu.Unlock()
	return n, err
}

func (c *counting) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opens++
	c.mu.Unlock()
	return c.Store.Open(ctx, key, off, n)
}

func (c *counting) reset() (puts, opens int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	puts, opens, bytes = c.puts, c.opens, c.bytes
	c.puts, c.opens, c.bytes = 0, 0, 0
	return
}

// file is a file sealed into the files store as package notebooks does.
type file struct {
	ref   blobs.Ref
	key   []byte
	plain []byte
}

// mustFile seals n bytes of plaintext into files and returns its ref.
func mustFile(tb testing.TB, files blob.Store, i, n int) file {
	tb.Helper()
	id := fmt.Sprintf("fil_%s%026d", strings.TrimPrefix(nb, "nbk_"), i)
	key := make([]byte, sealed.KeySize)
	rand.Read(key)
	plain := blobtest.Pattern(uint64(i), n)
	var buf bytes.Buffer
	w, err := sealed.NewWriter(&buf, key, id)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	bkey := "files/" + nb + "/" + id
	blobtest.MustPut(tb, files, bkey, buf.Bytes())
	sum := sha256.Sum256(plain)
	return file{ref: blobs.Ref{FileID: id, SHA256: hex.EncodeToString(sum[:]), BlobKey: bkey, Size: int64(buf.Len())}, key: key, plain: plain}
}

func refsOf(fs []file) []blobs.Ref {
	var out []blobs.Ref
	for _, f := range fs {
		out = append(out, f.ref)
	}
	return out
}

// open decrypts the file f from the entry e in dst.
func openFile(tb testing.TB, dst blob.Store, e blobs.Entry, f file) ([]byte, error) {
	tb.Helper()
	r, err := blobs.Open(context.Background(), dst, e, f.key, f.ref.FileID)
	if err != nil {
		return nil, err
	}
	rc, err := r.ReadRange(0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func macKey() []byte { return bytes.Repeat([]byte{7}, 32) }

func code(err error) string {
	var e *coffer.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestBackupOnce backs up small and large files, then again: the second
// run writes nothing and reads no file; a third with two new files writes
// one pack and one object.
func TestBackupOnce(t *testing.T) {
	ctx := context.Background()
	files := &counting{Store: mustLocal(t, t.TempDir())}
	dst := &counting{Store: mustLocal(t, t.TempDir())}
	var fs []file
	for i, n := range []int{0, 10, 1000, 30_000, 64<<10 - 200, 64 << 10, 300_000, 1 << 20} {
		fs = append(fs, mustFile(t, files, i, n))
	}
	files.reset()

	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(fs) {
		t.Fatalf("%d entries for %d refs", len(es), len(fs))
	}
	puts, _, written := dst.reset()
	// Sealed, 0 … 64 KiB-200 plaintext bytes stay under SmallSize (five
	// blobs in one pack); the other three are objects.
	if puts != 1+3 {
		t.Fatalf("first Backup: %d Puts, want 4 (one pack, three objects)", puts)
	}
	var packed []string
	for i, e := range es {
		f := fs[i]
		if e.ContentID != blobs.ContentID(macKey(), f.ref.FileID, f.ref.SHA256) || e.Length != f.ref.Size {
			t.Fatalf("entry %d = %+v", i, e)
		}
		if f.ref.Size < blobs.SmallSize {
			packed = append(packed, e.Object)
			if !strings.HasPrefix(e.Object, blobs.Prefix(nb)+"pack-") {
				t.Fatalf("small blob %d in %s", i, e.Object)
			}
		} else if e.Object != blobs.Prefix(nb)+e.ContentID || e.Offset != 0 {
			t.Fatalf("large blob %d at %+v", i, e)
		}
		got, err := openFile(t, dst, e, f)
		if err != nil || !bytes.Equal(got, f.plain) {
			t.Fatalf("file %d read back from its entry: %d bytes, %v", i, len(got), err)
		}
		rc, err := blobs.Fetch(ctx, dst, e)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, blobtest.MustRead(t, files, f.ref.BlobKey, 0, -1)) {
			t.Fatalf("Fetch %d: not the sealed blob as it is (%v)", i, err)
		}
	}
	if len(slices.Compact(slices.Clone(packed))) != 1 || len(packed) != 5 {
		t.Fatalf("small blobs in %v, want five in one pack", packed)
	}
	if got := blobs.Objects(es); len(got) != 4 {
		t.Fatalf("Objects = %v, want 4", got)
	}
	t.Logf("first backup: %d bytes written for %d files", written, len(fs))

	// Unchanged: nothing written, no file read.
	files.reset()
	es2, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(es, es2) {
		t.Fatalf("second Backup entries differ:\n%v\n%v", es, es2)
	}
	if puts, _, _ := dst.reset(); puts != 0 {
		t.Fatalf("second Backup: %d Puts, want 0", puts)
	}
	if _, opens, _ := files.reset(); opens != 0 {
		t.Fatalf("second Backup read %d file blobs, want 0", opens)
	}

	// Two new files, a duplicate ref, and the old ones.
	small, large := mustFile(t, files, 100, 5000), mustFile(t, files, 101, 200_000)
	files.reset()
	all := append(slices.Clone(fs), small, large, small)
	es3, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(all))
	if err != nil {
		t.Fatal(err)
	}
	if puts, _, _ := dst.reset(); puts != 2 {
		t.Fatalf("third Backup: %d Puts, want 2", puts)
	}
	if _, opens, _ := files.reset(); opens != 2 {
		t.Fatalf("third Backup read %d file blobs, want 2", opens)
	}
	if !slices.Equal(es3[:len(fs)], es) || es3[len(fs)] != es3[len(fs)+2] {
		t.Fatalf("third Backup entries: %v", es3)
	}
	for i, f := range all {
		if got, err := openFile(t, dst, es3[i], f); err != nil || !bytes.Equal(got, f.plain) {
			t.Fatalf("file %d after the third Backup: %v", i, err)
		}
	}
}

// TestNoIdentityInLocation: nothing in the location names a file id or a
// content hash; another MAC key gives other content ids.
func TestNoIdentityInLocation(t *testing.T) {
	ctx := context.Background()
	files, dir := mustLocal(t, t.TempDir()), t.TempDir()
	dst := mustLocal(t, dir)
	fs := []file{mustFile(t, files, 1, 100), mustFile(t, files, 2, 100_000)}
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(fs)); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, f := range fs {
			id := strings.TrimPrefix(f.ref.FileID, "fil_")
			for _, s := range []string{id, f.ref.SHA256, id[26:]} {
				if strings.Contains(p, s) || bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds %q", p, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if blobs.ContentID(macKey(), "f", "s") == blobs.ContentID(other, "f", "s") {
		t.Fatal("the content id does not depend on the MAC key")
	}
	if blobs.ContentID(macKey(), "f", "s") == blobs.ContentID(macKey(), "g", "s") ||
		blobs.ContentID(macKey(), "f", "s") == blobs.ContentID(macKey(), "f", "t") {
		t.Fatal("the content id does not depend on the file id and hash")
	}
}

// TestManyPacks fills more than one pack; a ref listed twice, before and
// after a pack is written out, gets one entry.
func TestManyPacks(t *testing.T) {
	ctx := context.Background()
	files := mustLocal(t, t.TempDir())
	dst := &counting{Store: mustLocal(t, t.TempDir())}
	var fs []file
	for i := range 300 {
		fs = append(fs, mustFile(t, files, i, 40_000+i))
	}
	all := append(slices.Clone(fs), fs[0], fs[299])
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(all))
	if err != nil {
		t.Fatal(err)
	}
	puts, _, written := dst.reset()
	if want := int(written/blobs.PackSize) + 1; puts != want || puts < 2 {
		t.Fatalf("%d packs for %d bytes, want %d", puts, written, want)
	}
	if es[300] != es[0] || es[301] != es[299] || es[0].Object == es[299].Object {
		t.Fatalf("duplicate refs: %v %v, %v %v", es[0], es[300], es[299], es[301])
	}
	for i, f := range all {
		if got, err := openFile(t, dst, es[i], f); err != nil || !bytes.Equal(got, f.plain) {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refsOf(all)); err != nil {
		t.Fatal(err)
	}
	if puts, _, _ := dst.reset(); puts != 0 {
		t.Fatalf("second Backup: %d Puts", puts)
	}
}

// TestSlice: n consecutive slices are disjoint and cover every entry, in
// parts of about the same size.
func TestSlice(t *testing.T) {
	var es []blobs.Entry
	for i := range 1000 {
		es = append(es, blobs.Entry{ContentID: blobs.ContentID(macKey(), fmt.Sprint(i), "x"), Object: fmt.Sprint(i)})
	}
	for _, n := range []int{1, 3, 7} {
		seen := map[string]int{}
		for week := 10; week < 10+n; week++ {
			part := blobs.Slice(es, week, n)
			if len(part) < 1000/n/2 || len(part) > 2*1000/n {
				t.Errorf("n=%d week %d: %d entries", n, week, len(part))
			}
			for _, e := range part {
				seen[e.Object]++
			}
		}
		for _, e := range es {
			if seen[e.Object] != 1 {
				t.Fatalf("n=%d: entry %s in %d slices", n, e.Object, seen[e.Object])
			}
		}
	}
	if len(blobs.Slice(es, -1, 3)) == 0 || len(blobs.Slice(es, 0, 0)) != len(es) {
		t.Fatal("negative i or n < 1")
	}
}
