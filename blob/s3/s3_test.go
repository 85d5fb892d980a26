package s3_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
