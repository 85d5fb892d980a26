package identity

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// maxPolicyHistory bounds Policy.History: each remembered password costs
// one argon2id verification when a new one is chosen.
const maxPolicyHistory = 24

// passwordOwner is the account a new password is for. ID is "" for an
// account being created (no organization, no second factor, no history).
type passwordOwner struct {
	ID, Email, Name string
}

// passwordRules returns the rules for a new password of the user: the
// merged policy of the user's organizations; the minimum length is the
// strictest organization's, or the default (15, or 8 when the user has a
// second factor).
func (s *Service) passwordRules(ctx context.Context, q catalog.Querier, userID string) (auth.Rules, coffer.Policy, error) {
	if userID == "" {
		return auth.Rules{}, coffer.Policy{}, nil
	}
	pol, err := s.userPolicy(ctx, q, userID)
	if err != nil {
		return auth.Rules{}, pol, err
	}
	r := auth.Rules{MinLength: pol.MinLength, RequireLower: pol.RequireLower, RequireUpper: pol.RequireUpper,
		RequireDigit: pol.RequireDigit, RequireSymbol: pol.RequireSymbol}
	if r.MinLength == 0 {
		factors, err := s.secondFactors(ctx, q, userID)
		if err != nil {
			return r, pol, err
		}
		r.MinLength = auth.MinPasswordLength
		if len(factors) > 0 {
			r.MinLength = auth.MinPasswordLengthMFA
		}
	}
	return r, pol, nil
}

// checkNewPassword applies the password policy to a new password of u and
// returns the problems, each under field (nil when the password is
// acceptable). It is the one check for every way a password is set:
// account creation, change, reset. It applies the merged policy of the
// user's organizations (minimum length, composition rules), the default
// minimum (15 characters, or 8 when the user has a second factor), the
// strength checks with the user's name and e-mail as context words (see
// auth.CheckNewPassword), and the history: with Policy.History = N, the
// current password and the N-1 before it cannot be reused.
//
// History checks verify argon2id hashes, which is slow: call it outside a
// write transaction (q may be s.inst.R). Only the error is internal; the
// field errors are safe to show.
func (s *Service) checkNewPassword(ctx context.Context, q catalog.Querier, u passwordOwner, field, password string) ([]coffer.FieldError, error) {
	rules, pol, err := s.passwordRules(ctx, q, u.ID)
	if err != nil {
		return nil, err
	}
	orgs, err := s.orgNames(ctx, q, u.ID)
	if err != nil {
		return nil, err
	}
	var out []coffer.FieldError
	for _, m := range auth.CheckNewPassword(password, rules, auth.ContextWords(u.Name, u.Email, orgs...)) {
		out = append(out, coffer.FieldError{Field: field, Message: m})
	}
	if len(out) > 0 || u.ID == "" || pol.History <= 0 {
		return out, nil
	}
	hashes, err := s.recentPasswords(ctx, q, u.ID, pol.History)
	if err != nil {
		return nil, err
	}
	for _, h := range hashes {
		ok, err := auth.VerifyPassword(ctx, h, password)
		if err != nil {
			continue // an unreadable old hash cannot match
		}
		if ok {
			return []coffer.FieldError{{Field: field, Message: "was used recently: your organization does not allow reusing a recent password"}}, nil
		}
	}
	return nil, nil
}

// orgNames returns the names of the user's organizations (none for a new
// account), context words a password must not be made of.
func (s *Service) orgNames(ctx context.Context, q catalog.Querier, userID string) ([]string, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT o.name FROM "+s.Inst.Prefix+"organizations o JOIN "+s.Inst.Prefix+
		"org_members m ON m.org_id = o.id WHERE m.user_id = ?"), userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// recentPasswords returns the hash of the user's current password and of
// up to n-1 previous ones, newest first.
func (s *Service) recentPasswords(ctx context.Context, q catalog.Querier, userID string, n int) ([]string, error) {
	var cur string
	if err := q.QueryRowContext(ctx, s.Rebind("SELECT password_hash FROM "+s.Inst.Prefix+"users WHERE id = ?"), userID).Scan(&cur); err != nil {
		return nil, err
	}
	out := []string{cur}
	if n <= 1 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT hash FROM "+s.Inst.Prefix+"password_history WHERE user_id = ? ORDER BY created_at DESC LIMIT ?"), userID, n-1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// storePassword replaces the user's password hash with hash (made by
// auth.HashPassword after checkNewPassword), within the caller's
// transaction: it records the change time (which restarts the password's
// lifetime), clears the failed-login count, and keeps the replaced hash in
// password_history when the user's policy remembers passwords, trimmed to
// what the policy needs (nothing is kept when it needs none).
func (s *Service) storePassword(ctx context.Context, q catalog.Querier, userID, hash string) error {
	pol, err := s.userPolicy(ctx, q, userID)
	if err != nil {
		return err
	}
	var old string
	if err := q.QueryRowContext(ctx, s.Rebind("SELECT password_hash FROM "+s.Inst.Prefix+"users WHERE id = ?"), userID).Scan(&old); err != nil {
		return err
	}
	now := s.NowMicros()
	keep := min(pol.History, maxPolicyHistory) - 1
	if keep > 0 {
		if _, err := q.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"password_history (user_id, hash, created_at) VALUES (?, ?, ?)"), userID, old, now); err != nil {
			return err
		}
	}
	// Keep the newest `keep` entries.
	if _, err := q.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"password_history WHERE user_id = ? AND created_at NOT IN "+
		"(SELECT created_at FROM "+s.Inst.Prefix+"password_history WHERE user_id = ? ORDER BY created_at DESC LIMIT ?)"), userID, userID, max(keep, 0)); err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, updated_at = ? WHERE id = ?"),
		hash, now, now, userID)
	return err
}

var errWrongPassword = coffer.Errorf(coffer.EUNAUTHORIZED, "the current password is not correct")

// verifyCurrentPassword checks the current password given to change it:
// a wrong one counts as a failed login and is EUNAUTHORIZED.
func (s *Service) verifyCurrentPassword(ctx context.Context, a *account, current string) error {
	// Guesses of the current password through a stolen session are
	// throttled like logins of the account from the client's address.
	// The attempt is reserved before the check (see throttle.go).
	lim := limit{key: acctThrottleKey(strings.ToLower(a.Email), catalog.ClientIP(ctx)), free: acctFreeFailures, maxDelay: acctMaxDelay, clear: true}
	if _, err := s.reserveAttempt(ctx, "ChangePassword", lim); err != nil {
		return err
	}
	ok, err := auth.VerifyPassword(ctx, a.hash, current)
	if err != nil {
		return s.Wrap("ChangePassword", err)
	}
	if !ok {
		err := s.Write(ctx, s.Inst, "ChangePassword", func(tx *store.WriteTx) error {
			if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET failed_logins = failed_logins + 1 WHERE id = ?"), a.ID); err != nil {
				return err
			}
			return s.Event(ctx, tx, coffer.EventLoginFailed, a.ID, a.Email, "change_password")
		})
		if err != nil {
			return err
		}
		return errWrongPassword
	}
	if err := s.releaseAttempt(ctx, "ChangePassword", lim); err != nil {
		return err
	}
	return nil
}

// ChangePassword replaces the caller's password. It needs the current
// password: a wrong one is EUNAUTHORIZED and counts as a failed login. The
// new one must satisfy the policy (EINVALID with field new_password) and
// differ from the current one. The change lifts a change_password
// restriction of the current session; with endOtherSessions, every other
// session of the caller ends (API keys stay). It returns the number of
// sessions ended. Any signed-in person may call it, restricted sessions
// included; API keys get EFORBIDDEN; ETOOMANY after repeated wrong
// current passwords (the login throttle of the account and address).
func (s *Service) ChangePassword(ctx context.Context, current, newPassword string, endOtherSessions bool) (int, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return 0, err
	}
	if c.APIKeyID != "" || c.SessionID == "" {
		return 0, errSessionRequired
	}
	if len(current) > auth.MaxPasswordBytes {
		return 0, errWrongPassword
	}
	a, err := s.loadAccount(ctx, s.Inst.R, c.UserID)
	if err != nil {
		if errors.Is(err, errBadLogin) {
			return 0, errBadSession
		}
		return 0, s.Wrap("ChangePassword", err)
	}
	if err := s.verifyCurrentPassword(ctx, a, current); err != nil {
		return 0, err
	}
	if norm.NFKC.String(current) == norm.NFKC.String(newPassword) {
		return 0, coffer.Invalid("the new password is not valid", coffer.FieldError{Field: "new_password", Message: "must differ from the current password"})
	}
	fields, err := s.checkNewPassword(ctx, s.Inst.R, passwordOwner{ID: a.ID, Email: a.Email, Name: a.Name}, "new_password", newPassword)
	if err != nil {
		return 0, s.Wrap("ChangePassword", err)
	}
	if len(fields) > 0 {
		return 0, coffer.Invalid("the new password is not valid", fields...)
	}
	hash, err := auth.HashPassword(ctx, newPassword)
	if err != nil {
		return 0, s.Wrap("ChangePassword", err)
	}
	var ended int
	err = s.Write(ctx, s.Inst, "ChangePassword", func(tx *store.WriteTx) error {
		var still string
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT password_hash FROM "+s.Inst.Prefix+"users WHERE id = ?"), a.ID).Scan(&still); err != nil {
			return err
		}
		if still != a.hash {
			return coffer.Errorf(coffer.ECONFLICT, "the password was changed meanwhile: try again")
		}
		if err := s.storePassword(ctx, tx, a.ID, hash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"sessions SET restriction = '' WHERE id = ? AND restriction = ?"),
			c.SessionID, coffer.RestrictChangePassword); err != nil {
			return err
		}
		if endOtherSessions {
			res, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sessions WHERE user_id = ? AND id <> ?"), a.ID, c.SessionID)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			ended = int(n)
		}
		detail := ""
		if endOtherSessions {
			detail = "other sessions ended"
		}
		return s.Event(ctx, tx, coffer.EventPasswordChanged, a.ID, a.Email, detail)
	})
	if err != nil {
		return 0, err
	}
	s.dropCachedSessions(func(x *coffer.Caller) bool {
		return x.UserID == a.ID && x.SessionID != "" && (endOtherSessions || x.SessionID == c.SessionID)
	})
	return ended, nil
}
