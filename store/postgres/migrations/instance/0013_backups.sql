-- The catalogue of backups (package backup): one row per snapshot of a
-- notebook (notebook = its id) or of the instance (notebook = ''). A
-- snapshot is inserted 'running' and becomes 'good' only once its image
-- and manifest are written and durable in the primary location; one that
-- stops ('failed', with error) or whose process died ('running' with a
-- heartbeat gone stale, marked 'failed' at the next start) is never used.
-- Pruning marks snapshots 'deleted' before their objects are swept.
-- state is the fingerprint of the notebook's content at snapshot time
-- (an unchanged notebook is not snapshotted again); locations, tables are
-- JSON; times are microseconds since the epoch.
CREATE TABLE {{prefix}}backup_snapshots (
    id             TEXT COLLATE "C" PRIMARY KEY,
    notebook       TEXT COLLATE "C" NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    heartbeat_at   BIGINT NOT NULL,
    finished_at    BIGINT,
    verified_at    BIGINT,
    deleted_at     BIGINT,
    size           BIGINT NOT NULL DEFAULT 0,
    image_size     BIGINT NOT NULL DEFAULT 0,
    rows           BIGINT NOT NULL DEFAULT 0,
    tables         TEXT NOT NULL DEFAULT '[]',
    blobs          BIGINT NOT NULL DEFAULT 0,
    blob_bytes     BIGINT NOT NULL DEFAULT 0,
    locations      TEXT NOT NULL DEFAULT '[]',
    state          TEXT NOT NULL DEFAULT '',
    schema_version BIGINT NOT NULL DEFAULT 0,
    key_id         TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_snapshots_notebook ON {{prefix}}backup_snapshots (notebook, started_at);
CREATE INDEX backup_snapshots_status ON {{prefix}}backup_snapshots (status);
