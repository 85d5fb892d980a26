-- Accounts, sessions and the registry of notebooks, in the instance schema
-- ({{prefix}} is that schema, quoted, with a dot). Timestamps are
-- microseconds since the Unix epoch, UTC. Text that is compared or sorted
-- uses the "C" collation, so it orders bytewise as on SQLite.
CREATE TABLE {{prefix}}users (
    id             TEXT COLLATE "C" PRIMARY KEY,
    email          TEXT NOT NULL,
    email_key      TEXT COLLATE "C" NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    operator       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    deactivated_at BIGINT
);

CREATE TABLE {{prefix}}sessions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    key_hash   BYTEA NOT NULL UNIQUE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON {{prefix}}sessions (user_id);

CREATE TABLE {{prefix}}notebooks (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    owner_id   TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notebooks_owner ON {{prefix}}notebooks (owner_id);
