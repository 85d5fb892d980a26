package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// Attacks on browsing and restoring snapshots under load (brief G), on
// both backends: bursts of parallel requests by callers with different
// rights, restores racing each other and a backup, sandboxes removed
// while others load them.

func init() {
	historyGroups = append(historyGroups, group{"BackupAttack", testBackupAttack})
}

func testBackupAttack(t *testing.T, open Opener) {
	t.Run("ParallelBurst", func(t *testing.T) { testAttackParallelBurst(t, open(t)) })
	t.Run("SandboxChurn", func(t *testing.T) { testAttackSandboxChurn(t, open(t)) })
	t.Run("RestoreRaces", func(t *testing.T) { testAttackRestoreRaces(t, open(t)) })
	t.Run("DeletedNotebookSandboxes", func(t *testing.T) { testAttackDeletedNotebookSandboxes(t, open(t)) })
	t.Run("SlowDropReload", func(t *testing.T) { testAttackSlowDropReload(t, open(t)) })
}

// slowDrop is a backend whose first drop of storage target takes a while
// (a large notebook's DROP SCHEMA, a slow disk).
type slowDrop struct {
	store.Backend
	target string
	done   atomic.Bool
}

func (b *slowDrop) DropNotebook(ctx context.Context, id string) error {
	if id == b.target && b.done.CompareAndSwap(false, true) {
		time.Sleep(300 * time.Millisecond)
	}
	return b.Backend.DropNotebook(ctx, id)
}

// testAttackSlowDropReload: the sweep drops an idle sandbox slowly while a
// reader opens the same snapshot again: the reader's freshly loaded
// sandbox must not be dropped under it by the sweep's late drop.
func testAttackSlowDropReload(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	bctx, release, err := s.BrowseSnapshot(f.ctx, f.nb, f.snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	storage := coffer.SnapshotReadFrom(bctx).Storage
	release()
	slow := &slowDrop{Backend: s.Storage, target: storage}
	s.Storage = slow
	t.Cleanup(func() { s.Storage = slow.Backend })
	s.SetSnapshotIdle(time.Nanosecond)
	time.Sleep(time.Millisecond)
	swept := make(chan int)
	go func() { swept <- s.SweepSnapshots() }()
	time.Sleep(50 * time.Millisecond) // the sweep is in its slow drop
	s.SetSnapshotIdle(time.Hour)
	bctx, release, err = s.BrowseSnapshot(f.ctx, f.nb, f.snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	<-swept
	if _, err := s.FindRecord(bctx, f.nb, "Staff", f.y.ID); err != nil {
		t.Errorf("the reloaded sandbox after the sweep's late drop: %v", err)
	}
}

// testAttackDeletedNotebookSandboxes: deleting a notebook shreds its key
// so that its snapshots no longer open; the decrypted copies of its
// snapshots loaded for browsing must go with it (at once when idle, at
// their release when in use), not linger until the idle time ends.
func testAttackDeletedNotebookSandboxes(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	second := f.src.MustTake(t, f.ctx, f.nb)
	var storages []string
	var held func()
	for i, id := range []string{f.snap.ID, second.ID} {
		bctx, release, err := s.BrowseSnapshot(f.ctx, f.nb, id)
		if err != nil {
			t.Fatal(err)
		}
		MustFindRecord(t, bctx, s, f.nb, "Staff", f.x.ID)
		storages = append(storages, coffer.SnapshotReadFrom(bctx).Storage)
		if i == 0 {
			release() // idle
		} else {
			held = release // in use while the notebook goes
		}
	}
	// Another notebook's sandbox stays.
	octx, orelease, err := s.BrowseSnapshot(f.ctx, f.other, f.otherSnap.ID)
	if err != nil {
		t.Fatal(err)
	}
	orelease()
	if err := s.DeleteNotebook(f.ctx, f.nb); err != nil {
		t.Fatal(err)
	}
	gone := func(storage string) bool {
		_, release, err := s.Storage.Notebook(context.Background(), storage)
		if err == nil {
			release()
		}
		return coffer.ErrorCode(err) == coffer.ENOTFOUND
	}
	if !gone(storages[0]) {
		t.Errorf("the idle sandbox of a deleted notebook is still there")
	}
	held()
	if !gone(storages[1]) {
		t.Errorf("the sandbox of a deleted notebook in use during the deletion is still there after its release")
	}
	if n := s.Sandboxes(); n != 1 {
		t.Errorf("%d sandboxes, want 1 (the other notebook's)", n)
	}
	if gone(coffer.SnapshotReadFrom(octx).Storage) {
		t.Errorf("another notebook's sandbox went too")
	}
}

// testAttackParallelBurst: owner, narrow grantee (Uma), reader without
// restore (Vic) and a stranger hit the snapshot at once: each gets what
// their rights give, never more, never a server error.
func testAttackParallelBurst(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	sctx, _ := MustUser(t, s) // a stranger
	Parallel(t, 24, func(i int) error {
		switch i % 6 {
		case 0: // the owner sees x as it was and y
			bctx, release, err := s.BrowseSnapshot(f.ctx, f.nb, f.snap.ID)
			if err != nil {
				return err
			}
			defer release()
			got := fieldsOf(t, bctx, s, f.nb, "Staff")
			if len(got) != 2 || got["x"] == "" || got["y"] == "" {
				return fmt.Errorf("owner's snapshot: %v", got)
			}
		case 1: // Uma: x only, without Salary
			bctx, release, err := s.BrowseSnapshot(f.uctx, f.nb, f.snap.ID)
			if err != nil {
				return err
			}
			defer release()
			got := fieldsOf(t, bctx, s, f.nb, "Staff")
			if len(got) != 1 || got["x"] != `{"Name":"x","Team":"red"}` {
				return fmt.Errorf("Uma's snapshot: %v", got)
			}
		case 2: // Vic and the stranger: not found, as a missing snapshot
			for _, ctx := range []context.Context{f.vctx, sctx} {
				if _, _, err := s.BrowseSnapshot(ctx, f.nb, f.snap.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
					return fmt.Errorf("browse without restore: %v", err)
				}
				if _, err := s.FindSnapshots(ctx, f.nb, coffer.SnapshotQuery{}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
					return fmt.Errorf("list without restore: %v", err)
				}
				if _, err := s.Restore(ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
					return fmt.Errorf("restore without restore: %v", err)
				}
			}
		case 3: // Uma's compare counts her rows only
			c, err := s.CompareTable(f.uctx, f.nb, "Staff", f.snap.ID, "", 0)
			if err != nil {
				return err
			}
			if c.Added != 0 || c.Removed != 0 {
				return fmt.Errorf("Uma's compare counts rows she cannot see: %+v", c)
			}
		case 4: // Uma restores x, again and again
			_, err := s.Restore(f.uctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID}})
			return err
		case 5: // another notebook's snapshot never opens here
			if _, _, err := s.BrowseSnapshot(f.ctx, f.nb, f.otherSnap.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
				return fmt.Errorf("another notebook's snapshot: %v", err)
			}
		}
		return nil
	}, coffer.ECONFLICT)
	// Uma's restores never touched z (blue), nor brought back y.
	MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.z.ID)
	if _, err := s.FindRecord(f.ctx, f.nb, "Staff", f.y.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("y after Uma's restores: %v", err)
	}
	wantFieldsJSON(t, "x after Uma's restores", MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.x.ID), map[string]any{"Name": "x", "Team": "red", "Salary": 100})
}

// testAttackSandboxChurn: with sandboxes idle at once, readers keep
// opening the same snapshot while each opening sweeps the idle ones: no
// reader may find its sandbox removed (or emptied) under it.
func testAttackSandboxChurn(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	// Two snapshots of the same state: opening one sweeps the other's
	// idle sandbox while another caller may be loading it again.
	snaps := []string{f.snap.ID, f.src.MustTake(t, f.ctx, f.nb).ID}
	if err := s.DeleteRecord(f.ctx, f.nb, "Staff", f.x.ID, 0); err != nil {
		t.Fatal(err)
	}
	s.SetSnapshotIdle(time.Nanosecond)
	Parallel(t, 32, func(i int) error {
		for j := range 8 {
			bctx, release, err := s.BrowseSnapshot(f.ctx, f.nb, snaps[(i+j)%2])
			if err != nil {
				return err
			}
			// x, deleted today, is in both snapshots.
			_, err = s.FindRecord(bctx, f.nb, "Staff", f.x.ID)
			release()
			if err != nil {
				return fmt.Errorf("read in the sandbox: %w", err)
			}
		}
		return nil
	})
	time.Sleep(time.Millisecond)
	s.SweepSnapshots()
	if n := s.Sandboxes(); n != 0 {
		t.Errorf("%d sandboxes left after the sweep", n)
	}
}

// testAttackRestoreRaces: two table restores of the same notebook, a
// whole in-place restore and a backup at once: each ends done or
// refused, and the table ends as the snapshot.
func testAttackRestoreRaces(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	var jobs = make([]*coffer.RestoreJob, 4)
	Parallel(t, 4, func(i int) error {
		var err error
		switch i {
		case 0, 1:
			jobs[i], err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID, Table: "Staff"})
		case 2:
			jobs[i], err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{Snapshot: f.snap.ID})
		case 3:
			_, err = f.src.Take(f.ctx, f.nb, coffer.SnapshotManual)
		}
		return err
	}, coffer.ECONFLICT)
	if jobs[2] != nil {
		if j := waitRestore(t, f, jobs[2]); j.Status != "done" && (j.Error == nil || j.Error.Code != coffer.ECONFLICT) {
			t.Errorf("in-place restore beside table restores: %+v", j)
		}
	}
	got := fieldsOf(t, f.ctx, s, f.nb, "Staff")
	want := map[string]string{"x": `{"Name":"x","Salary":100,"Team":"red"}`, "y": `{"Name":"y","Salary":200,"Team":"blue"}`}
	if len(got) != 2 || got["x"] != want["x"] || got["y"] != want["y"] {
		t.Errorf("after racing restores: %v, want %v", got, want)
	}
}
