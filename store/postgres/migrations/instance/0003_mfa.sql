-- Second factors: a passkey is found by its credential id (unique across
-- accounts, as WebAuthn requires), and the state of a WebAuthn ceremony is
-- kept between its begin and finish requests (any node may serve either):
-- single-use, found by the hash of its challenge, expiring after minutes.
ALTER TABLE {{prefix}}passkeys ADD COLUMN credential_id TEXT COLLATE "C";
CREATE UNIQUE INDEX passkeys_credential ON {{prefix}}passkeys (credential_id);

CREATE TABLE {{prefix}}webauthn_ceremonies (
    challenge_hash  BYTEA PRIMARY KEY,
    kind            TEXT COLLATE "C" NOT NULL,
    user_id         TEXT COLLATE "C" REFERENCES {{prefix}}users (id) ON DELETE CASCADE,
    login_challenge BYTEA,
    session         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON {{prefix}}webauthn_ceremonies (expires_at);
