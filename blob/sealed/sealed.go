// Package sealed encrypts a stream in chunks so that any byte range can be
// read back, decrypting only the chunks it covers, and so that no change to
// the stored bytes goes unnoticed: a flipped bit, a truncation, reordered,
// swapped, duplicated or appended chunks, or a chunk taken from another file
// all fail with ErrIntegrity. It holds no keys: the caller gives each file a
// random 32-byte key (package files wraps it with the notebook key).
//
// Layout (version 1), all integers big-endian:
//
//	header  magic "CFSF" | version 1 (1 byte) | chunk size (4) | salt (16) | nonce prefix (4) | HMAC-SHA256 (32)
//	chunk 0 ciphertext of chunk-size plaintext bytes | 16-byte GCM tag
//	...
//	chunk n final: ciphertext of 1..chunk-size bytes (0 only for an empty file) | tag
//
// From the file key, the salt and the file id, HKDF-SHA256 derives a MAC key
// (the header's HMAC, checked before anything else is used) and a chunk key
// for AES-256-GCM. Chunk i is sealed with nonce = prefix | i (8 bytes) and
// associated data = header | i (8 bytes) | final flag (1 byte) | file id.
// A full chunk is sealed as final only when no byte follows it, so the
// sealed size alone tells where each chunk ends and which one is final.
// Plaintext is released only after its chunk's tag has been checked.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cofferhq/coffer"
)

const (
	// KeySize is the size of a file key.
	KeySize = 32
	// TagSize is what sealing adds to each chunk.
	TagSize = 16
	// HeaderSize is the size of the header.
	HeaderSize = 4 + 1 + 4 + 16 + 4 + 32
	// ChunkSize is the plaintext size of the chunks NewWriter writes.
	ChunkSize = 256 << 10
	// MinChunkSize and MaxChunkSize bound the chunk sizes written and read.
	MinChunkSize = 64 << 10
	MaxChunkSize = 1 << 20

	version  = 1
	magic    = "CFSF"
	macOff   = HeaderSize - 32
	infoMAC  = "coffer sealed file v1 header\x00"
	infoAEAD = "coffer sealed file v1 chunks\x00"
)

// ErrIntegrity is returned (possibly wrapped) when sealed data fails its
// checks: it was changed, cut, reordered, or sealed under another key or
// file id.
var ErrIntegrity = errors.New("sealed: integrity check failed")

func integrity(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrIntegrity}, args...)...)
}

// SealedSize returns the sealed size of plainSize bytes in chunks of
// ChunkSize.
func SealedSize(plainSize int64) int64 { return SealedSizeChunk(plainSize, ChunkSize) }

// SealedSizeChunk returns the sealed size of plainSize bytes in chunks of
// chunkSize.
func SealedSizeChunk(plainSize int64, chunkSize int) int64 {
	n := (plainSize + int64(chunkSize) - 1) / int64(chunkSize)
	if n == 0 {
		n = 1
	}
	return HeaderSize + plainSize + n*TagSize
}

type keys struct {
	aead   cipher.AEAD
	macKey []byte
}

func derive(key, salt []byte, fileID string) (keys, error) {
	if len(key) != KeySize {
		e := coffer.Errorf(coffer.EINVALID, "a file key has %d bytes", KeySize)
		e.Op = "sealed"
		return keys{}, e
	}
	mk, err := hkdf.Key(sha256.New, key, salt, infoMAC+fileID, 32)
	if err != nil {
		return keys{}, err
	}
	ck, err := hkdf.Key(sha256.New, key, salt, infoAEAD+fileID, 32)
	if err != nil {
		return keys{}, err
	}
	block, err := aes.NewCipher(ck)
	if err != nil {
		return keys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keys{}, err
	}
	return keys{aead: aead, macKey: mk}, nil
}

func headerMAC(macKey, hdr []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(hdr[:macOff])
	return m.Sum(nil)
}

// chunker holds what sealing and opening chunks share.
type chunker struct {
	keys
	hdr    [HeaderSize]byte
	fileID string
	nonce  [12]byte
	aad    []byte // header | index | final | file id
}

func (c *chunker) init(k keys, fileID string) {
	c.keys, c.fileID = k, fileID
	copy(c.nonce[:4], c.hdr[25:29])
	c.aad = make([]byte, 0, HeaderSize+9+len(fileID))
	c.aad = append(c.aad, c.hdr[:]...)
	c.aad = append(c.aad, make([]byte, 9)...)
	c.aad = append(c.aad, fileID...)
}

func (c *chunker) set(index uint64, final bool) {
	binary.BigEndian.PutUint64(c.nonce[4:], index)
	binary.BigEndian.PutUint64(c.aad[HeaderSize:], index)
	c.aad[HeaderSize+8] = 0
	if final {
		c.aad[HeaderSize+8] = 1
	}
}

// Writer seals what is written to it into an underlying writer. Close seals
// the final chunk; it does not close the underlying writer. The SHA-256 of
// the plaintext is computed alongside: chunk i is hashed on another
// goroutine while it is sealed and chunk i+1 is filled, so the hash costs
// little time on a machine with two cores. Each sealed chunk is written
// whole, in one Write, on a goroutine of its own while the next chunk is
// filled and sealed (one write pending at a time, in order): a write that
// blocks (a disk behind, a slow network) does not stop the reading. An
// error of the underlying writer is returned by a later Write, ReadFrom or
// Close.
type Writer struct {
	chunker
	w      io.Writer
	bufs   [2][]byte // plaintext chunks: one filled while the other is hashed
	cur    int       // the buffer being filled
	outs   [2][]byte // sealed chunks: one sealed into while the other is written
	curOut int       // the buffer sealed into next
	n      int       // bytes in bufs[cur]
	chunk  int
	index  uint64
	size   int64
	sum    hash.Hash
	hashed chan struct{} // receives when the pending hash is done; nil when none
	wrote  chan error    // receives the pending write's error; nil when none
	err    error
	closed bool
}

// NewWriter returns a Writer sealing into w under key (KeySize random bytes,
// used for this file only) and bound to fileID, in chunks of ChunkSize. It
// writes the header to w at once.
func NewWriter(w io.Writer, key []byte, fileID string) (*Writer, error) {
	return NewWriterSize(w, key, fileID, ChunkSize)
}

// NewWriterSize is NewWriter with a chunk size between MinChunkSize and
// MaxChunkSize.
func NewWriterSize(w io.Writer, key []byte, fileID string, chunkSize int) (*Writer, error) {
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("sealed: chunk size %d out of [%d, %d]", chunkSize, MinChunkSize, MaxChunkSize)
	}
	sw := &Writer{w: w, chunk: chunkSize, sum: sha256.New(),
		outs: [2][]byte{make([]byte, 0, chunkSize+TagSize), make([]byte, 0, chunkSize+TagSize)},
		bufs: [2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}}
	h := sw.hdr[:]
	copy(h, magic)
	h[4] = version
	binary.BigEndian.PutUint32(h[5:], uint32(chunkSize))
	if _, err := rand.Read(h[9:29]); err != nil { // salt and nonce prefix
		return nil, err
	}
	k, err := derive(key, h[9:25], fileID)
	if err != nil {
		return nil, err
	}
	copy(h[macOff:], headerMAC(k.macKey, h))
	sw.init(k, fileID)
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return sw, nil
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("sealed: write after close")
	}
	written := 0
	for len(p) > 0 {
		if w.n == w.chunk {
			if err := w.seal(false); err != nil {
				return written, err
			}
		}
		c := copy(w.bufs[w.cur][w.n:], p)
		w.n += c
		w.size += int64(c)
		written += c
		p = p[c:]
	}
	return written, nil
}

// ReadFrom implements io.ReaderFrom: it reads r to its end straight into
// the chunk being filled (no copy through another buffer), sealing chunks
// as they fill, as Write does. It does not Close.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.err != nil {
			return total, w.err
		}
		if w.closed {
			return total, errors.New("sealed: write after close")
		}
		if w.n == w.chunk {
			// A full chunk is sealed as final unless a byte follows:
			// look one byte ahead before sealing it.
			var one [1]byte
			m, err := r.Read(one[:])
			if m == 1 {
				if err := w.seal(false); err != nil {
					return total, err
				}
				w.bufs[w.cur][0] = one[0]
				w.n, w.size, total = 1, w.size+1, total+1
			}
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			continue
		}
		m, err := r.Read(w.bufs[w.cur][w.n:w.chunk])
		w.n += m
		w.size += int64(m)
		total += int64(m)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// waitWrite waits for the pending write of a sealed chunk, if any, and
// returns the Writer's error.
func (w *Writer) waitWrite() error {
	if w.wrote != nil {
		if err := <-w.wrote; err != nil && w.err == nil {
			w.err = err
		}
		w.wrote = nil
	}
	return w.err
}

// waitHash waits for the pending hash, if any.
func (w *Writer) waitHash() {
	if w.hashed != nil {
		<-w.hashed
		w.hashed = nil
	}
}

func (w *Writer) seal(final bool) error {
	plain := w.bufs[w.cur][:w.n]
	w.waitHash() // of the other buffer: hashes go in order
	done := make(chan struct{}, 1)
	w.hashed = done
	go func() {
		w.sum.Write(plain)
		done <- struct{}{}
	}()
	w.set(w.index, final)
	out := w.aead.Seal(w.outs[w.curOut][:0], w.nonce[:], plain, w.aad)
	// The previous chunk's write used the other buffer: wait for it, so
	// that writes go in order, one at a time.
	if err := w.waitWrite(); err != nil {
		return err
	}
	wrote := make(chan error, 1)
	w.wrote = wrote
	go func() {
		_, err := w.w.Write(out)
		wrote <- err
	}()
	w.curOut = 1 - w.curOut
	w.index++
	w.cur, w.n = 1-w.cur, 0
	return nil
}

// Close seals the final chunk (an empty stream still has one) and
// returns once everything is written to the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		w.waitHash()
		w.waitWrite()
		return w.err
	}
	if w.closed {
		return nil
	}
	err := w.seal(true)
	if werr := w.waitWrite(); err == nil {
		err = werr
	}
	w.waitHash()
	if err != nil {
		return err
	}
	w.closed = true
	return nil
}

// Abandon stops the Writer without sealing a final chunk, when what is
// being written is given up: it waits for the pending hash and write, so
// that nothing touches the underlying writer once it returns. Later
// calls fail.
func (w *Writer) Abandon() {
	w.waitHash()
	w.waitWrite()
	if w.err == nil {
		w.err = errors.New("sealed: writer abandoned")
	}
}

// Size returns the number of plaintext bytes written.
func (w *Writer) Size() int64 { return w.size }

// SealedSize returns the number of bytes written to the underlying writer
// once the Writer is closed.
func (w *Writer) SealedSize() int64 { return SealedSizeChunk(w.size, w.chunk) }

// Sum returns the SHA-256 of the plaintext, once the Writer is closed.
func (w *Writer) Sum() [sha256.Size]byte {
	if !w.closed {
		panic("sealed: Sum before Close")
	}
	var s [sha256.Size]byte
	w.sum.Sum(s[:0])
	return s
}

// Reader reads byte ranges of a sealed stream.
type Reader struct {
	chunker
	open    func(off, n int64) (io.ReadCloser, error)
	chunk   int64
	nChunks int64
	lastLen int64 // sealed length of the final chunk
	sealed  int64
	size    int64
}

// NewReader reads and checks the header of a sealed stream of sealedSize
// bytes, sealed under key for fileID. open(off, n) must return n bytes of
// the stream from off (the blob store's ranged Open). A header that does
// not check, or a size no chunking can produce, is ErrIntegrity.
func NewReader(open func(off, n int64) (io.ReadCloser, error), sealedSize int64, key []byte, fileID string) (*Reader, error) {
	if len(key) != KeySize {
		_, err := derive(key, nil, fileID)
		return nil, err
	}
	if sealedSize < HeaderSize+TagSize {
		return nil, integrity("sealed size %d too small", sealedSize)
	}
	r := &Reader{open: open, sealed: sealedSize}
	rc, err := open(0, HeaderSize)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(rc, r.hdr[:])
	rc.Close()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, integrity("short header")
	}
	if err != nil {
		return nil, err
	}
	h := r.hdr[:]
	if string(h[:4]) != magic || h[4] != version {
		return nil, integrity("not a sealed stream of version %d", version)
	}
	k, err := derive(key, h[9:25], fileID)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(headerMAC(k.macKey, h), h[macOff:]) {
		return nil, integrity("header")
	}
	r.chunk = int64(binary.BigEndian.Uint32(h[5:]))
	if r.chunk < MinChunkSize || r.chunk > MaxChunkSize {
		return nil, integrity("chunk size %d", r.chunk)
	}
	body := sealedSize - HeaderSize
	full := r.chunk + TagSize
	r.nChunks = (body + full - 1) / full
	r.lastLen = body - (r.nChunks-1)*full
	if r.lastLen < TagSize || r.lastLen == TagSize && r.nChunks > 1 {
		return nil, integrity("sealed size %d", sealedSize)
	}
	r.size = body - r.nChunks*TagSize
	r.init(k, fileID)
	return r, nil
}

// Size returns the plaintext size.
func (r *Reader) Size() int64 { return r.size }

// ReadRange returns a reader of n plaintext bytes from off (n -1: to the
// end), opening only the chunks that hold them. A range running past the
// end is cut at the end. Integrity failures surface on Read as ErrIntegrity;
// bytes are returned only from chunks whose tag checked.
func (r *Reader) ReadRange(off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < -1 {
		e := coffer.Errorf(coffer.EINVALID, "a range has an offset ≥ 0 and a length ≥ -1")
		e.Op = "sealed.ReadRange"
		return nil, e
	}
	if off > r.size {
		off = r.size
	}
	if n < 0 || n > r.size-off {
		n = r.size - off
	}
	if n == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	first, last := off/r.chunk, (off+n-1)/r.chunk
	full := r.chunk + TagSize
	start := HeaderSize + first*full
	end := HeaderSize + (last+1)*full
	if end > r.sealed {
		end = r.sealed
	}
	src, err := r.open(start, end-start)
	if err != nil {
		return nil, err
	}
	cr := &rangeReader{r: r, src: src, next: first, last: last,
		skip: off - first*r.chunk, end: off + n - last*r.chunk,
		buf: make([]byte, full)}
	cr.c = r.chunker
	cr.c.aad = append([]byte(nil), r.aad...) // each reader sets its own index
	return cr, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type rangeReader struct {
	r          *Reader
	c          chunker
	src        io.ReadCloser
	next, last int64 // next chunk to read, last chunk of the range
	skip, end  int64 // plaintext offset in the first chunk; end in the last
	buf        []byte
	plain      []byte // checked plaintext not yet returned
	err        error
}

func (cr *rangeReader) Read(p []byte) (int, error) {
	for len(cr.plain) == 0 {
		if cr.err != nil {
			return 0, cr.err
		}
		if cr.next > cr.last {
			cr.err = io.EOF
			return 0, io.EOF
		}
		cr.err = cr.fill()
	}
	n := copy(p, cr.plain)
	cr.plain = cr.plain[n:]
	return n, nil
}

// fill reads, checks and decrypts the next chunk.
func (cr *rangeReader) fill() error {
	i := cr.next
	final := i == cr.r.nChunks-1
	clen := cr.r.chunk + TagSize
	if final {
		clen = cr.r.lastLen
	}
	if _, err := io.ReadFull(cr.src, cr.buf[:clen]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return integrity("chunk %d is short", i)
		}
		return err
	}
	cr.c.set(uint64(i), final)
	plain, err := cr.c.aead.Open(cr.buf[:0], cr.c.nonce[:], cr.buf[:clen], cr.c.aad)
	if err != nil {
		return integrity("chunk %d", i)
	}
	lo, hi := int64(0), int64(len(plain))
	if i == cr.last {
		hi = cr.end
	}
	if i == cr.next && cr.skip > 0 {
		lo, cr.skip = cr.skip, 0
	}
	cr.plain = plain[lo:hi]
	cr.next++
	return nil
}

func (cr *rangeReader) Close() error { return cr.src.Close() }
