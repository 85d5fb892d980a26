package backup_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
)

// downStore is a blob.Store that fails every call while down is set.
type downStore struct {
	blob.Store
	down *atomic.Bool
}

var errDown = errors.New("the second location is down")

func (d downStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if d.down.Load() {
		return 0, errDown
	}
	return d.Store.Put(ctx, key, r)
}

func (d downStore) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if d.down.Load() {
		return errDown
	}
	return d.Store.List(ctx, prefix, fn)
}

// TestSecondLocationDown: a snapshot taken while the second location is
// down is good in the primary only, says so, and Resync copies it there
// once the location is back; it then verifies there.
func TestSecondLocationDown(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	var down atomic.Bool
	down.Store(true)
	second := location.New("second", downStore{Store: mustLocal(t), down: &down})
	cfg := e.cfg
	cfg.Second = &second
	svc := backup.New(e.st, cfg)
	nb, _ := e.notebook(t, 5, "down")
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sn.Locations, []string{"primary"}) || sn.Error == "" {
		t.Fatalf("snapshot with the second location down: %v %q", sn.Locations, sn.Error)
	}
	if got, _ := svc.Find(ctx, sn.ID); got.Error == "" {
		t.Error("the catalogue does not say the copy failed")
	}
	if n, err := svc.Resync(ctx); err == nil || n != 0 {
		t.Errorf("Resync while down: %d %v", n, err)
	}
	down.Store(false)
	if n, err := svc.Resync(ctx); err != nil || n != 1 {
		t.Fatalf("Resync: %d %v", n, err)
	}
	if got, _ := svc.Find(ctx, sn.ID); !slices.Equal(got.Locations, []string{"primary", "second"}) || got.Error != "" {
		t.Errorf("after Resync: %v %q", got.Locations, got.Error)
	}
	if rep, err := svc.Verify(ctx, sn.ID, "second"); err != nil || !rep.OK {
		t.Errorf("Verify in the second location: %+v %v", rep, err)
	}
	if n, err := svc.Resync(ctx); err != nil || n != 0 {
		t.Errorf("Resync again: %d %v", n, err)
	}
}
