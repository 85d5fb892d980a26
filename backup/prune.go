package backup

// Pruning: the retention rule, then mark and sweep.

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/retention"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/store"
)

// PruneReport is what Prune did.
type PruneReport struct {
	Kept    int            // good snapshots kept
	Marked  int            // snapshots marked deleted now
	Swept   map[string]int // objects deleted, by location
	Skipped []string       // locations not swept (locked), with why
}

// Prune applies the retention rule (Config.Retention) to the good
// snapshots of every notebook and of the instance, marks the others
// deleted, then sweeps, in each location, the snapshot and blob objects
// that no good or running snapshot references and that are older than
// Config.Grace. In a locked location only objects past their lock are
// deleted (location.Sweep); one whose lock never ends is not swept.
// Snapshots of this Service wait while it sweeps; it must not run while
// another process takes snapshots (the grace period covers what they
// write, not the older blobs they reuse).
func (s *Service) Prune(ctx context.Context) (_ *PruneReport, err error) {
	defer func() { err = s.st.Wrap("backup.Prune", err) }()
	rep := &PruneReport{Swept: map[string]int{}}
	// No snapshot of this Service runs from before the catalogue is read
	// to the end of the sweep.
	s.sweeping.Lock()
	defer s.sweeping.Unlock()
	now := s.now()
	snaps, err := s.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	byNotebook := map[string][]retention.Snap{}
	for _, c := range snaps {
		if c.status == StatusGood {
			byNotebook[c.notebook] = append(byNotebook[c.notebook], retention.Snap{ID: c.id, At: c.started, Good: true, Verified: c.verified})
		}
	}
	var drop []string
	for _, list := range byNotebook {
		keep := retention.Keep(list, now, s.cfg.Retention)
		for _, sn := range list {
			if _, ok := keep[sn.ID]; ok {
				rep.Kept++
			} else {
				drop = append(drop, sn.ID)
			}
		}
	}
	if len(drop) > 0 {
		inst := s.st.Inst
		if err := s.st.Write(ctx, inst, "backup.Prune", func(tx *store.WriteTx) error {
			for _, id := range drop {
				if _, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET status = ?, deleted_at = ? WHERE id = ? AND status = ?"),
					StatusDeleted, now.UnixMicro(), id, StatusGood); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
		rep.Marked = len(drop)
	}
	dropped := map[string]bool{}
	for _, id := range drop {
		dropped[id] = true
	}
	live := map[string]bool{} // snapshot ids whose objects stay
	var kept []catRow
	for _, c := range snaps {
		if (c.status == StatusGood || c.status == StatusRunning) && !dropped[c.id] {
			live[c.id] = true
			kept = append(kept, c)
		}
	}
	olderThan := now.Add(-s.cfg.Grace)
	locs := []location.Location{s.cfg.Primary}
	if s.cfg.Second != nil {
		locs = append(locs, *s.cfg.Second)
	}
	for _, l := range locs {
		if l.Locked && l.LockFor <= 0 {
			rep.Skipped = append(rep.Skipped, l.Name+": locked (object lock without expiry)")
			continue
		}
		n, err := location.Sweep(ctx, l, "snapshots/", func(key string) bool {
			parts := strings.Split(key, "/")
			return len(parts) < 3 || live[parts[2]]
		}, olderThan)
		rep.Swept[l.Name] += n
		if err != nil {
			return rep, err
		}
		objs, err := blobObjects(ctx, l.Store, kept)
		if err != nil {
			return rep, err
		}
		n, err = location.Sweep(ctx, l, "blobs/", func(key string) bool { return objs[key] }, olderThan)
		rep.Swept[l.Name] += n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// catRow is a row of the catalogue, as Prune needs it.
type catRow struct {
	id, notebook, status string
	started              time.Time
	verified             bool
}

// catalogue reads every snapshot that is not deleted.
func (s *Service) catalogue(ctx context.Context) ([]catRow, error) {
	inst := s.st.Inst
	var out []catRow
	err := s.st.ReadTx(ctx, inst.R, "backup.Prune", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.st.Rebind("SELECT id, notebook, status, started_at, verified_at FROM "+inst.Prefix+"backup_snapshots WHERE status <> ?"), StatusDeleted)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c catRow
			var started int64
			var verified sql.NullInt64
			if err := rows.Scan(&c.id, &c.notebook, &c.status, &started, &verified); err != nil {
				return err
			}
			c.started, c.verified = store.FromMicros(started), verified.Valid
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// blobObjects returns the blob objects the manifests of snapshots in l
// reference. A manifest that cannot be read stops the sweep (nothing may
// be deleted on a guess); one that is absent (a running snapshot, or one
// not copied to l) references nothing there.
func blobObjects(ctx context.Context, l blob.Store, snaps []catRow) (map[string]bool, error) {
	out := map[string]bool{}
	for _, c := range snaps {
		if c.notebook == "" {
			continue
		}
		rc, err := l.Open(ctx, manifestKey(c.notebook, c.id), 0, -1)
		if errors.Is(err, blob.ErrNotFound) || coffer.ErrorCode(err) == coffer.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxManifest))
		rc.Close()
		if err != nil {
			return nil, err
		}
		m, _, err := parseManifest(data)
		if err != nil {
			return nil, err
		}
		for _, o := range blobs.Objects(m.Blobs) {
			out[o] = true
		}
	}
	return out, nil
}
