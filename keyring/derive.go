package keyring

// Keys derived from a scope's data keys, for uses that need a stable key
// rather than sealing (backups' keyed content ids of file blobs).

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"

	"github.com/cofferhq/coffer"
)

// deriveInfo starts the HKDF info of every derived key.
const deriveInfo = "coffer derived key v1\x00"

// Derive returns a 32-byte key for purpose (e.g. "backup blob ids"),
// derived with HKDF-SHA256 from scope's oldest data key that is not
// shredded (created first when the scope has none). The oldest key stays
// through rotations, so the derived key is stable for the scope's life;
// shredding the scope destroys it with the rest. Different scopes or
// purposes give independent keys. The caller must not keep the key longer
// than it needs it, nor store it.
func (r *Ring) Derive(ctx context.Context, scope, purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, coffer.Internal("keyring.Derive", errors.New("no purpose"))
	}
	var id, masterID, state string
	var wrapped []byte
	oldest := func() error {
		return r.core.Inst.R.QueryRowContext(ctx, r.core.Rebind("SELECT id, master_id, wrapped, state FROM "+r.core.Inst.Prefix+"data_keys WHERE scope = ? ORDER BY created_at, id LIMIT 1"), scope).Scan(&id, &masterID, &wrapped, &state)
	}
	err := oldest()
	if errors.Is(err, sql.ErrNoRows) {
		// A scope never used: its first key, which never leaves it.
		if _, err := r.currentKey(ctx, nil, scope); err != nil {
			return nil, err
		}
		err = oldest()
	}
	if err != nil {
		return nil, r.core.Wrap("keyring.Derive", err)
	}
	if state == stateShredded {
		return nil, integrity("keyring.Derive", errors.New("the data key was shredded"))
	}
	raw, err := parseID(id)
	if err != nil {
		return nil, coffer.Internal("keyring.Derive", err)
	}
	key, err := r.unwrapKey(raw, scope, masterID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	out, err := hkdf.Key(sha256.New, key, nil, deriveInfo+scope+"\x00"+purpose, 32)
	if err != nil {
		return nil, coffer.Internal("keyring.Derive", err)
	}
	return out, nil
}

// KeyID returns the id (hexadecimal, as stored) of the data key that
// sealed a value of Seal, or "" when sealed does not have Seal's layout.
func KeyID(sealed []byte) string {
	if !IsSealedBytes(sealed) {
		return ""
	}
	return hex.EncodeToString(sealed[1 : 1+idSize])
}
