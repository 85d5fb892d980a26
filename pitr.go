package coffer

import (
	"context"
	"time"
)

// Point-in-time restore (SQLite, from the write-ahead log shipped by
// backup/ship): a restore whose RestoreInput names a time (At) instead of
// a snapshot. The snapshot source turns the time into the id of a
// snapshot-like source (PointInTimeSource), and the restore then runs as
// from a snapshot, with the same access rules.

// Error codes of point-in-time restores.
const (
	// EPOINTINTIME: the time asked for is in the future, or older than
	// the oldest write-ahead log shipped for the notebook (restore from a
	// snapshot instead). Nothing is written.
	EPOINTINTIME = "point_in_time_out_of_range"
	// EPOINTINTIMEOFF: this instance offers no point-in-time restore:
	// WAL shipping is off, or the instance runs on PostgreSQL, whose own
	// WAL archiving serves it (docs/postgres-pitr.md).
	EPOINTINTIMEOFF = "point_in_time_unavailable"
)

// SnapshotPointInTime is the Kind of the snapshot-like source of a
// point-in-time restore.
const SnapshotPointInTime = "point_in_time"

// PointInTimeSource is implemented by a SnapshotSource that can also
// serve a notebook as it was at a time: PointInTime checks that the
// shipped write-ahead log reaches back to at (EPOINTINTIME when not, or
// when at is in the future; EPOINTINTIMEOFF when point-in-time restore is
// off) and returns the id under which Snapshot and Load serve it.
type PointInTimeSource interface {
	PointInTime(ctx context.Context, notebook string, at time.Time) (id string, err error)
}
