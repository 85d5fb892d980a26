package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/cofferhq/coffer"
)

// TestGroupCommitPanic: a write that panics fails alone; the writes of its
// group commit, and later writes are still served.
func TestGroupCommitPanic(t *testing.T) {
	w, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec("CREATE TABLE t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db := &DB{R: w, W: w, GroupCommit: true}
	s := &Core{}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, db, "test", func(tx *WriteTx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", i); err != nil {
					return err
				}
				if i%5 == 0 {
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var ce *coffer.Error
		switch {
		case i%5 == 0 && !(errors.As(err, &ce) && ce.Code == coffer.EINTERNAL):
			t.Errorf("write %d panicked: got %v, want an internal error", i, err)
		case i%5 != 0 && err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	var n int
	if err := w.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 16 {
		t.Errorf("rows = %d, %v; want 16 (the panicking writes rolled back, the others kept)", n, err)
	}
	if err := s.Write(ctx, db, "test", func(tx *WriteTx) error { return nil }); err != nil {
		t.Errorf("a write after the panics: %v", err)
	}
}

// TestSlowWriteTrace: with a threshold set, a group of writes slower than
// it is reported with where its time went; faster ones are not.
func TestSlowWriteTrace(t *testing.T) {
	w, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec("CREATE TABLE t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db := &DB{R: w, W: w, GroupCommit: true}
	var out strings.Builder
	oldSlow, oldOut := slowWrites, traceOut
	defer func() { slowWrites, traceOut = oldSlow, oldOut }()
	traceOut = &out
	write := func() {
		ctx := context.Background()
		if err := (&Core{}).Write(ctx, db, "test", func(tx *WriteTx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (1)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	slowWrites = time.Hour
	write()
	if out.Len() != 0 {
		t.Errorf("a write under the threshold was reported: %q", out.String())
	}
	slowWrites = time.Nanosecond
	write()
	if got := out.String(); !strings.HasPrefix(got, "coffer: slow group of 1 writes: ") || !strings.Contains(got, "waiting for the writer") || !strings.Contains(got, "committing") {
		t.Errorf("report = %q", got)
	}
}
