package ship_test

// Tests of sealing, generations, locations and other processes.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

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

// TestAnotherProcessWrites: a second process (a second backend on the
// same data directory, without a shipper, as a command run beside the
// server) writes to a notebook and checkpoints it, with the notebook open
// in the shipping process and with it closed there; the shipping process
// notices that the database file changed behind it and begins a new
// generation, so a restore still equals the live state.
func TestAnotherProcessWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{MaxOpenNotebooks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	core := store.NewCore(b)
	e := &env{b: b, core: core, ring: keyring.New(core, keyring.ForTests())}
	ls, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.st = &countingStore{Store: ls}
	if e.s, err = ship.New(ship.Config{Backend: b, Ring: e.ring, Stores: []blob.Store{e.st}, TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	defer e.s.Close()
	id, other := e.notebook(t), e.notebook(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'server')")
	e.ship(t)

	b2, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	e2 := &env{b: b2, core: store.NewCore(b2)}
	for round, keepOpen := range []bool{true, false} {
		if !keepOpen {
			e.write(t, other, "INSERT INTO t (n, note) VALUES (1, 'closes the other')") // MaxOpenNotebooks 1
		}
		for i := range 3 {
			e2.write(t, id, "INSERT INTO t (n, note, pad) VALUES (?, 'command', randomblob(1048576))", 100*(round+1)+i)
		}
		e2.write(t, id, "UPDATE t SET note = note || '+'")
		if err := b2.CaptureWAL(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the command's checkpoints
		e.write(t, id, "INSERT INTO t (n, note) VALUES (?, 'server again')", 10+round)
		e.ship(t)
		e.ship(t)
		want, n := e.liveDigest(t, id)
		if got, m := digest(t, e.restore(t, id, time.Now())); got != want || m != n {
			t.Errorf("notebook kept open %v: restore %d rows, %s; live %d rows, %s", keepOpen, m, got, n, want)
		}
	}
}

// TestSecondLocation: every object goes to both locations; with the
// first location emptied, the second restores the same state.
func TestSecondLocation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	e.s.Close()
	dir2 := t.TempDir()
	second, err := local.Open(dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if e.s, err = ship.New(ship.Config{Backend: e.b, Ring: e.ring, Stores: []blob.Store{e.st, second}, TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	id := e.notebook(t)
	for i := range 3 {
		e.write(t, id, "INSERT INTO t (n, note) VALUES (?, 'x')", i)
		e.ship(t)
	}
	var keys []string
	if err := e.st.List(ctx, "wal/", func(in blob.Info) error { keys = append(keys, in.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := second.Stat(ctx, k); err != nil {
			t.Errorf("%s not in the second location: %v", k, err)
		}
		e.st.Delete(ctx, k)
	}
	if len(keys) < 5 {
		t.Fatalf("%d objects shipped, want key, base and 3 segments", len(keys))
	}
	out := filepath.Join(t.TempDir(), "r.db")
	if err := ship.RestoreAt(ctx, e.st, e.ring, id, time.Now(), out); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("restore from the emptied first location: %v, want ENOTFOUND", err)
	}
	if err := ship.RestoreAt(ctx, second, e.ring, id, time.Now(), out); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: out}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want, n := e.liveDigest(t, id)
	if got, m := digest(t, db); got != want || m != n {
		t.Errorf("restore from the second location: %d rows, %s; live %d rows, %s", m, got, n, want)
	}
}

// failingStore fails the next Put of a segment once armed.
type failingStore struct {
	blob.Store
	fail atomic.Bool
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if strings.Contains(key, "/s0") && f.fail.CompareAndSwap(true, false) {
		return 0, errors.New("second location down")
	}
	return f.Store.Put(ctx, key, r)
}

// TestRoundFailsHalfway: a round whose segment reaches the first
// location but not the second fails and ships the frames again next
// round, under the same sequence number: both locations restore the live
// state, and the first one (holding both copies) restores the time
// between them too.
func TestRoundFailsHalfway(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	e.s.Close()
	ls, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	second := &failingStore{Store: ls}
	if e.s, err = ship.New(ship.Config{Backend: e.b, Ring: e.ring, Stores: []blob.Store{e.st, second}, TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	id := e.notebook(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'x')")
	e.ship(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (2, 'x')")
	second.fail.Store(true)
	if err := e.s.Ship(ctx); err == nil {
		t.Fatal("a round whose second location failed reported no error")
	}
	if st := e.s.Status(); st.Failed != 1 || !strings.Contains(st.Error, "second location down") {
		t.Errorf("status after the failed round: %+v", st)
	}
	between := time.Now()
	e.write(t, id, "INSERT INTO t (n, note) VALUES (3, 'x')")
	e.ship(t)
	if got := rows(t, e.restore(t, id, between)); len(got) != 2 || !got[1] || !got[2] {
		t.Errorf("restore between the two rounds: rows %v, want 1 and 2", got)
	}
	want, n := e.liveDigest(t, id)
	for i, st := range []blob.Store{e.st, second} {
		out := filepath.Join(t.TempDir(), "r.db")
		if err := ship.RestoreAt(ctx, st, e.ring, id, time.Now(), out); err != nil {
			t.Fatalf("location %d: %v", i+1, err)
		}
		db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: out}).EscapedPath()+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		if got, m := digest(t, db); got != want || m != n {
			t.Errorf("location %d: %d rows, %s; live %d rows, %s", i+1, m, got, n, want)
		}
		db.Close()
	}
}

// TestShipToS3: shipping to a real S3-compatible server (versitygw on
// loopback) as the second location, which alone then restores the live
// state.
func TestShipToS3(t *testing.T) {
	ctx := context.Background()
	srv := blobtest.MustVersityGW(t)
	s3st, err := bloburl.Open(ctx, srv.URL("ship", "loc"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s3st.Close()
	e := newEnv(t, sqlite.Options{})
	e.s.Close()
	if e.s, err = ship.New(ship.Config{Backend: e.b, Ring: e.ring, Stores: []blob.Store{e.st, s3st}, TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	id := e.notebook(t)
	for i := range 3 {
		e.write(t, id, "INSERT INTO t (n, note, pad) VALUES (?, 'x', randomblob(100000))", i)
		e.ship(t)
	}
	out := filepath.Join(t.TempDir(), "r.db")
	if err := ship.RestoreAt(ctx, s3st, e.ring, id, time.Now(), out); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: out}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want, n := e.liveDigest(t, id)
	if got, m := digest(t, db); got != want || m != n {
		t.Errorf("restore from S3: %d rows, %s; live %d rows, %s", m, got, n, want)
	}
}

// TestHalfGeneration: a generation whose start died after its key and
// base (kill -9 before the first segment) is never restored from, and
// Prune removes it once older than the time kept from.
func TestHalfGeneration(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqlite.Options{})
	id := e.notebook(t)
	e.write(t, id, "INSERT INTO t (n, note) VALUES (1, 'x')")
	e.ship(t)
	gens, err := ship.Generations(ctx, e.st, id)
	if err != nil || len(gens) != 1 {
		t.Fatalf("generations %v, %v", gens, err)
	}
	half := fmt.Sprintf("g%016d-00000000", time.Now().Add(time.Second).UnixMicro())
	for _, name := range []string{"key", "base"} {
		rc, err := e.st.Open(ctx, ship.Prefix(id)+gens[0].ID+"/"+name, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Put(ctx, ship.Prefix(id)+half+"/"+name, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	later := time.Now().Add(time.Hour)
	if got := rows(t, e.restore(t, id, later)); len(got) != 1 || !got[1] {
		t.Errorf("restore with a half generation present: rows %v", got)
	}
	n, err := ship.Prune(ctx, e.st, id, later)
	if err != nil || n != 2 {
		t.Errorf("Prune: %d deleted, %v; want the half generation's 2 objects", n, err)
	}
	if got := rows(t, e.restore(t, id, later)); !got[1] {
		t.Error("the good generation no longer restores after Prune")
	}
}
