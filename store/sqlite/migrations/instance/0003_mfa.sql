-- Second factors: a passkey is found by its credential id (unique across
-- accounts, as WebAuthn requires), and the state of a WebAuthn ceremony is
-- kept between its begin and finish requests (any node may serve either):
-- single-use, found by the hash of its challenge, expiring after minutes.
ALTER TABLE passkeys ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX passkeys_credential ON passkeys (credential_id);

CREATE TABLE webauthn_ceremonies (
    challenge_hash  BLOB PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    login_challenge BLOB,
    session         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
