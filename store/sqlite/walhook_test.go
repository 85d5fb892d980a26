package sqlite_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// shmHook is a WAL hook that reads, instead of the frames, the WAL's
// frame count from the WAL index (mxFrame in the -shm file) and its salt
// from the WAL header.
type shmHook struct {
	committed atomic.Int64
	captures  atomic.Int64
}

func (h *shmHook) Committed(string) { h.committed.Add(1) }
func (h *shmHook) Reset(string)     {}

func (h *shmHook) Capture(id, dbPath string) (int, uint64, error) {
	h.captures.Add(1)
	shm, err := os.ReadFile(dbPath + "-shm")
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	wal, err := os.ReadFile(dbPath + "-wal")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, err
	}
	if len(shm) < 100 || len(wal) < 32 {
		return 0, 0, nil
	}
	return int(binary.NativeEndian.Uint32(shm[16:20])), binary.BigEndian.Uint64(wal[16:24]), nil
}

// newShipEnv is newMaintEnv with a WAL hook set before the notebook opens.
func newShipEnv(t *testing.T, h sqlite.WALHook) *maintEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.SetWALHook(h)
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

// TestShippedCheckpointsCopyOnlyWhatWasRead: with a WAL hook, writes keep
// committing while each checkpoint runs (the writer is freed before it,
// and the test waits there so that writes land), yet no checkpoint copies
// a frame the hook had not read: the pinned snapshot bounds it.
func TestShippedCheckpointsCopyOnlyWhatWasRead(t *testing.T) {
	t.Run("hook before open", func(t *testing.T) {
		h := &shmHook{}
		copyOnlyWhatWasRead(t, h, newShipEnv(t, h))
	})
	t.Run("hook set on a checkpointed WAL", func(t *testing.T) {
		// Every frame already copied when the hook arrives: the first
		// checkpoint must not trust a pin that SQLite gives no snapshot.
		h := &shmHook{}
		e := newMaintEnv(t)
		e.writeBlob(t)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if frames, copied := e.walState(t); frames == copied {
				break
			}
		}
		e.b.SetWALHook(h)
		if err := e.b.HoldCheckpoints(context.Background(), e.id, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		copyOnlyWhatWasRead(t, h, e)
	})
}

func copyOnlyWhatWasRead(t *testing.T, h *shmHook, e *maintEnv) {
	var mu sync.Mutex
	var checkpoints, beyond int
	sqlite.ShippingTestHooks(e.b, e.id, func() { time.Sleep(5 * time.Millisecond) }, func(read, copied int) {
		mu.Lock()
		defer mu.Unlock()
		checkpoints++
		if copied > read {
			beyond++
		}
	})
	var wrote atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.write(t, "INSERT INTO blobs (b) VALUES (randomblob(5000))")
				wrote.Add(1)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if checkpoints < 10 {
		t.Fatalf("%d checkpoints during %d writes; want at least 10", checkpoints, wrote.Load())
	}
	if beyond > 0 {
		t.Errorf("%d of %d checkpoints copied frames the hook had not read", beyond, checkpoints)
	}
	if h.committed.Load() == 0 {
		t.Error("the hook was never told of a commit")
	}
}

// TestShippingWriterNeverCheckpoints: with a WAL hook (set before the
// notebook opened, or after and armed by HoldCheckpoints) and the background
// checkpoints paused, the writer copies nothing, even past its usual
// bound (only the maintainer checkpoints, after the hook); once resumed,
// the maintainer copies everything; closing the backend has the hook read
// the WAL one last time.
func TestShippingWriterNeverCheckpoints(t *testing.T) {
	t.Run("hook before open", func(t *testing.T) {
		h := &shmHook{}
		writerNeverCheckpoints(t, h, newShipEnv(t, h))
	})
	t.Run("hook set later", func(t *testing.T) {
		// The notebook is open before the hook is set; HoldCheckpoints
		// (a shipper's start) takes the checkpoints from its writer.
		h := &shmHook{}
		e := newMaintEnv(t)
		e.b.SetWALHook(h)
		if err := e.b.HoldCheckpoints(context.Background(), e.id, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		writerNeverCheckpoints(t, h, e)
	})
}

func writerNeverCheckpoints(t *testing.T, h *shmHook, e *maintEnv) {
	resume := sqlite.PauseCheckpoints(e.b, e.id)
	for range 18 {
		e.writeBlob(t)
	}
	frames, copied := e.walState(t)
	resume()
	if frames < sqlite.WriterCheckpointFrames || copied != 0 {
		t.Fatalf("after 18 MiB of commits with checkpoints paused: %d frames, %d copied; want ≥ %d, none copied", frames, copied, sqlite.WriterCheckpointFrames)
	}
	e.write(t, "INSERT INTO blobs (b) VALUES (x'00')") // wakes the maintainer
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if frames, copied = e.walState(t); frames == copied {
			break
		}
	}
	if frames != copied {
		t.Fatalf("maintainer copied %d of %d frames", copied, frames)
	}
	before := h.captures.Load()
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	if h.captures.Load() == before {
		t.Error("closing did not have the hook read the WAL")
	}
}
