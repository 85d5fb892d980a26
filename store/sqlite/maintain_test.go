package sqlite_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// maintEnv is a backend with one open notebook holding table blobs, and a
// storage core to write to it through group commit.
type maintEnv struct {
	b    *sqlite.Backend
	id   string
	path string
	db   *store.DB
	core *store.Core
}

func newMaintEnv(t *testing.T) *maintEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	if _, err := db.W.Exec("CREATE TABLE blobs (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	return &maintEnv{b: b, id: id, path: filepath.Join(dir, "notebooks", id+".db"), db: db,
		core: &store.Core{Storage: b, Dialect: b.Dialect(), Inst: b.Instance(), Now: time.Now}}
}

// write commits one write of q through the writer's group commit.
func (e *maintEnv) write(t *testing.T, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if err := e.core.Write(ctx, e.db, "test", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// writeBlob commits a 1 MiB blob: about 257 WAL frames (pages).
func (e *maintEnv) writeBlob(t *testing.T) {
	t.Helper()
	e.write(t, "INSERT INTO blobs (b) VALUES (randomblob(1048576))")
}

// walState reads the WAL index (the -shm file; its layout is SQLite's file
// format, walformat.html): frames is mxFrame, the frames in the WAL, and
// copied is nBackfill, those already checkpointed into the database file.
func (e *maintEnv) walState(t *testing.T) (frames, copied uint32) {
	t.Helper()
	b, err := os.ReadFile(e.path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 {
		t.Fatalf("-shm file of %d bytes", len(b))
	}
	return binary.NativeEndian.Uint32(b[16:20]), binary.NativeEndian.Uint32(b[96:100])
}

// TestCheckpointsOffTheWriter: commits that fill the WAL past SQLite's
// default auto-checkpoint (1,000 pages) do not checkpoint in the writer;
// the background does, once let, and the next write starts the WAL over.
func TestCheckpointsOffTheWriter(t *testing.T) {
	e := newMaintEnv(t)
	resume := sqlite.PauseCheckpoints(e.b, e.id)
	for range 8 {
		e.writeBlob(t)
	}
	frames, copied := e.walState(t)
	if frames < 2000 || copied != 0 {
		resume()
		t.Fatalf("after 8 MiB of commits with background checkpoints paused: WAL frames %d, copied %d; want ≥ 2000 frames, none copied (the writer must not checkpoint below %d frames)",
			frames, copied, sqlite.WriterCheckpointFrames)
	}
	resume()
	for deadline := time.Now().Add(30 * time.Second); copied != frames && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, copied = e.walState(t)
	}
	if copied != frames {
		t.Fatalf("background checkpoint: copied %d of %d frames", copied, frames)
	}
	e.write(t, "INSERT INTO blobs (b) VALUES (x'00')")
	if frames, _ := e.walState(t); frames > 100 {
		t.Errorf("after a full checkpoint, a small write left %d frames in the WAL; want the WAL started over (a few frames)", frames)
	}
}

// TestWALBoundedWithoutBackground: with the background checkpoints stopped,
// the writer still checkpoints above WriterCheckpointFrames, so the WAL
// cannot grow without bound.
func TestWALBoundedWithoutBackground(t *testing.T) {
	e := newMaintEnv(t)
	resume := sqlite.PauseCheckpoints(e.b, e.id)
	defer resume()
	max := uint32(0)
	for range 24 { // about 6,200 frames
		e.writeBlob(t)
		frames, _ := e.walState(t)
		max = maxU32(max, frames)
	}
	if limit := uint32(sqlite.WriterCheckpointFrames + 300); max > limit {
		t.Errorf("WAL grew to %d frames; want at most %d (the writer's checkpoint plus one write)", max, limit)
	}
	if frames, _ := e.walState(t); frames >= 24*257 {
		t.Errorf("WAL holds %d frames after 24 writes of 257: it never started over", frames)
	}
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// TestStatsRefreshLetsWritesThrough: a statistics refresh runs one index at
// a time, and a write commits between two pieces, while the refresh is
// still in progress; at the end every index has its statistics.
func TestStatsRefreshLetsWritesThrough(t *testing.T) {
	e := newMaintEnv(t)
	for _, q := range []string{"CREATE TABLE t (a INTEGER, b TEXT)", "CREATE INDEX ta ON t (a)", "CREATE INDEX tb ON t (b)"} {
		if _, err := e.db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	e.write(t, "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 2000) INSERT INTO t (a, b) SELECT v % 7, 'x' || v FROM s")

	var mu sync.Mutex
	var pieces []string
	wrote := make(chan error, 1)
	finished := make(chan struct{})
	var finish sync.Once
	sqlite.BetweenStatPieces(e.b, e.id, func(piece string) {
		mu.Lock()
		pieces = append(pieces, piece)
		first := len(pieces) == 1
		all := slices.Contains(pieces, "ta") && slices.Contains(pieces, "tb") && slices.Contains(pieces, "blobs")
		mu.Unlock()
		if first {
			// The refresh is in progress (one piece done): a write must
			// get the writer now, not after the whole refresh. The
			// timeout only keeps a broken build from hanging.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			wrote <- e.core.Write(ctx, e.db, "test", func(tx *store.WriteTx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO t (a, b) VALUES (1, 'between')")
				return err
			})
		}
		if all {
			finish.Do(func() { close(finished) })
		}
	})
	e.b.Wrote(e.id, 2000)
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("write during the statistics refresh: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no statistics refresh piece ran after 2,000 written rows")
	}
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("refresh analyzed %q; want ta, tb and blobs, each a piece of its own", pieces)
	}
	stats := map[string]string{}
	rows, err := e.db.W.Query("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 't'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx, stat string
		if err := rows.Scan(&idx, &stat); err != nil {
			t.Fatal(err)
		}
		stats[idx] = stat
	}
	// 2,000 or 2,001 rows (the write between pieces may come before the
	// second index's piece); a has 7 values (286 rows each), b is unique.
	if !slices.Contains([]string{"2000 286", "2001 286"}, stats["ta"]) || !slices.Contains([]string{"2000 1", "2001 1"}, stats["tb"]) {
		t.Errorf("sqlite_stat1 of t = %v; want ta \"2000 286\" and tb \"2000 1\" (or 2001)", stats)
	}
}

// TestStatsReachReaders: a reader connection opened before a statistics
// refresh plans with the refreshed statistics after it (the refresh runs on
// the writer; the readers are open for as long as the database).
func TestStatsReachReaders(t *testing.T) {
	e := newMaintEnv(t)
	for _, q := range []string{"CREATE TABLE t (a INTEGER, b INTEGER)", "CREATE INDEX ta ON t (a)", "CREATE INDEX tb ON t (b)"} {
		if _, err := e.db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// a is unique, b has two values: with statistics, a = ? is the index to search.
	e.write(t, "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 5000) INSERT INTO t (a, b) SELECT v, v % 2 FROM s")
	ctx := context.Background()
	reader, err := e.db.R.Conn(ctx) // a reader open since before the refresh
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	plan := func() string {
		// A statement that reads (EXPLAIN does not) lets the connection
		// notice a schema change.
		var n int
		if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		var id, parent, unused int
		var detail string
		if err := reader.QueryRowContext(ctx, "EXPLAIN QUERY PLAN SELECT * FROM t WHERE b = 1 AND a = 7").Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		return detail
	}
	if got := plan(); got != "SEARCH t USING INDEX tb (b=?)" {
		t.Fatalf("plan without statistics = %q; the test expects SQLite to pick tb then", got)
	}
	e.b.Wrote(e.id, 5000)
	got := plan()
	for deadline := time.Now().Add(60 * time.Second); got != "SEARCH t USING INDEX ta (a=?)" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = plan()
	}
	if got != "SEARCH t USING INDEX ta (a=?)" {
		t.Errorf("reader's plan after the statistics refresh = %q; want a search of ta", got)
	}
}
