// Package blobtest is the one behaviour suite every blob.Store passes
// (blob/local and blob/s3 run it).
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
)

// Pattern returns n deterministic pseudo-random bytes (seeded by seed).
func Pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// MustPut stores data under key or fails the test.
func MustPut(tb testing.TB, s blob.Store, key string, data []byte) {
	tb.Helper()
	n, err := s.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("Put(%q): %v", key, err)
	}
	if n != int64(len(data)) {
		tb.Fatalf("Put(%q) = %d bytes, want %d", key, n, len(data))
	}
}

// MustRead reads a range of key or fails the test.
func MustRead(tb testing.TB, s blob.Store, key string, off, n int64) []byte {
	tb.Helper()
	rc, err := s.Open(context.Background(), key, off, n)
	if err != nil {
		tb.Fatalf("Open(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %q: %v", key, err)
	}
	return b
}

func keys(tb testing.TB, s blob.Store, prefix string) []string {
	tb.Helper()
	var ks []string
	if err := s.List(context.Background(), prefix, func(in blob.Info) error {
		ks = append(ks, in.Key)
		return nil
	}); err != nil {
		tb.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(ks)
	return ks
}

func code(err error) string {
	var e *coffer.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Run runs the suite on a fresh, empty store made by newStore (called once
// per subtest).
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []int{0, 1, 5<<20 + 1} {
			key := fmt.Sprintf("rt/%d", n)
			data := Pattern(uint64(n), n)
			MustPut(t, s, key, data)
			if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: read back %d bytes, differing", n, len(got))
			}
			in, err := s.Stat(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if in.Key != key || in.Size != int64(n) || time.Since(in.Modified) > time.Hour || time.Until(in.Modified) > time.Hour {
				t.Fatalf("Stat = %+v, want key %q size %d and a recent time", in, key, n)
			}
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		s := newStore(t)
		data := Pattern(7, 1000)
		MustPut(t, s, "r/x", data)
		for _, c := range []struct{ off, n int64 }{
			{0, 0}, {0, 1}, {0, 1000}, {0, -1}, {1, 998}, {999, 1}, {999, -1}, {500, 10},
			{990, 100}, {1000, -1}, {1000, 5}, {1500, 10}, {1500, -1},
		} {
			want := data[min(c.off, 1000):]
			if c.n >= 0 && c.n < int64(len(want)) {
				want = want[:c.n]
			}
			if got := MustRead(t, s, "r/x", c.off, c.n); !bytes.Equal(got, want) {
				t.Errorf("Open(%d, %d): %d bytes, want %d", c.off, c.n, len(got), len(want))
			}
		}
		for _, c := range []struct{ off, n int64 }{{-1, 1}, {0, -2}} {
			if _, err := s.Open(ctx, "r/x", c.off, c.n); code(err) != coffer.EINVALID {
				t.Errorf("Open(%d, %d): %v, want EINVALID", c.off, c.n, err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Open(ctx, "no/such", 0, -1); code(err) != coffer.ENOTFOUND || !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open absent: %v, want ENOTFOUND", err)
		}
		if _, err := s.Open(ctx, "no/such", 5, 0); code(err) != coffer.ENOTFOUND {
			t.Errorf("Open absent, empty range: %v, want ENOTFOUND", err)
		}
		if _, err := s.Stat(ctx, "no/such"); code(err) != coffer.ENOTFOUND || !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat absent: %v, want ENOTFOUND", err)
		}
		if err := s.Delete(ctx, "no/such"); err != nil {
			t.Errorf("Delete absent: %v", err)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "o/x", Pattern(1, 3000))
		MustPut(t, s, "o/x", []byte("short"))
		if got := MustRead(t, s, "o/x", 0, -1); string(got) != "short" {
			t.Fatalf("after overwrite: %q", got)
		}
		if got := keys(t, s, "o/"); !slices.Equal(got, []string{"o/x"}) {
			t.Fatalf("after overwrite List = %q", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "d/x", []byte("x"))
		MustPut(t, s, "d/y", []byte("y"))
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "d/x"); code(err) != coffer.ENOTFOUND {
			t.Fatalf("Stat after Delete: %v", err)
		}
		if got := keys(t, s, ""); !slices.Equal(got, []string{"d/y"}) {
			t.Fatalf("after Delete List = %q", got)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		all := []string{"a", "a-b", "a/b", "a/b/c", "a/bc", "ab/c", "b/a", "n/1/f1", "n/1/f2", "n/10/f", "n/2/f"}
		for _, k := range all {
			MustPut(t, s, k+"/blob", []byte(k))
		}
		for i := range all {
			all[i] += "/blob"
		}
		slices.Sort(all)
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{"", all},
			{"a", []string{"a-b/blob", "a/b/blob", "a/b/c/blob", "a/bc/blob", "a/blob", "ab/c/blob"}},
			{"a/", []string{"a/b/blob", "a/b/c/blob", "a/bc/blob", "a/blob"}},
			{"a/b", []string{"a/b/blob", "a/b/c/blob", "a/bc/blob", "a/blob"}},
			{"a/b/", []string{"a/b/blob", "a/b/c/blob"}},
			{"n/1", []string{"n/1/f1/blob", "n/1/f2/blob", "n/10/f/blob"}},
			{"n/1/", []string{"n/1/f1/blob", "n/1/f2/blob"}},
			{"n/1/f1/blob", []string{"n/1/f1/blob"}},
			{"zzz", nil},
			{"zzz/", nil},
		} {
			if got := keys(t, s, c.prefix); !slices.Equal(got, c.want) {
				t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
			}
		}
		var sizes []int64
		s.List(ctx, "n/1/f", func(in blob.Info) error { sizes = append(sizes, in.Size); return nil })
		if !slices.Equal(sizes, []int64{int64(len("n/1/f1")), int64(len("n/1/f2"))}) {
			t.Errorf("List sizes = %v", sizes)
		}
		stop := errors.New("stop")
		calls := 0
		if err := s.List(ctx, "", func(blob.Info) error { calls++; return stop }); err != stop || calls != 1 {
			t.Errorf("List with fn failing: %v after %d calls, want stop after 1", err, calls)
		}
		if err := s.List(ctx, "../", func(blob.Info) error { return nil }); code(err) != coffer.EINVALID {
			t.Errorf("List(../): %v, want EINVALID", err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := newStore(t)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Put(ctx, fmt.Sprintf("c/%02d", i), bytes.NewReader(Pattern(uint64(i), 100_000+i)))
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Put %d: %v", i, errs[i])
			}
			if got := MustRead(t, s, fmt.Sprintf("c/%02d", i), 0, -1); !bytes.Equal(got, Pattern(uint64(i), 100_000+i)) {
				t.Fatalf("blob %d differs", i)
			}
		}
		if got := keys(t, s, "c/"); len(got) != n {
			t.Fatalf("List = %d keys, want %d", len(got), n)
		}
	})

	t.Run("KeyValidation", func(t *testing.T) {
		s := newStore(t)
		long := string(bytes.Repeat([]byte("a"), blob.MaxKeyLen+1))
		for _, k := range []string{"", "../x", "../../x", "a/../../x", "a/..", "..", "/abs", "/etc/passwd", "a//b", "a/", "A", "a b",
			"a\\b", "a\x00b", "é", ".hidden", "a/.tmp-x", "a/./b", "a:b", "a%2f", long} {
			if _, err := s.Put(ctx, k, bytes.NewReader([]byte("x"))); code(err) != coffer.EINVALID {
				t.Errorf("Put(%q): %v, want EINVALID", k, err)
			}
			if _, err := s.Open(ctx, k, 0, -1); code(err) != coffer.EINVALID {
				t.Errorf("Open(%q): %v, want EINVALID", k, err)
			}
			if _, err := s.Stat(ctx, k); code(err) != coffer.EINVALID {
				t.Errorf("Stat(%q): %v, want EINVALID", k, err)
			}
			if err := s.Delete(ctx, k); code(err) != coffer.EINVALID {
				t.Errorf("Delete(%q): %v, want EINVALID", k, err)
			}
		}
		if got := keys(t, s, ""); len(got) != 0 {
			t.Fatalf("invalid keys stored something: %q", got)
		}
		okKey := string(bytes.Repeat([]byte("a"), blob.MaxKeyLen))
		MustPut(t, s, okKey, []byte("x"))
		MustPut(t, s, "0-9_a.b/c-d.e_f", []byte("x"))
	})

	t.Run("CancelledPut", func(t *testing.T) {
		s := newStore(t)
		MustPut(t, s, "x/kept", []byte("old"))
		for _, key := range []string{"x/new", "x/kept"} {
			cctx, cancel := context.WithCancel(ctx)
			// A reader that yields 6 MiB, then cancels and keeps yielding.
			r := &cancelling{r: bytes.NewReader(Pattern(3, 12<<20)), after: 6 << 20, cancel: cancel}
			if _, err := s.Put(cctx, key, r); err == nil {
				t.Fatalf("Put(%q) with its context cancelled midway succeeded", key)
			}
			cancel()
		}
		if _, err := s.Stat(ctx, "x/new"); code(err) != coffer.ENOTFOUND {
			t.Errorf("cancelled Put left x/new visible: %v", err)
		}
		if got := MustRead(t, s, "x/kept", 0, -1); string(got) != "old" {
			t.Errorf("cancelled Put changed x/kept: %d bytes", len(got))
		}
		if got := keys(t, s, ""); !slices.Equal(got, []string{"x/kept"}) {
			t.Errorf("after cancelled puts List = %q", got)
		}
		// A reader failing midway is like a cancellation.
		if _, err := s.Put(ctx, "x/failed", io.MultiReader(bytes.NewReader(Pattern(4, 1<<20)), errReader{})); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		if _, err := s.Stat(ctx, "x/failed"); code(err) != coffer.ENOTFOUND {
			t.Errorf("failed Put left x/failed visible: %v", err)
		}
	})

	// PutWith goes through the store's PutWriter when it has one, else
	// through a pipe into Put: the same guarantees either way.
	t.Run("PutWith", func(t *testing.T) {
		s := newStore(t)
		data := Pattern(9, 3<<20+5)
		writeAll := func(p []byte) func(io.Writer) error {
			return func(w io.Writer) error {
				for len(p) > 0 {
					n := min(len(p), 262160)
					if _, err := w.Write(p[:n]); err != nil {
						return err
					}
					p = p[n:]
				}
				return nil
			}
		}
		n, err := blob.PutWith(ctx, s, "w/x", writeAll(data))
		if err != nil || n != int64(len(data)) {
			t.Fatalf("PutWith = %d, %v, want %d", n, err, len(data))
		}
		if got := MustRead(t, s, "w/x", 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("PutWith: read back %d bytes, differing", len(got))
		}
		if n, err := blob.PutWith(ctx, s, "w/empty", writeAll(nil)); err != nil || n != 0 {
			t.Fatalf("PutWith empty = %d, %v", n, err)
		}
		if got := MustRead(t, s, "w/empty", 0, -1); len(got) != 0 {
			t.Fatalf("PutWith empty: read back %d bytes", len(got))
		}
		boom := errors.New("boom")
		for _, key := range []string{"w/failed", "w/x"} {
			_, err := blob.PutWith(ctx, s, key, func(w io.Writer) error {
				if err := writeAll(Pattern(5, 1<<20))(w); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("PutWith(%q) with write failing: %v, want its error", key, err)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		if _, err := blob.PutWith(cctx, s, "w/cancelled", func(w io.Writer) error {
			if err := writeAll(Pattern(6, 1<<20))(w); err != nil {
				return err
			}
			cancel()
			return writeAll(Pattern(7, 1<<20))(w)
		}); err == nil {
			t.Fatal("PutWith with its context cancelled midway succeeded")
		}
		cancel()
		if _, err := blob.PutWith(ctx, s, "../x", writeAll(data)); code(err) != coffer.EINVALID {
			t.Errorf("PutWith(../x): %v, want EINVALID", err)
		}
		if got := MustRead(t, s, "w/x", 0, -1); !bytes.Equal(got, data) {
			t.Errorf("a failed PutWith changed w/x: %d bytes", len(got))
		}
		if got := keys(t, s, ""); !slices.Equal(got, []string{"w/empty", "w/x"}) {
			t.Errorf("after failed PutWith calls List = %q", got)
		}
	})

	t.Run("Collect", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"g/kept", "g/orphan", "g/orphan2", "other/orphan"} {
			MustPut(t, s, k, []byte(k))
		}
		asked := map[string]bool{}
		keep := func(k string) (bool, error) { asked[k] = true; return k == "g/kept", nil }
		// Everything is younger than the grace period: nothing goes.
		n, err := blob.Collect(ctx, s, "g/", time.Now().Add(-time.Hour), keep)
		if err != nil || n != 0 || len(asked) != 0 {
			t.Fatalf("Collect within grace: %d, %v, asked %v", n, err, asked)
		}
		n, err = blob.Collect(ctx, s, "g/", time.Now().Add(time.Hour), keep)
		if err != nil || n != 2 {
			t.Fatalf("Collect = %d, %v, want 2 deleted", n, err)
		}
		if got := keys(t, s, ""); !slices.Equal(got, []string{"g/kept", "other/orphan"}) {
			t.Fatalf("after Collect List = %q", got)
		}
		boom := errors.New("boom")
		if _, err := blob.Collect(ctx, s, "", time.Now().Add(time.Hour), func(string) (bool, error) { return false, boom }); err != boom {
			t.Fatalf("Collect with keep failing: %v", err)
		}
		if got := keys(t, s, ""); len(got) != 2 {
			t.Fatalf("Collect with keep failing deleted: %q left", got)
		}
	})
}

type cancelling struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelling) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("reader failed") }
