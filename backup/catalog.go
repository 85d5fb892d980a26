package backup

// The catalogue of snapshots: the instance table backup_snapshots.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// New returns the Service over st's storage and keyring. It does no I/O:
// call Recover once at start.
func New(st *all.Store, cfg Config) *Service {
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 24 * time.Hour
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 2 * time.Minute
	}
	if cfg.KeyringKeep <= 0 {
		cfg.KeyringKeep = 2
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, cfg: cfg, log: log, now: st.Core.Now}
}

// snapshotColumns are the columns scanSnapshot reads, in its order.
const snapshotColumns = "id, notebook, kind, status, started_at, finished_at, verified_at, size, image_size, rows, tables, blobs, blob_bytes, schema_version, key_id, locations, error"

func scanSnapshot(row interface{ Scan(...any) error }) (*Snapshot, error) {
	var sn Snapshot
	var started int64
	var finished, verified sql.NullInt64
	var tables, locations string
	if err := row.Scan(&sn.ID, &sn.Notebook, &sn.Kind, &sn.Status, &started, &finished, &verified, &sn.Size, &sn.ImageSize, &sn.Rows,
		&tables, &sn.Blobs, &sn.BlobBytes, &sn.SchemaVersion, &sn.KeyID, &locations, &sn.Error); err != nil {
		return nil, err
	}
	sn.StartedAt = store.FromMicros(started)
	if finished.Valid {
		sn.FinishedAt = store.FromMicros(finished.Int64)
	}
	if verified.Valid {
		t := store.FromMicros(verified.Int64)
		sn.VerifiedAt = &t
	}
	if err := json.Unmarshal([]byte(tables), &sn.Tables); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(locations), &sn.Locations); err != nil {
		return nil, err
	}
	return &sn, nil
}

// List returns the snapshots of a notebook ("" for the instance), newest
// first, deleted ones left out: good, running and failed ones. It is for
// operators and for services that checked the caller's right (restore).
func (s *Service) List(ctx context.Context, notebook string) ([]*Snapshot, error) {
	inst := s.st.Inst
	var out []*Snapshot
	err := s.st.ReadTx(ctx, inst.R, "backup.List", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.st.Rebind("SELECT "+snapshotColumns+" FROM "+inst.Prefix+"backup_snapshots WHERE notebook = ? AND status <> ? ORDER BY started_at DESC, id DESC"),
			notebook, StatusDeleted)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sn, err := scanSnapshot(rows)
			if err != nil {
				return err
			}
			out = append(out, sn)
		}
		return rows.Err()
	})
	return out, err
}

// Find returns the snapshot id, or ENOTFOUND (deleted ones included: a
// pruned snapshot is not found).
func (s *Service) Find(ctx context.Context, id string) (*Snapshot, error) {
	if !coffer.ValidID(PrefixSnapshot, id) {
		return nil, errNotFound
	}
	inst := s.st.Inst
	var sn *Snapshot
	err := s.st.ReadTx(ctx, inst.R, "backup.Find", func(tx *sql.Tx) error {
		var err error
		sn, err = scanSnapshot(tx.QueryRowContext(ctx, s.st.Rebind("SELECT "+snapshotColumns+" FROM "+inst.Prefix+"backup_snapshots WHERE id = ? AND status <> ?"), id, StatusDeleted))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	return sn, err
}

var errNotFound = coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")

// Recover marks failed every running snapshot whose heartbeat is older
// than Config.StaleAfter: its process died (kill -9, power loss) before it
// finished. It returns how many it marked. Call it at start; it is safe
// beside another process taking a snapshot (whose heartbeat is fresh).
func (s *Service) Recover(ctx context.Context) (int, error) {
	inst := s.st.Inst
	cutoff := s.now().Add(-s.cfg.StaleAfter).UnixMicro()
	var n int64
	err := s.st.Write(ctx, inst, "backup.Recover", func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET status = ?, error = ?, finished_at = ? WHERE status = ? AND heartbeat_at < ?"),
			StatusFailed, "interrupted: the process taking it stopped", s.now().UnixMicro(), StatusRunning, cutoff)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// begin inserts snapshot id as running, unless a snapshot of the same
// notebook is running with a fresh heartbeat (ECONFLICT).
func (s *Service) begin(ctx context.Context, id, notebook, kind string) error {
	inst := s.st.Inst
	now := s.now()
	return s.st.Write(ctx, inst, "backup.Snapshot", func(tx *store.WriteTx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.st.Rebind("SELECT count(*) FROM "+inst.Prefix+"backup_snapshots WHERE notebook = ? AND status = ? AND heartbeat_at >= ?"),
			notebook, StatusRunning, now.Add(-s.cfg.StaleAfter).UnixMicro()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return coffer.Errorf(coffer.ECONFLICT, "a snapshot of this notebook is already being taken")
		}
		_, err := tx.ExecContext(ctx, s.st.Rebind("INSERT INTO "+inst.Prefix+"backup_snapshots (id, notebook, kind, status, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)"),
			id, notebook, kind, StatusRunning, now.UnixMicro(), now.UnixMicro())
		return err
	})
}

// heartbeat keeps snapshot id's heartbeat fresh until stop is called.
func (s *Service) heartbeat(ctx context.Context, id string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.cfg.StaleAfter / 4)
		defer t.Stop()
		inst := s.st.Inst
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := s.st.Write(ctx, inst, "backup.heartbeat", func(tx *store.WriteTx) error {
					_, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET heartbeat_at = ? WHERE id = ? AND status = ?"),
						s.now().UnixMicro(), id, StatusRunning)
					return err
				})
				if err != nil {
					s.log.Warn("backup heartbeat", "snapshot", id, "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// finish marks snapshot id good with what sn says.
func (s *Service) finish(ctx context.Context, sn *Snapshot) error {
	tables, err := json.Marshal(sn.Tables)
	if err != nil {
		return err
	}
	locs, err := json.Marshal(sn.Locations)
	if err != nil {
		return err
	}
	inst := s.st.Inst
	return s.st.Write(ctx, inst, "backup.Snapshot", func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET status = ?, finished_at = ?, size = ?, image_size = ?, rows = ?, tables = ?, blobs = ?, blob_bytes = ?, schema_version = ?, key_id = ?, locations = ?, state = ?, error = ? WHERE id = ? AND status = ?"),
			StatusGood, sn.FinishedAt.UnixMicro(), sn.Size, sn.ImageSize, sn.Rows, string(tables), sn.Blobs, sn.BlobBytes, sn.SchemaVersion, sn.KeyID, string(locs), sn.state, sn.Error, sn.ID, StatusRunning)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// Recover marked it failed meanwhile (its heartbeat stalled).
			return errors.Join(err, coffer.Errorf(coffer.ECONFLICT, "the snapshot was marked failed while it was being taken"))
		}
		return nil
	})
}

// fail marks snapshot id failed with a message safe to show.
func (s *Service) fail(id string, cause error) {
	msg := "the snapshot failed"
	var ce *coffer.Error
	if errors.As(cause, &ce) && ce.Message != "" && ce.Code != coffer.EINTERNAL {
		msg = ce.Message
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst := s.st.Inst
	err := s.st.Write(ctx, inst, "backup.fail", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = ?"),
			StatusFailed, s.now().UnixMicro(), msg, id, StatusRunning)
		return err
	})
	if err != nil {
		s.log.Error("backup: mark failed", "snapshot", id, "err", err)
	}
}

// lastGood returns the newest good snapshot of notebook and its state, or
// nil.
func (s *Service) lastGood(ctx context.Context, notebook string) (*Snapshot, error) {
	inst := s.st.Inst
	var sn *Snapshot
	err := s.st.ReadTx(ctx, inst.R, "backup.Snapshot", func(tx *sql.Tx) error {
		var state string
		var err error
		sn, err = scanSnapshot(scanPlus{tx.QueryRowContext(ctx, s.st.Rebind("SELECT "+snapshotColumns+", state FROM "+inst.Prefix+"backup_snapshots WHERE notebook = ? AND status = ? ORDER BY started_at DESC, id DESC LIMIT 1"),
			notebook, StatusGood), &state})
		if errors.Is(err, sql.ErrNoRows) {
			sn = nil
			return nil
		}
		if sn != nil {
			sn.state = state
		}
		return err
	})
	return sn, err
}

// scanPlus scans a row of snapshotColumns and one more column into extra.
type scanPlus struct {
	row   interface{ Scan(...any) error }
	extra any
}

func (p scanPlus) Scan(dest ...any) error { return p.row.Scan(append(dest, p.extra)...) }

// markVerified records a successful verification of snapshot id.
func (s *Service) markVerified(ctx context.Context, id string, at time.Time) error {
	inst := s.st.Inst
	return s.st.Write(ctx, inst, "backup.Verify", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET verified_at = ? WHERE id = ?"), at.UnixMicro(), id)
		return err
	})
}

// keyedMutex is a mutex per key.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*sync.Mutex{}
	}
	l := k.m[key]
	if l == nil {
		l = &sync.Mutex{}
		k.m[key] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}
