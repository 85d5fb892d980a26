package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Passkeys (WebAuthn). User verification (a PIN or biometric on the
// authenticator) is required at registration and at every login, so a
// passkey is a second factor on its own and a passwordless login with it
// counts as two factors. The state of a ceremony lives in the database
// between its begin and finish requests: single-use and expiring.
const (
	ceremonyLifetime = 5 * time.Minute
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	passkeyPrefix    = "pkey_"
)

var (
	errNoPasskeys  = coffer.Errorf(coffer.EUNAVAILABLE, "passkeys are off: the server's public URL (--public-url) must name a host by its domain name")
	errBadPasskey  = coffer.Errorf(coffer.EUNAUTHORIZED, "the passkey could not be verified: start again")
	errBadCreation = coffer.Invalid("the passkey could not be registered", coffer.FieldError{Field: "credential",
		Message: "is not a valid answer of an authenticator to this registration (user verification is required): start again"})
)

// SetPublicURL configures passkeys for the URL people use to reach the
// server: its host is the relying party id and its origin the only origin
// accepted. An address without a domain name (an IP address) cannot be a
// relying party: passkeys stay off and the error says why.
func (s *Service) SetPublicURL(publicURL string) error {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("passkeys: %q is not an http or https URL", publicURL)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return fmt.Errorf("passkeys are off: WebAuthn needs a host name, not an IP address, in --public-url (e.g. https://coffer.example.com, or http://localhost:%s for a try on this machine)", portOr(u, "8080"))
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "Coffer",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		return fmt.Errorf("passkeys are off: %w", err)
	}
	s.webauthn = rp
	return nil
}

// PasskeysOn reports whether SetPublicURL turned passkeys on.
func (s *Service) PasskeysOn() bool { return s.webauthn != nil }

// passkeyUser is an account as the WebAuthn library sees it. Its user
// handle is the account id.
type passkeyUser struct {
	a     *account
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u *passkeyUser) WebAuthnName() string                       { return u.a.Email }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.a.Name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadPasskeyUser reads an active account and its passkeys.
func (s *Service) loadPasskeyUser(ctx context.Context, q catalog.Querier, userID string) (*passkeyUser, error) {
	a, err := s.loadAccount(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT credential FROM "+s.Inst.Prefix+"passkeys WHERE user_id = ? ORDER BY id"), userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	u := &passkeyUser{a: a}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("passkey credential: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, rows.Err()
}

func credentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

func hashCeremony(challenge string) []byte {
	h := sha256.Sum256([]byte(challenge))
	return h[:]
}

// ceremony is the stored state of a WebAuthn ceremony.
type ceremony struct {
	userID         string // "" for a passwordless login
	loginChallenge []byte // hash of the password login's challenge it answers
	data           webauthn.SessionData
}

// saveCeremony stores the state of a begun ceremony and drops expired ones.
func (s *Service) saveCeremony(ctx context.Context, tx catalog.Querier, kind, userID string, loginChallenge []byte, data *webauthn.SessionData) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	now := s.NowMicros()
	if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"webauthn_ceremonies WHERE expires_at <= ?"), now); err != nil {
		return err
	}
	var uid any
	if userID != "" {
		uid = userID
	}
	_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"webauthn_ceremonies (challenge_hash, kind, user_id, login_challenge, session, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		hashCeremony(data.Challenge), kind, uid, loginChallenge, string(raw), now, now+ceremonyLifetime.Microseconds())
	return err
}

// takeCeremony consumes the ceremony of a challenge in its own
// transaction, so that it is used up whatever the outcome of the answer.
func (s *Service) takeCeremony(ctx context.Context, op, kind, challenge string) (*ceremony, error) {
	var c ceremony
	var uid sql.NullString
	var raw string
	var expires int64
	found := false
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		err := tx.QueryRowContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"webauthn_ceremonies WHERE challenge_hash = ? AND kind = ? RETURNING user_id, login_challenge, session, expires_at"),
			hashCeremony(challenge), kind).Scan(&uid, &c.loginChallenge, &raw, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found || expires <= s.NowMicros() {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(raw), &c.data); err != nil {
		return nil, coffer.Internal(op, err)
	}
	c.userID = uid.String
	return &c, nil
}

// BeginPasskeyRegistration returns the creation options of a new passkey.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, password string) (json.RawMessage, error) {
	const op = "BeginPasskeyRegistration"
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	c, _, err := s.reauth(ctx, op, password)
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		u, err := s.loadPasskeyUser(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		yes := true
		creation, data, err := s.webauthn.BeginRegistration(u,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				RequireResidentKey: &yes,
				ResidentKey:        protocol.ResidentKeyRequirementRequired,
				UserVerification:   protocol.VerificationRequired,
			}),
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
			webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
		if err != nil {
			return err
		}
		if out, err = json.Marshal(creation); err != nil {
			return err
		}
		return s.saveCeremony(ctx, tx, ceremonyRegister, c.UserID, nil, data)
	})
	return out, err
}

// FinishPasskeyRegistration verifies the authenticator's answer and stores
// the passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, name string, credential []byte) (*coffer.Passkey, []string, error) {
	const op = "FinishPasskeyRegistration"
	if s.webauthn == nil {
		return nil, nil, errNoPasskeys
	}
	c, err := mfaCaller(ctx)
	if err != nil {
		return nil, nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	name, msg := coffer.CheckName(name, 100)
	if msg != "" {
		return nil, nil, coffer.Invalid("the passkey is not valid", coffer.FieldError{Field: "name", Message: msg})
	}
	done, err := s.mfaAttempt(ctx, op, c.UserID)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		done(false, "")
		return nil, nil, errBadCreation
	}
	cer, err := s.takeCeremony(ctx, op, ceremonyRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		done(false, "")
		return nil, nil, err
	}
	if cer == nil || cer.userID != c.UserID {
		done(false, "")
		return nil, nil, errBadCreation
	}
	pk := &coffer.Passkey{ID: coffer.NewID(passkeyPrefix), Name: name, CreatedAt: s.Now().Truncate(time.Microsecond)}
	var codes []string
	failed := false
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		u, err := s.loadPasskeyUser(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		cred, err := s.webauthn.CreateCredential(u, cer.data, parsed)
		if err != nil || !cred.Flags.UserVerified {
			failed = true
			return errBadCreation
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"passkeys WHERE credential_id = ?"), credentialID(cred.ID)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return coffer.Errorf(coffer.ECONFLICT, "this passkey is already registered")
		}
		st, err := s.factorCounts(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"passkeys (id, user_id, name, credential, created_at, credential_id) VALUES (?, ?, ?, ?, ?, ?)"),
			pk.ID, c.UserID, name, string(raw), pk.CreatedAt.UnixMicro(), credentialID(cred.ID)); err != nil {
			return err
		}
		codes, err = s.enrolled(ctx, tx, c, coffer.FactorPasskey, !st.TOTP && st.Passkeys == 0)
		return err
	})
	done(failed, "passkey")
	if err != nil {
		return nil, nil, err
	}
	s.dropCallerSession(c)
	return pk, codes, nil
}

// ListPasskeys lists the caller's passkeys, oldest first.
func (s *Service) ListPasskeys(ctx context.Context) ([]*coffer.Passkey, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind("SELECT id, name, created_at, last_used_at FROM "+s.Inst.Prefix+"passkeys WHERE user_id = ? ORDER BY created_at, id"), c.UserID)
	if err != nil {
		return nil, s.Wrap("ListPasskeys", err)
	}
	defer rows.Close()
	out := []*coffer.Passkey{}
	for rows.Next() {
		var p coffer.Passkey
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Name, &created, &used); err != nil {
			return nil, s.Wrap("ListPasskeys", err)
		}
		p.CreatedAt = store.FromMicros(created)
		if used.Valid {
			t := store.FromMicros(used.Int64)
			p.LastUsedAt = &t
		}
		out = append(out, &p)
	}
	return out, s.Wrap("ListPasskeys", rows.Err())
}

// DeletePasskey removes one of the caller's passkeys.
func (s *Service) DeletePasskey(ctx context.Context, id, password string) error {
	const op = "DeletePasskey"
	c, _, err := s.reauth(ctx, op, password)
	if err != nil {
		return err
	}
	return s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"passkeys WHERE id = ? AND user_id = ?"), id, c.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "no such passkey")
		}
		st, err := s.factorCounts(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		if err := s.mayRemoveFactor(ctx, tx, c, st); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"passkeys WHERE id = ?"), id); err != nil {
			return err
		}
		if !st.TOTP && st.Passkeys == 1 {
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"recovery_codes WHERE user_id = ?"), c.UserID); err != nil {
				return err
			}
		}
		return s.Event(ctx, tx, coffer.EventMFADisabled, c.UserID, c.Email, coffer.FactorPasskey)
	})
}

// BeginPasskeyLogin returns the request options of a passkey login: for
// the account of a password login's challenge, or (challenge "") for any
// discoverable passkey.
func (s *Service) BeginPasskeyLogin(ctx context.Context, challenge string) (json.RawMessage, error) {
	const op = "BeginPasskeyLogin"
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	if wait, err := s.throttledFor(ctx, ipThrottleKey(catalog.ClientIP(ctx))); err != nil || wait > 0 {
		if err != nil {
			return nil, s.Wrap(op, err)
		}
		return nil, coffer.TooMany(wait)
	}
	var out json.RawMessage
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		var assertion *protocol.CredentialAssertion
		var data *webauthn.SessionData
		var userID string
		var loginChallenge []byte
		if challenge != "" {
			if !strings.HasPrefix(challenge, ChallengePrefix) || len(challenge) > 100 {
				return errBadChallenge
			}
			var err error
			if _, userID, _, err = s.challengeUser(ctx, tx, challenge, challengeAttempts); err != nil {
				return err
			}
			u, err := s.loadPasskeyUser(ctx, tx, userID)
			if err != nil {
				return err
			}
			if len(u.creds) == 0 {
				return coffer.Errorf(coffer.EINVALID, "this account has no passkey: answer the challenge with another factor")
			}
			loginChallenge = hashChallenge(challenge)
			assertion, data, err = s.webauthn.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
			if err != nil {
				return err
			}
		} else {
			var err error
			assertion, data, err = s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
			if err != nil {
				return err
			}
		}
		var err error
		if out, err = json.Marshal(assertion); err != nil {
			return err
		}
		return s.saveCeremony(ctx, tx, ceremonyLogin, userID, loginChallenge, data)
	})
	return out, err
}

// FinishPasskeyLogin verifies an assertion. With challenge it answers that
// password login's challenge; without, it is a passwordless login. Either
// way the session counts as two factors, since user verification is
// required.
func (s *Service) FinishPasskeyLogin(ctx context.Context, challenge string, credential []byte) (*coffer.Session, error) {
	const op = "FinishPasskeyLogin"
	if s.webauthn == nil {
		return nil, errNoPasskeys
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, errBadPasskey
	}
	cer, err := s.takeCeremony(ctx, op, ceremonyLogin, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, err
	}
	if challenge != "" {
		return s.finishPasskeyChallenge(ctx, op, challenge, cer, parsed)
	}
	return s.passwordlessLogin(ctx, op, cer, parsed)
}

// finishPasskeyChallenge answers a password login's challenge with a
// passkey assertion.
func (s *Service) finishPasskeyChallenge(ctx context.Context, op, challenge string, cer *ceremony, parsed *protocol.ParsedCredentialAssertionData) (*coffer.Session, error) {
	if !strings.HasPrefix(challenge, ChallengePrefix) || len(challenge) > 100 {
		return nil, errBadChallenge
	}
	// An assertion that does not verify still counts against the
	// challenge: finishChallenge records it.
	return s.finishChallenge(ctx, op, challenge, coffer.FactorPasskey, func(tx catalog.Querier, userID string) (bool, error) {
		if cer == nil || cer.userID != userID || subtle.ConstantTimeCompare(cer.loginChallenge, hashChallenge(challenge)) != 1 {
			return false, nil
		}
		u, err := s.loadPasskeyUser(ctx, tx, userID)
		if err != nil {
			return false, err
		}
		cred, err := s.webauthn.ValidateLogin(u, cer.data, parsed)
		if err != nil {
			return false, nil
		}
		return s.passkeyUsed(ctx, tx, parsed, cred)
	})
}

// passwordlessLogin opens a session on a discoverable passkey's assertion
// alone.
func (s *Service) passwordlessLogin(ctx context.Context, op string, cer *ceremony, parsed *protocol.ParsedCredentialAssertionData) (*coffer.Session, error) {
	// The attempt is reserved against the client's address before the
	// assertion is checked, and given back when it holds.
	ipLimit := limit{key: ipThrottleKey(catalog.ClientIP(ctx)), free: ipFreeFailures, maxDelay: ipMaxDelay}
	if _, err := s.reserveAttempt(ctx, op, ipLimit); err != nil {
		return nil, err
	}
	var sess *coffer.Session
	failed := false
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		if cer == nil || cer.userID != "" || cer.loginChallenge != nil {
			failed = true
			return errBadPasskey
		}
		var u *passkeyUser
		_, cred, err := s.webauthn.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
			var err error
			u, err = s.loadPasskeyUser(ctx, tx, string(userHandle))
			return u, err
		}, cer.data, parsed)
		if err != nil || u == nil {
			failed = true
			return errBadPasskey
		}
		ok, err := s.passkeyUsed(ctx, tx, parsed, cred)
		if err != nil {
			return err
		}
		if !ok {
			failed = true
			return errBadPasskey
		}
		pol, err := s.userPolicy(ctx, tx, u.a.ID)
		if err != nil {
			return err
		}
		if pol.RequireSSO && !u.a.Operator {
			return coffer.Errorf(coffer.EFORBIDDEN, "your organization requires single sign-on: log in with your identity provider")
		}
		if err := s.Event(ctx, tx, coffer.EventSecondFactorOK, u.a.ID, u.a.Email, coffer.FactorPasskey); err != nil {
			return err
		}
		sess, err = s.openSession(ctx, tx, u.a, "passkey", true)
		return err
	})
	if failed {
		_ = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
			return s.Event(ctx, tx, coffer.EventLoginFailed, "", "", coffer.FactorPasskey)
		})
	} else {
		_ = s.releaseAttempt(ctx, op, ipLimit)
	}
	return sess, err
}

// passkeyUsed accepts a verified assertion only with user verification and
// without a sign of a cloned authenticator (a signature counter that did
// not grow), and stores the credential's new counter and flags.
func (s *Service) passkeyUsed(ctx context.Context, tx catalog.Querier, parsed *protocol.ParsedCredentialAssertionData, cred *webauthn.Credential) (bool, error) {
	if !parsed.Response.AuthenticatorData.Flags.UserVerified() || cred.Authenticator.CloneWarning ||
		!bytes.Equal(cred.ID, parsed.RawID) {
		return false, nil
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"passkeys SET credential = ?, last_used_at = ? WHERE credential_id = ?"),
		string(raw), s.NowMicros(), credentialID(cred.ID))
	return err == nil, err
}

// portOr returns the port of u, or def.
func portOr(u *url.URL, def string) string {
	if p := u.Port(); p != "" {
		return p
	}
	return def
}
