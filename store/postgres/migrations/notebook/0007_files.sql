-- Files of file cells. The content lives encrypted in the blob store under
-- blob_key (derived from ids, never from the name); file_key is the file's
-- own key, sealed by the notebook's key with "file:<id>" as associated
-- data. name is metadata only. deleted_at is 0 while the file's cell lists
-- it, else when it was found missing from the cell (deleted, or its record
-- deleted); the orphan collection removes the blob and this row after a
-- grace period, unless an undo has put the file back meanwhile.
CREATE TABLE {{prefix}}_files (
    id          TEXT COLLATE "C" PRIMARY KEY,
    table_id    TEXT COLLATE "C" NOT NULL,
    record_id   TEXT COLLATE "C" NOT NULL,
    column_id   TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    size        BIGINT NOT NULL,
    type        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    blob_key    TEXT NOT NULL,
    file_key    BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX _files_cell ON {{prefix}}_files (table_id, record_id, column_id);
CREATE INDEX _files_deleted ON {{prefix}}_files (deleted_at);

-- Capability links to files: only the SHA-256 of the token is kept.
-- expires_at and max_downloads are 0 when they do not bound the link.
CREATE TABLE {{prefix}}_file_links (
    id            TEXT COLLATE "C" PRIMARY KEY,
    file_id       TEXT COLLATE "C" NOT NULL,
    token_hash    BYTEA NOT NULL UNIQUE,
    expires_at    BIGINT NOT NULL,
    max_downloads BIGINT NOT NULL,
    downloads     BIGINT NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX _file_links_file ON {{prefix}}_file_links (file_id);
