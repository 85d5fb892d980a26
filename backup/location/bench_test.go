package location_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/blobtest"
)

// BenchmarkReplicateS3 copies a 64 MiB image and 64 blob objects of 256
// KiB from a directory to S3 (versitygw on loopback): the throughput of
// filling a second location.
func BenchmarkReplicateS3(b *testing.B) {
	srv := blobtest.MustVersityGW(b)
	ctx := context.Background()
	src := location.New("primary", mustLocal(b, b.TempDir()))
	blobtest.MustPut(b, src.Store, "snapshots/nb_1/s1/image", blobtest.Pattern(1, 64<<20))
	for i := range 64 {
		blobtest.MustPut(b, src.Store, fmt.Sprintf("blobs/nb_1/%064x", i), blobtest.Pattern(uint64(i), 256<<10))
	}
	b.SetBytes(64<<20 + 64*256<<10)
	i := 0
	for b.Loop() {
		i++
		dst := location.New("second", mustS3(b, srv.URL(fmt.Sprintf("bench%d", i), "")))
		if n, err := location.Replicate(ctx, src, dst, ""); err != nil || n != 65 {
			b.Fatalf("Replicate = %d, %v", n, err)
		}
	}
}
