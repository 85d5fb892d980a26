package keyring

// The keyring's own backup: data keys as stored, still wrapped by the
// master keys (which never leave their file).

import (
	"context"

	"github.com/cofferhq/coffer/store"
)

// WrappedKey is one data key as stored: wrapped by master key MasterID.
// Without that master key it is useless.
type WrappedKey struct {
	ID        string `json:"id"`
	Scope     string `json:"scope"`
	CreatedAt int64  `json:"created_at"` // microseconds since the epoch
	MasterID  string `json:"master_id"`
	Wrapped   []byte `json:"wrapped"`
	State     string `json:"state"`
}

// Export returns every data key that is not shredded, still wrapped, in
// id order: what a keyring backup holds. Shredded keys are left out, so a
// backup made after a shredding no longer has them.
func (r *Ring) Export(ctx context.Context) ([]WrappedKey, error) {
	rows, err := r.core.Inst.R.QueryContext(ctx, r.core.Rebind("SELECT id, scope, created_at, master_id, wrapped, state FROM "+r.core.Inst.Prefix+"data_keys WHERE state <> ? ORDER BY id"), stateShredded)
	if err != nil {
		return nil, r.core.Wrap("keyring.Export", err)
	}
	defer rows.Close()
	var out []WrappedKey
	for rows.Next() {
		var k WrappedKey
		if err := rows.Scan(&k.ID, &k.Scope, &k.CreatedAt, &k.MasterID, &k.Wrapped, &k.State); err != nil {
			return nil, r.core.Wrap("keyring.Export", err)
		}
		out = append(out, k)
	}
	return out, r.core.Wrap("keyring.Export", rows.Err())
}

// Import inserts the keys the instance database does not hold yet (by
// id; a scope that has a current key keeps it, an imported current key
// then becomes old) and returns how many it inserted: for disaster
// recovery onto an empty machine, from a keyring backup. Keys whose
// master key is not in the key file, or whose wrapping does not open,
// are refused (EINTEGRITY) and nothing is inserted.
func (r *Ring) Import(ctx context.Context, keys []WrappedKey) (int, error) {
	for _, k := range keys {
		raw, err := parseID(k.ID)
		if err != nil {
			return 0, integrity("keyring.Import", err)
		}
		key, err := r.unwrapKey(raw, k.Scope, k.MasterID, k.Wrapped)
		if err != nil {
			return 0, err
		}
		clear(key)
	}
	n := 0
	p := r.core.Inst.Prefix
	err := r.core.Write(ctx, r.core.Inst, "keyring.Import", func(tx *store.WriteTx) error {
		n = 0
		for _, k := range keys {
			state := k.State
			if state == stateCurrent {
				var c int
				if err := tx.QueryRowContext(ctx, r.core.Rebind("SELECT count(*) FROM "+p+"data_keys WHERE scope = ? AND state = ?"), k.Scope, stateCurrent).Scan(&c); err != nil {
					return err
				}
				if c > 0 {
					state = stateOld
				}
			}
			res, err := tx.ExecContext(ctx, r.core.Rebind("INSERT INTO "+p+"data_keys (id, scope, created_at, master_id, wrapped, state) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
				k.ID, k.Scope, k.CreatedAt, k.MasterID, k.Wrapped, state)
			if err != nil {
				return err
			}
			if c, err := res.RowsAffected(); err == nil {
				n += int(c)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	r.Drop()
	return n, nil
}
