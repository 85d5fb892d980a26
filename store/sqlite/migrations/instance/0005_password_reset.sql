-- Password reset links: the SHA-256 of each token (never the token), the
-- account, when it expires (30 minutes) and when it was used (single use).
-- Timestamps are microseconds since the Unix epoch.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
