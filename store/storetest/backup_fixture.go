package storetest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/transfer"
)

// CopySnapshots is a coffer.SnapshotSource for tests of browsing and
// restoring: a snapshot is a copy of the notebook's storage on the same
// backend (transfer.CopyNotebook, as backups make their images), kept
// under a storage id of its own; Load copies it into the sandbox. The
// backup service's own source (backup/browse) is tested beside it.
type CopySnapshots struct {
	st      *all.Store
	mu      sync.Mutex
	snaps   map[string]*coffer.Snapshot
	storage map[string]string // snapshot id -> storage id of its copy
	// Unreadable snapshots fail to load as a shredded key does.
	Unreadable map[string]bool
	Loads      int // how many times a snapshot was loaded
}

var _ coffer.SnapshotSource = (*CopySnapshots)(nil)

// MustCopySnapshots installs a CopySnapshots on st (instance time UTC);
// the copies are dropped at the end of the test.
func MustCopySnapshots(tb testing.TB, st *all.Store) *CopySnapshots {
	c := &CopySnapshots{st: st, snaps: map[string]*coffer.Snapshot{}, storage: map[string]string{}, Unreadable: map[string]bool{}}
	st.SetSnapshots(c, nil)
	tb.Cleanup(func() {
		st.CloseSnapshots()
		for _, id := range c.storage {
			_ = st.Storage.DropNotebook(context.Background(), id)
		}
	})
	return c
}

// copyStorage creates storage dst and copies notebook storage src into it.
func (c *CopySnapshots) copyStorage(ctx context.Context, src, dst string) error {
	b := c.st.Storage
	sdb, srel, err := b.Notebook(ctx, src)
	if err != nil {
		return err
	}
	defer srel()
	if err := b.CreateNotebook(ctx, dst); err != nil {
		return err
	}
	ddb, drel, err := b.Notebook(ctx, dst)
	if err != nil {
		_ = b.DropNotebook(ctx, dst)
		return err
	}
	defer drel()
	if err := transfer.CopyNotebook(ctx, b.Dialect(), sdb, b.Dialect(), ddb); err != nil {
		_ = b.DropNotebook(ctx, dst)
		return err
	}
	return nil
}

// Take implements coffer.SnapshotSource.
func (c *CopySnapshots) Take(ctx context.Context, notebook, kind string) (*coffer.Snapshot, error) {
	storage := coffer.NewID(coffer.PrefixNotebook)
	if err := c.copyStorage(ctx, notebook, storage); err != nil {
		return nil, err
	}
	now := c.st.Now()
	sn := &coffer.Snapshot{ID: coffer.NewID("bks_"), Notebook: notebook, Kind: kind, Status: coffer.SnapshotGood, StartedAt: now, FinishedAt: &now, Locations: []string{"test"},
		Size: 1, Rows: 1} // totals not measured: only whether they are shown
	c.mu.Lock()
	c.snaps[sn.ID], c.storage[sn.ID] = sn, storage
	c.mu.Unlock()
	cp := *sn
	return &cp, nil
}

// MustTake takes a snapshot of notebook and fails the test on error.
func (c *CopySnapshots) MustTake(tb testing.TB, ctx context.Context, notebook string) *coffer.Snapshot {
	tb.Helper()
	sn, err := c.Take(ctx, notebook, coffer.SnapshotManual)
	if err != nil {
		tb.Fatal(err)
	}
	return sn
}

// Snapshots implements coffer.SnapshotSource.
func (c *CopySnapshots) Snapshots(ctx context.Context, notebook string) ([]*coffer.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*coffer.Snapshot
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(c.snaps))) {
		if sn := c.snaps[id]; sn.Notebook == notebook {
			cp := *sn
			out = append(out, &cp)
		}
	}
	return out, nil
}

// Snapshot implements coffer.SnapshotSource.
func (c *CopySnapshots) Snapshot(ctx context.Context, id string) (*coffer.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn := c.snaps[id]
	if sn == nil {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")
	}
	cp := *sn
	return &cp, nil
}

// Load implements coffer.SnapshotSource.
func (c *CopySnapshots) Load(ctx context.Context, id, storageID string) error {
	c.mu.Lock()
	storage, ok := c.storage[id]
	bad := c.Unreadable[id]
	c.Loads++
	c.mu.Unlock()
	switch {
	case !ok:
		return coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")
	case bad:
		return coffer.Errorf(coffer.ESNAPSHOTUNREADABLE, "the snapshot's key was destroyed")
	}
	return c.copyStorage(ctx, storage, storageID)
}
