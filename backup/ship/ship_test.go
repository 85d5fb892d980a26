package ship_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	e.write(t, ids[7], "INSERT INTO t (n, note) VALUES (1000, 'y')")
	e.ship(t)
	if got := e.st.puts.Load(); got != 1 {
		t.Errorf("a round after one commit: %d puts, want 1", got)
	}
}

// TestShippedObjectsSealed: no shipped object holds a marker written in
// the notebook (the restore does); a changed byte in a segment fails the
// restore with EINTEGRITY; once the notebook's keys are shredded, its
// shipped WAL does not restore.
func TestShippedObjectsSealed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	id := e.notebook(t)
	const marker = "MARKER-plaintext-7c1f"
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, ?)", marker+" in the base")
	e.ship(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (2, ?)", marker+" in a segment")
	e.ship(t)
	var db *sql.DB = e.restore(t, id, time.Now())
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t WHERE note LIKE ?", marker+"%").Scan(&n); err != nil || n != 2 {
		t.Fatalf("restored notebook holds %d marked rows (%v), want 2", n, err)
	}
	var segments []string
	err := filepath.WalkDir(e.stDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the marker in plaintext", path)
		}
		if strings.Contains(filepath.Base(path), "-") && strings.HasPrefix(filepath.Base(path), "s") {
			segments = append(segments, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(segments) < 2 {
		t.Fatalf("%d segments shipped, want 2", len(segments))
	}

	// A changed byte.
	last := segments[len(segments)-1]
	orig, _ := os.ReadFile(last)
	bad := bytes.Clone(orig)
	bad[len(bad)/2] ^= 1
	os.WriteFile(last, bad, 0o600)
	out := filepath.Join(t.TempDir(), "bad.db")
	if err := ship.RestoreAt(ctx, e.st, e.ring, id, time.Now(), out); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("restore with a changed byte: %v, want EINTEGRITY", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed restore left its output")
	}
	os.WriteFile(last, orig, 0o600)

	// Shredded keys.
	if err := e.core.Write(ctx, e.core.Inst, "test", func(tx *store.WriteTx) error {
		return e.ring.ShredTx(ctx, tx, id)
	}); err != nil {
		t.Fatal(err)
	}
	e.ring.Forget(id)
	if err := ship.RestoreAt(ctx, e.st, e.ring, id, time.Now(), filepath.Join(t.TempDir(), "shredded.db")); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("restore after shredding: %v, want EINTEGRITY", err)
	}
}

// TestPruneAndNewGenerations: a notebook dropped and made again under
// the same id begins a new generation (the old base does not fit its
// frames), as does a round past the generation age; Prune keeps the
// newest generation that began by the given time and every later one.
func TestPruneAndNewGenerations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	id := e.notebook(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'old file')")
	e.ship(t)
	if err := e.b.DropNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.write(t, id, "CREATE TABLE t (n INTEGER PRIMARY KEY, note TEXT, pad BLOB)")
	e.write(t, id, "INSERT INTO t (n, note) VALUES (2, 'new file')")
	e.ship(t)
	e.ship(t)
	gens, err := ship.Generations(ctx, e.st, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 {
		t.Fatalf("%d generations, want 2 (the replaced file begins one)", len(gens))
	}
	if got := rows(t, e.restore(t, id, time.Now())); len(got) != 1 || !got[2] {
		t.Errorf("restore of the new file: rows %v, want only 2", got)
	}
	if got := rows(t, e.restore(t, id, gens[0].Last)); len(got) != 1 || !got[1] {
		t.Errorf("restore in the first generation: rows %v, want only 1", got)
	}
	n, err := ship.Prune(ctx, e.st, id, gens[0].Last)
	if err != nil || n != 0 {
		t.Errorf("Prune keeping from inside the first generation: %d deleted, %v; want none", n, err)
	}
	n, err = ship.Prune(ctx, e.st, id, time.Now())
	if err != nil || n != len(gens[0].Objects) {
		t.Errorf("Prune keeping from now: %d deleted, %v; want the %d objects of the first generation", n, err, len(gens[0].Objects))
	}
	if got := rows(t, e.restore(t, id, time.Now())); !got[2] {
		t.Error("after Prune the newest generation no longer restores")
	}
	nbs, err := ship.Notebooks(ctx, e.st)
	if err != nil || len(nbs) != 1 || nbs[0] != id {
		t.Errorf("Notebooks: %v, %v", nbs, err)
	}
}

// TestBurstBeginsGeneration: more than MaxPending written between two
// rounds is not held in memory: the next round begins a new generation,
// and the restore still equals the live state.
func TestBurstBeginsGeneration(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	e.s.Close()
	s, err := ship.New(ship.Config{Backend: e.b, Ring: e.ring, Stores: []blob.Store{e.st}, TempDir: t.TempDir(), MaxPending: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	id := e.notebook(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'small')")
	e.ship(t)
	for i := range 4 {
		e.write(t, id, "INSERT INTO t (n, note, pad) VALUES (?, 'big', randomblob(200000))", 10+i)
	}
	e.ship(t)
	gens, err := ship.Generations(ctx, e.st, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 {
		t.Errorf("%d generations after a burst past MaxPending, want 2", len(gens))
	}
	want, n := e.liveDigest(t, id)
	if got, m := digest(t, e.restore(t, id, time.Now())); got != want || m != n {
		t.Errorf("restore: %d rows, %s; live %d rows, %s", m, got, n, want)
	}
}

// TestShipperAfterNotebooksOpened: a shipper made while a notebook is
// already open (its writer still checkpointing by itself) ships it all
// the same, through transactions larger than the writer's checkpoint
// bound.
func TestShipperAfterNotebooksOpened(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	core := store.NewCore(b)
	e := &env{b: b, core: core, ring: keyring.New(core, keyring.ForTests())}
	id := e.notebook(t)
	db, release, err := b.Notebook(ctx, id) // stays open
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_ = db
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'before the shipper')")
	ls, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.st = &countingStore{Store: ls}
	e.s, err = ship.New(ship.Config{Backend: b, Ring: e.ring, Stores: []blob.Store{e.st}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.s.Close()
	e.write(t, id, "INSERT INTO t (n, note) VALUES (2, 'after')")
	e.ship(t)
	for i := range 3 {
		e.write(t, id, "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 18) INSERT INTO t (n, note, pad) SELECT ? + v, 'big', randomblob(1048576) FROM s", 100*(i+1))
		e.write(t, id, "DELETE FROM t WHERE n % 2 = 0 AND n > ?", 100*(i+1))
	}
	e.ship(t)
	want, n := e.liveDigest(t, id)
	if got, m := digest(t, e.restore(t, id, time.Now())); got != want || m != n {
		t.Errorf("restore: %d rows, %s; live %d rows, %s", m, got, n, want)
	}
}
