package sealed_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/sealed"
)

// patternReader yields size bytes repeating a 1 MiB pattern (generated,
// never held whole).
type patternReader struct {
	pat  []byte
	off  int64
	size int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], p.pat[(p.off+int64(n))%int64(len(p.pat)):])
	}
	p.off += int64(n)
	return n, nil
}

// TestGigabyte streams 1 GiB through Writer → pipe → Reader, never holding
// it, and checks the heap in use grows by less than 64 MB.
func TestGigabyte(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 1 GiB stream under -short")
	}
	const size = 1 << 30
	key := newKey(t)
	src := &patternReader{pat: blobtest.Pattern(11, 1<<20), size: size}
	var wantSum, gotSum [32]byte
	var got int64
	var werr, rerr error
	start := time.Now()
	growth := blobtest.HeapGrowth(func() {
		pr, pw := io.Pipe()
		wdone := make(chan struct{})
		defer func() { <-wdone }() // werr and wantSum are read after the writer is done
		go func() {
			defer close(wdone)
			w, err := sealed.NewWriter(pw, key, "big")
			if err == nil {
				_, err = io.Copy(w, src)
			}
			if err == nil {
				err = w.Close()
			}
			if err == nil {
				wantSum = w.Sum()
			}
			werr = err
			pw.CloseWithError(err)
		}()
		// The stream is read once, in order: the header, then the rest.
		calls := 0
		open := func(off, n int64) (io.ReadCloser, error) {
			calls++
			switch {
			case calls == 1 && off == 0 && n == sealed.HeaderSize, calls == 2 && off == sealed.HeaderSize:
				return io.NopCloser(io.LimitReader(pr, n)), nil
			}
			return nil, fmt.Errorf("unexpected open(%d, %d) #%d", off, n, calls)
		}
		r, err := sealed.NewReader(open, sealed.SealedSize(size), key, "big")
		if err != nil {
			rerr = err
			pr.CloseWithError(err)
			return
		}
		rc, err := r.ReadRange(0, -1)
		if err != nil {
			rerr = err
			pr.CloseWithError(err)
			return
		}
		h := sha256.New()
		got, rerr = io.Copy(h, rc)
		h.Sum(gotSum[:0])
		pr.Close()
	})
	if werr != nil || rerr != nil {
		t.Fatalf("write: %v, read: %v", werr, rerr)
	}
	if got != size || gotSum != wantSum {
		t.Fatalf("read %d bytes with SHA-256 %x, want %d with %x", got, gotSum, size, wantSum)
	}
	t.Logf("1 GiB sealed and opened in %v; heap in use grew by %.1f MiB at most", time.Since(start).Round(time.Millisecond), float64(growth)/(1<<20))
	if growth >= 64<<20 {
		t.Fatalf("heap grew by %d MiB streaming 1 GiB, want < 64 MB", growth>>20)
	}
}

// FuzzReader feeds arbitrary bytes to the reader as a sealed stream: it
// never panics, fails only with ErrIntegrity, and whatever it returns is
// plaintext that was sealed under the key (no forged or garbled bytes).
func FuzzReader(f *testing.F) {
	key := bytes.Repeat([]byte{7}, sealed.KeySize)
	const cs = sealed.MinChunkSize
	plain := blobtest.Pattern(42, 3*cs)
	for _, n := range []int{0, 1, 100, cs, cs + 1, 2*cs + 5} {
		var buf bytes.Buffer
		w, err := sealed.NewWriterSize(&buf, key, "fuzz", cs)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(plain[:n])
		w.Close()
		f.Add(buf.Bytes(), int64(n/2), int64(n/3+1))
	}
	f.Add([]byte("CFSF\x01"), int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, off, n int64) {
		o := &opener{b: data}
		r, err := sealed.NewReader(o.open, int64(len(data)), key, "fuzz")
		if err != nil {
			if !errors.Is(err, sealed.ErrIntegrity) {
				t.Fatalf("NewReader: %v, want ErrIntegrity", err)
			}
			return
		}
		if r.Size() < 0 || r.Size() > int64(len(data)) {
			t.Fatalf("Size %d for %d sealed bytes", r.Size(), len(data))
		}
		got, err := readRange(r, 0, -1)
		if err != nil && !errors.Is(err, sealed.ErrIntegrity) {
			t.Fatalf("read: %v", err)
		}
		if !bytes.HasPrefix(plain, got) || err == nil && int64(len(got)) != r.Size() {
			t.Fatalf("read %d bytes (err %v) that are not the sealed plaintext", len(got), err)
		}
		if off < 0 || n < -1 {
			if _, err := r.ReadRange(off, n); err == nil {
				t.Fatalf("ReadRange(%d, %d) accepted", off, n)
			}
			return
		}
		got, err = readRange(r, off, n)
		if err != nil && !errors.Is(err, sealed.ErrIntegrity) {
			t.Fatalf("ReadRange(%d, %d): %v", off, n, err)
		}
		lo := min(off, int64(len(plain)))
		if !bytes.HasPrefix(plain[lo:], got) {
			t.Fatalf("ReadRange(%d, %d) returned bytes that are not the sealed plaintext", off, n)
		}
	})
}

// sink copies what it is given into a reusable buffer, like a write to the
// page cache, so the plain copy it is compared with does real work.
type sink struct{ buf []byte }

func (s *sink) Write(p []byte) (int, error) {
	for q := p; len(q) > 0; {
		q = q[copy(s.buf, q):]
	}
	return len(p), nil
}

// benchSize is the plaintext size the benchmarks move per operation.
const benchSize = 64 << 20

// BenchmarkSealedWrite seals 64 MiB; "plain" copies the same bytes with
// io.Copy. The sealed case also reports its throughput as a ratio to the
// plain copy, timed in the same run (x_plain).
func BenchmarkSealedWrite(b *testing.B) {
	src := blobtest.Pattern(1, benchSize)
	key := newKey(b)
	dst := &sink{buf: make([]byte, 1<<20)}
	plain := func() {
		io.Copy(dst, bytes.NewReader(src))
	}
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			plain()
		}
	})
	b.Run("sealed", func(b *testing.B) {
		b.SetBytes(benchSize)
		var plainTime time.Duration
		for b.Loop() {
			w, err := sealed.NewWriter(dst, key, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader(src)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			t0 := time.Now()
			plain()
			plainTime += time.Since(t0)
			b.StartTimer()
		}
		b.ReportMetric(plainTime.Seconds()/b.Elapsed().Seconds(), "x_plain")
	})
}

// BenchmarkSealedRead opens and reads 64 MiB sealed in memory; "plain"
// copies the same number of bytes with io.Copy.
func BenchmarkSealedRead(b *testing.B) {
	src := blobtest.Pattern(2, benchSize)
	key := newKey(b)
	s := seal(b, src, key, "bench", sealed.ChunkSize)
	dst := &sink{buf: make([]byte, 1<<20)}
	plain := func() {
		io.Copy(dst, bytes.NewReader(src))
	}
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			plain()
		}
	})
	b.Run("sealed", func(b *testing.B) {
		b.SetBytes(benchSize)
		var plainTime time.Duration
		for b.Loop() {
			o := &opener{b: s}
			r, err := sealed.NewReader(o.open, int64(len(s)), key, "bench")
			if err != nil {
				b.Fatal(err)
			}
			rc, err := r.ReadRange(0, -1)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(dst, rc); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
			b.StopTimer()
			t0 := time.Now()
			plain()
			plainTime += time.Since(t0)
			b.StartTimer()
		}
		b.ReportMetric(plainTime.Seconds()/b.Elapsed().Seconds(), "x_plain")
	})
}
