package sealed_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/sealed"
)

const chunk = sealed.ChunkSize

func newKey(tb testing.TB) []byte {
	k := make([]byte, sealed.KeySize)
	rand.Read(k)
	return k
}

// seal seals plain under key for fileID with the given chunk size.
func seal(tb testing.TB, plain, key []byte, fileID string, chunkSize int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := sealed.NewWriterSize(&buf, key, fileID, chunkSize)
	if err != nil {
		tb.Fatal(err)
	}
	// Write in uneven pieces to exercise buffering.
	for p := plain; len(p) > 0; {
		n := min(len(p), 1+len(p)%7919)
		if _, err := w.Write(p[:n]); err != nil {
			tb.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if w.Size() != int64(len(plain)) || w.Sum() != sha256.Sum256(plain) {
		tb.Fatalf("Writer Size/Sum = %d/%x, want %d/%x", w.Size(), w.Sum(), len(plain), sha256.Sum256(plain))
	}
	if int64(buf.Len()) != w.SealedSize() || int64(buf.Len()) != sealed.SealedSizeChunk(int64(len(plain)), chunkSize) {
		tb.Fatalf("sealed %d bytes into %d, SealedSize says %d", len(plain), buf.Len(), w.SealedSize())
	}
	return buf.Bytes()
}

// opener serves ranges of b, counting the bytes it hands out.
type opener struct {
	b     []byte
	calls int
	bytes int64
}

func (o *opener) open(off, n int64) (io.ReadCloser, error) {
	o.calls++
	if off < 0 || n < 0 || off+n > int64(len(o.b)) {
		return nil, fmt.Errorf("open(%d, %d) outside %d bytes", off, n, len(o.b))
	}
	o.bytes += n
	return io.NopCloser(bytes.NewReader(o.b[off : off+n])), nil
}

func open(tb testing.TB, b, key []byte, fileID string) (*sealed.Reader, *opener, error) {
	o := &opener{b: b}
	r, err := sealed.NewReader(o.open, int64(len(b)), key, fileID)
	return r, o, err
}

func readRange(r *sealed.Reader, off, n int64) ([]byte, error) {
	rc, err := r.ReadRange(off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk - 1, 3 * chunk, 3*chunk + 1} {
		plain := blobtest.Pattern(uint64(n), n)
		s := seal(t, plain, key, "file1", chunk)
		if int64(len(s)) != sealed.SealedSize(int64(n)) {
			t.Fatalf("%d bytes: sealed %d, SealedSize %d", n, len(s), sealed.SealedSize(int64(n)))
		}
		if n > 64 && bytes.Contains(s, plain[:64]) {
			t.Fatalf("%d bytes: plaintext visible in the sealed stream", n)
		}
		r, _, err := open(t, s, key, "file1")
		if err != nil {
			t.Fatalf("%d bytes: NewReader: %v", n, err)
		}
		if r.Size() != int64(n) {
			t.Fatalf("%d bytes: Size = %d", n, r.Size())
		}
		got, err := readRange(r, 0, -1)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: read %d bytes, %v", n, len(got), err)
		}
	}
}

func TestChunkSizes(t *testing.T) {
	key := newKey(t)
	for _, cs := range []int{sealed.MinChunkSize, sealed.MaxChunkSize} {
		plain := blobtest.Pattern(9, 2*cs+5)
		s := seal(t, plain, key, "f", cs)
		r, _, err := open(t, s, key, "f")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readRange(r, int64(cs)-3, int64(cs)+6); err != nil || !bytes.Equal(got, plain[cs-3:2*cs+3]) {
			t.Fatalf("chunk %d: range across chunks: %v", cs, err)
		}
	}
	for _, cs := range []int{sealed.MinChunkSize - 1, sealed.MaxChunkSize + 1} {
		if _, err := sealed.NewWriterSize(io.Discard, key, "f", cs); err == nil {
			t.Errorf("NewWriterSize(%d) accepted", cs)
		}
	}
	if _, err := sealed.NewWriter(io.Discard, key[:16], "f"); err == nil {
		t.Error("NewWriter accepted a 16-byte key")
	}
}

// TestRanges reads every range of small files (chunks of the minimum size)
// and compares with the plaintext; it also checks only the chunks needed
// are fetched.
func TestRanges(t *testing.T) {
	key := newKey(t)
	const cs = sealed.MinChunkSize
	for _, n := range []int{0, 1, 5, cs - 1, cs, cs + 1, 2*cs + 3} {
		plain := blobtest.Pattern(uint64(n)+1, n)
		s := seal(t, plain, key, "r", cs)
		r, o, err := open(t, s, key, "r")
		if err != nil {
			t.Fatal(err)
		}
		var points []int64
		for _, p := range []int64{0, 1, 2, 3, 4, cs - 2, cs - 1, cs, cs + 1, cs + 2, 2*cs - 1, 2 * cs, 2*cs + 1, int64(n) - 1, int64(n), int64(n) + 1} {
			if p >= 0 && p <= int64(n)+1 {
				points = append(points, p)
			}
		}
		for _, off := range points {
			for _, end := range points {
				if end < off {
					continue
				}
				o.calls, o.bytes = 0, 0
				got, err := readRange(r, off, end-off)
				lo, hi := min(off, int64(n)), min(end, int64(n))
				if err != nil || !bytes.Equal(got, plain[lo:hi]) {
					t.Fatalf("size %d: ReadRange(%d, %d) = %d bytes, %v; want %d bytes", n, off, end-off, len(got), err, hi-lo)
				}
				if hi > lo {
					chunks := (hi-1)/cs - lo/cs + 1
					if o.calls != 1 || o.bytes > chunks*(cs+sealed.TagSize) {
						t.Fatalf("size %d: ReadRange(%d, %d) fetched %d bytes in %d calls, want ≤ %d chunks in 1", n, off, end-off, o.bytes, o.calls, chunks)
					}
				}
			}
			if got, err := readRange(r, off, -1); err != nil || !bytes.Equal(got, plain[min(off, int64(n)):]) {
				t.Fatalf("size %d: ReadRange(%d, -1): %v", n, off, err)
			}
		}
		if _, err := r.ReadRange(-1, 1); err == nil {
			t.Fatal("ReadRange(-1, 1) accepted")
		}
	}
}

func isIntegrity(err error) bool { return errors.Is(err, sealed.ErrIntegrity) }

// readAll opens b and reads it whole, returning the first error.
func readAll(b, key []byte, fileID string) ([]byte, error) {
	o := &opener{b: b}
	r, err := sealed.NewReader(o.open, int64(len(b)), key, fileID)
	if err != nil {
		return nil, err
	}
	return readRange(r, 0, -1)
}

// mustFail checks that reading b fails with ErrIntegrity and that what was
// returned before the failure is a prefix of the plaintext.
func mustFail(t *testing.T, what string, b, key []byte, fileID string, plain []byte) {
	t.Helper()
	got, err := readAll(b, key, fileID)
	if !isIntegrity(err) {
		t.Fatalf("%s: read %d bytes, err %v; want ErrIntegrity", what, len(got), err)
	}
	if !bytes.HasPrefix(plain, got) {
		t.Fatalf("%s: returned bytes that are not the plaintext", what)
	}
}

func TestTamper(t *testing.T) {
	key := newKey(t)
	const cs = sealed.MinChunkSize
	const full = cs + sealed.TagSize
	plain := blobtest.Pattern(5, 3*cs-7) // 3 chunks, the last short
	s := seal(t, plain, key, "f1", cs)
	h := int64(sealed.HeaderSize)
	if got, err := readAll(s, key, "f1"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("untouched: %v", err)
	}
	cp := func() []byte { return bytes.Clone(s) }

	// A bit flipped in every region: each header byte, the start, middle
	// and end of each chunk body, and each tag byte.
	var spots []int64
	for i := int64(0); i < h; i++ {
		spots = append(spots, i)
	}
	for c := int64(0); c < 3; c++ {
		start := h + c*full
		end := min(start+full, int64(len(s)))
		spots = append(spots, start, start+1, (start+end)/2, end-sealed.TagSize-1)
		for i := end - sealed.TagSize; i < end; i++ {
			spots = append(spots, i)
		}
	}
	for _, i := range spots {
		b := cp()
		b[i] ^= 0x10
		mustFail(t, fmt.Sprintf("bit flipped at %d", i), b, key, "f1", plain)
	}

	// Truncated at each chunk boundary and mid-chunk, and to nothing.
	for _, n := range []int64{0, 1, h - 1, h, h + 1, h + full/2, h + full - 1, h + full, h + full + 1, h + 2*full, h + 2*full + 100, int64(len(s)) - 1} {
		mustFail(t, fmt.Sprintf("truncated to %d", n), cp()[:n], key, "f1", plain)
	}

	// Two chunks swapped.
	b := cp()
	copy(b[h:h+full], s[h+full:h+2*full])
	copy(b[h+full:h+2*full], s[h:h+full])
	mustFail(t, "chunks 0 and 1 swapped", b, key, "f1", plain)

	// The last chunk duplicated; a middle chunk duplicated in place of the last.
	mustFail(t, "last chunk duplicated", append(cp(), s[h+2*full:]...), key, "f1", plain)
	b = append(cp()[:h+2*full], s[h+full:h+2*full]...)
	mustFail(t, "chunk 1 repeated as the last", b, key, "f1", plain)
	// A chunk removed from the middle.
	b = append(cp()[:h+full], s[h+2*full:]...)
	mustFail(t, "chunk 1 removed", b, key, "f1", plain)

	// Junk appended, of several lengths.
	for _, n := range []int{1, sealed.TagSize, full, full + 1} {
		mustFail(t, fmt.Sprintf("%d junk bytes appended", n), append(cp(), make([]byte, n)...), key, "f1", plain)
	}

	// Another file id, another key.
	mustFail(t, "opened as another file", cp(), key, "f2", plain)
	mustFail(t, "opened under another key", cp(), newKey(t), "f1", plain)

	// A chunk taken from another file sealed under the same key and at the
	// same place.
	other := seal(t, plain, key, "f2", cs)
	b = cp()
	copy(b[h+full:h+2*full], other[h+full:h+2*full])
	mustFail(t, "chunk from another file", b, key, "f1", plain)
	// Same key and file id but another stream (another salt).
	again := seal(t, plain, key, "f1", cs)
	b = cp()
	copy(b[h+full:h+2*full], again[h+full:h+2*full])
	mustFail(t, "chunk from another sealing of the same file", b, key, "f1", plain)
	b = bytes.Clone(again)
	copy(b[:h], s[:h])
	mustFail(t, "header from another sealing", b, key, "f1", plain)

	// An empty file truncated to its header, or its final chunk replaced
	// by a non-final one.
	empty := seal(t, nil, key, "e", cs)
	mustFail(t, "empty file without its chunk", empty[:h], key, "e", nil)
}

// TestTamperRanges checks a ranged read over a damaged chunk fails while
// a range over intact chunks still reads.
func TestTamperRanges(t *testing.T) {
	key := newKey(t)
	const cs = sealed.MinChunkSize
	plain := blobtest.Pattern(6, 3*cs)
	s := seal(t, plain, key, "f", cs)
	s[sealed.HeaderSize+cs+sealed.TagSize+10] ^= 1 // chunk 1
	r, _, err := open(t, s, key, "f")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readRange(r, 10, cs); !isIntegrity(err) || !bytes.Equal(got, plain[10:cs]) {
		t.Fatalf("range over chunks 0-1: %d bytes, %v; want chunk 0's part then ErrIntegrity", len(got), err)
	}
	if got, err := readRange(r, cs+5, 1); !isIntegrity(err) || len(got) != 0 {
		t.Fatalf("range in chunk 1: %d bytes, %v", len(got), err)
	}
	if got, err := readRange(r, 2*cs, cs); err != nil || !bytes.Equal(got, plain[2*cs:]) {
		t.Fatalf("range over chunk 2: %v", err)
	}
}

func TestReaderArguments(t *testing.T) {
	key := newKey(t)
	s := seal(t, []byte("x"), key, "f", chunk)
	if _, _, err := open(t, s, key[:31], "f"); err == nil || isIntegrity(err) {
		t.Errorf("31-byte key: %v, want an argument error", err)
	}
	o := &opener{b: s}
	boom := errors.New("store down")
	if _, err := sealed.NewReader(func(int64, int64) (io.ReadCloser, error) { return nil, boom }, int64(len(s)), key, "f"); err != boom {
		t.Errorf("open failing: %v, want its error", err)
	}
	r, err := sealed.NewReader(o.open, int64(len(s)), key, "f")
	if err != nil {
		t.Fatal(err)
	}
	o.b = nil // the store lost the blob: the read fails, and not as a forgery
	if _, err := readRange(r, 0, -1); err == nil || isIntegrity(err) {
		t.Errorf("open failing on read: %v", err)
	}
}

// pieces yields its bytes in reads of at most max bytes, and its error
// (io.EOF when nil) with the last bytes when together is set.
type pieces struct {
	b        []byte
	max      int
	err      error
	together bool
}

func (p *pieces) Read(b []byte) (int, error) {
	end := p.err
	if end == nil {
		end = io.EOF
	}
	if len(p.b) == 0 {
		return 0, end
	}
	n := copy(b[:min(len(b), p.max)], p.b)
	p.b = p.b[n:]
	if len(p.b) == 0 && p.together {
		return n, end
	}
	return n, nil
}

// TestReadFrom: ReadFrom seals what it reads into the same layout as
// Write (a full last chunk is final, never followed by an empty one),
// whatever the pieces the reader hands out and however it signals EOF,
// and stops at the reader's error.
func TestReadFrom(t *testing.T) {
	key := newKey(t)
	const cs = sealed.MinChunkSize
	for _, n := range []int{0, 1, cs - 1, cs, cs + 1, 2*cs - 1, 2 * cs, 2*cs + 1} {
		plain := blobtest.Pattern(uint64(n), n)
		for _, r := range []*pieces{{b: plain, max: 1 << 30}, {b: plain, max: 4096, together: true}, {b: plain, max: 7919}} {
			var buf bytes.Buffer
			w, err := sealed.NewWriterSize(&buf, key, "f", cs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.Copy(w, r) // through ReadFrom
			if err != nil || got != int64(n) {
				t.Fatalf("%d bytes: ReadFrom = %d, %v", n, got, err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Size() != int64(n) || w.Sum() != sha256.Sum256(plain) || int64(buf.Len()) != sealed.SealedSizeChunk(int64(n), cs) {
				t.Fatalf("%d bytes: Size %d, sealed %d, want %d", n, w.Size(), buf.Len(), sealed.SealedSizeChunk(int64(n), cs))
			}
			back, err := readAll(buf.Bytes(), key, "f")
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("%d bytes (pieces of %d): read back %d bytes, %v", n, r.max, len(back), err)
			}
		}
	}
	boom := errors.New("boom")
	w, err := sealed.NewWriterSize(io.Discard, key, "f", cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(&pieces{b: blobtest.Pattern(1, 3*cs), max: 5000, err: boom}); err != boom {
		t.Fatalf("ReadFrom of a failing reader: %v, want its error", err)
	}
}

// failAfter accepts n bytes, then fails.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterFailingSink: sealed chunks are written on another goroutine,
// but a failure of the underlying writer still reaches the caller, by the
// next Write, ReadFrom or by Close, and Close never reports success.
func TestWriterFailingSink(t *testing.T) {
	key := newKey(t)
	const cs = sealed.MinChunkSize
	boom := errors.New("disk full")
	for _, after := range []int{sealed.HeaderSize, sealed.HeaderSize + cs + sealed.TagSize, sealed.HeaderSize + 3*(cs+sealed.TagSize)} {
		for _, viaReadFrom := range []bool{false, true} {
			w, err := sealed.NewWriterSize(&failAfter{n: after, err: boom}, key, "f", cs)
			if err != nil {
				t.Fatal(err)
			}
			plain := blobtest.Pattern(2, 6*cs)
			if viaReadFrom {
				_, err = w.ReadFrom(bytes.NewReader(plain))
			} else {
				_, err = w.Write(plain)
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if !errors.Is(err, boom) {
				t.Fatalf("sink failing after %d bytes (ReadFrom %v): %v, want its error", after, viaReadFrom, err)
			}
			if err := w.Close(); !errors.Is(err, boom) {
				t.Fatalf("Close again after a failed write: %v", err)
			}
		}
	}
	// A sink failing on the final chunk only: Close reports it.
	w, _ := sealed.NewWriterSize(&failAfter{n: sealed.HeaderSize + cs + sealed.TagSize, err: boom}, key, "f", cs)
	if _, err := w.Write(blobtest.Pattern(3, cs+10)); err != nil {
		t.Fatalf("Write before the failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close with the final chunk's write failing: %v", err)
	}
}

// slowSink takes 5 ms per write and notes whether one is under way.
type slowSink struct {
	busy, writes atomic.Int32
}

func (s *slowSink) Write(p []byte) (int, error) {
	s.busy.Add(1)
	time.Sleep(5 * time.Millisecond)
	s.writes.Add(1)
	s.busy.Add(-1)
	return len(p), nil
}

// TestAbandon: once Abandon returns no write is under way or to come, and
// the Writer refuses more.
func TestAbandon(t *testing.T) {
	sink := &slowSink{}
	w, err := sealed.NewWriterSize(sink, newKey(t), "f", sealed.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("client went away")
	if _, err := w.ReadFrom(&pieces{b: blobtest.Pattern(4, 3*sealed.MinChunkSize+1), max: 1 << 20, err: boom, together: true}); err != boom {
		t.Fatalf("ReadFrom: %v", err)
	}
	w.Abandon()
	n := sink.writes.Load()
	if sink.busy.Load() != 0 || n != 4 { // the header and 3 full chunks
		t.Fatalf("after Abandon: %d writes under way, %d done, want 0 and 4", sink.busy.Load(), n)
	}
	time.Sleep(20 * time.Millisecond)
	if sink.writes.Load() != n {
		t.Fatal("a write came after Abandon")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abandon succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after Abandon succeeded")
	}
}
