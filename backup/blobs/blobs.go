// Package blobs backs up the file blobs of a notebook so that none is ever
// copied twice. A file's blob is copied as it is in the files store, still
// sealed under its own file key (blob/sealed), which the notebook key
// wraps: nothing here decrypts, and a location holds no key.
//
// Each file gets a content id: HMAC-SHA256, under a per-notebook MAC key
// the caller derives from the notebook key, of the file's id and the
// SHA-256 of its plaintext, in hex. A location therefore reveals neither
// file ids nor content hashes, and two notebooks never share an object.
//
// Objects under blobs/<notebook>/ are immutable:
//
//	blobs/<nb>/<content id>      one blob of SmallSize bytes or more, as is
//	blobs/<nb>/pack-<random>     several smaller blobs, after a header
//
// A pack is self-describing: magic "CFBP", version 1 (1 byte), the length
// of a JSON header (4 bytes, big-endian), then the header, a list of
// {"cid", "off", "len"} (off from the start of the pack object), then the
// blobs. There is no separate index to keep in step: Backup lists
// blobs/<nb>/ and reads the pack headers to learn what the location holds,
// so objects removed by a sweep, or packs left by a run that crashed, are
// seen as they are. A snapshot's manifest records the Entry of every blob
// it references; the objects of those entries are what a sweep keeps.
package blobs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strconv"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

const (
	// SmallSize is the size under which blobs are packed.
	SmallSize = 64 << 10
	// PackSize is the size past which a pack being filled is written out.
	PackSize = 8 << 20
	// MinKeySize is the shortest MAC key accepted.
	MinKeySize = 16
)

// Ref is a live file's sealed blob in the files store.
type Ref struct {
	FileID  string // the file's id (coffer.File.ID)
	SHA256  string // hex SHA-256 of its plaintext (coffer.File.SHA256)
	BlobKey string // its key in the files store (notebooks.BlobKey)
	// Size is the size of the sealed blob in the files store
	// (sealed.SealedSize of the plaintext size); 0 or less: unknown,
	// Backup asks the files store.
	Size int64
}

// Entry says where a blob's bytes sit in a location: Length bytes of
// Object from Offset. Entries are recorded in snapshot manifests.
type Entry struct {
	ContentID string `json:"cid"`
	Object    string `json:"object"` // key in the location
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
}

// Prefix returns the key prefix of notebook's blob objects.
func Prefix(notebook string) string { return "blobs/" + notebook + "/" }

// ContentID returns the content id of a file: HMAC-SHA256 under macKey of
// its id and plaintext SHA-256, in hex.
func ContentID(macKey []byte, fileID, sha256Hex string) string {
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte("coffer backup blob v1\x00"))
	m.Write([]byte(fileID))
	m.Write([]byte{0})
	m.Write([]byte(sha256Hex))
	return hex.EncodeToString(m.Sum(nil))
}

// Objects returns the distinct objects entries use, sorted: what a sweep
// must keep for them.
func Objects(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Object)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Slice returns the entries of part i of n (i taken modulo n), by content
// id: the parts of n consecutive values of i are disjoint and together
// hold every entry, so a drill that reads Slice(entries, week, n) each
// week reads every blob once every n weeks. n < 1 counts as 1.
func Slice(entries []Entry, i, n int) []Entry {
	if n < 1 {
		n = 1
	}
	part := uint64(((i % n) + n) % n)
	var out []Entry
	for _, e := range entries {
		var h uint64
		if len(e.ContentID) >= 16 {
			h, _ = strconv.ParseUint(e.ContentID[:16], 16, 64)
		}
		if h%uint64(n) == part {
			out = append(out, e)
		}
	}
	return out
}

// Open opens the file whose blob e locates in src with its file key and
// id (what package files keeps, the key unwrapped): reads of it check the
// sealed blob's integrity (blob/sealed).
func Open(ctx context.Context, src blob.Store, e Entry, fileKey []byte, fileID string) (*sealed.Reader, error) {
	return sealed.NewReader(Opener(ctx, src, e), e.Length, fileKey, fileID)
}

// Backup makes sure every ref's sealed blob is in dst under
// Prefix(notebook), copying only those not there yet, and returns the
// Entry of every ref (those already there and those copied), in the order
// of refs. Blobs of SmallSize bytes or more become one object each, named
// by content id; smaller ones are packed. A ref whose blob is missing in
// files is an ENOTFOUND error; a blob whose size is not the ref's Size is
// an EINTEGRITY error. Nothing already in dst is rewritten. Two Backups of
// one notebook, or a Backup and a Sweep of its blobs, must not run at the
// same time.
func Backup(ctx context.Context, macKey []byte, files, dst blob.Store, notebook string, refs []Ref) ([]Entry, error) {
	if len(macKey) < MinKeySize {
		return nil, coffer.Errorf(coffer.EINVALID, "a blob MAC key has at least %d bytes", MinKeySize)
	}
	if err := blob.ValidPrefix(Prefix(notebook)); err != nil {
		return nil, err
	}
	return backup(ctx, macKey, files, dst, notebook, refs)
}

// Fetch returns a reader of the blob e locates in src: exactly e.Length
// bytes, or an error (a short object reads as io.ErrUnexpectedEOF). The
// bytes are the sealed blob as it was in the files store; opening it with
// the file key (blob/sealed) checks their integrity.
func Fetch(ctx context.Context, src blob.Store, e Entry) (io.ReadCloser, error) {
	if e.Offset < 0 || e.Length < 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "a blob entry has a non-negative offset and length")
	}
	rc, err := src.Open(ctx, e.Object, e.Offset, e.Length)
	if err != nil {
		return nil, err
	}
	return &fullReader{rc: rc, left: e.Length}, nil
}

// Opener returns a function reading ranges of the blob e locates in src,
// in the shape sealed.NewReader takes, with e.Length as the sealed size.
func Opener(ctx context.Context, src blob.Store, e Entry) func(off, n int64) (io.ReadCloser, error) {
	return func(off, n int64) (io.ReadCloser, error) {
		if off < 0 || n < -1 {
			return nil, coffer.Errorf(coffer.EINVALID, "a blob range has an offset ≥ 0 and a length ≥ -1")
		}
		off = min(off, e.Length)
		if n < 0 || n > e.Length-off {
			n = e.Length - off
		}
		return Fetch(ctx, src, Entry{ContentID: e.ContentID, Object: e.Object, Offset: e.Offset + off, Length: n})
	}
}

// fullReader reads rc, failing with io.ErrUnexpectedEOF when it ends
// before left bytes.
type fullReader struct {
	rc   io.ReadCloser
	left int64
}

func (f *fullReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.rc.Read(p)
	f.left -= int64(n)
	if err == io.EOF {
		if f.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	return n, err
}

func (f *fullReader) Close() error { return f.rc.Close() }
