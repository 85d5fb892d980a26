-- Data keys (package keyring): one current key per scope (the instance,
-- scope '', or a notebook, scope = its id), older keys kept so that old
-- ciphertext still opens. Each is wrapped (encrypted) by a master key that
-- never enters the database; master_id names it. state is 'current', 'old'
-- or 'shredded' (a deleted notebook's keys: wrapped emptied, so its
-- ciphertext can no longer be opened). The partial unique
-- index makes the creation of a scope's first key race-safe: of two nodes
-- creating it at once, one insert wins and both use its key.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    master_id  TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    state      TEXT NOT NULL
);
CREATE UNIQUE INDEX data_keys_current ON data_keys (scope) WHERE state = 'current';
CREATE INDEX data_keys_scope ON data_keys (scope);
