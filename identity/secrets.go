package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
)

// SealClearSecrets seals, in one transaction, the TOTP secrets, single
// sign-on client secrets and the device-cookie key still stored in clear
// (written before secrets were sealed) under the instance's data key, and
// returns how many it sealed. A sealed value is recognised by its prefix, so a second run
// seals nothing; each row is changed only if it still holds the value
// read, so two nodes starting at once seal each row once. It is run when
// the store is opened (all.Open); no caller.
func (s *Service) SealClearSecrets(ctx context.Context) (int, error) {
	n := 0
	err := s.Write(ctx, s.Inst, "SealClearSecrets", func(tx *store.WriteTx) error {
		n = 0
		p := s.Inst.Prefix
		for _, t := range []struct {
			table, key, col string
			aad             func(string) string
		}{
			{"totp_secrets", "user_id", "secret", totpAAD},
			{"sso_providers", "id", "client_secret", ssoAAD},
		} {
			rows, err := tx.QueryContext(ctx, "SELECT "+t.key+", "+t.col+" FROM "+p+t.table)
			if err != nil {
				return err
			}
			var clear [][2]string
			for rows.Next() {
				var id, v string
				if err := rows.Scan(&id, &v); err != nil {
					rows.Close()
					return err
				}
				if !keyring.IsSealed(v) {
					clear = append(clear, [2]string{id, v})
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, c := range clear {
				sealed, err := s.Keys.SealStringTx(ctx, tx, keyring.Instance, t.aad(c[0]), c[1])
				if err != nil {
					return err
				}
				res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+t.table+" SET "+t.col+" = ? WHERE "+t.key+" = ? AND "+t.col+" = ?"), sealed, c[0], c[1])
				if err != nil {
					return err
				}
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				n += int(k)
			}
		}
		var dev []byte
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT value FROM "+p+"instance_secrets WHERE name = ?"), deviceSecretName).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && keyring.IsSealedBytes(dev)) {
			return nil
		}
		if err != nil {
			return err
		}
		sealed, err := s.Keys.SealTx(ctx, tx, keyring.Instance, deviceAAD, dev)
		clear(dev)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+p+"instance_secrets SET value = ? WHERE name = ? AND length(value) < ?"), sealed, deviceSecretName, keyring.Overhead)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n += int(k)
		return err
	})
	return n, err
}
