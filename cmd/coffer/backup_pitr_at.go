package main

import (
	"context"
	"io"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/store/sqlite"
)

// Point-in-time restores asked by time (coffer.RestoreInput.At, the API's
// "at", coffer restore --at): pointSource checks the time against the
// shipped WAL and answers with stable codes, and shipped WAL is pruned
// from the newest good snapshot, since which restores to a time are
// promised.

var (
	_ coffer.PointInTimeSource = (*pointSource)(nil)
	_ coffer.SnapshotFiles     = (*pointSource)(nil)
)

// FetchFile reads a file blob of a snapshot from the backup service's
// source (the embedded interface alone would hide it, and with it the
// restore of a file whose content the files store lost). A point in time
// keeps no file contents: only the files store's own.
func (p *pointSource) FetchFile(ctx context.Context, id, contentID string) (io.ReadCloser, error) {
	if _, _, ok := parsePoint(id); ok {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "a point in time keeps no file contents: restore the file from a snapshot")
	}
	fs, ok := p.SnapshotSource.(coffer.SnapshotFiles)
	if !ok {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "this snapshot does not keep files")
	}
	return fs.FetchFile(ctx, id, contentID)
}

// pointOff says why point-in-time restore is off on st's backend with
// shipping every interval, or "" when it is on.
func pointOff(backend any, every time.Duration) string {
	if _, ok := backend.(*sqlite.Backend); !ok {
		return "point-in-time restore on PostgreSQL is the database's own WAL archiving, restored by its operators: see docs/postgres-pitr.md"
	}
	if every <= 0 {
		return "point-in-time restore needs WAL shipping, which is off in this server (--ship-every 0 or --backup-off): restore from a snapshot, or see docs/wal-shipping.md"
	}
	return ""
}

// shipping is the interval WAL is shipped at (0: not shipped here):
// --backup-off stops shipping on the server.
func (c *backupConfig) shipping() time.Duration {
	if c.off {
		return 0
	}
	return c.shipEvery
}

// PointInTime checks that the shipped WAL of nb, in some location, reaches
// back to at, and returns the id of the point in time.
func (p *pointSource) PointInTime(ctx context.Context, nb string, at time.Time) (string, error) {
	if p.off != "" {
		return "", coffer.Errorf(coffer.EPOINTINTIMEOFF, "%s", p.off)
	}
	if at.After(time.Now()) {
		return "", coffer.Errorf(coffer.EPOINTINTIME, "%s is in the future", at.UTC().Format(time.RFC3339))
	}
	id := pointID(nb, at)
	_, at, _ = parsePoint(id) // to the second, as the id holds it
	var oldest time.Time
	for _, l := range p.locs {
		gens, err := ship.Generations(ctx, l.Store, nb)
		if err != nil {
			continue // another location may answer
		}
		for _, g := range gens {
			if g.Began.IsZero() {
				continue
			}
			if !g.Began.After(at) {
				return id, nil
			}
			if oldest.IsZero() || g.Began.Before(oldest) {
				oldest = g.Began
			}
		}
	}
	if oldest.IsZero() {
		return "", coffer.Errorf(coffer.EPOINTINTIME, "no write-ahead log of this notebook has been shipped (is WAL shipping on, --ship-every?): restore from a snapshot instead")
	}
	return "", coffer.Errorf(coffer.EPOINTINTIME, "%s is before the oldest shipped write-ahead log of this notebook (%s): restore from a snapshot instead",
		at.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339))
}

// shipKeepFrom is the time from which the shipped WAL of a notebook is
// kept, given its snapshots (newest first): the start of the newest good
// one, less one shipping interval as a margin (a restore to any time since
// that snapshot is promised). Zero when it has no good snapshot: then the
// shipped WAL is all there is, and is kept.
func shipKeepFrom(snaps []*backup.Snapshot, every time.Duration) time.Time {
	if every <= 0 {
		every = ship.DefaultInterval
	}
	for _, sn := range snaps {
		if sn.Status == backup.StatusGood && !sn.StartedAt.IsZero() {
			return sn.StartedAt.Add(-every)
		}
	}
	return time.Time{}
}
