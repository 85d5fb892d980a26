package blobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
)

// manyFiles seals 2,000 files into files: 1,800 small (2–20 KB, packed)
// and 200 of 70–130 KB (one object each), about 40 MB in all.
func manyFiles(tb testing.TB, files blob.Store) []blobs.Ref {
	var refs []blobs.Ref
	for i := range 2000 {
		n := 2000 + (i*7919)%18000
		if i%10 == 0 {
			n = 70_000 + (i*104729)%60000
		}
		refs = append(refs, mustFile(tb, files, i, n).ref)
	}
	return refs
}

// TestUnchangedCost backs up 2,000 files into a local location, then
// again unchanged, and logs how long each run took and what it wrote:
// the second run writes nothing at all (no index to rewrite) and reads
// only the location's listing and pack headers.
func TestUnchangedCost(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: writes 40 MB")
	}
	ctx := context.Background()
	files := &counting{Store: mustLocal(t, t.TempDir())}
	dst := &counting{Store: mustLocal(t, t.TempDir())}
	refs := manyFiles(t, files)
	var total int64
	for _, r := range refs {
		total += r.Size
	}
	files.reset()

	start := time.Now()
	es, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	puts, _, written := dst.reset()
	t.Logf("first backup of %d files (%d bytes sealed): %v, %d objects (%d packs + objects), %d bytes written",
		len(refs), total, first, puts, len(blobs.Objects(es)), written)

	files.reset()
	start = time.Now()
	es2, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs)
	if err != nil {
		t.Fatal(err)
	}
	again := time.Since(start)
	puts, opens, written := dst.reset()
	_, fileOpens, _ := files.reset()
	t.Logf("unchanged backup of %d files: %v, %d bytes written (%.4f%% of the store), %d location reads, %d file reads",
		len(refs), again, written, 100*float64(written)/float64(total), opens, fileOpens)
	if puts != 0 || written != 0 || fileOpens != 0 {
		t.Fatalf("unchanged backup wrote %d objects (%d bytes) and read %d files", puts, written, fileOpens)
	}
	if len(es2) != len(es) {
		t.Fatal("entries differ")
	}
}

// BenchmarkUnchanged2000 times an unchanged backup of 2,000 files.
func BenchmarkUnchanged2000(b *testing.B) {
	ctx := context.Background()
	files := mustLocal(b, b.TempDir())
	dst := &counting{Store: mustLocal(b, b.TempDir())}
	refs := manyFiles(b, files)
	if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs); err != nil {
		b.Fatal(err)
	}
	dst.reset()
	for b.Loop() {
		if _, err := blobs.Backup(ctx, macKey(), files, dst, nb, refs); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, written := dst.reset(); written != 0 {
		b.Fatalf("%d bytes written", written)
	}
}
