-- Access records: who opened the notebook, read a record (alone or on a
-- list page), downloaded a file, exported or used a link; when, from
-- which address and with which user agent. Written in batches, off the
-- request path, while the notebook's access_log switch is on.
--
-- A read of several records at once (a list page) is one row: its record
-- ids, space-separated, in records (record_id is then empty), so that a
-- page costs one row, not one per record; reads expand it into one
-- access record per record id.
CREATE TABLE _access_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    api_key    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    table_id   TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    records    TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX _access_log_record ON _access_log (table_id, record_id, seq);
CREATE INDEX _access_log_actor ON _access_log (actor, seq);

-- Watch rules: tell their author when someone outside a group reads,
-- exports or changes records of a table that match a filter (evaluated
-- with the author's access), by e-mail and/or a signed webhook.
CREATE TABLE _watches (
    id          TEXT PRIMARY KEY,
    table_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    filter      TEXT NOT NULL,
    outside     TEXT NOT NULL,
    events      TEXT NOT NULL,
    email       INTEGER NOT NULL,
    webhook_url TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX _watches_table ON _watches (table_id);

-- The deliveries of each rule: one row per notification and channel,
-- updated at each attempt.
CREATE TABLE _watch_deliveries (
    id          TEXT PRIMARY KEY,
    watch_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    http_status INTEGER NOT NULL,
    error       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX _watch_deliveries_watch ON _watch_deliveries (watch_id, id);
