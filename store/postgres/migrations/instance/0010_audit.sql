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
CREATE TABLE {{prefix}}audit_head (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    origin    TEXT COLLATE "C" NOT NULL,
    size      BIGINT NOT NULL,
    first_idx BIGINT NOT NULL DEFAULT 0,
    verifier  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE {{prefix}}audit_entries (
    idx        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    actor      TEXT COLLATE "C",
    user_id    TEXT COLLATE "C",
    email      TEXT COLLATE "C" NOT NULL DEFAULT '',
    org_id     TEXT COLLATE "C",
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    record     BYTEA
);
CREATE INDEX audit_entries_user ON {{prefix}}audit_entries (user_id, kind, at);
CREATE INDEX audit_entries_actor ON {{prefix}}audit_entries (actor, idx);
CREATE INDEX audit_entries_org ON {{prefix}}audit_entries (org_id, idx);
CREATE INDEX audit_entries_kind ON {{prefix}}audit_entries (kind, idx);

CREATE TABLE {{prefix}}audit_hashes (
    idx  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);

CREATE TABLE {{prefix}}audit_checkpoints (
    size            BIGINT PRIMARY KEY,
    root         BYTEA NOT NULL,
    note         TEXT NOT NULL,
    at           BIGINT NOT NULL,
    dropped_from BIGINT NOT NULL DEFAULT 0,
    dropped_to   BIGINT NOT NULL DEFAULT 0
);

-- The authentication events recorded so far become the log's first
-- entries, in their order; the first append seals them (computes their
-- records and hashes).
INSERT INTO {{prefix}}audit_entries (idx, at, kind, user_id, email, ip, detail)
    SELECT row_number() OVER (ORDER BY seq) - 1, at, kind, user_id, email, ip, detail FROM {{prefix}}auth_events;

DROP TABLE {{prefix}}auth_events;
