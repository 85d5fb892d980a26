-- The catalogue of a notebook, in the notebook's own schema ({{prefix}} is
-- that schema, quoted, with a dot): its tables, columns and views. User
-- tables themselves ("t_…") and link junctions ("l_…") are created at run
-- time. Nothing here refers to another schema, so a notebook's schema can
-- live on its own shard.
CREATE TABLE {{prefix}}_tables (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT COLLATE "C" NOT NULL UNIQUE,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE {{prefix}}_columns (
    id         TEXT COLLATE "C" PRIMARY KEY,
    table_id   TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}_tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT COLLATE "C" NOT NULL,
    type       TEXT NOT NULL,
    options    TEXT NOT NULL,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (table_id, name_key)
);

CREATE TABLE {{prefix}}_views (
    id         TEXT COLLATE "C" PRIMARY KEY,
    table_id   TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}_tables (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT COLLATE "C" NOT NULL,
    filter     TEXT NOT NULL,
    sort       TEXT NOT NULL,
    columns    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (table_id, name_key)
);

-- The catalogue's version: every schema change bumps it in its transaction,
-- so a write can tell, inside its own transaction, whether the schema it
-- validated against is still current.
CREATE TABLE {{prefix}}_schema_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO {{prefix}}_schema_version (id, version) VALUES (1, 1);
