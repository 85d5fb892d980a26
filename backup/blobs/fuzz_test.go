package blobs_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
)

// oneObject is a read-only store holding one object.
type oneObject struct {
	key  string
	data []byte
}

func (o *oneObject) Put(context.Context, string, io.Reader) (int64, error) { panic("read only") }
func (o *oneObject) Delete(context.Context, string) error                  { panic("read only") }
func (o *oneObject) Close() error                                          { return nil }

func (o *oneObject) Open(_ context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if key != o.key {
		return nil, blob.NotFound("oneObject.Open", key)
	}
	if err := blob.ValidRange(off, n); err != nil {
		return nil, err
	}
	b := o.data[min(off, int64(len(o.data))):]
	if n >= 0 && n < int64(len(b)) {
		b = b[:n]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (o *oneObject) Stat(_ context.Context, key string) (blob.Info, error) {
	if key != o.key {
		return blob.Info{}, blob.NotFound("oneObject.Stat", key)
	}
	return blob.Info{Key: key, Size: int64(len(o.data))}, nil
}

func (o *oneObject) List(_ context.Context, prefix string, fn func(blob.Info) error) error {
	return fn(blob.Info{Key: o.key, Size: int64(len(o.data))})
}

func packOf(header string, body []byte) []byte {
	b := []byte("CFBP\x01")
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	return append(append(b, header...), body...)
}

// FuzzPackHeader reads arbitrary bytes as a pack: Present never fails or
// panics on them, and every entry it returns lies within the object.
func FuzzPackHeader(f *testing.F) {
	cid := blobs.ContentID(macKey(), "f", "s")
	f.Add(packOf(`{"blobs":[{"cid":"`+cid+`","off":0,"len":3}]}`, []byte("abc")))
	f.Add(packOf(`{"blobs":[{"cid":"`+cid+`","off":2,"len":3}]}`, []byte("abc")))
	f.Add(packOf(`{"blobs":[{"cid":"`+cid+`","off":-1,"len":1}]}`, []byte("abc")))
	f.Add(packOf(`{"blobs":[]}`, nil))
	f.Add(packOf(`{"blobs":[{"cid":"`+cid+`","off":4611686018427387904,"len":4611686018427387904}]}`, []byte("abc")))
	f.Add([]byte("CFBP\x01\xff\xff\xff\xff{"))
	f.Add([]byte("CFBP"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := &oneObject{key: blobs.Prefix(nb) + "pack-x", data: data}
		have, err := blobs.Present(context.Background(), st, nb)
		if err != nil {
			t.Fatalf("Present: %v", err)
		}
		for id, e := range have {
			if e.ContentID != id || e.Object != st.key || e.Offset < 0 || e.Length < 0 || e.Offset > int64(len(data)) || e.Length > int64(len(data))-e.Offset {
				t.Fatalf("entry %+v out of a %d-byte pack", e, len(data))
			}
		}
	})
}
