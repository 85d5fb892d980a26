package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth/oidc"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Throttling of logins. Counters live in the database, so every node sees
// the same ones, and each attempt is reserved before its secret is checked
// (throttle.go). An address gets ipFreeFailures failed logins (on any
// accounts) before each further failure blocks it for a doubling delay, up
// to an hour; an (account, address) pair gets acctFreeFailures. Failures
// from clients without a device token of the account (device.go) also
// count in the account's pool of unknown clients: MaxFailedLogins
// consecutive ones lock unknown clients out of the account until a
// password reset. A client with a device token counts against that device
// alone (acctFreeFailures, then delays; MaxFailedLogins consecutive ones
// lock that device out), so nobody else can lock the owner out of a
// browser they have signed in with. Address and pair counters forget
// after throttleWindow without a failure; pool and device counters only
// on a success or a reset.
const (
	ipFreeFailures   = 20
	acctFreeFailures = 5
	ipMaxDelay       = time.Hour
	acctMaxDelay     = 15 * time.Minute
	throttleWindow   = 24 * time.Hour
	// MaxFailedLogins is the number of consecutive failed logins after
	// which unknown clients (or one device) are locked out of an account
	// until a password reset.
	MaxFailedLogins = 100
	// challengeLifetime bounds the time to answer a second-factor challenge.
	challengeLifetime = 5 * time.Minute
	// challengeAttempts bounds the codes tried against one challenge.
	challengeAttempts = 5
)

// Key prefixes of the throttle table.
func ipThrottleKey(ip string) string { return "ip:" + ip }
func acctThrottleKey(emailKey, ip string) string {
	return "acct:" + emailKey + "|" + ip
}

// throttledFor returns how long the first blocked key of keys stays
// blocked, or 0.
func (s *Service) throttledFor(ctx context.Context, keys ...string) (time.Duration, error) {
	now := s.NowMicros()
	for _, k := range keys {
		var until int64
		err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT blocked_until FROM "+s.Inst.Prefix+"throttle WHERE key = ?"), k).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if until > now {
			return time.Duration(until-now) * time.Microsecond, nil
		}
	}
	return 0, nil
}

// clearThrottle forgets the failures of key.
func (s *Service) clearThrottle(ctx context.Context, tx catalog.Querier, key string) error {
	_, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"throttle WHERE key = ?"), key)
	return err
}

// Events returns the audit log's events about a user (all events when
// userID is empty), newest first, at most limit. It is for operators,
// tests and the audit export; callers check rights. An event's ID is its
// index in the log.
func (s *Service) Events(ctx context.Context, userID string, limit int) ([]*coffer.Event, error) {
	q := "SELECT idx, at, kind, COALESCE(user_id, ''), email, ip, detail FROM " + s.Inst.Prefix + "audit_entries"
	args := []any{}
	if userID != "" {
		q += " WHERE user_id = ?"
		args = append(args, userID)
	}
	q += " ORDER BY idx DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind(q), args...)
	if err != nil {
		return nil, s.Wrap("Events", err)
	}
	defer rows.Close()
	var out []*coffer.Event
	for rows.Next() {
		var e coffer.Event
		var at, idx int64
		if err := rows.Scan(&idx, &at, &e.Kind, &e.UserID, &e.Email, &e.IP, &e.Detail); err != nil {
			return nil, s.Wrap("Events", err)
		}
		e.ID, e.At = strconv.FormatInt(idx, 10), store.FromMicros(at)
		out = append(out, &e)
	}
	return out, s.Wrap("Events", rows.Err())
}

// userPolicy returns the strictest combination of the policies of the
// user's organizations (the defaults when the user belongs to none).
func (s *Service) userPolicy(ctx context.Context, q catalog.Querier, userID string) (coffer.Policy, error) {
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT o.policy FROM "+s.Inst.Prefix+"organizations o JOIN "+s.Inst.Prefix+
		"org_members m ON m.org_id = o.id WHERE m.user_id = ?"), userID)
	if err != nil {
		return coffer.Policy{}, err
	}
	defer rows.Close()
	var p coffer.Policy
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return coffer.Policy{}, err
		}
		var op coffer.Policy
		if err := json.Unmarshal([]byte(raw), &op); err != nil {
			return coffer.Policy{}, fmt.Errorf("organization policy: %w", err)
		}
		p = p.Merge(op)
	}
	return p, rows.Err()
}

// secondFactors lists the second factors a user has enrolled.
func (s *Service) secondFactors(ctx context.Context, q catalog.Querier, userID string) ([]string, error) {
	st, err := s.factorCounts(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	if st.TOTP {
		out = append(out, coffer.FactorTOTP)
	}
	if st.Passkeys > 0 {
		out = append(out, coffer.FactorPasskey)
	}
	if st.RecoveryCodes > 0 && (st.TOTP || st.Passkeys > 0) {
		out = append(out, coffer.FactorRecovery)
	}
	return out, nil
}

// account is the row of users that logins read.
type account struct {
	coffer.User
	hash              string
	passwordChangedAt int64
	failedLogins      int
}

const accountCols = "id, email, name, operator, password_hash, created_at, password_changed_at, failed_logins"

func scanAccount(row interface{ Scan(...any) error }) (*account, error) {
	var a account
	var created int64
	if err := row.Scan(&a.ID, &a.Email, &a.Name, &a.Operator, &a.hash, &created, &a.passwordChangedAt, &a.failedLogins); err != nil {
		return nil, err
	}
	a.CreatedAt = store.FromMicros(created)
	return &a, nil
}

// loadAccount reads an active account by id.
func (s *Service) loadAccount(ctx context.Context, q catalog.Querier, userID string) (*account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, s.Rebind("SELECT "+accountCols+" FROM "+s.Inst.Prefix+"users WHERE id = ? AND deactivated_at IS NULL"), userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadLogin
	}
	return a, err
}

// openSession inserts a session for a after a successful login by method
// (password, sso, passkey); mfa says whether a second factor was checked.
// The organization policy decides the timeouts and whether the session is
// restricted to enrolling a second factor or changing the password.
func (s *Service) openSession(ctx context.Context, tx catalog.Querier, a *account, method string, mfa bool) (*coffer.Session, error) {
	pol, err := s.userPolicy(ctx, tx, a.ID)
	if err != nil {
		return nil, err
	}
	restriction := ""
	if method == "password" || method == "passkey" {
		factors, err := s.secondFactors(ctx, tx, a.ID)
		if err != nil {
			return nil, err
		}
		if pol.MaxAgeDays > 0 && method == "password" &&
			s.NowMicros()-a.passwordChangedAt > (time.Duration(pol.MaxAgeDays)*24*time.Hour).Microseconds() {
			restriction = coffer.RestrictChangePassword
		}
		if pol.Require2FA && len(factors) == 0 && !a.Operator {
			restriction = coffer.RestrictEnrol2FA
		}
	}
	token, tokenHash := newSessionKey()
	now := s.Now()
	cl := coffer.ClientFrom(ctx)
	u := a.User
	sess := &coffer.Session{ID: coffer.NewID(coffer.PrefixSession), Key: token, ExpiresAt: now.Add(pol.AbsoluteTimeout()), User: &u, Restriction: restriction}
	_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"sessions (id, key_hash, user_id, created_at, expires_at, last_seen_at, idle_timeout, method, mfa, restriction, ip, user_agent) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		sess.ID, tokenHash, a.ID, now.UnixMicro(), sess.ExpiresAt.UnixMicro(), now.UnixMicro(), pol.IdleTimeout().Microseconds(),
		method, mfa, restriction, cl.IP, truncate(cl.UserAgent, 300))
	if err != nil {
		return nil, err
	}
	if sess.Device, err = s.newDeviceToken(ctx, tx, a.ID); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET failed_logins = 0 WHERE id = ? AND failed_logins <> 0"), a.ID); err != nil {
		return nil, err
	}
	kind, detail := coffer.EventLoginSucceeded, method
	if mfa {
		detail += "+2fa"
	}
	if method == "sso" {
		kind = coffer.EventSSOLogin
	}
	return sess, s.Event(ctx, tx, kind, a.ID, a.Email, detail)
}

// newChallenge stores a second-factor challenge for the account.
func (s *Service) newChallenge(ctx context.Context, tx catalog.Querier, userID, method string, methods []string) (*coffer.Challenge, error) {
	token, hash := newChallengeToken()
	now := s.Now()
	ch := &coffer.Challenge{Token: token, Methods: methods, ExpiresAt: now.Add(challengeLifetime)}
	_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"login_challenges (id, token_hash, user_id, method, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"),
		coffer.NewID("chl_"), hash, userID, method, now.UnixMicro(), ch.ExpiresAt.UnixMicro())
	return ch, err
}

var errBadChallenge = coffer.Errorf(coffer.EUNAUTHORIZED, "the code or the login challenge is not valid or has expired: log in again")

// challengeUser returns the user and first-factor method of a live
// challenge that has had fewer than maxAttempts answers. It is the entry
// point of second-factor checks done outside this file (passkeys).
// EUNAUTHORIZED for an unknown, expired or exhausted challenge.
func (s *Service) challengeUser(ctx context.Context, q catalog.Querier, token string, maxAttempts int) (id, userID, method string, err error) {
	var expires int64
	var attempts int
	err = q.QueryRowContext(ctx, s.Rebind("SELECT id, user_id, method, expires_at, attempts FROM "+s.Inst.Prefix+"login_challenges WHERE token_hash = ?"),
		hashChallenge(token)).Scan(&id, &userID, &method, &expires, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", errBadChallenge
	}
	if err != nil {
		return "", "", "", err
	}
	if expires <= s.NowMicros() || attempts >= maxAttempts {
		return "", "", "", errBadChallenge
	}
	return id, userID, method, nil
}

// Second-factor answers are limited per account, across challenges (a
// correct password makes a new challenge, but not new tries): after
// secondFactorFree consecutive wrong answers each further one blocks the
// account's second factor for a doubling delay up to secondFactorMaxDelay,
// and raises an alert (an event, and an e-mail to the person) at the
// first one and then at every doubling of the count.
const (
	secondFactorFree     = 5
	secondFactorMaxDelay = time.Hour
)

func secondFactorLimit(userID string) limit {
	return limit{key: "2fa:" + userID, free: secondFactorFree, maxDelay: secondFactorMaxDelay, clear: true}
}

// finishChallenge checks a second factor against a challenge with verify
// and, when it holds, consumes the challenge and opens a session with
// mfa set. The attempt is reserved first, against the challenge and the
// account (see throttle.go); a wrong answer keeps it.
func (s *Service) finishChallenge(ctx context.Context, op, token, factor string, verify func(tx catalog.Querier, userID string) (bool, error)) (*coffer.Session, error) {
	var userID string
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		var err error
		if _, userID, _, err = s.challengeUser(ctx, tx, token, challengeAttempts); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"login_challenges SET attempts = attempts + 1 WHERE token_hash = ?"), hashChallenge(token)); err != nil {
			return err
		}
		_, err = s.reserve(ctx, tx, []limit{secondFactorLimit(userID)})
		return err
	})
	if coffer.ErrorCode(err) == coffer.ETOOMANY {
		_ = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
			return s.Event(ctx, tx, coffer.EventLoginThrottled, userID, "", "second factor: "+factor)
		})
	}
	if err != nil {
		return nil, err
	}
	var sess *coffer.Session
	failed := false
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		// The reservation counted this answer: the challenge may now be at
		// its last attempt.
		id, uid, method, err := s.challengeUser(ctx, tx, token, challengeAttempts+1)
		if err != nil {
			return err
		}
		ok, err := verify(tx, uid)
		if err != nil {
			return err
		}
		if !ok {
			failed = true
			return errBadChallenge
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"login_challenges WHERE id = ?"), id); err != nil {
			return err
		}
		if err := s.release(ctx, tx, []limit{secondFactorLimit(uid)}); err != nil {
			return err
		}
		a, err := s.loadAccount(ctx, tx, uid)
		if err != nil {
			return err
		}
		if err := s.Event(ctx, tx, coffer.EventSecondFactorOK, uid, a.Email, factor); err != nil {
			return err
		}
		sess, err = s.openSession(ctx, tx, a, method, true)
		return err
	})
	if failed {
		s.secondFactorFailed(ctx, op, userID, factor)
	}
	return sess, err
}

// secondFactorFailed records a wrong second factor after a correct
// password and, at the first failure past the free ones and at every
// doubling of the count after it, an alert event and a notice to the
// person (e-mailed by Notify).
func (s *Service) secondFactorFailed(ctx context.Context, op, userID, factor string) {
	var notice *coffer.Notice
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		notice = nil
		a, err := s.loadAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := s.Event(ctx, tx, coffer.EventSecondFactorBad, userID, a.Email, factor); err != nil {
			return err
		}
		var n int
		err = tx.QueryRowContext(ctx, s.Rebind("SELECT failures FROM "+s.Inst.Prefix+"throttle WHERE key = ?"), secondFactorLimit(userID).key).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		over := n - secondFactorFree
		if over < 1 || over&(over-1) != 0 {
			return nil
		}
		if err := s.Event(ctx, tx, coffer.EventSecondFactorAlert, userID, a.Email,
			fmt.Sprintf("%d consecutive wrong second factors after a correct password", n)); err != nil {
			return err
		}
		notice = &coffer.Notice{Kind: coffer.NoticeSecondFactorFailed, UserID: a.ID, Email: a.Email, Name: a.Name,
			IP: catalog.ClientIP(ctx), At: s.Now(), Failures: n}
		return nil
	})
	if err == nil && notice != nil && s.Notify != nil {
		s.Notify(*notice)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

var errOrgNotFound = coffer.Errorf(coffer.ENOTFOUND, "the organization does not exist")

// errSessionRequired answers an API key that tries to manage the account.
var errSessionRequired = coffer.Errorf(coffer.ESESSION, "an API key reaches data, not the account: sign in to manage sessions, keys, passwords, second factors and organizations")

// accountCaller returns the caller of an operation on the account itself
// (its sessions, API keys, password, second factors, single sign-on links,
// organizations): a person, never an API key (ESESSION), whatever the
// key's scope. API keys reach data, not the account.
func accountCaller(ctx context.Context) (*coffer.Caller, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if c.APIKeyID != "" {
		return nil, errSessionRequired
	}
	return c, nil
}

// orgRole returns the role of a user in an organization, or "" when the
// user is not a member (or the organization does not exist).
func (s *Service) orgRole(ctx context.Context, q catalog.Querier, orgID, userID string) (string, error) {
	var role string
	err := q.QueryRowContext(ctx, s.Rebind("SELECT role FROM "+s.Inst.Prefix+"org_members WHERE org_id = ? AND user_id = ?"), orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// requireOrgAdmin returns the caller if it is an owner or admin of the
// organization, or an instance operator. Members get EFORBIDDEN; others,
// who may not know the organization exists, ENOTFOUND. API keys never
// administer organizations.
func (s *Service) requireOrgAdmin(ctx context.Context, q catalog.Querier, orgID string) (*coffer.Caller, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !coffer.ValidID(coffer.PrefixOrg, orgID) {
		return nil, errOrgNotFound
	}
	if c.Operator && c.APIKeyID == "" {
		var n int
		if err := q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"organizations WHERE id = ?"), orgID).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errOrgNotFound
		}
		return c, nil
	}
	role, err := s.orgRole(ctx, q, orgID, c.UserID)
	if err != nil {
		return nil, err
	}
	switch {
	case role == "":
		return nil, errOrgNotFound
	case c.APIKeyID != "" || (role != coffer.OrgOwner && role != coffer.OrgAdmin):
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the organization's owners and admins may do this")
	}
	return c, nil
}

// Service is the identity service.
type Service struct {
	*catalog.Catalog
	// Notify, when set, delivers notices to people about their accounts
	// (e-mail); it is called after the commit that records them and must
	// not block.
	Notify   func(coffer.Notice)
	auth     authState
	webauthn *webauthn.WebAuthn // passkeys' relying party (nil: passkeys off; see SetPublicURL)

	ssoOnce sync.Once
	oidc    *oidc.Client // OpenID Connect relying party, see ssoClient

	sessions *store.TTLCache[string, sessionEntry] // by key hash
}

// DropSessions forgets the cached sessions.
func (s *Service) DropSessions() {
	s.sessions.Drop(func(string, sessionEntry) bool { return true })
}

// New returns the identity service on the catalogue cat.
func New(cat *catalog.Catalog) *Service {
	s := &Service{Catalog: cat, auth: newAuthState(), sessions: store.NewSharedTTLCache[string, sessionEntry](cat.Inst)}
	if cat.Caches != nil {
		cat.Caches.Subscribe(s.invalidate)
	}
	return s
}

// invalidate drops the cached sessions and keys that an invalidation
// names (see store.Invalidations): a session, a key, or every one of a
// user.
func (s *Service) invalidate(kind, id string) {
	switch kind {
	case "":
		s.DropSessions()
	case store.InvalidSession:
		s.dropCachedSessions(func(c *coffer.Caller) bool { return c.SessionID == id })
	case store.InvalidAPIKey:
		s.dropCachedSessions(func(c *coffer.Caller) bool { return c.APIKeyID == id })
	case store.InvalidUser:
		s.dropCachedSessions(func(c *coffer.Caller) bool { return c.UserID == id })
	}
}
