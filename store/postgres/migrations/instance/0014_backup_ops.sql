-- Backup operations (packages backup/schedule and backup/drill).
-- backup_runs: one row per run of the backup worker (daily) or of
-- `coffer backup now` (manual): its progress while it runs (done/total,
-- the notebook in hand, bytes) and its outcome. backup_drills: one row per
-- restore drill, with the measured restore time and what was checked.
-- backup_leases: who runs a backup or a drill now (one holder per name,
-- until the lease expires), so that two processes or two nodes never run
-- the same job at once. Timestamps are microseconds since the epoch, UTC.
CREATE TABLE {{prefix}}backup_runs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    phase       TEXT NOT NULL DEFAULT '',
    current     TEXT NOT NULL DEFAULT '',
    done        BIGINT NOT NULL DEFAULT 0,
    total       BIGINT NOT NULL DEFAULT 0,
    taken       BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_runs_started ON {{prefix}}backup_runs (kind, started_at);

CREATE TABLE {{prefix}}backup_drills (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    restore_us  BIGINT NOT NULL DEFAULT 0,
    notebooks   BIGINT NOT NULL DEFAULT 0,
    blobs       BIGINT NOT NULL DEFAULT 0,
    blob_bytes  BIGINT NOT NULL DEFAULT 0,
    report      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_drills_started ON {{prefix}}backup_drills (started_at);

CREATE TABLE {{prefix}}backup_leases (
    name   TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
