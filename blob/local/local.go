// Package local is a blob store in a directory of the local file system.
// Keys map to paths under the directory; every access goes through an
// os.Root, so no key and no symbolic link inside the directory reaches a
// file outside it. A blob is written to a temporary file beside its final
// name, synced, renamed into place and its directory synced, so it is
// visible only complete and survives a crash once Put returns.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/cofferhq/coffer/blob"
)

// Store is a blob store in a directory.
type Store struct {
	root *os.Root
}

var (
	_ blob.Store               = (*Store)(nil)
	_ blob.IncompleteCollector = (*Store)(nil)
	_ blob.WriterPutter        = (*Store)(nil)
)

// Open opens (creating it with mode 0700 if needed) the directory dir as a
// blob store.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Store{root: r}, nil
}

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

func tempName(key string) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return path.Join(path.Dir(key), ".tmp-"+hex.EncodeToString(b[:])), nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	return s.put(ctx, key, func(f io.Writer) (int64, error) {
		return io.Copy(f, blob.ContextReader(ctx, r))
	})
}

// PutWriter implements blob.WriterPutter: write writes straight to the
// temporary file (through a check of ctx), in the pieces it chooses.
func (s *Store) PutWriter(ctx context.Context, key string, write func(io.Writer) error) (int64, error) {
	return s.put(ctx, key, func(f io.Writer) (int64, error) {
		cw := &countWriter{w: blob.ContextWriter(ctx, f)}
		err := write(cw)
		return cw.n, err
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writebackEvery is how many bytes a blob's file takes between two
// requests to the kernel to start writing them out (startWriteback).
const writebackEvery = 8 << 20

// writeback writes to a blob's temporary file and, every writebackEvery
// bytes, has the kernel start writing them to the disk, so that the
// disk works while the blob is still coming instead of all at the fsync.
type writeback struct {
	f                *os.File
	written, started int64
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackEvery {
		startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}

// put writes a blob with fill into a temporary file, then syncs it and
// renames it into place.
func (s *Store) put(ctx context.Context, key string, fill func(io.Writer) (int64, error)) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dir := path.Dir(key)
	if dir != "." {
		if err := s.root.MkdirAll(dir, 0o700); err != nil {
			return 0, err
		}
	}
	tmp, err := tempName(key)
	if err != nil {
		return 0, err
	}
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	n, err := fill(&writeback{f: f})
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return 0, err
	}
	done = true
	if err := s.syncDir(dir); err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Store) openFile(op, key string) (*os.File, os.FileInfo, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, nil, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, blob.NotFound(op, key)
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, blob.NotFound(op, key)
	}
	return f, fi, nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := blob.ValidRange(offset, length); err != nil {
		return nil, err
	}
	f, fi, err := s.openFile("blob/local.Open", key)
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if offset > size {
		offset = size
	}
	if length < 0 || length > size-offset {
		length = size - offset
	}
	return &section{SectionReader: io.NewSectionReader(f, offset, length), f: f}, nil
}

type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	f, fi, err := s.openFile("blob/local.Stat", key)
	if err != nil {
		return blob.Info{}, err
	}
	f.Close()
	return blob.Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	err := s.root.Remove(key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// walk calls visit for every regular file (temporary ones included) in the
// directories that can hold keys starting with prefix, and skips the
// rest: other directories, symbolic links, directories named with a dot.
func (s *Store) walk(ctx context.Context, prefix string, visit func(p string, d fs.DirEntry) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = prefix[:i]
	}
	return fs.WalkDir(s.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") ||
				!strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/")) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return visit(p, d)
	})
}

// List implements blob.Store. It walks only the directories that can hold
// keys with the prefix, and skips temporary files and symbolic links.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	return s.walk(ctx, prefix, func(p string, d fs.DirEntry) error {
		if strings.HasPrefix(d.Name(), ".") || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // deleted meanwhile
				return nil
			}
			return err
		}
		return fn(blob.Info{Key: p, Size: fi.Size(), Modified: fi.ModTime()})
	})
}

// CollectIncomplete implements blob.IncompleteCollector: it removes the
// temporary files of Puts begun before olderThan under the directories
// the prefix can reach (left by a process that died mid-Put).
func (s *Store) CollectIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error) {
	var old []string
	err := s.walk(ctx, prefix, func(p string, d fs.DirEntry) error {
		if strings.HasPrefix(d.Name(), ".tmp-") {
			if fi, err := d.Info(); err == nil && fi.ModTime().Before(olderThan) {
				old = append(old, p)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range old {
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
