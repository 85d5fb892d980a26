-- Secrets of the instance that every node shares: the key that signs
-- device cookies (login throttling, see store/device.go). A row is made on
-- first use and never changes.
CREATE TABLE {{prefix}}instance_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
