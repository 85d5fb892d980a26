package notebooks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Browsing snapshots (coffer.BackupService): a snapshot of a notebook is
// loaded by the SnapshotSource into a sandbox storage on the live backend,
// whose id is derived from the snapshot's (sandboxID), and the ordinary
// reads run on it under a context that carries coffer.SnapshotRead
// (catalog.OpenNotebook then opens the sandbox).
//
// Whose rights apply: never more than the caller may see today. The
// registry row, members and grants are the live notebook's, read afresh
// at every request; the views that scope grants are the live notebook's
// too (copied over the snapshot's when the sandbox is loaded). Tables and
// columns are matched by id, so a grant on a table or column applies to
// the same table or column in the snapshot. Only owners and admins, and
// grantees with the restore capability, may open snapshots; anyone else
// gets ENOTFOUND, exactly as for a snapshot that does not exist.
//
// Sandboxes are cached per process: kept while in use and for
// SnapshotIdle after, then removed (at the next use of any snapshot, at
// SweepSnapshots, and all of them at CloseSnapshots).

// DefaultSnapshotIdle is how long an unused sandbox is kept.
const DefaultSnapshotIdle = 10 * time.Minute

// MaxSandboxes bounds the snapshots loaded at once on one node: each is a
// whole notebook's copy on disk. Beyond it the least recently used idle
// one goes; when every one is in use, opening another is EUNAVAILABLE.
const MaxSandboxes = 8

// backupState is the service's view of the backups: the source of
// snapshots, the sandboxes loaded from it and the restore jobs.
type backupState struct {
	mu    sync.Mutex
	src   coffer.SnapshotSource
	zone  *time.Location
	idle  time.Duration
	boxes map[string]*sandbox // by snapshot id
	// dropping: the storage ids of sandboxes taken out of boxes whose drop
	// has not ended (closed when it has); a new load of one waits.
	dropping map[string]chan struct{}
	salt     string // of sandbox ids, random per process (sandboxID)
	jobs     map[string]*restoreJob
	hook     RestoreHook // see SetRestoreHook
	// leases this process holds on sandbox storages (snapshot_lease.go)
	leases   map[string]bool
	renewing bool
}

// sandbox is one snapshot loaded into storage of its own.
type sandbox struct {
	snapshot, notebook, storage string
	ready                       chan struct{} // closed once loaded (or failed)
	err                         error
	refs                        int
	used                        time.Time
	doomed                      bool          // its notebook was deleted: dropped at its last release
	dropped                     chan struct{} // closed once its storage is dropped (retireLocked)
}

// SetSnapshots makes browsing and restoring read snapshots from src; zone
// is the instance time that groups them by day and month (nil: UTC).
func (s *Service) SetSnapshots(src coffer.SnapshotSource, zone *time.Location) {
	if zone == nil {
		zone = time.UTC
	}
	s.bk.mu.Lock()
	s.bk.src, s.bk.zone = src, zone
	s.bk.mu.Unlock()
	// At start: the sandboxes of processes that died go.
	_, _ = s.SweepOrphanSandboxes(context.Background())
}

// SetSnapshotIdle sets how long an unused sandbox is kept (0: the default).
func (s *Service) SetSnapshotIdle(d time.Duration) {
	s.bk.mu.Lock()
	s.bk.idle = d
	s.bk.mu.Unlock()
}

var errSnapshotNotFound = coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")

// sandboxID is the storage id of the sandbox of snapshot id: a notebook id
// no notebook has, salted with a random value of this process, so that
// processes on one database (nodes sharing PostgreSQL, or the command line
// beside a server on one SQLite data directory) never load into, or drop,
// each other's sandboxes. A sandbox a crash leaves behind goes once its
// lease runs out (snapshot_lease.go).
func (s *Service) sandboxID(snapshot string) string {
	if s.bk.salt == "" {
		s.bk.salt = rand.Text()
	}
	h := sha256.Sum256([]byte("coffer snapshot sandbox\x00" + s.bk.salt + "\x00" + snapshot))
	return coffer.PrefixNotebook + hex.EncodeToString(h[:13])
}

// source returns the snapshot source, or ENOTFOUND when backups are off.
func (s *Service) source() (coffer.SnapshotSource, *time.Location, error) {
	s.bk.mu.Lock()
	defer s.bk.mu.Unlock()
	if s.bk.src == nil {
		return nil, nil, errSnapshotNotFound
	}
	return s.bk.src, s.bk.zone, nil
}

// mayRestore checks that the caller may see notebook and holds the restore
// capability there (owners and admins do): else ENOTFOUND, as for a
// snapshot that does not exist.
func (s *Service) mayRestore(ctx context.Context, notebook string) (*coffer.Notebook, *catalog.Rights, error) {
	nb, a, err := s.FindNotebookAccess(ctx, s.Inst.R, notebook)
	if err != nil {
		return nil, nil, err
	}
	if a.AtLeast(access.RoleAdmin) {
		return nb, a, nil
	}
	for _, g := range a.Grants {
		for _, c := range g.Capabilities {
			if c == access.CapRestore {
				return nb, a, nil
			}
		}
	}
	return nil, nil, errSnapshotNotFound
}

// validSnapshotID refuses ids no snapshot can have before any lookup.
func validSnapshotID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// snapshotOf returns snapshot id of notebook, for a caller who may
// restore there. A snapshot of another notebook is ENOTFOUND.
func (s *Service) snapshotOf(ctx context.Context, notebook, id string) (*coffer.Snapshot, error) {
	_, a, err := s.mayRestore(ctx, notebook)
	if err != nil {
		return nil, err
	}
	src, zone, err := s.source()
	if err != nil {
		return nil, err
	}
	if !validSnapshotID(id) {
		return nil, errSnapshotNotFound
	}
	sn, err := src.Snapshot(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && sn.Notebook != notebook) {
		return nil, errSnapshotNotFound
	}
	if err != nil {
		return nil, s.Wrap("FindSnapshot", err)
	}
	return withDay(sn, zone, a), nil
}

// withDay fills a snapshot's day and month in zone, and leaves out its
// totals for a caller who is not an owner or admin.
func withDay(sn *coffer.Snapshot, zone *time.Location, a *catalog.Rights) *coffer.Snapshot {
	c := *sn
	if !a.AtLeast(access.RoleAdmin) {
		c.Size, c.Rows = 0, 0
	}
	t := c.StartedAt.In(zone)
	c.Day, c.Month = t.Format("2006-01-02"), t.Format("2006-01")
	if c.Locations == nil {
		c.Locations = []string{}
	}
	return &c
}

// FindSnapshots lists the snapshots of a notebook, newest first; grouped
// by day or month, the newest good one of each.
func (s *Service) FindSnapshots(ctx context.Context, notebook string, q coffer.SnapshotQuery) ([]*coffer.Snapshot, error) {
	if q.Group != "" && q.Group != "day" && q.Group != "month" {
		return nil, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "group", Message: "must be day or month"})
	}
	_, a, err := s.mayRestore(ctx, notebook)
	if err != nil {
		return nil, err
	}
	src, zone, err := s.source()
	if err != nil {
		return nil, err
	}
	list, err := src.Snapshots(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindSnapshots", err)
	}
	out := []*coffer.Snapshot{}
	seen := map[string]bool{}
	for _, sn := range list {
		if sn.Notebook != notebook {
			continue
		}
		sn = withDay(sn, zone, a)
		if q.Group != "" {
			key := sn.Day
			if q.Group == "month" {
				key = sn.Month
			}
			if sn.Status != coffer.SnapshotGood || seen[key] {
				continue
			}
			seen[key] = true
		}
		out = append(out, sn)
	}
	return out, nil
}

// FindSnapshot returns one snapshot of a notebook.
func (s *Service) FindSnapshot(ctx context.Context, notebook, id string) (*coffer.Snapshot, error) {
	return s.snapshotOf(ctx, notebook, id)
}

// BrowseSnapshot returns a context under which reads of notebook read
// snapshot id (see the comment at the top of this file).
func (s *Service) BrowseSnapshot(ctx context.Context, notebook, id string) (context.Context, func(), error) {
	sn, err := s.snapshotOf(ctx, notebook, id)
	if err != nil {
		return nil, nil, err
	}
	box, release, err := s.acquire(ctx, sn)
	if err != nil {
		return nil, nil, err
	}
	return coffer.WithSnapshotRead(ctx, &coffer.SnapshotRead{Notebook: notebook, Snapshot: sn.ID, Storage: box.storage}), release, nil
}

// acquire returns the sandbox of snapshot sn, loading it if needed; the
// caller calls release when done with it.
func (s *Service) acquire(ctx context.Context, sn *coffer.Snapshot) (*sandbox, func(), error) {
	if sn.Status != coffer.SnapshotGood {
		return nil, nil, coffer.Errorf(coffer.ECONFLICT, "the snapshot is not complete (%s)", sn.Status)
	}
	src, _, err := s.source()
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	s.bk.mu.Lock()
	gone := s.idleLocked(now)
	if s.bk.boxes == nil {
		s.bk.boxes = map[string]*sandbox{}
	}
	box := s.bk.boxes[sn.ID]
	load := box == nil
	if load && len(s.bk.boxes) >= MaxSandboxes {
		lru := s.lruIdleLocked()
		if lru == nil {
			s.bk.mu.Unlock()
			s.drop(gone)
			return nil, nil, coffer.Errorf(coffer.EUNAVAILABLE, "too many snapshots are open on this server: try again in a few minutes")
		}
		gone = append(gone, s.retireLocked(lru))
	}
	var wait chan struct{}
	if load {
		box = &sandbox{snapshot: sn.ID, notebook: sn.Notebook, storage: s.sandboxID(sn.ID), ready: make(chan struct{})}
		s.bk.boxes[sn.ID] = box
		wait = s.bk.dropping[box.storage] // an earlier sandbox of it still being dropped
	}
	box.refs++
	s.bk.mu.Unlock()
	s.drop(gone)
	release := func() {
		s.bk.mu.Lock()
		box.refs--
		box.used = s.Now()
		var gone []*sandbox
		if box.doomed && box.refs == 0 && s.bk.boxes[box.snapshot] == box {
			gone = append(gone, s.retireLocked(box))
		}
		s.bk.mu.Unlock()
		s.drop(gone)
	}
	if load {
		if wait != nil {
			<-wait // else its late drop would remove the storage loaded now
		}
		// Loaded without the caller's cancellation: others may wait on it.
		box.err = s.loadSandbox(context.WithoutCancel(ctx), src, box)
		if box.err != nil {
			s.bk.mu.Lock()
			delete(s.bk.boxes, sn.ID)
			s.bk.mu.Unlock()
		}
		close(box.ready)
	}
	select {
	case <-box.ready:
	case <-ctx.Done():
		release()
		return nil, nil, s.Wrap("BrowseSnapshot", ctx.Err())
	}
	if box.err != nil {
		release()
		return nil, nil, box.err
	}
	return box, release, nil
}

// loadSandbox fills the sandbox storage from the snapshot, then replaces
// its views with the live notebook's (views scope grants: today's apply).
func (s *Service) loadSandbox(ctx context.Context, src coffer.SnapshotSource, box *sandbox) error {
	_ = s.Storage.DropNotebook(ctx, box.storage) // one this process failed to drop before
	if err := s.takeLease(ctx, box.storage); err != nil {
		return s.Wrap("LoadSnapshot", err)
	}
	if err := src.Load(ctx, box.snapshot, box.storage); err != nil {
		s.dropStorage(ctx, box.storage)
		if c := coffer.ErrorCode(err); c == coffer.ENOTFOUND || c == coffer.ESNAPSHOTUNREADABLE || c == coffer.EINTEGRITY {
			if c == coffer.EINTEGRITY {
				return &coffer.Error{Code: coffer.ESNAPSHOTUNREADABLE, Message: "the snapshot cannot be read: its key was destroyed or its data is damaged", Op: "LoadSnapshot", Err: err}
			}
			return err
		}
		return s.Wrap("LoadSnapshot", err)
	}
	if err := s.liveViews(ctx, box.notebook, box.storage); err != nil {
		s.dropStorage(ctx, box.storage)
		return s.Wrap("LoadSnapshot", err)
	}
	return nil
}

// viewCols are the stored columns of a view (its _views row).
const viewCols = "id, table_id, name, name_key, filter, sort, columns, created_at, updated_at"

// liveViews copies the live notebook's views over the sandbox's.
func (s *Service) liveViews(ctx context.Context, notebook, storage string) error {
	ldb, lrel, err := s.Storage.Notebook(ctx, notebook)
	if err != nil {
		return err
	}
	defer lrel()
	rows, err := ldb.R.QueryContext(ctx, "SELECT "+viewCols+" FROM "+ldb.Prefix+"_views")
	if err != nil {
		return err
	}
	var views [][]any
	for rows.Next() {
		var id, table, name, key, filter, sort, cols string
		var created, updated int64
		if err := rows.Scan(&id, &table, &name, &key, &filter, &sort, &cols, &created, &updated); err != nil {
			rows.Close()
			return err
		}
		views = append(views, []any{id, table, name, key, filter, sort, cols, created, updated})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sdb, srel, err := s.Storage.Notebook(ctx, storage)
	if err != nil {
		return err
	}
	defer srel()
	return s.Write(ctx, sdb, "LoadSnapshot", func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+sdb.Prefix+"_views"); err != nil {
			return err
		}
		for _, v := range views {
			// A view of a table the snapshot does not have scopes nothing.
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+sdb.Prefix+"_views ("+viewCols+") SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM "+sdb.Prefix+"_tables WHERE id = ?)"), append(v, v[1])...); err != nil {
				return err
			}
		}
		return nil
	})
}

// idleLocked takes out of the cache the sandboxes unused for longer than
// the idle time, and returns them for drop.
func (s *Service) idleLocked(now time.Time) []*sandbox {
	idle := s.bk.idle
	if idle <= 0 {
		idle = DefaultSnapshotIdle
	}
	var gone []*sandbox
	for _, b := range s.bk.boxes {
		select {
		case <-b.ready:
		default:
			continue // still loading
		}
		if b.refs == 0 && now.Sub(b.used) >= idle {
			gone = append(gone, s.retireLocked(b))
		}
	}
	return gone
}

// lruIdleLocked returns the loaded sandbox not in use that was used
// least recently, or nil.
func (s *Service) lruIdleLocked() *sandbox {
	var lru *sandbox
	for _, b := range s.bk.boxes {
		select {
		case <-b.ready:
		default:
			continue
		}
		if b.refs == 0 && (lru == nil || b.used.Before(lru.used)) {
			lru = b
		}
	}
	return lru
}

// drop removes the storage of sandboxes taken out of the cache.
func (s *Service) drop(gone []*sandbox) {
	for _, b := range gone {
		s.dropStorage(context.Background(), b.storage)
		s.bk.mu.Lock()
		if s.bk.dropping[b.storage] == b.dropped {
			delete(s.bk.dropping, b.storage)
		}
		s.bk.mu.Unlock()
		close(b.dropped)
	}
}

// dropStorage removes a sandbox's storage, then its lease; a storage
// that could not be removed keeps its lease until it runs out, and goes
// at a later sweep.
func (s *Service) dropStorage(ctx context.Context, storage string) {
	if err := s.Storage.DropNotebook(context.WithoutCancel(ctx), storage); err != nil {
		s.bk.mu.Lock()
		delete(s.bk.leases, storage)
		s.bk.mu.Unlock()
		return
	}
	s.dropLease(ctx, storage)
}

// retireLocked takes b out of the cache (s.bk.mu held) for drop, which
// removes its storage after the lock is released; until it has, a new
// load of the same snapshot waits (acquire).
func (s *Service) retireLocked(b *sandbox) *sandbox {
	delete(s.bk.boxes, b.snapshot)
	if s.bk.dropping == nil {
		s.bk.dropping = map[string]chan struct{}{}
	}
	b.dropped = make(chan struct{})
	s.bk.dropping[b.storage] = b.dropped
	return b
}

// dropSandboxes removes the sandboxes of a deleted notebook (decrypted
// copies of snapshots its shredded key no longer opens): at once those
// not in use, the others at their last release.
func (s *Service) dropSandboxes(notebook string) {
	s.bk.mu.Lock()
	var gone []*sandbox
	for _, b := range s.bk.boxes {
		if b.notebook != notebook {
			continue
		}
		b.doomed = true
		select {
		case <-b.ready:
		default:
			continue // loading: its loader and waiters release it
		}
		if b.refs == 0 {
			gone = append(gone, s.retireLocked(b))
		}
	}
	s.bk.mu.Unlock()
	s.drop(gone)
}

// SweepSnapshots removes the sandboxes unused for longer than the idle
// time; it returns how many it removed.
func (s *Service) SweepSnapshots() int {
	s.bk.mu.Lock()
	gone := s.idleLocked(s.Now())
	s.bk.mu.Unlock()
	s.drop(gone)
	n, _ := s.SweepOrphanSandboxes(context.Background())
	return len(gone) + n
}

// CloseSnapshots removes every sandbox not in use (at shutdown, before
// the storage closes).
func (s *Service) CloseSnapshots() {
	s.bk.mu.Lock()
	var gone []*sandbox
	for _, b := range s.bk.boxes {
		select {
		case <-b.ready:
		default:
			continue
		}
		if b.refs == 0 {
			gone = append(gone, s.retireLocked(b))
		}
	}
	s.bk.mu.Unlock()
	s.drop(gone)
}

// Sandboxes returns how many snapshots are loaded (for tests and metrics).
func (s *Service) Sandboxes() int {
	s.bk.mu.Lock()
	defer s.bk.mu.Unlock()
	return len(s.bk.boxes)
}
