package backup

// Catching the second location up.

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/cofferhq/coffer/store"
)

// Resync copies to the second location every good snapshot it lacks (its
// copy failed when the snapshot was taken: the location was down), with
// its notebook's file blobs, and records the second location in its
// Locations. It returns how many snapshots it copied; the first failure
// stops it (what was copied stays copied and recorded). Without a second
// location it does nothing.
func (s *Service) Resync(ctx context.Context) (_ int, err error) {
	defer func() { err = s.st.Wrap("backup.Resync", err) }()
	if s.cfg.Second == nil {
		return 0, nil
	}
	second := *s.cfg.Second
	type missing struct {
		id, notebook string
		locs         []string
	}
	var todo []missing
	inst := s.st.Inst
	err = s.st.ReadTx(ctx, inst.R, "backup.Resync", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.st.Rebind("SELECT id, notebook, locations FROM "+inst.Prefix+"backup_snapshots WHERE status = ? ORDER BY started_at"), StatusGood)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m missing
			var locs string
			if err := rows.Scan(&m.id, &m.notebook, &locs); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(locs), &m.locs); err != nil {
				return err
			}
			if !slices.Contains(m.locs, second.Name) {
				todo = append(todo, m)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range todo {
		unlock := s.locks.lock(m.notebook)
		err := s.replicate(ctx, second, m.notebook, m.id)
		unlock()
		if err != nil {
			return n, err
		}
		locs, _ := json.Marshal(append(m.locs, second.Name))
		if err := s.st.Write(ctx, inst, "backup.Resync", func(tx *store.WriteTx) error {
			_, err := tx.ExecContext(ctx, s.st.Rebind("UPDATE "+inst.Prefix+"backup_snapshots SET locations = ?, error = ? WHERE id = ?"), string(locs), "", m.id)
			return err
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
