package sqlite

// Continuous WAL shipping (package backup/ship) reads every committed WAL
// frame of a notebook before a checkpoint can copy it into the database
// file, after which SQLite may start the WAL over and overwrite it.
//
// With a hook set, a notebook's checkpoints all go through its
// maintainer (the writer's wal_autocheckpoint is 0: from the start for a
// database opened after SetWALHook, else from the maintainer's first
// checkpoint with the hook or HoldCheckpoints, which a shipper calls
// before it reads anything; and the WAL is read again before the last
// connection closes, whose checkpoint copies everything). Each
// checkpoint then:
//
//  1. takes the writer connection, so no write is in progress and none
//     starts, and has the hook read the WAL up to its last commit frame;
//  2. opens a read transaction on a connection of its own (the pin),
//     whose snapshot is exactly the frames the hook read, and frees the
//     writer: writes go on, into the WAL;
//  3. runs a PASSIVE checkpoint, which copies no frame past the oldest
//     snapshot of a reader, hence none the hook has not read; and while
//     the pin is open the WAL cannot start over;
//  4. ends the pin.
//
// SQLite gives a reader no WAL snapshot (read mark 0) when every frame of
// the WAL is already copied; the pin would then bound nothing, so a
// checkpoint runs only when the hook read frames past those the last
// checkpoint copied, and the first checkpoint of a maintainer (which
// does not know what is copied) holds the writer. Since only checkpoints after a read copy frames, and
// the WAL starts over only once every frame is copied, no frame is
// overwritten unread. Above writerCheckpointFrames frames the checkpoint
// runs holding the writer instead (step 2 skipped), as the writer's own
// would have: the WAL can then start over even under a steady stream of
// writes.

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
)

// WALHook receives the committed WAL frames of notebook databases.
// Its methods are called from the backend's own goroutines, some while
// the backend's lock is held: they must not call the backend.
type WALHook interface {
	// Committed is called after each group commit on notebook's
	// database. It must return at once.
	Committed(notebook string)
	// Capture must read, from the WAL of the database file at dbPath
	// (dbPath+"-wal"), every committed frame it has not read yet: once
	// it returns they may be copied into the database file and
	// overwritten. It is called with no write in progress on the
	// notebook and none able to start, before each checkpoint and before
	// the database closes. It returns how many valid frames the WAL holds
	// up to its last commit frame and the WAL's salt, which changes when
	// the WAL starts over. An error skips the checkpoint.
	Capture(notebook, dbPath string) (frames int, salt uint64, err error)
	// Reset is called when notebook's database file is made anew or
	// removed: frames read before do not apply to what comes next.
	Reset(notebook string)
}

// SetWALHook sets the hook told of the WAL frames of every notebook
// database (not the instance database). A notebook opened before takes
// it at its next checkpoint, or when HoldCheckpoints begins shipping it.
func (b *Backend) SetWALHook(h WALHook) {
	b.hook.Store(&hookRef{h})
}

// hookRef holds a WALHook in an atomic.Pointer.
type hookRef struct{ h WALHook }

// resetWAL tells the hook, if any, that notebook's database file is made
// anew or removed.
func (b *Backend) resetWAL(notebook string) {
	b.stamps.Delete(notebook)
	if h := b.walHook(notebook); h != nil {
		h.Reset(notebook)
	}
}

// walHook returns the hook for the database of notebook id ("" for the
// instance database: none).
func (b *Backend) walHook(id string) WALHook {
	if r := b.hook.Load(); r != nil && id != "" {
		return r.h
	}
	return nil
}

// shipping is a maintainer's share of WAL shipping.
type shipping struct {
	cell   *atomic.Pointer[hookRef] // the backend's hook
	stamps *sync.Map                // the backend's file stamps
	id     string                   // the notebook ("": the instance database, never shipped)
	path   string                   // the database file
	dsn    string
	armed  bool    // the writer's wal_autocheckpoint is 0 and pin is open
	pin    *sql.DB // one read-only connection holding a snapshot during a checkpoint

	known  bool   // salt and copied describe the WAL
	salt   uint64 // the WAL's salt at the last checkpoint
	copied int    // frames of that WAL in the database file

	// Tests: freed is called once the writer is freed and before the
	// checkpoint; checkpointed after it, with the frames the hook read
	// and the frames the checkpoint found copied.
	freed        func()
	checkpointed func(read, copied int)
}

// hook returns the WAL hook of the maintainer's database, or nil.
func (m *maintainer) hook() WALHook {
	if m.ship.id == "" || m.ship.cell == nil {
		return nil
	}
	if r := m.ship.cell.Load(); r != nil {
		return r.h
	}
	return nil
}

// Another process (a command run beside the server on the same data
// directory) may write to a notebook and checkpoint it, copying and then
// overwriting frames the hook never read. Only checkpoints change a
// database file in WAL mode, so this process stamps the file (size and
// modification time) after each of its checkpoints, after the base copy
// and after it closes the database; a file found otherwise before a
// capture was changed by someone else, and the hook is Reset: shipping
// begins a new generation. (A change within the file system's timestamp
// granularity of this process's own, without a change of size, escapes
// this check: other processes should not write to notebooks while one
// ships.)

// fileStamp is what a checkpoint changes of a database file.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, false
	}
	return fileStamp{fi.Size(), fi.ModTime()}, true
}

// stamp records the database file as this process left it.
func (m *maintainer) stamp() {
	if st, ok := stampOf(m.ship.path); ok {
		m.ship.stamps.Store(m.ship.id, st)
	} else {
		m.ship.stamps.Delete(m.ship.id)
	}
}

// changedElsewhere reports whether the database file is not as this
// process last left it.
func (m *maintainer) changedElsewhere() bool {
	v, ok := m.ship.stamps.Load(m.ship.id)
	if !ok {
		return false
	}
	st, ok := stampOf(m.ship.path)
	return !ok || st != v.(fileStamp)
}

// afterClose stamps the file of a shipped database once closed: closing
// checkpoints it.
func (m *maintainer) afterClose() {
	if m.ship.armed && m.hook() != nil {
		m.stamp()
	}
}

// arm makes the maintainer the only one to checkpoint: the writer's
// wal_autocheckpoint becomes 0 (w is the writer's connection), and the
// pin connection opens. The caller holds m.hold.
func (m *maintainer) arm(ctx context.Context, w *sql.Conn) error {
	if m.ship.armed {
		return nil
	}
	if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		return err
	}
	pin, err := openPin(m.ship.dsn)
	if err != nil {
		return err
	}
	m.ship.pin, m.ship.armed = pin, true
	return nil
}

// openPin opens the pin connection of a maintainer.
func openPin(dsn string) (*sql.DB, error) {
	pin, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	pin.SetMaxOpenConns(1)
	pin.SetMaxIdleConns(1)
	pin.SetConnMaxIdleTime(0)
	pin.SetConnMaxLifetime(0)
	return pin, nil
}

// shippedCheckpoint is a checkpoint with shipping on (see the top of the
// file). The caller holds m.hold.
func (m *maintainer) shippedCheckpoint(h WALHook) {
	ctx := context.Background()
	w, err := m.w.Conn(ctx) // the writer: no write runs until it is closed
	if err != nil {
		return
	}
	if err := m.arm(ctx, w); err != nil {
		w.Close()
		return
	}
	if m.changedElsewhere() {
		h.Reset(m.ship.id)
		m.ship.known = false
	}
	frames, salt, err := h.Capture(m.ship.id, m.ship.path)
	if err != nil || frames == 0 || (m.ship.known && salt == m.ship.salt && frames <= m.ship.copied) {
		w.Close()
		return
	}
	// Unless this maintainer knows how much of the WAL is copied (its
	// first checkpoint, or the file changed elsewhere), every frame may be
	// copied already: the pin would get no snapshot and bound nothing, so
	// the checkpoint holds the writer instead.
	var pin *sql.Tx
	if frames <= writerCheckpointFrames && m.ship.known {
		if pin, err = m.ship.pin.BeginTx(ctx, nil); err == nil {
			var n int
			err = pin.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n) // the read starts the snapshot
		}
		if err != nil {
			if pin != nil {
				pin.Rollback()
			}
			w.Close()
			return
		}
		w.Close()
		if m.ship.freed != nil {
			m.ship.freed()
		}
	}
	var busy, log, copied int
	err = m.conn.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	if pin != nil {
		pin.Rollback()
	} else {
		w.Close()
	}
	m.stamp()
	if err == nil {
		m.ship.known, m.ship.salt, m.ship.copied = true, salt, copied
		if m.ship.checkpointed != nil {
			m.ship.checkpointed(frames, copied)
		}
	}
}

// capture has the hook read the WAL now, holding the writer. The caller
// must not hold m.hold.
func (m *maintainer) capture(h WALHook) error {
	m.hold.Lock()
	defer m.hold.Unlock()
	w, err := m.w.Conn(context.Background())
	if err != nil {
		return err
	}
	defer w.Close()
	if m.ship.armed && m.changedElsewhere() {
		h.Reset(m.ship.id)
		m.ship.known = false
	}
	_, _, err = h.Capture(m.ship.id, m.ship.path)
	return err
}

// CaptureWAL has the WAL hook read notebook's committed frames now, if
// its database is open (one closed was read as it closed). With no hook
// it does nothing.
func (b *Backend) CaptureWAL(ctx context.Context, notebook string) error {
	b.mu.Lock()
	h := b.open[notebook]
	hook := b.walHook(notebook)
	if h == nil || hook == nil {
		b.mu.Unlock()
		return nil
	}
	h.refs++
	b.mu.Unlock()
	defer b.releaseHandle(h)
	return h.m.capture(hook)
}

// HoldCheckpoints opens notebook's database, stops its checkpoints and
// calls fn with the path of its database file, which nothing changes
// until fn returns: writes go on, into the WAL. With a WAL hook set, from
// then on only the maintainer checkpoints the database, after the hook.
// fn must not call the backend for this notebook.
func (b *Backend) HoldCheckpoints(ctx context.Context, notebook string, fn func(dbPath string) error) error {
	h, release, err := b.acquire(ctx, notebook)
	if err != nil {
		return err
	}
	defer release()
	path, err := b.notebookPath(notebook)
	if err != nil {
		return err
	}
	h.m.hold.Lock()
	defer h.m.hold.Unlock()
	w, err := h.db.W.Conn(ctx)
	if err != nil {
		return err
	}
	err = h.m.arm(ctx, w)
	w.Close()
	if err != nil {
		return err
	}
	h.m.stamp()
	if err := fn(path); err != nil {
		return err
	}
	if h.m.changedElsewhere() {
		return coffer.Errorf(coffer.EUNAVAILABLE, "the notebook's database file changed while checkpoints were held: another process checkpointed it")
	}
	return nil
}
