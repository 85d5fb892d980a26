// Package backup takes encrypted, verifiable snapshots of notebooks and of
// the instance database, keeps their catalogue, verifies them, decrypts
// them into images and loads images into live storage.
//
// Every snapshot image is a SQLite notebook (or instance) database,
// whatever the live backend: on SQLite it is made with VACUUM INTO from a
// read connection, on PostgreSQL by reading the notebook's schema in one
// repeatable-read, read-only transaction into a fresh SQLite database
// made by the SQLite backend's own migrations (store/transfer). Neither
// blocks writers. So any snapshot loads into either backend.
//
// An image is sealed in chunks (blob/sealed) under a random key of its
// own; that key is sealed by the keyring under the notebook's scope (the
// instance scope for the instance), its associated data binding the
// snapshot id. No key is inside a backup in usable form, and destroying
// a notebook's keys makes its old snapshots unreadable. The manifest
// beside the image (JSON, authenticated by an HMAC under a key derived
// from the snapshot key) holds the format and schema versions, the
// wrapped key and its key id, sizes, the SHA-256 of the sealed image,
// per-table row counts and keyed hashes, and the file blobs the snapshot
// references (backup/blobs). See docs/backup-format.md.
//
// Objects, relative to a location (backup/location):
//
//	snapshots/<notebook id or "instance">/<snapshot id>/image
//	snapshots/<notebook id or "instance">/<snapshot id>/manifest
//	keyring/<time>   the keyring's own short-lived backup
package backup

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/retention"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/store/all"
)

// FormatVersion is the version of the manifest and image layout written.
const FormatVersion = 1

// PrefixSnapshot starts every snapshot id.
const PrefixSnapshot = "bks_"

// InstanceDir is the key segment of the instance's snapshots (a notebook's
// is its id).
const InstanceDir = "instance"

// Kinds of snapshots.
const (
	KindDaily  = "daily"  // taken by the daily worker
	KindManual = "manual" // asked for (coffer backup now, the API)
	KindSafety = "safety" // taken automatically before a restore replaces a notebook
)

// Statuses of a snapshot. Only a good snapshot is ever listed for browsing,
// restoring or retention.
const (
	StatusRunning = "running" // being taken
	StatusGood    = "good"    // image and manifest written and durable
	StatusFailed  = "failed"  // stopped, or its process died (Error says why)
	StatusDeleted = "deleted" // pruned: its objects are swept after the grace period
)

// TableSum is one table of a snapshot: its SQL name (never a name a user
// gave), row count and keyed hash (hex HMAC-SHA256 of the rows' canonical
// encoding, see store/transfer.Sum, under a key derived from the snapshot
// key, so that the hash of a small table is no oracle of its contents).
type TableSum struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Hash  string `json:"hash"`
}

// Snapshot is one backup of a notebook or of the instance, as the
// catalogue (instance table backup_snapshots) records it.
type Snapshot struct {
	ID       string // "bks_…"
	Notebook string // the notebook's id; "" for the instance
	Kind     string // KindDaily, KindManual or KindSafety
	Status   string // StatusRunning, StatusGood, StatusFailed or StatusDeleted

	StartedAt  time.Time
	FinishedAt time.Time  // zero while running
	VerifiedAt *time.Time // last successful Verify; nil when never verified

	Size      int64      // bytes of the sealed image
	ImageSize int64      // bytes of the decrypted image
	Rows      int64      // rows in every table of the image
	Tables    []TableSum // per table, as in the manifest
	Blobs     int        // file blobs referenced (their entries are in the manifest)
	BlobBytes int64      // their sealed size
	// SchemaVersion is the notebook's catalogue version at snapshot time.
	SchemaVersion int64
	KeyID         string   // the data key that wraps the snapshot key
	Locations     []string // names of the locations holding it
	Error         string   // why it failed (no secret, no user data)

	state string // fingerprint of the notebook's content (image.go)
}

// Manifest is the JSON object stored beside each image. MAC authenticates
// every other field: hex HMAC-SHA256, under a key derived from the
// snapshot key, of the manifest encoded with MAC empty.
type Manifest struct {
	Format        int       `json:"format"`         // FormatVersion
	SchemaVersion int64     `json:"schema_version"` // the notebook's catalogue version (0 for the instance)
	Migration     int       `json:"migration"`      // the image's newest applied migration
	ID            string    `json:"id"`
	Notebook      string    `json:"notebook"` // "" for the instance
	Kind          string    `json:"kind"`
	Backend       string    `json:"backend"` // the live backend it was taken from: "sqlite" or "postgres"
	TakenAt       time.Time `json:"taken_at"`
	// KeyID names the data key (keyring) that wraps WrappedKey, the
	// snapshot key sealed under the notebook's (or instance's) scope with
	// associated data "backup:" + ID.
	KeyID      string `json:"key_id"`
	WrappedKey []byte `json:"wrapped_key"`
	// ImageSize is the plaintext image size; SealedSize and SealedSHA256
	// (hex) are the sealed image object's.
	ImageSize    int64         `json:"image_size"`
	SealedSize   int64         `json:"sealed_size"`
	SealedSHA256 string        `json:"sealed_sha256"`
	Rows         int64         `json:"rows"`
	Tables       []TableSum    `json:"tables"`
	Blobs        []blobs.Entry `json:"blobs"`
	MAC          string        `json:"mac"`
}

// Progress reports how far a snapshot has come, for progress bars.
type Progress struct {
	Snapshot string
	Notebook string // "" for the instance
	Phase    string // "image", "sums", "seal", "blobs", "replicate", "done"
	Done     int64  // bytes (image, seal) or objects (blobs, replicate) done in the phase
	Total    int64  // the phase's total, when known (else 0)
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Snapshot string
	Location string
	OK       bool
	Problems []string // what failed, empty when OK; no secret, no user data
	Tables   int
	Rows     int64
	Size     int64 // sealed image bytes read
	Blobs    int   // blob entries whose objects were found
	Took     time.Duration
}

// Config configures the Service. Primary is required.
type Config struct {
	Primary location.Location  // where snapshots are written first
	Second  *location.Location // every snapshot and blob is copied there too (nil: none)
	// Files is the files store, the source of file blobs (nil: file blobs
	// are not backed up).
	Files blob.Store
	// TempDir holds images while they are made and read (default
	// os.TempDir()). Images are plaintext: keep it on the data's own disk,
	// mode 0700. Every image is removed when its call returns (Image: by
	// cleanup).
	TempDir   string
	Retention retention.Policy
	// Grace is how long after its last write an object no kept snapshot
	// references survives a Prune (default 24 h).
	Grace time.Duration
	// StaleAfter is how long a running snapshot may go without a
	// heartbeat before Recover marks it failed (default 2 min; heartbeats
	// come every StaleAfter/4).
	StaleAfter time.Duration
	// KeyringKeep is how many keyring backups are kept (default 2).
	KeyringKeep int
	Logger      *slog.Logger
	// Progress, when set, is called as snapshots progress (from the
	// snapshotting goroutine; it must not block).
	Progress func(Progress)
}

// Service takes, lists, verifies and reads snapshots. It is safe for
// concurrent use; snapshots of one notebook are serialized (across
// processes through the catalogue: a second one while one runs is
// ECONFLICT).
type Service struct {
	st  *all.Store
	cfg Config
	log *slog.Logger
	now func() time.Time

	locks keyedMutex // per notebook: snapshot, resync
	// sweeping is held for writing while Prune sweeps, for reading while
	// a snapshot is taken: a sweep never deletes a blob object that a
	// snapshot being taken found present and reuses.
	sweeping sync.RWMutex

	migOnce   sync.Mutex
	migration int // newest notebook migration of images (load.go)
}
