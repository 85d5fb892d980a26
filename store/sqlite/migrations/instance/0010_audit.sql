-- The audit log (package audit): an append-only log of security events
-- that is a Merkle tree as RFC 6962 and golang.org/x/mod/sumdb/tlog build
-- it. audit_head is the one row that appends lock (it is made by the
-- first append, with the log's origin, and names the verifier key of the
-- instance's checkpoints, which every node must share); audit_entries holds each entry's
-- columns and the exact bytes hashed (record; NULL until sealed, for the
-- events moved here from auth_events below); audit_hashes the tree's stored
-- hashes (tlog.StoredHashIndex → hash), kept when entries are pruned;
-- audit_checkpoints the signed checkpoints, each with the range of entries
-- dropped since the one before.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    origin    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    first_idx INTEGER NOT NULL DEFAULT 0,
    verifier  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE audit_entries (
    idx        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT,
    user_id    TEXT,
    email      TEXT NOT NULL DEFAULT '',
    org_id     TEXT,
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    record     BLOB
);
CREATE INDEX audit_entries_user ON audit_entries (user_id, kind, at);
CREATE INDEX audit_entries_actor ON audit_entries (actor, idx);
CREATE INDEX audit_entries_org ON audit_entries (org_id, idx);
CREATE INDEX audit_entries_kind ON audit_entries (kind, idx);

CREATE TABLE audit_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);

CREATE TABLE audit_checkpoints (
    size            INTEGER PRIMARY KEY,
    root         BLOB NOT NULL,
    note         TEXT NOT NULL,
    at           INTEGER NOT NULL,
    dropped_from INTEGER NOT NULL DEFAULT 0,
    dropped_to   INTEGER NOT NULL DEFAULT 0
);

-- The authentication events recorded so far become the log's first
-- entries, in their order; the first append seals them (computes their
-- records and hashes).
INSERT INTO audit_entries (idx, at, kind, user_id, email, ip, detail)
    SELECT row_number() OVER (ORDER BY seq) - 1, at, kind, user_id, email, ip, detail FROM auth_events;

DROP TABLE auth_events;
