package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Second factors: TOTP (RFC 6238) and recovery codes. Passkeys are in
// passkeys.go.
//
// TOTP secrets are stored as they are for now: a later issue adds the
// instance master key and encrypts them with it.
const (
	totpIssuer = "Coffer"
	totpPeriod = 30 // seconds per step
	totpSkew   = 1  // steps of clock drift accepted either way
	// mfaFreeFailures wrong passwords or codes during enrolment or removal
	// of a factor are allowed before each further one blocks the account's
	// factor changes for a doubling delay, up to mfaMaxDelay.
	mfaFreeFailures = 5
	mfaMaxDelay     = 15 * time.Minute
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func mfaThrottleKey(userID string) string { return "mfa:" + userID }

var (
	errBadPassword = coffer.Errorf(coffer.EUNAUTHORIZED, "the current password is not correct")
	errBadCode     = coffer.Invalid("the code is not correct", coffer.FieldError{Field: "code", Message: "is not a current code of the authenticator app or an unused recovery code"})
)

// mfaCaller returns the caller of a factor change: a person's session,
// never an API key.
func mfaCaller(ctx context.Context) (*coffer.Caller, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if c.SessionID == "" || c.APIKeyID != "" {
		return nil, errSessionRequired
	}
	return c, nil
}

// reauth checks the caller's current password before a factor change. The
// account's wrong passwords and codes are throttled together; each attempt
// is reserved before the check (see throttle.go).
func (s *Service) reauth(ctx context.Context, op, password string) (*coffer.Caller, *account, error) {
	c, err := mfaCaller(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.loadAccount(ctx, s.Inst.R, c.UserID)
	if err != nil {
		return nil, nil, s.Wrap(op, err)
	}
	if len(password) > auth.MaxPasswordBytes {
		return nil, nil, errBadPassword
	}
	if _, err := s.reserveAttempt(ctx, op, mfaLimit(c.UserID)); err != nil {
		return nil, nil, err
	}
	ok, err := auth.VerifyPassword(ctx, a.hash, password)
	if err != nil {
		return nil, nil, s.Wrap(op, err)
	}
	if !ok {
		s.mfaFailure(ctx, op, c.UserID, "password")
		return nil, nil, errBadPassword
	}
	if err := s.releaseAttempt(ctx, op, mfaLimit(c.UserID)); err != nil {
		return nil, nil, err
	}
	return c, a, nil
}

// mfaLimit is the throttle of an account's factor changes.
func mfaLimit(userID string) limit {
	return limit{key: mfaThrottleKey(userID), free: mfaFreeFailures, maxDelay: mfaMaxDelay}
}

// mfaAttempt reserves an attempt at a code of a factor change; done, to
// call once the code was checked, records a wrong one (the reservation
// stays) or gives the reservation back.
func (s *Service) mfaAttempt(ctx context.Context, op, userID string) (done func(wrong bool, what string), err error) {
	if _, err := s.reserveAttempt(ctx, op, mfaLimit(userID)); err != nil {
		return nil, err
	}
	return func(wrong bool, what string) {
		if wrong {
			s.mfaFailure(ctx, op, userID, what)
			return
		}
		_ = s.releaseAttempt(ctx, op, mfaLimit(userID))
	}, nil
}

// mfaFailure records the event of a wrong password or code of a factor
// change (its attempt is already counted).
func (s *Service) mfaFailure(ctx context.Context, op, userID, what string) {
	_ = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		return s.Event(ctx, tx, coffer.EventSecondFactorBad, userID, "", op+": "+what)
	})
}

// totpMatch returns the step of code within ±totpSkew steps of now that is
// later than last (each step's code works once), or false. Every candidate
// is computed and compared in constant time.
func (s *Service) totpMatch(secret, code string, last int64) (int64, bool) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	now := s.Now().Unix() / totpPeriod
	var step int64
	found := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		st := now + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && st > last && !found {
			step, found = st, true
		}
	}
	return step, found
}

// totpAAD is the associated data of a user's sealed TOTP secret: the
// secret opens only in that user's row.
func totpAAD(userID string) string { return "totp:" + userID }

// useTOTP checks a code against the user's confirmed TOTP secret and marks
// its step used.
func (s *Service) useTOTP(ctx context.Context, tx catalog.Querier, userID, code string) (bool, error) {
	var secret string
	var last int64
	err := tx.QueryRowContext(ctx, s.Rebind("SELECT secret, last_step FROM "+s.Inst.Prefix+"totp_secrets WHERE user_id = ? AND confirmed_at IS NOT NULL"), userID).Scan(&secret, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if secret, err = s.Keys.OpenStringIn(ctx, tx, keyring.Instance, totpAAD(userID), secret); err != nil {
		return false, err
	}
	step, ok := s.totpMatch(secret, code, last)
	if !ok {
		return false, nil
	}
	// The condition makes two concurrent uses of one code count once.
	res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"totp_secrets SET last_step = ? WHERE user_id = ? AND last_step < ?"), step, userID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Recovery codes carry 120 random bits (24 base32 characters, shown in
// groups of four), so a SHA-256 of the code and its account is a safe
// stored form; the database compares hashes, never codes.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(code))
}

func hashRecoveryCode(userID, code string) []byte {
	h := sha256.Sum256([]byte(userID + ":" + normalizeRecoveryCode(code)))
	return h[:]
}

// useRecoveryCode consumes an unused recovery code of the user.
func (s *Service) useRecoveryCode(ctx context.Context, tx catalog.Querier, userID, code string) (bool, error) {
	if len(normalizeRecoveryCode(code)) != 24 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL"),
		s.NowMicros(), userID, hashRecoveryCode(userID, code))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// newRecoveryCodes replaces the user's recovery codes with fresh ones and
// returns them; only their hashes are stored.
func (s *Service) newRecoveryCodes(ctx context.Context, tx catalog.Querier, userID string) ([]string, error) {
	if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"recovery_codes WHERE user_id = ?"), userID); err != nil {
		return nil, err
	}
	codes := make([]string, coffer.RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		raw := recoveryEncoding.EncodeToString(b)
		var parts []string
		for j := 0; j < len(raw); j += 4 {
			parts = append(parts, raw[j:j+4])
		}
		codes[i] = strings.Join(parts, "-")
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)"),
			userID, hashRecoveryCode(userID, codes[i]), s.NowMicros()); err != nil {
			return nil, err
		}
	}
	return codes, nil
}

// verifyFactor checks a TOTP or recovery code of a user and consumes it
// (a TOTP step or a recovery code works once).
func (s *Service) verifyFactor(ctx context.Context, tx catalog.Querier, userID, method, code string) (bool, error) {
	switch method {
	case coffer.FactorTOTP:
		return s.useTOTP(ctx, tx, userID, code)
	case coffer.FactorRecovery:
		return s.useRecoveryCode(ctx, tx, userID, code)
	}
	return false, nil
}

// factorCounts returns whether the user has confirmed TOTP, and how many
// passkeys and unused recovery codes.
func (s *Service) factorCounts(ctx context.Context, q catalog.Querier, userID string) (*coffer.MFAStatus, error) {
	var st coffer.MFAStatus
	var totpN int
	err := q.QueryRowContext(ctx, s.Rebind("SELECT "+
		"(SELECT count(*) FROM "+s.Inst.Prefix+"totp_secrets WHERE user_id = ? AND confirmed_at IS NOT NULL), "+
		"(SELECT count(*) FROM "+s.Inst.Prefix+"passkeys WHERE user_id = ?), "+
		"(SELECT count(*) FROM "+s.Inst.Prefix+"recovery_codes WHERE user_id = ? AND used_at IS NULL)"), userID, userID, userID).
		Scan(&totpN, &st.Passkeys, &st.RecoveryCodes)
	st.TOTP = totpN > 0
	return &st, err
}

// MFAStatus returns the caller's enrolled factors.
func (s *Service) MFAStatus(ctx context.Context) (*coffer.MFAStatus, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.factorCounts(ctx, s.Inst.R, c.UserID)
	return st, s.Wrap("MFAStatus", err)
}

// enrolled finishes the enrolment of a factor: the audit event, recovery
// codes when it is the account's first factor, and the end of the
// Caller's enrol_2fa restriction.
func (s *Service) enrolled(ctx context.Context, tx catalog.Querier, c *coffer.Caller, factor string, first bool) ([]string, error) {
	var codes []string
	if first {
		var err error
		if codes, err = s.newRecoveryCodes(ctx, tx, c.UserID); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"sessions SET restriction = '' WHERE id = ? AND restriction = ?"),
		c.SessionID, coffer.RestrictEnrol2FA); err != nil {
		return nil, err
	}
	return codes, s.Event(ctx, tx, coffer.EventMFAEnabled, c.UserID, c.Email, factor)
}

// dropCallerSession forgets the cached entry of the caller's session, so
// its next request reads the changed row.
func (s *Service) dropCallerSession(c *coffer.Caller) {
	s.dropCachedSessions(func(x *coffer.Caller) bool { return x.SessionID == c.SessionID })
}

// mayRemoveFactor refuses to remove the last factor of an account whose
// organization requires 2FA.
func (s *Service) mayRemoveFactor(ctx context.Context, tx catalog.Querier, c *coffer.Caller, st *coffer.MFAStatus) error {
	left := st.Passkeys - 1
	if st.TOTP {
		left++
	}
	if left > 0 || c.Operator {
		return nil
	}
	pol, err := s.userPolicy(ctx, tx, c.UserID)
	if err != nil {
		return err
	}
	if pol.Require2FA {
		return coffer.Errorf(coffer.EFORBIDDEN, "your organization requires two-factor authentication: enrol another factor before removing this one")
	}
	return nil
}

// BeginTOTP makes a new, unconfirmed TOTP secret for the caller.
func (s *Service) BeginTOTP(ctx context.Context, password string) (*coffer.TOTPEnrolment, error) {
	const op = "BeginTOTP"
	c, a, err := s.reauth(ctx, op, password)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: a.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, coffer.Internal(op, err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, coffer.Internal(op, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, coffer.Internal(op, err)
	}
	sealed, err := s.Keys.SealString(ctx, keyring.Instance, totpAAD(c.UserID), key.Secret())
	if err != nil {
		return nil, err
	}
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		res, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"totp_secrets AS t (user_id, secret, confirmed_at, last_step, created_at) VALUES (?, ?, NULL, 0, ?) "+
			"ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at WHERE t.confirmed_at IS NULL"),
			c.UserID, sealed, s.NowMicros())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = coffer.Errorf(coffer.ECONFLICT, "TOTP is already enabled: disable it first to enrol a new authenticator app")
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &coffer.TOTPEnrolment{Secret: key.Secret(), URI: key.URL(),
		QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// ConfirmTOTP enables the caller's pending TOTP secret with a first code.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	const op = "ConfirmTOTP"
	c, err := mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	done, err := s.mfaAttempt(ctx, op, c.UserID)
	if err != nil {
		return nil, err
	}
	var codes []string
	failed := false
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		var secret string
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT secret, confirmed_at FROM "+s.Inst.Prefix+"totp_secrets WHERE user_id = ?"), c.UserID).Scan(&secret, &confirmed)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && confirmed.Valid) {
			return coffer.Errorf(coffer.ENOTFOUND, "no TOTP enrolment is pending: begin one first")
		}
		if err != nil {
			return err
		}
		if secret, err = s.Keys.OpenStringIn(ctx, tx, keyring.Instance, totpAAD(c.UserID), secret); err != nil {
			return err
		}
		step, ok := s.totpMatch(secret, code, 0)
		if !ok {
			failed = true
			return errBadCode
		}
		st, err := s.factorCounts(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"totp_secrets SET confirmed_at = ?, last_step = ? WHERE user_id = ?"), s.NowMicros(), step, c.UserID); err != nil {
			return err
		}
		codes, err = s.enrolled(ctx, tx, c, coffer.FactorTOTP, st.Passkeys == 0)
		return err
	})
	done(failed, "totp")
	if err != nil {
		return nil, err
	}
	s.dropCallerSession(c)
	return codes, nil
}

// DisableTOTP removes the caller's TOTP with the password and a TOTP or
// recovery code.
func (s *Service) DisableTOTP(ctx context.Context, password, code string) error {
	const op = "DisableTOTP"
	c, _, err := s.reauth(ctx, op, password)
	if err != nil {
		return err
	}
	done, err := s.mfaAttempt(ctx, op, c.UserID)
	if err != nil {
		return err
	}
	failed := false
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		st, err := s.factorCounts(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		if !st.TOTP {
			return coffer.Errorf(coffer.ENOTFOUND, "TOTP is not enabled")
		}
		if err := s.mayRemoveFactor(ctx, tx, c, st); err != nil {
			return err
		}
		ok, err := s.useTOTP(ctx, tx, c.UserID, code)
		if err == nil && !ok {
			ok, err = s.useRecoveryCode(ctx, tx, c.UserID, code)
		}
		if err != nil {
			return err
		}
		if !ok {
			failed = true
			return errBadCode
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"totp_secrets WHERE user_id = ?"), c.UserID); err != nil {
			return err
		}
		if st.Passkeys == 0 {
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"recovery_codes WHERE user_id = ?"), c.UserID); err != nil {
				return err
			}
		}
		return s.Event(ctx, tx, coffer.EventMFADisabled, c.UserID, c.Email, coffer.FactorTOTP)
	})
	done(failed, "code")
	return err
}

// RegenerateRecoveryCodes replaces the caller's recovery codes.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, password string) ([]string, error) {
	const op = "RegenerateRecoveryCodes"
	c, _, err := s.reauth(ctx, op, password)
	if err != nil {
		return nil, err
	}
	var codes []string
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		st, err := s.factorCounts(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		if !st.TOTP && st.Passkeys == 0 {
			return coffer.Errorf(coffer.EINVALID, "recovery codes come with a second factor: enrol TOTP or a passkey first")
		}
		if codes, err = s.newRecoveryCodes(ctx, tx, c.UserID); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventRecoveryCodes, c.UserID, c.Email, "")
	})
	return codes, err
}
