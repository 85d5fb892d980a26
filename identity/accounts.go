package identity

import (
	"context"
	"database/sql"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// userAdmin checks that the caller may deactivate or reactivate u:
// an operator (not through an API key), or an owner or admin of every
// organization u belongs to (at least one), ranking at least as high as u
// in each, when u is not an operator. Users the caller cannot administer
// and does not share an organization with get ENOTFOUND.
func (s *Service) userAdmin(ctx context.Context, q catalog.Querier, user string) (*coffer.Caller, *coffer.User, bool, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	u, deactivated, err := s.resolveUser(ctx, q, user)
	if err != nil {
		return nil, nil, false, err
	}
	if u.ID == c.UserID {
		return nil, nil, false, coffer.Errorf(coffer.EINVALID, "you cannot deactivate or reactivate your own account")
	}
	if c.Operator && c.APIKeyID == "" {
		return c, u, deactivated, nil
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT t.role, COALESCE(m.role, '') FROM "+s.Inst.Prefix+"org_members t LEFT JOIN "+s.Inst.Prefix+
		"org_members m ON m.org_id = t.org_id AND m.user_id = ? WHERE t.user_id = ?"), c.UserID, u.ID)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	shared, all, n := false, true, 0
	for rows.Next() {
		var theirs, mine string
		if err := rows.Scan(&theirs, &mine); err != nil {
			return nil, nil, false, err
		}
		n++
		if mine != "" {
			shared = true
		}
		if roleRank(mine) < roleRank(coffer.OrgAdmin) || roleRank(mine) < roleRank(theirs) {
			all = false
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, err
	}
	if !shared {
		return nil, nil, false, catalog.ErrUserNotFound
	}
	if !all || n == 0 || u.Operator || c.APIKeyID != "" {
		return nil, nil, false, coffer.Errorf(coffer.EFORBIDDEN, "only an operator, or an admin of every organization of the user with a role at least as high, may do this")
	}
	return c, u, deactivated, nil
}

// DeactivateUser deactivates an account and ends all its sessions, API
// keys and pending login challenges at once.
func (s *Service) DeactivateUser(ctx context.Context, user string) error {
	var uid string
	err := s.Write(ctx, s.Inst, "DeactivateUser", func(tx *store.WriteTx) error {
		c, u, deactivated, err := s.userAdmin(ctx, tx, user)
		if err != nil {
			return err
		}
		uid = u.ID
		if deactivated {
			return nil
		}
		now := s.NowMicros()
		for _, q := range []string{
			"DELETE FROM " + s.Inst.Prefix + "sessions WHERE user_id = ?",
			"DELETE FROM " + s.Inst.Prefix + "api_keys WHERE user_id = ?",
			"DELETE FROM " + s.Inst.Prefix + "login_challenges WHERE user_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, s.Rebind(q), u.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET deactivated_at = ?, updated_at = ? WHERE id = ?"), now, now, u.ID); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventUserDeactivated, u.ID, u.Email, "by "+c.UserID)
	})
	if uid != "" {
		s.dropCachedSessions(func(x *coffer.Caller) bool { return x.UserID == uid })
	}
	return err
}

// ReactivateUser lets a deactivated account log in again. Its sessions and
// API keys stay ended.
func (s *Service) ReactivateUser(ctx context.Context, user string) error {
	return s.Write(ctx, s.Inst, "ReactivateUser", func(tx *store.WriteTx) error {
		c, u, deactivated, err := s.userAdmin(ctx, tx, user)
		if err != nil {
			return err
		}
		if !deactivated {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET deactivated_at = NULL, failed_logins = 0, updated_at = ? WHERE id = ?"), s.NowMicros(), u.ID); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventUserReactivated, u.ID, u.Email, "by "+c.UserID)
	})
}

// read runs fn in one read-only transaction on the instance database, so
// its several statements see one snapshot.
func (s *Service) read(ctx context.Context, op string, fn func(q catalog.Querier) error) error {
	tx, err := s.Inst.R.BeginTx(ctx, &sql.TxOptions{Isolation: s.Inst.SnapshotIsolation})
	if err != nil {
		return s.Wrap(op, err)
	}
	defer tx.Rollback()
	return s.Wrap(op, fn(tx))
}

// userAndRole finds an account by id or e-mail and its role in the
// organization ("" when not a member). ENOTFOUND for an unknown account.
func (s *Service) userAndRole(ctx context.Context, q catalog.Querier, orgID, user string) (*coffer.User, string, error) {
	u, _, err := s.resolveUser(ctx, q, user)
	if err != nil {
		return nil, "", err
	}
	role, err := s.orgRole(ctx, q, orgID, u.ID)
	return u, role, err
}
