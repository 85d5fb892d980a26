package sqlite

import (
	"database/sql"
	"errors"
	"sync"
	"time"
)

// The upkeep of a database runs off its writer, so that no write waits
// behind it:
//
//   - WAL checkpoints (copying committed pages from the WAL into the
//     database file, with an fsync of each) run on a connection of their
//     own, in the background, a little after writes commit. SQLite would
//     otherwise run them inside the commit of whichever write filled the
//     WAL to 1,000 pages, and every write queued behind that one would
//     wait for the copy and its fsync.
//   - The writer still checkpoints itself once the WAL holds
//     writerCheckpointFrames pages: by then the background has copied all
//     but the last pages, so the writer's checkpoint is short, and it is
//     what lets the WAL start over from its beginning (SQLite restarts the
//     WAL only at the start of a write, once every frame is copied). It
//     also bounds the WAL when the background falls behind.
//   - The planner's statistics are refreshed one index at a time (see
//     refreshStats), each piece a short ANALYZE between groups of writes,
//     instead of one ANALYZE of every table holding the writer for the
//     whole time.
//
// A checkpoint never loses committed data: it copies frames that are
// already durable in the WAL, and a crash in the middle leaves them in the
// WAL to be copied again.
//
// With continuous WAL shipping on (a WALHook, walhook.go), a notebook's
// writer does not checkpoint at all: each background checkpoint first has
// the hook read the new frames, then copies no frame beyond them.

const (
	// writerCheckpointFrames is the writer's wal_autocheckpoint: the WAL
	// size, in pages, above which a commit checkpoints in the writer.
	writerCheckpointFrames = 4000
	// checkpointEvery is the shortest time between two background
	// checkpoints of one database: the pages of the writes in between are
	// copied together, with one fsync of the database file.
	checkpointEvery = 50 * time.Millisecond
)

// maintainer runs the upkeep of one database.
type maintainer struct {
	conn *sql.DB       // one connection, for checkpoints
	w    *sql.DB       // the database's writer, for the statistics refresh
	wake chan struct{} // buffered (1): writes committed since the last checkpoint
	quit chan struct{}

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup

	analyzing sync.Mutex // held by the running statistics refresh

	// hold pauses background checkpoints while held (tests).
	hold sync.Mutex
	// between, if set, is called after each piece of a statistics refresh
	// with the piece just analyzed, while the writer is free (tests).
	between func(piece string)

	ship shipping // continuous WAL shipping (walhook.go); zero when off
}

// newMaintainer opens the maintenance connection of a database and starts
// its background checkpoints. dsn is the database's reader DSN without
// query_only.
func newMaintainer(dsn string, w *sql.DB, ship shipping) (*maintainer, error) {
	conn, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxIdleTime(0)
	conn.SetConnMaxLifetime(0)
	ship.dsn = dsn
	if ship.armed {
		if ship.pin, err = openPin(dsn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	m := &maintainer{conn: conn, w: w, wake: make(chan struct{}, 1), quit: make(chan struct{}), ship: ship}
	m.wg.Add(1)
	go m.checkpoints()
	return m, nil
}

// committed tells the maintainer that writes committed. It never blocks:
// the writer calls it after each group commit.
func (m *maintainer) committed() {
	if h := m.hook(); h != nil {
		h.Committed(m.ship.id)
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// checkpoints runs a passive checkpoint after writes commit, at most once
// per checkpointEvery, until the maintainer is closed.
func (m *maintainer) checkpoints() {
	defer m.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-m.wake:
		}
		m.checkpoint()
		t.Reset(checkpointEvery)
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
	}
}

// checkpoint copies into the database file every WAL frame that no reader
// still needs, without waiting for readers or the writer (PASSIVE: it
// never blocks a write; the writer appends to the WAL meanwhile).
func (m *maintainer) checkpoint() {
	m.hold.Lock()
	defer m.hold.Unlock()
	if h := m.hook(); h != nil {
		m.shippedCheckpoint(h) // walhook.go
		return
	}
	var busy, frames, copied int
	// An error (the database closing, say) only leaves the copy to the
	// next checkpoint or to the writer's own.
	_ = m.conn.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
}

// refreshStats refreshes the planner's statistics (sqlite_stat1) of every
// index, one ANALYZE per index, each taking the writer for the time of
// that index alone: writes queued meanwhile run between the pieces. A
// refresh already running absorbs the request.
func (m *maintainer) refreshStats() {
	if !m.analyzing.TryLock() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.analyzing.Unlock()
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.analyzing.Unlock()
		names, err := m.statPieces()
		if err != nil {
			return
		}
		pieces, err := samplePieces(m.conn, names) // stats.go
		if err != nil {
			return
		}
		for _, p := range pieces {
			select {
			case <-m.quit:
				return
			default:
			}
			// An error only means these statistics stay as they were (the
			// index dropped meanwhile, the database closing).
			p.run(m.w)
			if m.between != nil {
				m.between(p.name)
			}
		}
	}()
}

// statPieces lists what one refresh analyzes: every index, every table
// without an index (whose statistics are its row count) and every WITHOUT
// ROWID table.
func (m *maintainer) statPieces() ([]string, error) {
	// A WITHOUT ROWID table is analyzed whole: its primary key is an index
	// that sqlite_schema does not list.
	rows, err := m.conn.Query(`SELECT s.name FROM sqlite_schema s
		JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.tbl_name
		WHERE s.type = 'index' AND l.wr = 0
		UNION ALL
		SELECT t.name FROM pragma_table_list t
		WHERE t.schema = 'main' AND t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
			AND (t.wr = 1 OR NOT EXISTS (SELECT 1 FROM sqlite_schema i WHERE i.type = 'index' AND i.tbl_name = t.name))`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// close stops the background work, waits for it and closes the
// maintenance connection.
func (m *maintainer) close() error {
	m.mu.Lock()
	m.closed = true
	close(m.quit)
	m.mu.Unlock()
	m.wg.Wait()
	if h := m.hook(); h != nil {
		// SQLite checkpoints the whole WAL when the last connection
		// closes: the hook reads it first.
		m.capture(h)
	}
	if m.ship.pin != nil {
		return errors.Join(m.ship.pin.Close(), m.conn.Close())
	}
	return m.conn.Close()
}
