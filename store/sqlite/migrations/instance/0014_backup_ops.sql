-- Backup operations (packages backup/schedule and backup/drill).
-- backup_runs: one row per run of the backup worker (daily) or of
-- `coffer backup now` (manual): its progress while it runs (done/total,
-- the notebook in hand, bytes) and its outcome. backup_drills: one row per
-- restore drill, with the measured restore time and what was checked.
-- backup_leases: who runs a backup or a drill now (one holder per name,
-- until the lease expires), so that two processes or two nodes never run
-- the same job at once. Timestamps are microseconds since the epoch, UTC.
CREATE TABLE backup_runs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    phase       TEXT NOT NULL DEFAULT '',
    current     TEXT NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    taken       INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_runs_started ON backup_runs (kind, started_at);

CREATE TABLE backup_drills (
    id          TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    restore_us  INTEGER NOT NULL DEFAULT 0,
    notebooks   INTEGER NOT NULL DEFAULT 0,
    blobs       INTEGER NOT NULL DEFAULT 0,
    blob_bytes  INTEGER NOT NULL DEFAULT 0,
    report      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_drills_started ON backup_drills (started_at);

CREATE TABLE backup_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
);
