// Package blob stores opaque byte strings under keys: the dumb storage under
// encrypted files. It knows nothing of encryption (see blob/sealed) or of
// files and cells (package files). Implementations: blob/local (a directory)
// and blob/s3 (an S3-compatible object store); blob/blobtest is the one
// behaviour suite both pass, and blob/bloburl opens either from a URL.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 200

// ErrNotFound is the cause (errors.Is) of the ENOTFOUND error returned for an
// absent key.
var ErrNotFound = errors.New("blob: not found")

// Info describes a stored blob.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store is a place for blobs. Keys are validated with ValidKey by every
// method; an invalid key is an EINVALID error and touches nothing.
// Implementations are safe for concurrent use.
type Store interface {
	// Put stores everything r yields under key, replacing any blob there,
	// and returns the number of bytes stored. It streams: memory use does
	// not grow with the size. The blob becomes visible only once it is
	// complete and durable; when Put fails (or ctx is cancelled) the key
	// keeps its previous content, or stays absent.
	Put(ctx context.Context, key string, r io.Reader) (size int64, err error)
	// Open returns a reader of length bytes of the blob from offset (length
	// -1: to the end). A range that runs past the end is cut at the end;
	// one that starts at or past the end reads nothing. An absent key is
	// an ENOTFOUND error wrapping ErrNotFound; a negative offset or a
	// length below -1 is EINVALID.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat describes the blob under key (ENOTFOUND when absent).
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob under key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every blob whose key starts with prefix, in no
	// particular order, and stops at fn's first error, which it returns.
	// The prefix need not be a valid key, but it is held to the same
	// alphabet. Blobs being written are not listed.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Close releases what the store holds (not the blobs).
	Close() error
}

// WriterPutter is implemented by stores that can take a blob from a
// function writing to them, without a pipe between the writer and the
// store (blob/local hands over its temporary file). PutWith uses it.
type WriterPutter interface {
	// PutWriter stores under key what write writes, with Put's
	// guarantees: it streams, the blob becomes visible only once write
	// has returned nil and the blob is complete and durable, and when
	// write fails (its error is returned) or ctx is cancelled the key
	// keeps its previous content, or stays absent.
	PutWriter(ctx context.Context, key string, write func(w io.Writer) error) (size int64, err error)
}

// PutWith stores under key what write writes to the writer it is given,
// and returns the number of bytes stored: through the store's PutWriter
// when it has one, else through a pipe into Put. Either way write has
// returned before PutWith does, and its error, if any, is returned (or
// the store's, when the store failed first).
func PutWith(ctx context.Context, s Store, key string, write func(w io.Writer) error) (int64, error) {
	if wp, ok := s.(WriterPutter); ok {
		return wp.PutWriter(ctx, key, write)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := write(pw)
		pw.CloseWithError(err) // nil: EOF
		done <- err
	}()
	n, err := s.Put(ctx, key, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stop write if Put gave up early
	werr := <-done
	if err != nil {
		if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			return 0, werr
		}
		return 0, err
	}
	return n, nil
}

// ContextWriter returns a writer to w that fails with ctx's error once
// ctx is done, checked before each write.
func ContextWriter(ctx context.Context, w io.Writer) io.Writer {
	return &ctxWriter{ctx: ctx, w: w}
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ValidKey reports whether key may name a blob, as an EINVALID error if
// not: 1 to MaxKeyLen bytes of [a-z0-9/_.-], segments separated by single
// slashes, no leading or trailing slash, no "..", and no segment starting
// with a dot (those are left to stores for their temporary files).
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return invalid("a blob key has 1 to %d bytes", MaxKeyLen)
	}
	if err := validChars(key); err != nil {
		return err
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return invalid("a blob key has no empty segment (leading, trailing or double slash)")
		}
		if seg[0] == '.' {
			return invalid("a blob key segment does not start with a dot")
		}
	}
	return nil
}

// ValidPrefix reports whether prefix may be passed to List: at most
// MaxKeyLen bytes of the key alphabet, no "..", no leading slash.
func ValidPrefix(prefix string) error {
	if len(prefix) > MaxKeyLen {
		return invalid("a blob key prefix has at most %d bytes", MaxKeyLen)
	}
	if strings.HasPrefix(prefix, "/") {
		return invalid("a blob key prefix does not start with a slash")
	}
	return validChars(prefix)
}

func validChars(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-' || c == '.') {
			return invalid("a blob key has only the characters a-z 0-9 / _ - .")
		}
	}
	if strings.Contains(s, "..") {
		return invalid(`a blob key does not contain ".."`)
	}
	return nil
}

// ValidRange checks Open's offset and length.
func ValidRange(offset, length int64) error {
	if offset < 0 || length < -1 {
		return invalid("a blob range has an offset ≥ 0 and a length ≥ -1")
	}
	return nil
}

// NotFound returns the ENOTFOUND error for key.
func NotFound(op, key string) error {
	return &coffer.Error{Code: coffer.ENOTFOUND, Message: "no such blob", Op: op + " " + key, Err: ErrNotFound}
}

func invalid(format string, args ...any) error {
	e := coffer.Errorf(coffer.EINVALID, format, args...)
	e.Op = "blob"
	return e
}

// ContextReader returns a reader of r that fails with ctx's error once ctx
// is done, checked before each read: stores use it so a cancelled Put stops.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// IncompleteCollector is implemented by stores where an interrupted Put
// can leave space taken without a blob (an S3 multipart upload whose
// process died before it could abort it).
type IncompleteCollector interface {
	// CollectIncomplete discards the unfinished writes under prefix begun
	// before olderThan and returns how many.
	CollectIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error)
}

// Collect deletes the orphans among the blobs under prefix: those modified
// before olderThan (the grace period protects uploads whose reference is
// not committed yet) that keep does not claim. It returns the number
// deleted. keep is asked about each old blob; its error stops the
// collection. Unfinished writes begun before olderThan are discarded too
// (see IncompleteCollector), without counting.
func Collect(ctx context.Context, s Store, prefix string, olderThan time.Time, keep func(key string) (bool, error)) (deleted int, err error) {
	if ic, ok := s.(IncompleteCollector); ok {
		if _, err := ic.CollectIncomplete(ctx, prefix, olderThan); err != nil {
			return 0, err
		}
	}
	var doomed []string
	err = s.List(ctx, prefix, func(in Info) error {
		if !in.Modified.Before(olderThan) {
			return nil
		}
		kept, err := keep(in.Key)
		if err != nil {
			return err
		}
		if !kept {
			doomed = append(doomed, in.Key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		if err := s.Delete(ctx, k); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}
