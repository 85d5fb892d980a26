package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/s3"
)

func mustOpen(t *testing.T, url string) *s3.Store {
	t.Helper()
	cfg, err := s3.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestS3 runs the blob store suite against a real S3-compatible server
// (versitygw) started on loopback; each subtest gets its own key prefix.
func TestS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	var n atomic.Int64
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return mustOpen(t, srv.URL("coffer", fmt.Sprintf("t%d", n.Add(1))))
	})
}

// TestS3Multipart puts blobs larger than a part (the smallest, 5 MiB) and
// reads ranges across part boundaries; a Put cancelled after a part went
// up leaves neither an object nor an unfinished upload behind.
func TestS3Multipart(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	st := mustOpen(t, srv.URL("multi", "")+"&part_size="+fmt.Sprint(s3.MinPartSize))
	for _, n := range []int{s3.SmallSize - 1, s3.SmallSize, s3.SmallSize + 1, s3.MinPartSize, 2*s3.MinPartSize + 3} {
		data := blobtest.Pattern(uint64(n), n)
		key := fmt.Sprintf("m/%d", n)
		blobtest.MustPut(t, st, key, data)
		if got := blobtest.MustRead(t, st, key, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back differs", n)
		}
		off := int64(n) / 2
		if got := blobtest.MustRead(t, st, key, off, 1000); !bytes.Equal(got, data[off:min(off+1000, int64(n))]) {
			t.Fatalf("%d bytes: range differs", n)
		}
	}
	if got := blobtest.MustRead(t, st, "m/10485763", s3.MinPartSize-10, 20); !bytes.Equal(got, blobtest.Pattern(10485763, 10485763)[s3.MinPartSize-10:s3.MinPartSize+10]) {
		t.Fatal("range across the part boundary differs")
	}

	// Cancel once 8 MiB were read: the first 5 MiB part is up by then.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &cancelAfter{r: bytes.NewReader(blobtest.Pattern(1, 20<<20)), after: 8 << 20, cancel: cancel}
	if _, err := st.Put(cctx, "m/cancelled", r); err == nil {
		t.Fatal("cancelled multipart Put succeeded")
	}
	if _, err := st.Stat(ctx, "m/cancelled"); err == nil {
		t.Fatal("cancelled multipart Put is visible")
	}
	cl := rawClient(t, srv)
	for u := range cl.ListIncompleteUploads(ctx, "multi", "m/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("unfinished upload left behind: %s %s", u.Key, u.UploadID)
	}
}

type cancelAfter struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func rawClient(t *testing.T, srv *blobtest.S3Server) *minio.Client {
	cl, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestS3PutMemory checks that a Put streams: putting 256 MiB raises the
// heap in use by far less (a 1 MiB first buffer and one 5 MiB part buffer,
// plus the HTTP client's own buffers and garbage not yet collected).
func TestS3PutMemory(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	st := mustOpen(t, srv.URL("mem", "")+"&part_size="+fmt.Sprint(s3.MinPartSize))
	const size = 256 << 20
	var n int64
	var err error
	growth := blobtest.HeapGrowth(func() {
		n, err = st.Put(context.Background(), "big", io.LimitReader(zeros{}, size))
	})
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v", n, err)
	}
	t.Logf("put %d MiB, heap in use grew by %.1f MiB at most", size>>20, float64(growth)/(1<<20))
	if growth > 48<<20 {
		t.Fatalf("Put of %d MiB grew the heap by %d MiB: it does not stream", size>>20, growth>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestS3CollectIncomplete checks that Collect aborts multipart uploads
// left unfinished (as by a process killed mid-upload) once past the grace
// period, and not before.
func TestS3CollectIncomplete(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	st := mustOpen(t, srv.URL("incomplete", "p"))
	core := minio.Core{Client: rawClient(t, srv)}
	id, err := core.NewMultipartUpload(ctx, "incomplete", "p/n/1/dead", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := blobtest.Pattern(1, s3.MinPartSize)
	if _, err := core.PutObjectPart(ctx, "incomplete", "p/n/1/dead", id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		for u := range core.Client.ListIncompleteUploads(ctx, "incomplete", "p/", true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			n++
		}
		return n
	}
	never := func(string) (bool, error) { return false, nil }
	if _, err := blob.Collect(ctx, st, "n/", time.Now().Add(-time.Hour), never); err != nil || count() != 1 {
		t.Fatalf("within the grace period: %v, %d unfinished uploads, want 1", err, count())
	}
	if _, err := blob.Collect(ctx, st, "n/", time.Now().Add(time.Hour), never); err != nil || count() != 0 {
		t.Fatalf("past the grace period: %v, %d unfinished uploads, want 0", err, count())
	}
}
