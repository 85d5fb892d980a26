-- Password reset links: the SHA-256 of each token (never the token), the
-- account, when it expires (30 minutes) and when it was used (single use),
-- in the instance schema ({{prefix}}). Timestamps are microseconds since the
-- Unix epoch.
CREATE TABLE {{prefix}}password_resets (
    id         TEXT COLLATE "C" PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_resets_user ON {{prefix}}password_resets (user_id, created_at);
