package local_test

import (
	"testing"

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
