package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Password resets. A request for an address issues a token (256 random
// bits, stored as its SHA-256) that works once, for coffer.ResetLifetime.
// Requests are throttled per client address (429, alike for every e-mail)
// and per account (silently: beyond resetMailsPerHour links an hour no new
// link is issued, so nobody can flood a mailbox); from the
// resetAlertThreshold-th request for one account within an hour a
// password.reset_alert event is raised.
const (
	ResetTokenPrefix    = "cfr_" // password reset tokens
	resetMailsPerHour   = 3
	resetAlertThreshold = 3
	resetIPFree         = 20 // reset requests of one address before delays
	resetIPMaxDelay     = time.Hour
)

var _ coffer.PasswordResetStore = (*Service)(nil)

func resetThrottleKey(ip string) string { return "reset:" + ip }

var errBadResetToken = coffer.Invalid("the reset link is not valid, was already used or has expired: ask for a new one",
	coffer.FieldError{Field: "token", Message: "is not valid, was already used or has expired"})

// RequestPasswordReset records a reset request for email and returns the
// ticket to e-mail, or nil when there is nothing to send: no active account
// uses the address (a malformed one included), or the account got
// resetMailsPerHour links within the hour. The answer is the same in every
// case but ETOOMANY, which depends only on the client's address. The work
// done (one transaction with the same queries and one event) does not
// depend on the account's existence either.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (*coffer.ResetTicket, error) {
	ip := catalog.ClientIP(ctx)
	_, key, ok := normalizeEmail(email)
	if len(email) > 320 {
		ok = false
	}
	if !ok {
		key = ""
	}
	var ticket *coffer.ResetTicket
	err := s.Write(ctx, s.Inst, "RequestPasswordReset", func(tx *store.WriteTx) error {
		// Every request counts against the address, in the transaction
		// that decides it (concurrent requests count one by one): the
		// throttle is about the client, never about the account. A blocked
		// address rolls back and gets ETOOMANY.
		if _, err := s.reserve(ctx, tx, []limit{{key: resetThrottleKey(ip), free: resetIPFree, maxDelay: resetIPMaxDelay}}); err != nil {
			return err
		}
		var a *account
		if ok {
			var deactivated sql.NullInt64
			var err error
			a, err = scanAccountDeactivated(tx.QueryRowContext(ctx, s.Rebind("SELECT "+accountCols+", deactivated_at FROM "+s.Inst.Prefix+"users WHERE email_key = ?"), key), &deactivated)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				a = nil
			case err != nil:
				return err
			case deactivated.Valid:
				a = nil
			}
		}
		if a == nil {
			return s.Event(ctx, tx, coffer.EventResetRequested, "", truncate(key, 320), "no active account")
		}
		now := s.NowMicros()
		hourAgo := now - time.Hour.Microseconds()
		var requests, links int
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT "+
			"(SELECT count(*) FROM "+s.Inst.Prefix+"audit_entries WHERE user_id = ? AND kind = ? AND at > ?), "+
			"(SELECT count(*) FROM "+s.Inst.Prefix+"password_resets WHERE user_id = ? AND created_at > ?)"),
			a.ID, coffer.EventResetRequested, hourAgo, a.ID, hourAgo).Scan(&requests, &links)
		if err != nil {
			return err
		}
		requests++ // this one
		detail := "link sent"
		if links >= resetMailsPerHour {
			detail = "no link: enough sent this hour"
		} else {
			token, hash := auth.NewToken(ResetTokenPrefix)
			expires := now + coffer.ResetLifetime.Microseconds()
			// Links older than an hour are expired and no longer count
			// against the cap; forget them.
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"password_resets WHERE user_id = ? AND created_at <= ?"), a.ID, hourAgo); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"password_resets (id, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"),
				coffer.NewID("rst_"), hash, a.ID, now, expires); err != nil {
				return err
			}
			ticket = &coffer.ResetTicket{UserID: a.ID, Email: a.Email, Name: a.Name, Token: token, ExpiresAt: store.FromMicros(expires)}
		}
		if err := s.Event(ctx, tx, coffer.EventResetRequested, a.ID, a.Email, detail); err != nil {
			return err
		}
		if requests >= resetAlertThreshold {
			return s.Event(ctx, tx, coffer.EventResetAlert, a.ID, a.Email, "repeated password reset requests within an hour")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ticket, nil
}

// ResetPassword sets a new password with the token of a reset link (see
// coffer.PasswordResetService). The link is spent, the account's other
// links, sessions and pending login challenges end, its failed-login count
// and login throttles are cleared; second factors and API keys stay, and
// nobody is logged in, so the next login still asks for the second factor.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	// A guess of a token is reserved against the client's address (the
	// login throttle: guessing tokens costs like guessing passwords)
	// before the token is looked at, and given back when it is valid.
	ipLimit := limit{key: ipThrottleKey(catalog.ClientIP(ctx)), free: ipFreeFailures, maxDelay: ipMaxDelay}
	if _, err := s.reserveAttempt(ctx, "ResetPassword", ipLimit); err != nil {
		return err
	}
	if !strings.HasPrefix(token, ResetTokenPrefix) || len(token) > 100 {
		return errBadResetToken
	}
	hash := auth.HashToken(token)
	var userID string
	var expires int64
	var used sql.NullInt64
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT user_id, expires_at, used_at FROM "+s.Inst.Prefix+"password_resets WHERE token_hash = ?"), hash).Scan(&userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (used.Valid || expires <= s.NowMicros())) {
		return errBadResetToken
	}
	if err != nil {
		return s.Wrap("ResetPassword", err)
	}
	if err := s.releaseAttempt(ctx, "ResetPassword", ipLimit); err != nil {
		return err
	}
	newHash, err := s.newPasswordHash(ctx, userID, password)
	if err != nil {
		return err
	}
	err = s.Write(ctx, s.Inst, "ResetPassword", func(tx *store.WriteTx) error {
		// The token is spent here, checked again inside the transaction: of
		// two concurrent uses, one wins.
		res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"),
			s.NowMicros(), hash, s.NowMicros())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errBadResetToken
		}
		a, err := s.loadAccount(ctx, tx, userID)
		if errors.Is(err, errBadLogin) {
			return errBadResetToken
		}
		if err != nil {
			return err
		}
		return s.replacePassword(ctx, tx, a, newHash, "link")
	})
	if err == nil {
		s.dropUserSessions(userID)
	}
	return err
}

// SetPassword replaces the password of the account with this e-mail, for
// operators on the command line (no e-mail needed). Like ResetPassword it
// ends the account's sessions and unlocks it, keeps its second factors and
// records a password.reset event. ENOTFOUND for no active account;
// EINVALID for a password that breaks the policy.
func (s *Service) SetPassword(ctx context.Context, email, password string) error {
	_, key, ok := normalizeEmail(email)
	if !ok {
		return coffer.Invalid("the e-mail address is not valid", coffer.FieldError{Field: "email", Message: "must be a valid e-mail address"})
	}
	var userID string
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT id FROM "+s.Inst.Prefix+"users WHERE email_key = ? AND deactivated_at IS NULL"), key).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return coffer.Errorf(coffer.ENOTFOUND, "no active account uses this e-mail address")
	}
	if err != nil {
		return s.Wrap("SetPassword", err)
	}
	newHash, err := s.newPasswordHash(ctx, userID, password)
	if err != nil {
		return err
	}
	err = s.Write(ctx, s.Inst, "SetPassword", func(tx *store.WriteTx) error {
		a, err := s.loadAccount(ctx, tx, userID)
		if errors.Is(err, errBadLogin) {
			return coffer.Errorf(coffer.ENOTFOUND, "no active account uses this e-mail address")
		}
		if err != nil {
			return err
		}
		return s.replacePassword(ctx, tx, a, newHash, "operator")
	})
	if err == nil {
		s.dropUserSessions(userID)
	}
	return err
}

// dropUserSessions forgets the cached sessions of a user, after the
// transaction that deleted them committed (dropped earlier, a concurrent
// request could cache one again).
func (s *Service) dropUserSessions(userID string) {
	s.dropCachedSessions(func(c *coffer.Caller) bool { return c.UserID == userID && c.SessionID != "" })
}

// newPasswordHash checks a new password of userID against the full policy
// (identity/password.go: length, strength and context words, the
// organizations' rules and history) and returns its hash. It is the one
// place where resets apply the policy.
func (s *Service) newPasswordHash(ctx context.Context, userID, password string) (string, error) {
	var u passwordOwner
	err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT id, email, name FROM "+s.Inst.Prefix+"users WHERE id = ?"), userID).Scan(&u.ID, &u.Email, &u.Name)
	if err != nil {
		return "", s.Wrap("ResetPassword", err)
	}
	fields, err := s.checkNewPassword(ctx, s.Inst.R, u, "password", password)
	if err != nil {
		return "", s.Wrap("ResetPassword", err)
	}
	if len(fields) > 0 {
		return "", coffer.Invalid("the new password is not valid", fields...)
	}
	h, err := auth.HashPassword(ctx, password)
	return h, s.Wrap("ResetPassword", err)
}

// replacePassword stores a reset password (by "link" or "operator"): the
// old hash goes to the history, the account's failed logins, login
// throttles, sessions, login challenges and reset links end, and a
// password.reset event is recorded.
func (s *Service) replacePassword(ctx context.Context, tx catalog.Querier, a *account, newHash, by string) error {
	now := s.NowMicros()
	p := s.Inst.Prefix
	stmts := []struct {
		q    string
		args []any
	}{
		{"DELETE FROM " + p + "sessions WHERE user_id = ?", []any{a.ID}},
		{"DELETE FROM " + p + "login_challenges WHERE user_id = ?", []any{a.ID}},
		// Other links end too (kept, spent, as they count against the cap).
		{"UPDATE " + p + "password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", []any{now, a.ID}},
		// The account's throttles from every address: keys acct:<email>|<ip>.
		{"DELETE FROM " + p + "throttle WHERE key >= ? AND key < ?", []any{acctThrottleKey(strings.ToLower(a.Email), ""), "acct:" + strings.ToLower(a.Email) + "}"}},
		// Its pool of unknown clients and its devices' counters (dev:<user id>|<device>).
		{"DELETE FROM " + p + "throttle WHERE key = ? OR (key >= ? AND key < ?)", []any{poolThrottleKey(strings.ToLower(a.Email)), deviceThrottleKey(a.ID, ""), "dev:" + a.ID + "}"}},
	}
	// The hash, its date, the failed logins and the history, as a change.
	if err := s.storePassword(ctx, tx, a.ID, newHash); err != nil {
		return err
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, s.Rebind(st.q), st.args...); err != nil {
			return err
		}
	}
	return s.Event(ctx, tx, coffer.EventPasswordReset, a.ID, a.Email, by)
}
