-- History: every change to the notebook is one action (who, when, from
-- where, what) with its cell changes (old and new value of each cell,
-- in the values' JSON form). Actions serve three purposes: the undo stack
-- of each person's client session (kept a day), the per-cell history (kept
-- while the notebook's history is on, for its retention) and time travel.
--
-- The notebook's settings sit in the catalogue's version row, so that
-- every write reads them with the version it already checks: history on
-- or off, history retention in days (0 = kept), access records on or off;
-- and history_from, the action after which the history is whole (set when
-- history is switched back on: the actions while it was off are kept for
-- undo only, a day, so no moment before is known).
ALTER TABLE _schema_version ADD COLUMN history INTEGER NOT NULL DEFAULT 1;
ALTER TABLE _schema_version ADD COLUMN history_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _schema_version ADD COLUMN access_log INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _schema_version ADD COLUMN history_from INTEGER NOT NULL DEFAULT 0;

CREATE TABLE _actions (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    api_key    TEXT NOT NULL,
    client     TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    kind       TEXT NOT NULL,
    table_id   TEXT NOT NULL,
    summary    TEXT NOT NULL,
    inverse    TEXT NOT NULL,
    undoes     INTEGER,
    redoes     INTEGER,
    undone_by  INTEGER,
    history    INTEGER NOT NULL
);
CREATE INDEX _actions_at ON _actions (at);
CREATE INDEX _actions_stack ON _actions (actor, client, seq);

CREATE TABLE _changes (
    seq       INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    table_id  TEXT NOT NULL,
    record_id TEXT NOT NULL,
    column_id TEXT NOT NULL,
    old       TEXT,
    new       TEXT,
    PRIMARY KEY (seq, n)
) WITHOUT ROWID;
CREATE INDEX _changes_record ON _changes (table_id, record_id, seq);
