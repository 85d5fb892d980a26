-- Data keys (package keyring): one current key per scope (the instance,
-- scope '', or a notebook, scope = its id), older keys kept so that old
-- ciphertext still opens. Each is wrapped (encrypted) by a master key that
-- never enters the database; master_id names it. state is 'current', 'old'
-- or 'shredded' (a deleted notebook's keys: wrapped emptied, so its
-- ciphertext can no longer be opened). The partial unique
-- index makes the creation of a scope's first key race-safe: of two nodes
-- creating it at once, one insert wins and both use its key.
CREATE TABLE {{prefix}}data_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    scope      TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    master_id  TEXT COLLATE "C" NOT NULL,
    wrapped    BYTEA NOT NULL,
    state      TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX data_keys_current ON {{prefix}}data_keys (scope) WHERE state = 'current';
CREATE INDEX data_keys_scope ON {{prefix}}data_keys (scope);

-- Every change (a new key, a rotation, a shredding) tells the nodes, which
-- then ask the database which key is current (store.InvalidDataKey).
CREATE TRIGGER coffer_invalidate_write AFTER INSERT OR UPDATE OR DELETE ON {{prefix}}data_keys
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('datakey');
