-- The catalogue of a notebook: its tables, columns and views. User tables
-- themselves ("t_…") and link junctions ("l_…") are created at run time.
CREATE TABLE _tables (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE,
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE _columns (
    id         TEXT PRIMARY KEY,
    table_id   TEXT NOT NULL REFERENCES _tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    type       TEXT NOT NULL,
    options    TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (table_id, name_key)
);

CREATE TABLE _views (
    id         TEXT PRIMARY KEY,
    table_id   TEXT NOT NULL REFERENCES _tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    filter     TEXT NOT NULL,
    sort       TEXT NOT NULL,
    columns    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (table_id, name_key)
);

-- The catalogue's version: every schema change bumps it in its transaction,
-- so a write can tell, inside its own transaction, whether the schema it
-- validated against is still current.
CREATE TABLE _schema_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO _schema_version (id, version) VALUES (1, 1);
