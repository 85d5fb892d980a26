package keyring

// Keeping the keys: rotation, crypto-shredding, status, and the check at start that the master keys in use are held.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// ShredTx destroys every data key of scope inside tx, a write transaction
// on the instance database: their state becomes shredded and their
// wrapped bytes are emptied, so nothing sealed under them opens again.
// Call Forget(scope) once tx has committed.
func (r *Ring) ShredTx(ctx context.Context, tx *store.WriteTx, scope string) error {
	if scope == Instance {
		return coffer.Internal("keyring.Shred", errors.New("the instance's keys are never shredded"))
	}
	_, err := tx.ExecContext(ctx, r.core.Rebind("UPDATE "+r.core.Inst.Prefix+"data_keys SET state = ?, wrapped = ? WHERE scope = ?"), stateShredded, []byte{}, scope)
	return err
}

// Forget drops scope's keys from memory (after ShredTx committed).
func (r *Ring) Forget(scope string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.current, scope)
	for id, k := range r.keys {
		if k.scope == scope {
			delete(r.keys, id)
		}
	}
}

// Rotation is what Rotate did.
type Rotation struct {
	Master    string // the master key that now wraps every data key
	Rewrapped int    // data keys re-wrapped under it
	Scopes    int    // scopes given a new current data key
}

// Rotate re-wraps every data key (but shredded ones) under the current
// master key, and gives every scope a new current data key, in one
// transaction. Old values still open: their data keys stay, state old.
// Make a new master key current first (Master.Add).
func (r *Ring) Rotate(ctx context.Context) (Rotation, error) {
	mk := r.m.current()
	rot := Rotation{Master: mk.id}
	p := r.core.Inst.Prefix
	err := r.core.Write(ctx, r.core.Inst, "keyring.Rotate", func(tx *store.WriteTx) error {
		rot.Rewrapped, rot.Scopes = 0, 0
		type row struct {
			id                     string
			scope, masterID, state string
			wrapped                []byte
		}
		var rows []row
		rs, err := tx.QueryContext(ctx, r.core.Rebind("SELECT id, scope, master_id, state, wrapped FROM "+p+"data_keys WHERE state <> ? ORDER BY id"), stateShredded)
		if err != nil {
			return err
		}
		for rs.Next() {
			var x row
			if err := rs.Scan(&x.id, &x.scope, &x.masterID, &x.state, &x.wrapped); err != nil {
				rs.Close()
				return err
			}
			rows = append(rows, x)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		for _, x := range rows {
			id, err := parseID(x.id)
			if err != nil {
				return err
			}
			key, err := r.unwrapKey(id, x.scope, x.masterID, x.wrapped)
			if err != nil {
				return err
			}
			w, err := wrap(&mk.key, mk.id, id, x.scope, key)
			clear(key)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, r.core.Rebind("UPDATE "+p+"data_keys SET master_id = ?, wrapped = ? WHERE id = ?"), mk.id, w, x.id); err != nil {
				return err
			}
			rot.Rewrapped++
			if x.state != stateCurrent {
				continue
			}
			if _, err := tx.ExecContext(ctx, r.core.Rebind("UPDATE "+p+"data_keys SET state = ? WHERE id = ?"), stateOld, x.id); err != nil {
				return err
			}
			if err := r.create(ctx, tx, x.scope); err != nil {
				return err
			}
			rot.Scopes++
		}
		// Never commit data keys wrapped by a master key the file lost.
		if err := r.m.persisted(mk.id); err != nil {
			return err
		}
		if r.Audit == nil {
			return nil
		}
		return r.Audit(ctx, tx, coffer.EventKeysRotated, fmt.Sprintf("master key %s; %d data keys re-wrapped; %d scopes given a new data key", rot.Master, rot.Rewrapped, rot.Scopes))
	})
	if err != nil {
		return Rotation{}, err
	}
	r.Drop()
	return rot, nil
}

// ScopeStatus counts one scope's data keys by state.
type ScopeStatus struct {
	Scope                  string
	Current, Old, Shredded int
	Masters                []string // master keys wrapping its keys
	LastCreated            time.Time
}

// Status lists every scope's data keys (no key material).
func (r *Ring) Status(ctx context.Context) ([]ScopeStatus, error) {
	rows, err := r.core.Inst.R.QueryContext(ctx, r.core.Rebind("SELECT scope, state, master_id, created_at FROM "+r.core.Inst.Prefix+"data_keys ORDER BY scope, created_at"))
	if err != nil {
		return nil, r.core.Wrap("keyring.Status", err)
	}
	defer rows.Close()
	by := map[string]*ScopeStatus{}
	var out []*ScopeStatus
	for rows.Next() {
		var scope, state, masterID string
		var created int64
		if err := rows.Scan(&scope, &state, &masterID, &created); err != nil {
			return nil, r.core.Wrap("keyring.Status", err)
		}
		s := by[scope]
		if s == nil {
			s = &ScopeStatus{Scope: scope}
			by[scope] = s
			out = append(out, s)
		}
		switch state {
		case stateCurrent:
			s.Current++
		case stateOld:
			s.Old++
		case stateShredded:
			s.Shredded++
		}
		if state != stateShredded && !slices.Contains(s.Masters, masterID) {
			s.Masters = append(s.Masters, masterID)
		}
		s.LastCreated = store.FromMicros(created)
	}
	if err := rows.Err(); err != nil {
		return nil, r.core.Wrap("keyring.Status", err)
	}
	res := make([]ScopeStatus, len(out))
	for i, s := range out {
		sort.Strings(s.Masters)
		res[i] = *s
	}
	return res, nil
}

// MastersInUse returns the ids of the master keys that wrap data keys in
// the instance database of db (prefix qualifies its tables), sorted. It
// needs no master key: the command line asks it before loading one.
func MastersInUse(ctx context.Context, db *sql.DB, d store.Dialect, prefix string) ([]string, error) {
	rows, err := db.QueryContext(ctx, d.Rebind("SELECT DISTINCT master_id FROM "+prefix+"data_keys WHERE state <> ? ORDER BY master_id"), stateShredded)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Check verifies that m holds every master key that wraps data keys in
// the database; the error names the key file and the missing ids.
func (r *Ring) Check(ctx context.Context) error {
	ids, err := MastersInUse(ctx, r.core.Inst.R, r.core.Dialect, r.core.Inst.Prefix)
	if err != nil {
		return r.core.Wrap("keyring.Check", err)
	}
	var missing []string
	for _, id := range ids {
		if !r.m.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	where := "the master keys in memory"
	if r.m.path != "" {
		where = "the master key file " + r.m.path
	}
	return fmt.Errorf("%s does not hold the master key(s) %s that protect this database's encrypted data: use the key file this data was written with (COFFER_MASTER_KEY_FILE)",
		where, strings.Join(missing, ", "))
}
