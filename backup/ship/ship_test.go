package ship_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// countingStore counts the Put calls reaching a store.
type countingStore struct {
	blob.Store
	puts atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, key, r)
}

// env is a SQLite backend with a shipper on it, shipping to one local
// directory (through a counting store).
type env struct {
	b     *sqlite.Backend
	core  *store.Core
	ring  *keyring.Ring
	s     *ship.Shipper
	st    *countingStore
	stDir string
}

func newEnv(t *testing.T, opts sqlite.Options) *env {
	t.Helper()
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	core := store.NewCore(b)
	ring := keyring.New(core, keyring.ForTests())
	stDir := t.TempDir()
	ls, err := local.Open(stDir)
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: ls}
	s, err := ship.New(ship.Config{Backend: b, Ring: ring, Stores: []blob.Store{st}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		b.Close()
		ls.Close()
	})
	return &env{b: b, core: core, ring: ring, s: s, st: st, stDir: stDir}
}

// notebook creates a notebook with table t (n, note, pad).
func (e *env) notebook(t *testing.T) string {
	t.Helper()
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := e.b.CreateNotebook(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e.write(t, id, "CREATE TABLE t (n INTEGER PRIMARY KEY, note TEXT, pad BLOB)")
	return id
}

// write commits one statement on a notebook through group commit.
func (e *env) write(t testing.TB, id, q string, args ...any) {
	t.Helper()
	if err := e.tryWrite(id, q, args...); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tryWrite(id, q string, args ...any) error {
	ctx := context.Background()
	db, release, err := e.b.Notebook(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	return e.core.Write(ctx, db, "test", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

func (e *env) ship(t *testing.T) {
	t.Helper()
	if err := e.s.Ship(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// restore restores notebook id at time at into a new file and opens it.
func (e *env) restore(t *testing.T, id string, at time.Time) *sql.DB {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored.db")
	if err := ship.RestoreAt(context.Background(), e.st, e.ring, id, at, out); err != nil {
		t.Fatalf("RestoreAt %s: %v", at.Format(time.RFC3339Nano), err)
	}
	for _, suffix := range []string{"-wal", "-shm", ".restoring"} {
		if _, err := os.Stat(out + suffix); err == nil {
			t.Errorf("restore left %s behind", filepath.Base(out+suffix))
		}
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: out}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rows returns the n of every row of t.
func rows(t *testing.T, db *sql.DB) map[int64]bool {
	t.Helper()
	r, err := db.Query("SELECT n FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[int64]bool{}
	for r.Next() {
		var n int64
		if err := r.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

// digest hashes every row of t, in order.
func digest(t *testing.T, db *sql.DB) (string, int) {
	t.Helper()
	r, err := db.Query("SELECT n, note, hex(pad) FROM t ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n := 0
	for r.Next() {
		var k int64
		var note, pad sql.NullString
		if err := r.Scan(&k, &note, &pad); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%d|%s|%s\n", k, note.String, pad.String)
		n++
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// liveDigest is digest of the notebook's live database.
func (e *env) liveDigest(t *testing.T, id string) (string, int) {
	t.Helper()
	db, release, err := e.b.Notebook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return digest(t, db.R)
}

// ack is one acknowledged write: when it was asked for and when it
// committed.
type ack struct {
	n             int64
	start, commit time.Time
}

// TestPointInTime: while a writer commits rows and records when each was
// asked for and acknowledged, rounds ship; a restore at any time T after
// the first round holds every row acknowledged before the start of the
// last round that ended by T (so every row older than T minus the
// interval between rounds), and no row asked for after T.
func TestPointInTime(t *testing.T) {
	e := newEnv(t, sqlite.Options{})
	id := e.notebook(t)

	var mu sync.Mutex
	var acks []ack
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := int64(1); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			if err := e.tryWrite(id, "INSERT INTO t (n, note, pad) VALUES (?, ?, randomblob(300))", n, fmt.Sprintf("row %d", n)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acks = append(acks, ack{n: n, start: start, commit: time.Now()})
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	type round struct{ start, end time.Time }
	var rounds []round
	const every = 150 * time.Millisecond
	for range 12 {
		time.Sleep(every)
		r := round{start: time.Now()}
		e.ship(t)
		r.end = time.Now()
		rounds = append(rounds, r)
	}
	close(stop)
	wg.Wait()
	r := round{start: time.Now()}
	e.ship(t)
	r.end = time.Now()
	rounds = append(rounds, r)
	if len(acks) < 100 {
		t.Fatalf("only %d writes acknowledged", len(acks))
	}

	// Times to restore at: just after each round, and between rounds.
	var ats []time.Time
	for i, r := range rounds {
		ats = append(ats, r.end.Add(time.Millisecond))
		if i+1 < len(rounds) {
			ats = append(ats, r.end.Add(rounds[i+1].start.Sub(r.end)/2))
		}
	}
	for _, at := range ats {
		got := rows(t, e.restore(t, id, at))
		var covered time.Time // start of the last round ended by at
		for _, r := range rounds {
			if !r.end.After(at) {
				covered = r.start
			}
		}
		if at.Sub(covered) > 2*every+time.Second {
			t.Errorf("at %s the last round ended by then started %s before", at.Format(time.StampMicro), at.Sub(covered))
		}
		missing, extra := 0, 0
		for _, a := range acks {
			if a.commit.Before(covered) && !got[a.n] {
				missing++
			}
			if a.start.After(at) && got[a.n] {
				extra++
			}
		}
		if missing > 0 || extra > 0 {
			t.Errorf("restore at %s: %d rows acknowledged before %s missing, %d rows written after it present (%d rows restored)",
				at.Format(time.StampMicro), missing, covered.Format(time.StampMicro), extra, len(got))
		}
	}
	// The end state is the live state.
	want, n := e.liveDigest(t, id)
	if got, m := digest(t, e.restore(t, id, time.Now())); got != want || m != n {
		t.Errorf("restore now: %d rows, digest %s; live %d rows, %s", m, got, n, want)
	}
	// Before the first generation: nothing to restore from.
	err := ship.RestoreAt(context.Background(), e.st, e.ring, id, rounds[0].start.Add(-time.Hour), filepath.Join(t.TempDir(), "x.db"))
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("restore before the first generation: %v, want ENOTFOUND", err)
	}
}

// TestCheckpointStorm: many checkpoints between rounds — one after every
// commit, one as each notebook closes (two notebooks, one open at a time,
// so each write closes the other, and SQLite checkpoints the whole WAL
// and deletes it), one of a transaction larger than the writer's
// checkpoint bound — while small writes keep coming; a restore of each
// notebook equals its live state, row for row.
func TestCheckpointStorm(t *testing.T) {
	e := newEnv(t, sqlite.Options{MaxOpenNotebooks: 1})
	a, b := e.notebook(t), e.notebook(t)
	e.write(t, a, "INSERT INTO t (n, note) VALUES (0, 'first')")
	e.write(t, b, "INSERT INTO t (n, note) VALUES (0, 'first')")
	e.ship(t) // both get a generation

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := int64(1_000_000); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.tryWrite(a, "INSERT INTO t (n, note, pad) VALUES (?, 'small', randomblob(100))", n); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 12 {
		for _, id := range []string{a, b} {
			e.write(t, id, "INSERT INTO t (n, note, pad) VALUES (?, 'big', randomblob(262144))", 10+i)
			e.write(t, id, "UPDATE t SET note = note || '+' WHERE n % 3 = ?", i%3)
		}
		if i == 5 {
			// About 5,000 frames in one transaction: above the checkpoint bound.
			e.write(t, b, "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 20) INSERT INTO t (n, note, pad) SELECT 100 + v, 'huge', randomblob(1048576) FROM s")
			e.write(t, b, "DELETE FROM t WHERE n BETWEEN 105 AND 110")
		}
		if i%4 == 3 {
			e.ship(t)
		}
	}
	close(stop)
	wg.Wait()
	e.ship(t)
	for _, id := range []string{a, b} {
		want, n := e.liveDigest(t, id)
		got, m := digest(t, e.restore(t, id, time.Now()))
		if got != want || m != n {
			t.Errorf("notebook %s restored: %d rows, digest %s; live %d rows, %s", id, m, got, n, want)
		}
	}
}

// TestIdleNotebooksCostNothing: once every notebook has a generation, a
// round with no commit puts nothing and reads no WAL, whatever the number
// of notebooks; a commit to one notebook costs that notebook one segment.
func TestIdleNotebooksCostNothing(t *testing.T) {
	e := newEnv(t, sqlite.Options{MaxOpenNotebooks: 8})
	var ids []string
	for i := range 40 {
		id := e.notebook(t)
		e.write(t, id, "INSERT INTO t (n, note) VALUES (?, 'x')", i)
		ids = append(ids, id)
	}
	e.ship(t) // bases: key, base and first segment each
	if got := e.st.puts.Load(); got != 3*40 {
		t.Errorf("first round: %d puts, want %d (key, base, first segment of 40 notebooks)", got, 3*40)
	}
	e.ship(t) // commits that raced the first round
	e.st.puts.Store(0)
	for range 3 {
		e.ship(t)
	}
	if got := e.st.puts.Load(); got != 0 {
		t.Errorf("three rounds without a commit: %d puts, want 0", got)
	}
	if st := e.s.Status(); st.Shipped != 0 || st.Shipping != 40 || st.Pending != 0 || st.At.IsZero() {
		t.Errorf("status after an idle round: %+v; want none shipped, 40 shipping, nothing pending", st)
	}
	e.write(t, ids[7], "INSERT INTO t (n, note) VALUES (1000, 'y')")
	e.ship(t)
	if got := e.st.puts.Load(); got != 1 {
		t.Errorf("a round after one commit: %d puts, want 1", got)
	}
	if st := e.s.Status(); st.Shipped != 1 || st.Failed != 0 {
		t.Errorf("status after a round with one commit: %+v; want 1 shipped", st)
	}
}
