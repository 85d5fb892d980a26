package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Limits of API keys.
const (
	maxAPIKeysPerUser  = 100
	maxKeyNotebooks    = 100
	maxAPIKeyName      = 100
	apiKeyMaxLifetime  = 5 * 366 * 24 * time.Hour
	apiKeyMinRemaining = time.Minute
)

var (
	errSessionNotFound = coffer.Errorf(coffer.ENOTFOUND, "the session does not exist")
	errAPIKeyNotFound  = coffer.Errorf(coffer.ENOTFOUND, "the API key does not exist")
)

// mayManageUser reports whether the caller may see and end the sessions
// and keys of userID: the user themselves, an owner or admin of one of the
// user's organizations, or an instance operator. API keys manage nothing
// but themselves.
func (s *Service) mayManageUser(ctx context.Context, q catalog.Querier, c *coffer.Caller, userID string) (bool, error) {
	if c.UserID == userID {
		return true, nil
	}
	if c.APIKeyID != "" {
		return false, nil
	}
	if c.Operator {
		return true, nil
	}
	var n int
	err := q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"org_members a JOIN "+s.Inst.Prefix+
		"org_members m ON m.org_id = a.org_id WHERE a.user_id = ? AND a.role IN (?, ?) AND m.user_id = ?"),
		c.UserID, coffer.OrgOwner, coffer.OrgAdmin, userID).Scan(&n)
	return n > 0, err
}

// ListSessions lists the open sessions of a user, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]*coffer.SessionInfo, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	// By id or e-mail address; an account the caller may not manage
	// answers like one that does not exist.
	u, _, err := s.resolveUser(ctx, s.Inst.R, userID)
	if err != nil {
		return nil, s.WrapNotFound("ListSessions", err)
	}
	userID = u.ID
	ok, err := s.mayManageUser(ctx, s.Inst.R, c, userID)
	if err != nil {
		return nil, s.Wrap("ListSessions", err)
	}
	if !ok {
		return nil, catalog.ErrUserNotFound
	}
	now := s.NowMicros()
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind("SELECT id, user_id, method, mfa, ip, user_agent, created_at, last_seen_at, expires_at FROM "+
		s.Inst.Prefix+"sessions WHERE user_id = ? AND expires_at > ? AND last_seen_at + idle_timeout >= ? ORDER BY created_at DESC, id"), userID, now, now)
	if err != nil {
		return nil, s.Wrap("ListSessions", err)
	}
	defer rows.Close()
	out := []*coffer.SessionInfo{}
	for rows.Next() {
		var si coffer.SessionInfo
		var created, seen, expires int64
		if err := rows.Scan(&si.ID, &si.UserID, &si.Method, &si.MFA, &si.IP, &si.UserAgent, &created, &seen, &expires); err != nil {
			return nil, s.Wrap("ListSessions", err)
		}
		si.CreatedAt, si.LastSeenAt, si.ExpiresAt = store.FromMicros(created), store.FromMicros(seen), store.FromMicros(expires)
		si.Current = si.ID == c.SessionID
		out = append(out, &si)
	}
	return out, s.Wrap("ListSessions", rows.Err())
}

// RevokeSession ends one session.
func (s *Service) RevokeSession(ctx context.Context, id string) error {
	c, err := accountCaller(ctx)
	if err != nil {
		return err
	}
	if !coffer.ValidID(coffer.PrefixSession, id) {
		return errSessionNotFound
	}
	err = s.Write(ctx, s.Inst, "RevokeSession", func(tx *store.WriteTx) error {
		var userID string
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT user_id FROM "+s.Inst.Prefix+"sessions WHERE id = ?"), id).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return errSessionNotFound
		}
		if err != nil {
			return err
		}
		if ok, err := s.mayManageUser(ctx, tx, c, userID); err != nil || !ok {
			if err == nil {
				err = errSessionNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sessions WHERE id = ?"), id); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventSessionRevoked, userID, "", "by "+c.UserID)
	})
	if err == nil {
		s.dropCachedSessions(func(x *coffer.Caller) bool { return x.SessionID == id })
	}
	return err
}

// RevokeOtherSessions ends every session of the caller but the current one.
func (s *Service) RevokeOtherSessions(ctx context.Context) (int, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.Write(ctx, s.Inst, "RevokeOtherSessions", func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sessions WHERE user_id = ? AND id <> ?"), c.UserID, c.SessionID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventSessionRevoked, c.UserID, c.Email, "all other sessions")
	})
	if err == nil {
		s.dropCachedSessions(func(x *coffer.Caller) bool { return x.UserID == c.UserID && x.SessionID != c.SessionID })
	}
	return int(n), err
}

// CreateAPIKey creates a key for the caller. Keys are made in a session
// (a key cannot mint keys), never exceed their user (the access engine
// still applies the user's rights) and can only narrow them: read-only,
// and a list of notebooks.
func (s *Service) CreateAPIKey(ctx context.Context, in coffer.APIKeyInput) (*coffer.APIKey, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	var fields []coffer.FieldError
	name, msg := coffer.CheckName(in.Name, maxAPIKeyName)
	if msg != "" {
		fields = append(fields, coffer.FieldError{Field: "name", Message: msg})
	}
	now := s.Now()
	if in.ExpiresAt != nil {
		switch {
		case in.ExpiresAt.Before(now.Add(apiKeyMinRemaining)):
			fields = append(fields, coffer.FieldError{Field: "expires_at", Message: "must be in the future"})
		case in.ExpiresAt.After(now.Add(apiKeyMaxLifetime)):
			fields = append(fields, coffer.FieldError{Field: "expires_at", Message: "must be within five years"})
		}
	}
	var notebooks []string
	if in.Notebooks != nil {
		seen := map[string]bool{}
		if len(in.Notebooks) > maxKeyNotebooks {
			fields = append(fields, coffer.FieldError{Field: "notebooks", Message: "must list at most 100 notebooks"})
		}
		notebooks = []string{}
		for _, id := range in.Notebooks {
			if !seen[id] {
				seen[id] = true
				notebooks = append(notebooks, id)
			}
		}
	}
	if len(fields) > 0 {
		return nil, coffer.Invalid("the API key is not valid", fields...)
	}
	token, hash := auth.NewToken(APIKeyPrefix)
	k := &coffer.APIKey{ID: coffer.NewID(coffer.PrefixAPIKey), Key: token, UserID: c.UserID, Name: name, ReadOnly: in.ReadOnly,
		Notebooks: notebooks, CreatedAt: store.FromMicros(now.UnixMicro())}
	var expires any
	if in.ExpiresAt != nil {
		t := store.FromMicros(in.ExpiresAt.UnixMicro())
		k.ExpiresAt = &t
		expires = t.UnixMicro()
	}
	var nbJSON any
	if notebooks != nil {
		b, _ := json.Marshal(notebooks)
		nbJSON = string(b)
	}
	err = s.Write(ctx, s.Inst, "CreateAPIKey", func(tx *store.WriteTx) error {
		// Every listed notebook must be one the user can see now; an
		// unknown id and another's notebook answer alike.
		for i, id := range notebooks {
			if _, err := s.LookupNotebook(ctx, tx, id); err != nil {
				if coffer.ErrorCode(err) == coffer.ENOTFOUND {
					return coffer.Invalid("the API key is not valid", coffer.FieldError{Field: "notebooks", Message: "item " + strconv.Itoa(i) + " is not a notebook you can reach"})
				}
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"api_keys WHERE user_id = ?"), c.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= maxAPIKeysPerUser {
			return coffer.Errorf(coffer.ECONFLICT, "you have %d API keys, the most allowed: revoke one first", n)
		}
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"api_keys (id, key_hash, user_id, name, read_only, notebooks, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			k.ID, hash, c.UserID, name, in.ReadOnly, nbJSON, now.UnixMicro(), expires)
		if err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventAPIKeyCreated, c.UserID, c.Email, k.ID)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ListAPIKeys lists a user's keys, newest first. Keys themselves are never
// shown again.
func (s *Service) ListAPIKeys(ctx context.Context, userID string) ([]*coffer.APIKey, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	// By id or e-mail address; an account the caller may not manage
	// answers like one that does not exist.
	u, _, err := s.resolveUser(ctx, s.Inst.R, userID)
	if err != nil {
		return nil, s.WrapNotFound("ListAPIKeys", err)
	}
	userID = u.ID
	ok, err := s.mayManageUser(ctx, s.Inst.R, c, userID)
	if err != nil {
		return nil, s.Wrap("ListAPIKeys", err)
	}
	if !ok {
		return nil, catalog.ErrUserNotFound
	}
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind("SELECT id, user_id, name, read_only, notebooks, created_at, expires_at, last_used_at FROM "+
		s.Inst.Prefix+"api_keys WHERE user_id = ? ORDER BY created_at DESC, id"), userID)
	if err != nil {
		return nil, s.Wrap("ListAPIKeys", err)
	}
	defer rows.Close()
	out := []*coffer.APIKey{}
	for rows.Next() {
		var k coffer.APIKey
		var nb sql.NullString
		var created int64
		var expires, used sql.NullInt64
		if err := rows.Scan(&k.ID, &k.UserID, &k.Name, &k.ReadOnly, &nb, &created, &expires, &used); err != nil {
			return nil, s.Wrap("ListAPIKeys", err)
		}
		k.CreatedAt = store.FromMicros(created)
		if expires.Valid {
			t := store.FromMicros(expires.Int64)
			k.ExpiresAt = &t
		}
		if used.Valid {
			t := store.FromMicros(used.Int64)
			k.LastUsedAt = &t
		}
		if nb.Valid {
			if err := json.Unmarshal([]byte(nb.String), &k.Notebooks); err != nil {
				return nil, s.Wrap("ListAPIKeys", err)
			}
		}
		out = append(out, &k)
	}
	return out, s.Wrap("ListAPIKeys", rows.Err())
}

// RevokeAPIKey deletes a key; it stops working at once.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	c, err := accountCaller(ctx)
	if err != nil {
		return err
	}
	if !coffer.ValidID(coffer.PrefixAPIKey, id) {
		return errAPIKeyNotFound
	}
	err = s.Write(ctx, s.Inst, "RevokeAPIKey", func(tx *store.WriteTx) error {
		var userID string
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT user_id FROM "+s.Inst.Prefix+"api_keys WHERE id = ?"), id).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return errAPIKeyNotFound
		}
		if err != nil {
			return err
		}
		if ok, err := s.mayManageUser(ctx, tx, c, userID); err != nil || !ok {
			if err == nil {
				err = errAPIKeyNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"api_keys WHERE id = ?"), id); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventAPIKeyRevoked, userID, "", id+" by "+c.UserID)
	})
	if err == nil {
		s.dropCachedSessions(func(x *coffer.Caller) bool { return x.APIKeyID == id })
	}
	return err
}
