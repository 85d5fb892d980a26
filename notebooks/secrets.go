package notebooks

import (
	"context"
	"database/sql"
	"errors"

	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
)

// watchSecretsSealed names the row of instance_secrets that records that
// every notebook's webhook secrets are sealed (SealClearWatchSecrets ran
// to its end): notebooks are not scanned again at every start.
const watchSecretsSealed = "watch_secrets_sealed"

// SealClearWatchSecrets seals the webhook secrets of watch rules still
// stored in clear (written before secrets were sealed) under each
// notebook's data key, one transaction per notebook, and returns how many
// it sealed. Once every notebook is done it records so, and later runs
// return at once. Idempotent: sealed values are recognised by their
// prefix, and a row changes only if it still holds the value read. It is
// run when the store is opened (all.Open); no caller.
func (s *Service) SealClearWatchSecrets(ctx context.Context) (int, error) {
	const op = "SealClearWatchSecrets"
	p := s.Inst.Prefix
	var done []byte
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT value FROM "+p+"instance_secrets WHERE name = ?"), watchSecretsSealed).Scan(&done)
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, s.Wrap(op, err)
	}
	rows, err := s.Inst.R.QueryContext(ctx, "SELECT id FROM "+p+"notebooks ORDER BY id")
	if err != nil {
		return 0, s.Wrap(op, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, s.Wrap(op, err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.Wrap(op, err)
	}
	n := 0
	for _, id := range ids {
		k, err := s.sealWatchSecrets(ctx, id)
		if err != nil {
			return n, s.Wrap(op, err)
		}
		n += k
	}
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+p+"instance_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"), watchSecretsSealed, []byte("v1"))
		return err
	})
	return n, err
}

// sealWatchSecrets seals one notebook's clear webhook secrets.
func (s *Service) sealWatchSecrets(ctx context.Context, notebook string) (int, error) {
	db, release, err := s.Storage.Notebook(ctx, notebook)
	if err != nil {
		return 0, err
	}
	defer release()
	rows, err := db.R.QueryContext(ctx, "SELECT id, secret FROM "+db.Prefix+"_watches ORDER BY id")
	if err != nil {
		return 0, err
	}
	type row struct{ id, clear, sealed string }
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.clear); err != nil {
			rows.Close()
			return 0, err
		}
		if !keyring.IsSealed(r.clear) {
			todo = append(todo, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(todo) == 0 {
		return 0, err
	}
	for i := range todo {
		if todo[i].sealed, err = s.Keys.SealString(ctx, notebook, watchAAD(todo[i].id), todo[i].clear); err != nil {
			return 0, err
		}
	}
	n := 0
	err = s.Write(ctx, db, "SealClearWatchSecrets", func(tx *store.WriteTx) error {
		n = 0
		for _, r := range todo {
			res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+db.Prefix+"_watches SET secret = ? WHERE id = ? AND secret = ?"), r.sealed, r.id, r.clear)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}
