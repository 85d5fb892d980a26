package coffer

import (
	"context"
	"io"
	"time"
)

// Error codes of browsing and restoring backups.
const (
	// ESNAPSHOTRO: a write was asked with ?snapshot=; a snapshot is read
	// only. Nothing is written.
	ESNAPSHOTRO = "snapshot_read_only"
	// ESNAPSHOTUNREADABLE: the snapshot exists but cannot be opened: the
	// key that sealed it was destroyed (the notebook or a data subject was
	// crypto-shredded), or its objects fail their integrity check.
	ESNAPSHOTUNREADABLE = "snapshot_unreadable"
)

// Snapshot kinds and statuses.
const (
	SnapshotDaily  = "daily"
	SnapshotManual = "manual"
	SnapshotSafety = "safety" // taken automatically before a notebook is restored in place

	SnapshotRunning = "running"
	SnapshotGood    = "good"
	SnapshotFailed  = "failed"
)

// Snapshot is one backup of a notebook as its owners see it. Day and Month
// (instance time, "2006-01-02" and "2006-01") let a screen group the
// list by day and by month.
type Snapshot struct {
	ID         string     `json:"id"`
	Notebook   string     `json:"notebook"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	VerifiedAt *time.Time `json:"verified_at"`
	// Size and Rows (bytes and rows of the whole image) are shown to owners
	// and admins only: to a grantee they would count what they cannot see.
	Size      int64    `json:"size,omitempty"`
	Rows      int64    `json:"rows,omitempty"`
	Locations []string `json:"locations"`
	Day       string   `json:"day"`
	Month     string   `json:"month"`
}

// SnapshotSource is what browsing and restoring need of the backups. The
// backup service implements it (cmd/coffer wires it in); the behaviour
// suite has one that copies storage.
type SnapshotSource interface {
	// Snapshots lists the snapshots of a notebook, newest first. No
	// access check: the caller of SnapshotSource checks.
	Snapshots(ctx context.Context, notebook string) ([]*Snapshot, error)
	// Snapshot returns one snapshot. ENOTFOUND.
	Snapshot(ctx context.Context, id string) (*Snapshot, error)
	// Load creates the storage storageID on the live backend and fills it
	// with the notebook held by snapshot id (decrypted). ENOTFOUND,
	// ESNAPSHOTUNREADABLE when its key is gone or its bytes are damaged.
	Load(ctx context.Context, id, storageID string) error
	// Take takes a snapshot of a notebook now, of kind (SnapshotSafety
	// before an in-place restore), even when it has not changed.
	Take(ctx context.Context, notebook, kind string) (*Snapshot, error)
}

// SnapshotFiles is implemented by a SnapshotSource that also keeps the
// files of snapshots: FetchFile returns the sealed blob (as the files
// store held it) whose content id (backup/blobs.ContentID) is contentID,
// from snapshot id. ENOTFOUND when the snapshot does not hold it.
type SnapshotFiles interface {
	FetchFile(ctx context.Context, id, contentID string) (io.ReadCloser, error)
}

// SnapshotQuery narrows a list of snapshots: Group "day" or "month" keeps
// the newest good snapshot of each day or month.
type SnapshotQuery struct {
	Group string
}

// TableCompare compares a table now with the same table in a snapshot,
// as the caller sees both: records only in the snapshot (removed since),
// only now (added since) and in both with different visible values.
type TableCompare struct {
	Snapshot string `json:"snapshot"`
	Added    int    `json:"added"`
	Removed  int    `json:"removed"`
	Changed  int    `json:"changed"`
	// Records are the ids of the differing records, a page of them.
	Records []RecordDiffRef `json:"records"`
	Next    string          `json:"next,omitempty"` // cursor of the next page
}

// RecordDiffRef is one differing record of a TableCompare.
type RecordDiffRef struct {
	ID     string `json:"id"`
	Change string `json:"change"` // added | removed | changed
}

// RecordCompare is one record now and in a snapshot, per column the
// caller may read; Old is nil when the record is not in the snapshot, New
// when it is gone now.
type RecordCompare struct {
	Snapshot string         `json:"snapshot"`
	ID       string         `json:"id"`
	Change   string         `json:"change"` // added | removed | changed | same
	Columns  []ColumnChange `json:"columns"`
}

// ColumnChange is one column of a RecordCompare.
type ColumnChange struct {
	Column  string `json:"column"`
	Old     any    `json:"old"`
	New     any    `json:"new"`
	Changed bool   `json:"changed"`
}

// Restore modes.
const (
	RestoreReplace = "replace" // the live object becomes the snapshot's
	RestoreCopy    = "copy"    // a new object beside the live one
)

// RestoreInput is one restore from a snapshot: Records of Table (upsert),
// or the whole Table, or the whole notebook when neither is set.
type RestoreInput struct {
	Snapshot string   `json:"snapshot"`
	Table    string   `json:"table,omitempty"`
	Records  []string `json:"records,omitempty"`
	Mode     string   `json:"mode,omitempty"` // replace (default) or copy
	Preview  bool     `json:"preview,omitempty"`
	// File is a file id: its content and its place in its cell come back.
	File string `json:"file,omitempty"`
	// At, instead of Snapshot, restores to a point in time (SQLite, from
	// the shipped write-ahead log; see PointInTimeSource).
	At *time.Time `json:"at,omitempty"`
}

// RestoreJob is a restore and its progress. Done and Total count
// records (or tables of a notebook).
type RestoreJob struct {
	ID       string     `json:"id"`
	Notebook string     `json:"notebook"`
	Snapshot string     `json:"snapshot"`
	Kind     string     `json:"kind"` // records | table | notebook | file
	Mode     string     `json:"mode"`
	Status   string     `json:"status"` // running | done | failed
	Done     int        `json:"done"`
	Total    int        `json:"total"`
	Error    *ErrorInfo `json:"error,omitempty"`
	Result   *Restored  `json:"result,omitempty"`
	Started  time.Time  `json:"started_at"`
	Finished *time.Time `json:"finished_at,omitempty"`
}

// ErrorInfo is an error as a job reports it: its code and message.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Restored says what a restore did (or, for a preview, would do).
type Restored struct {
	Seq      int64           `json:"seq"` // the history action, 0 for none or a preview
	Created  []string        `json:"created"`
	Updated  []string        `json:"updated"`
	Deleted  []string        `json:"deleted"`
	Table    *Table          `json:"table,omitempty"`    // the table made by a copy
	Notebook *Notebook       `json:"notebook,omitempty"` // the notebook made by a copy
	Safety   string          `json:"safety,omitempty"`   // the safety snapshot taken first
	Diff     []RecordCompare `json:"diff,omitempty"`     // a preview's changes
	// Kept are the encrypted columns (ids) whose values the restore left
	// as they are today: their key (password) changed since the snapshot,
	// so the snapshot's sealed values would not open under today's.
	Kept []string `json:"kept,omitempty"`
}

// BackupService lets owners (and grantees with the restore capability)
// browse the snapshots of their notebooks and restore from them. A caller
// without that right gets ENOTFOUND, exactly as for a missing snapshot;
// a snapshot of another notebook is ENOTFOUND too.
type BackupService interface {
	// FindSnapshots lists the snapshots of a notebook, newest first.
	FindSnapshots(ctx context.Context, notebook string, q SnapshotQuery) ([]*Snapshot, error)
	// FindSnapshot returns one snapshot of a notebook. ENOTFOUND.
	FindSnapshot(ctx context.Context, notebook, id string) (*Snapshot, error)
	// BrowseSnapshot returns a context under which the ordinary reads of
	// notebook (notebook, tables, views, records, lists) read the
	// snapshot instead, with the caller's rights of today, and every
	// write is refused with ESNAPSHOTRO. release ends the use.
	BrowseSnapshot(ctx context.Context, notebook, id string) (bctx context.Context, release func(), err error)
	// CompareTable compares a table now with the snapshot; cursor and
	// limit page the differing records.
	CompareTable(ctx context.Context, notebook, table, snapshot, cursor string, limit int) (*TableCompare, error)
	// CompareRecord compares one record now with the snapshot.
	CompareRecord(ctx context.Context, notebook, table, record, snapshot string) (*RecordCompare, error)
	// Restore starts a restore (or runs a preview) and returns its job.
	Restore(ctx context.Context, notebook string, in RestoreInput) (*RestoreJob, error)
	// FindRestore returns a restore job the caller started. ENOTFOUND.
	FindRestore(ctx context.Context, id string) (*RestoreJob, error)
}

type snapshotKey struct{}

// SnapshotRead is carried by a context whose reads of Notebook read the
// snapshot's sandbox storage Storage instead.
type SnapshotRead struct {
	Notebook, Snapshot, Storage string
}

// WithSnapshotRead returns a context whose reads of sr.Notebook read the
// snapshot; writes of notebook data under it are refused.
func WithSnapshotRead(ctx context.Context, sr *SnapshotRead) context.Context {
	return context.WithValue(ctx, snapshotKey{}, sr)
}

// SnapshotReadFrom returns the snapshot read carried by ctx, or nil.
func SnapshotReadFrom(ctx context.Context) *SnapshotRead {
	sr, _ := ctx.Value(snapshotKey{}).(*SnapshotRead)
	return sr
}

// EventRestored is the audit event of a restore from a snapshot.
const EventRestored = "backup.restored"
