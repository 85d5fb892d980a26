-- Identity: organizations, groups, policy, password history, sessions with
-- idle and absolute timeouts, API keys, second factors, throttling and the
-- authentication events, in the instance schema ({{prefix}}). Timestamps are
-- microseconds since the Unix epoch; compared text uses the "C" collation.
ALTER TABLE {{prefix}}users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE {{prefix}}users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
UPDATE {{prefix}}users SET password_changed_at = created_at;

CREATE TABLE {{prefix}}organizations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    policy     TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE {{prefix}}org_members (
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}organizations (id) ON DELETE CASCADE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    role       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON {{prefix}}org_members (user_id);

CREATE TABLE {{prefix}}user_groups (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}organizations (id) ON DELETE CASCADE,
    name       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE {{prefix}}group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}user_groups (id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON {{prefix}}group_members (user_id);

CREATE TABLE {{prefix}}password_history (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON {{prefix}}password_history (user_id, created_at);

ALTER TABLE {{prefix}}sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE {{prefix}}sessions ADD COLUMN idle_timeout BIGINT NOT NULL DEFAULT 3600000000;
ALTER TABLE {{prefix}}sessions ADD COLUMN method TEXT COLLATE "C" NOT NULL DEFAULT 'password';
ALTER TABLE {{prefix}}sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE {{prefix}}sessions ADD COLUMN restriction TEXT NOT NULL DEFAULT '';
ALTER TABLE {{prefix}}sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE {{prefix}}sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
UPDATE {{prefix}}sessions SET last_seen_at = created_at;

CREATE TABLE {{prefix}}api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    key_hash     BYTEA NOT NULL UNIQUE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    read_only    BOOLEAN NOT NULL,
    notebooks    TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON {{prefix}}api_keys (user_id);

CREATE TABLE {{prefix}}login_challenges (
    id         TEXT COLLATE "C" PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    method     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_user ON {{prefix}}login_challenges (user_id);

CREATE TABLE {{prefix}}throttle (
    key           TEXT COLLATE "C" PRIMARY KEY,
    failures      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

CREATE TABLE {{prefix}}totp_secrets (
    user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE {{prefix}}recovery_codes (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE {{prefix}}passkeys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON {{prefix}}passkeys (user_id);

CREATE TABLE {{prefix}}auth_events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      TEXT COLLATE "C" NOT NULL UNIQUE,
    at      BIGINT NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C",
    email   TEXT COLLATE "C" NOT NULL DEFAULT '',
    ip      TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_events_user ON {{prefix}}auth_events (user_id, seq);
CREATE INDEX auth_events_kind ON {{prefix}}auth_events (kind, at);
