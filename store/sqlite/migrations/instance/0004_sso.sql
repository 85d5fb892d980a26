-- Single sign-on with OpenID Connect: the providers of each organization,
-- the identities linked to accounts (keyed by issuer and subject, never by
-- e-mail) and the logins in progress. Login state lives here, not in a
-- node's memory, so any node can finish a login another one started.
-- Timestamps are microseconds since the Unix epoch.

-- client_secret is stored as given for now; the master key (a later issue)
-- will encrypt it.
CREATE TABLE sso_providers (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE sso_identities (
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_user ON sso_identities (user_id);

-- One row per login started: single-use (deleted when the callback comes)
-- and expiring. state and the browser binding come back from outside and
-- are looked up or compared, so only their hashes are kept; the nonce is
-- compared with the ID token's and the PKCE verifier sent with the code,
-- so both are kept as is for the few minutes of the login.
CREATE TABLE sso_states (
    state_hash    BLOB PRIMARY KEY,
    provider_id   TEXT NOT NULL REFERENCES sso_providers (id) ON DELETE CASCADE,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    binding_hash  BLOB NOT NULL,
    link_user_id  TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sso_states_expires ON sso_states (expires_at);
