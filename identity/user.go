package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// authState holds what login needs besides the database: a hash to verify
// against when the e-mail is unknown, so both cases take the same time.
type authState struct {
	once      sync.Once
	dummyHash string

	mu        sync.Mutex
	deviceKey []byte // see deviceSecret
}

func newAuthState() authState { return authState{} }

func (s *Service) dummyHash(ctx context.Context) string {
	s.auth.once.Do(func() {
		h, err := auth.HashPassword(ctx, "coffer-timing-equalizer-password")
		if err == nil {
			s.auth.dummyHash = h
		}
	})
	return s.auth.dummyHash
}

func normalizeEmail(email string) (display, key string, ok bool) {
	display = strings.TrimSpace(email)
	if !value.ValidEmail(display) {
		return "", "", false
	}
	return display, strings.ToLower(display), true
}

// CreateUser creates an account.
func (s *Service) CreateUser(ctx context.Context, in coffer.UserInput) (*coffer.User, error) {
	nu, err := s.prepareUser(ctx, "CreateUser", in)
	if err != nil {
		return nil, err
	}
	err = s.Write(ctx, s.Inst, "CreateUser", func(tx *store.WriteTx) error { return s.insertUser(ctx, tx, nu) })
	if err != nil {
		return nil, err
	}
	return &nu.User, nil
}

// newUser is an account checked and ready to insert.
type newUser struct {
	coffer.User
	emailKey string
	hash     string
	now      int64
}

// prepareUser checks an account's e-mail, name and password and hashes
// the password.
func (s *Service) prepareUser(ctx context.Context, op string, in coffer.UserInput) (*newUser, error) {
	var fields []coffer.FieldError
	email, key, ok := normalizeEmail(in.Email)
	if !ok {
		fields = append(fields, coffer.FieldError{Field: "email", Message: "must be a valid e-mail address"})
	}
	name, msg := coffer.CheckName(in.Name, 200)
	if msg != "" {
		fields = append(fields, coffer.FieldError{Field: "name", Message: msg})
	}
	// A new account belongs to no organization yet: the default policy
	// applies, with its name and e-mail as context words.
	pwFields, err := s.checkNewPassword(ctx, s.Inst.R, passwordOwner{Email: email, Name: name}, "password", in.Password)
	if err != nil {
		return nil, s.Wrap(op, err)
	}
	fields = append(fields, pwFields...)
	if len(fields) > 0 {
		return nil, coffer.Invalid("the account is not valid", fields...)
	}
	hash, err := auth.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, s.Wrap(op, err)
	}
	now := s.NowMicros()
	return &newUser{User: coffer.User{ID: coffer.NewID(coffer.PrefixUser), Email: email, Name: name, Operator: in.Operator, CreatedAt: store.FromMicros(now)},
		emailKey: key, hash: hash, now: now}, nil
}

// insertUser inserts a prepared account and its event; ECONFLICT when
// the e-mail is taken.
func (s *Service) insertUser(ctx context.Context, tx *store.WriteTx, u *newUser) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"users WHERE email_key = ?"), u.emailKey).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return &coffer.Error{Code: coffer.ECONFLICT, Message: "an account with this e-mail already exists",
			Fields: []coffer.FieldError{{Field: "email", Message: "is already used by another account"}}}
	}
	_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"users (id, email, email_key, name, password_hash, operator, created_at, updated_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		u.ID, u.Email, u.emailKey, u.Name, u.hash, u.Operator, u.now, u.now, u.now)
	if err != nil {
		return err
	}
	detail := ""
	if u.Operator {
		detail = "operator"
	}
	return s.Event(ctx, tx, coffer.EventUserCreated, u.ID, u.Email, detail)
}

// CountUsers returns the number of accounts.
func (s *Service) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.Inst.R.QueryRowContext(ctx, "SELECT count(*) FROM "+s.Inst.Prefix+"users").Scan(&n)
	return n, s.Wrap("CountUsers", err)
}

// errBadLogin answers every failed login alike: unknown e-mail, wrong
// password, locked account.
var errBadLogin = coffer.Errorf(coffer.EUNAUTHORIZED, "the e-mail or password is not correct (after too many failed logins, an account stays locked for browsers it was not used with before until its password is reset)")

// Key prefixes, so a leaked secret is recognizable (and scanners can find it).
const (
	SessionKeyPrefix = "cfs_" // session keys
	APIKeyPrefix     = "cfk_" // API keys
	ChallengePrefix  = "cfc_" // second-factor login challenges
)

func newSessionKey() (string, []byte)     { return auth.NewToken(SessionKeyPrefix) }
func newChallengeToken() (string, []byte) { return auth.NewToken(ChallengePrefix) }
func hashChallenge(token string) []byte   { return auth.HashToken(token) }

// Login checks the credentials. An unknown e-mail costs the same hashing
// work and gets the same answers as a wrong password: throttling is keyed
// by the e-mail as typed, so it too answers alike for unknown accounts.
//
// The attempt is reserved before the password is checked (see
// throttle.go), against the limits loginLimits chooses: a client with a
// device token of the account counts against that device alone; any other
// client against its address, its (account, address) pair and the
// account's pool of unknown clients.
func (s *Service) Login(ctx context.Context, email, password string) (*coffer.LoginResult, error) {
	_, key, ok := normalizeEmail(email)
	if len(password) > auth.MaxPasswordBytes {
		ok = false
	}
	if !ok {
		key = "-"
	}
	a, err := s.loginAccount(ctx, key, ok)
	if err != nil {
		return nil, err
	}
	uid := ""
	if a != nil {
		uid = a.ID
	}
	device, err := s.knownDevice(ctx, uid)
	if err != nil {
		return nil, s.Wrap("Login", err)
	}
	limits := loginLimits(key, catalog.ClientIP(ctx), uid, device)
	// Locked: MaxFailedLogins consecutive failures of this device, or of
	// unknown clients on this account. The password is not even checked
	// (guessing cannot go on, and a right guess is not told apart from a
	// wrong one), and the answer is the one of any failure, so a lock does
	// not reveal that the account exists.
	locked, err := s.reserveAttempt(ctx, "Login", limits...)
	if coffer.ErrorCode(err) == coffer.ETOOMANY {
		_ = s.Write(ctx, s.Inst, "Login", func(tx *store.WriteTx) error {
			return s.Event(ctx, tx, coffer.EventLoginThrottled, uid, key, deviceDetail(device))
		})
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	match := false
	if a == nil || locked {
		_, _ = auth.VerifyPassword(ctx, s.dummyHash(ctx), password)
	} else if match, err = auth.VerifyPassword(ctx, a.hash, password); err != nil {
		return nil, s.Wrap("Login", err)
	}
	if !match {
		if err := s.loginFailed(ctx, a, uid, key, device, locked); err != nil {
			return nil, err
		}
		return nil, errBadLogin
	}
	return s.loginSucceeded(ctx, a, password, limits)
}

// loginAccount finds the active account of the e-mail key (nil: none,
// or the address was not valid).
func (s *Service) loginAccount(ctx context.Context, key string, ok bool) (*account, error) {
	var a *account
	var deactivated sql.NullInt64
	if ok {
		var err error
		a, err = scanAccountDeactivated(s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT "+accountCols+", deactivated_at FROM "+s.Inst.Prefix+"users WHERE email_key = ?"), key), &deactivated)
		switch {
		case err == nil:
			if deactivated.Valid {
				a = nil
			}
		case errors.Is(err, sql.ErrNoRows):
		default:
			return nil, s.Wrap("Login", err)
		}
	}
	return a, nil
}

// loginFailed records a failed login: one more failure on the account,
// and the event (locked or failed).
func (s *Service) loginFailed(ctx context.Context, a *account, uid, key, device string, locked bool) error {
	return s.Write(ctx, s.Inst, "Login", func(tx *store.WriteTx) error {
		if a != nil {
			if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET failed_logins = failed_logins + 1 WHERE id = ?"), a.ID); err != nil {
				return err
			}
		}
		if locked {
			msg := "unknown clients locked out after too many failed logins: a known device or a password reset lets the owner in"
			if device != "" {
				msg = "this device is locked out after too many failed logins: a password reset unlocks it"
			}
			return s.Event(ctx, tx, coffer.EventLoginLocked, uid, key, msg)
		}
		return s.Event(ctx, tx, coffer.EventLoginFailed, uid, key, "password"+deviceDetail(device))
	})
}

// loginSucceeded opens the session of a login whose password matched, or
// the challenge of its second factor; it releases the login's limits and
// rehashes a password hashed with old parameters.
func (s *Service) loginSucceeded(ctx context.Context, a *account, password string, limits []limit) (*coffer.LoginResult, error) {
	var res coffer.LoginResult
	err := s.Write(ctx, s.Inst, "Login", func(tx *store.WriteTx) error {
		factors, err := s.secondFactors(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		pol, err := s.userPolicy(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		if pol.RequireSSO && !a.Operator {
			return coffer.Errorf(coffer.EFORBIDDEN, "your organization requires single sign-on: log in with your identity provider")
		}
		if err := s.release(ctx, tx, limits); err != nil {
			return err
		}
		if auth.NeedsRehash(a.hash) {
			if h, err := auth.HashPassword(ctx, password); err == nil {
				if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"users SET password_hash = ? WHERE id = ?"), h, a.ID); err != nil {
					return err
				}
			}
		}
		if len(factors) > 0 {
			res.Challenge, err = s.newChallenge(ctx, tx, a.ID, "password", factors)
			return err
		}
		res.Session, err = s.openSession(ctx, tx, a, "password", false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Keys of the login limits in the throttle table.
func poolThrottleKey(emailKey string) string { return "pool:" + emailKey }
func deviceThrottleKey(userID, device string) string {
	return "dev:" + userID + "|" + device
}

// loginLimits are the counters a login attempt reserves. With a known
// device (a valid device token of the account): the device's own counter
// only. Otherwise the address (ipFreeFailures, then doubling delays up to
// an hour), the (account, address) pair (acctFreeFailures, up to 15
// minutes) and the account's pool of unknown clients (MaxFailedLogins
// consecutive failures lock unknown clients out). The pool is keyed by the
// e-mail as typed, so unknown e-mails have one too.
func loginLimits(emailKey, ip, userID, device string) []limit {
	if device != "" {
		return []limit{{key: deviceThrottleKey(userID, device), free: acctFreeFailures, maxDelay: acctMaxDelay, lockAt: MaxFailedLogins, clear: true}}
	}
	return []limit{
		{key: ipThrottleKey(ip), free: ipFreeFailures, maxDelay: ipMaxDelay},
		{key: acctThrottleKey(emailKey, ip), free: acctFreeFailures, maxDelay: acctMaxDelay, clear: true},
		{key: poolThrottleKey(emailKey), lockAt: MaxFailedLogins, clear: true},
	}
}

func deviceDetail(device string) string {
	if device != "" {
		return " (known device)"
	}
	return ""
}

func scanAccountDeactivated(row *sql.Row, deactivated *sql.NullInt64) (*account, error) {
	var a account
	var created int64
	if err := row.Scan(&a.ID, &a.Email, &a.Name, &a.Operator, &a.hash, &created, &a.passwordChangedAt, &a.failedLogins, deactivated); err != nil {
		return nil, err
	}
	a.CreatedAt = store.FromMicros(created)
	return &a, nil
}

// SecondFactor answers a login challenge with a TOTP or recovery code.
func (s *Service) SecondFactor(ctx context.Context, challenge, method, code string) (*coffer.Session, error) {
	if !strings.HasPrefix(challenge, ChallengePrefix) || len(challenge) > 100 || len(code) > 100 {
		return nil, errBadChallenge
	}
	switch method {
	case coffer.FactorTOTP, coffer.FactorRecovery:
	default:
		return nil, coffer.Invalid("the second factor is not valid",
			coffer.FieldError{Field: "method", Message: "must be totp or recovery_code"})
	}
	return s.finishChallenge(ctx, "SecondFactor", challenge, method, func(tx catalog.Querier, userID string) (bool, error) {
		return s.verifyFactor(ctx, tx, userID, method, code)
	})
}

var errBadSession = coffer.Errorf(coffer.EUNAUTHORIZED, "the session key is not valid or has expired")

// sessionEntry is a cached session or API key: the caller, when it expires
// and, for sessions, when it was last seen and its idle timeout.
type sessionEntry struct {
	c        coffer.Caller
	expires  int64 // 0: never (API keys without expiry)
	lastSeen int64
	idle     int64
}

// live reports whether the session or key is neither expired nor idle
// for longer than its idle timeout at now.
func (e *sessionEntry) live(now time.Time) bool {
	us := now.UnixMicro()
	return (e.expires == 0 || us < e.expires) && (e.idle <= 0 || us-e.lastSeen <= e.idle)
}

// touchEvery bounds how often the last use of a session or key is written.
const touchEvery = time.Minute

// Authenticate returns the caller behind a session key or an API key.
func (s *Service) Authenticate(ctx context.Context, key string) (*coffer.Caller, error) {
	if len(key) > 100 {
		return nil, errBadSession
	}
	var apiKey bool
	switch {
	case strings.HasPrefix(key, SessionKeyPrefix):
	case strings.HasPrefix(key, APIKeyPrefix):
		apiKey = true
	default:
		return nil, errBadSession
	}
	hash := auth.HashToken(key)
	now := s.Now()
	// Where nodes share the database the cache serves only while this node
	// hears the invalidations of sessions, keys and users (Core.Caches).
	cache := s.Caches.Usable()
	gen := s.sessions.Gen() // read before loading: see PutIf
	var e sessionEntry
	ok := false
	if cache {
		e, ok = s.sessions.Get(string(hash), now)
		if ok && !e.live(now) {
			// Another node may have seen the session since this one
			// cached it (moving its idle deadline): ask the database.
			ok = false
		}
	}
	if !ok {
		var err error
		if apiKey {
			e, err = s.loadAPIKey(ctx, hash)
		} else {
			e, err = s.loadSession(ctx, hash)
		}
		if err != nil {
			return nil, err
		}
		if cache {
			s.sessions.PutIf(string(hash), e, now, gen)
		}
	}
	if !e.live(now) {
		return nil, errBadSession
	}
	us := now.UnixMicro()
	if us-e.lastSeen > touchEvery.Microseconds() {
		s.touch(ctx, string(hash), e, apiKey, us, cache, gen)
	}
	c := e.c
	return &c, nil
}

func (s *Service) loadSession(ctx context.Context, hash []byte) (sessionEntry, error) {
	var e sessionEntry
	var deactivated sql.NullInt64
	row, err := s.Inst.QueryRow(ctx, s.Rebind("SELECT s.id, s.expires_at, s.last_seen_at, s.idle_timeout, s.mfa, s.restriction, u.id, u.email, u.name, u.operator, u.deactivated_at FROM "+
		s.Inst.Prefix+"sessions s JOIN "+s.Inst.Prefix+"users u ON u.id = s.user_id WHERE s.key_hash = ?"), hash)
	if err != nil {
		return e, s.Wrap("Authenticate", err)
	}
	err = row.Scan(&e.c.SessionID, &e.expires, &e.lastSeen, &e.idle, &e.c.MFA, &e.c.Restriction, &e.c.UserID, &e.c.Email, &e.c.Name, &e.c.Operator, &deactivated)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deactivated.Valid) {
		return e, errBadSession
	}
	return e, s.Wrap("Authenticate", err)
}

func (s *Service) loadAPIKey(ctx context.Context, hash []byte) (sessionEntry, error) {
	var e sessionEntry
	var deactivated, expires, lastUsed sql.NullInt64
	var notebooks sql.NullString
	row, err := s.Inst.QueryRow(ctx, s.Rebind("SELECT k.id, k.expires_at, k.last_used_at, k.read_only, k.notebooks, u.id, u.email, u.name, u.operator, u.deactivated_at FROM "+
		s.Inst.Prefix+"api_keys k JOIN "+s.Inst.Prefix+"users u ON u.id = k.user_id WHERE k.key_hash = ?"), hash)
	if err != nil {
		return e, s.Wrap("Authenticate", err)
	}
	err = row.Scan(&e.c.APIKeyID, &expires, &lastUsed, &e.c.ReadOnly, &notebooks, &e.c.UserID, &e.c.Email, &e.c.Name, &e.c.Operator, &deactivated)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deactivated.Valid) {
		return e, errBadSession
	}
	if err != nil {
		return e, s.Wrap("Authenticate", err)
	}
	e.expires, e.lastSeen = expires.Int64, lastUsed.Int64
	if notebooks.Valid {
		if err := json.Unmarshal([]byte(notebooks.String), &e.c.Notebooks); err != nil {
			return e, s.Wrap("Authenticate", err)
		}
		if e.c.Notebooks == nil {
			e.c.Notebooks = []string{}
		}
	}
	// Operators' keys never carry the operator role: keys are for data
	// integrations, and instance administration needs a person.
	e.c.Operator = false
	return e, nil
}

// touch records the last use of a session (which moves its idle deadline)
// or an API key, at most once every touchEvery.
func (s *Service) touch(ctx context.Context, hash string, e sessionEntry, apiKey bool, now int64, cache bool, gen uint64) {
	q := "UPDATE " + s.Inst.Prefix + "sessions SET last_seen_at = ? WHERE id = ?"
	id := e.c.SessionID
	if apiKey {
		q = "UPDATE " + s.Inst.Prefix + "api_keys SET last_used_at = ? WHERE id = ?"
		id = e.c.APIKeyID
	}
	err := s.Write(ctx, s.Inst, "touch", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind(q), now, id)
		return err
	})
	if err == nil && cache {
		e.lastSeen = now
		s.sessions.PutIf(hash, e, s.Now(), gen)
	}
}

// dropCachedSessions forgets cached sessions and keys that match.
func (s *Service) dropCachedSessions(match func(c *coffer.Caller) bool) {
	s.sessions.Drop(func(_ string, e sessionEntry) bool { return match(&e.c) })
}

// Logout deletes the caller's session.
func (s *Service) Logout(ctx context.Context) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	if c.SessionID == "" || c.APIKeyID != "" {
		return errSessionRequired
	}
	err = s.Write(ctx, s.Inst, "Logout", func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sessions WHERE id = ?"), c.SessionID); err != nil {
			return err
		}
		return s.Event(ctx, tx, coffer.EventLogout, c.UserID, c.Email, "")
	})
	s.dropCachedSessions(func(x *coffer.Caller) bool { return x.SessionID == c.SessionID })
	return err
}
