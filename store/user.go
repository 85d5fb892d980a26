package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/value"
)

// SessionLifetime is how long a session key stays valid after login.
const SessionLifetime = 24 * time.Hour

// SessionKeyPrefix starts every session key, so leaked keys are recognizable.
const SessionKeyPrefix = "cfs_"

// authState holds what login needs besides the database: a hash to verify
// against when the e-mail is unknown, so both cases take the same time.
type authState struct {
	once      sync.Once
	dummyHash string
}

func newAuthState() authState { return authState{} }

func (s *Store) dummyHash(ctx context.Context) string {
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
func (s *Store) CreateUser(ctx context.Context, in coffer.UserInput) (*coffer.User, error) {
	var fields []coffer.FieldError
	email, key, ok := normalizeEmail(in.Email)
	if !ok {
		fields = append(fields, coffer.FieldError{Field: "email", Message: "must be a valid e-mail address"})
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) || strings.ContainsAny(name, "\r\n\x00") {
		fields = append(fields, coffer.FieldError{Field: "name", Message: "must be 1 to 200 characters on one line"})
	}
	if msg := auth.CheckPassword(in.Password); msg != "" {
		fields = append(fields, coffer.FieldError{Field: "password", Message: msg})
	}
	if len(fields) > 0 {
		return nil, coffer.Invalid("the account is not valid", fields...)
	}
	hash, err := auth.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, s.wrap("CreateUser", err)
	}
	now := s.now()
	u := &coffer.User{ID: coffer.NewID(coffer.PrefixUser), Email: email, Name: name, Operator: in.Operator, CreatedAt: fromMicros(now)}
	err = s.write(ctx, s.inst, "CreateUser", func(tx *wtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q("SELECT count(*) FROM "+s.inst.Prefix+"users WHERE email_key = ?"), key).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "an account with this e-mail already exists",
				Fields: []coffer.FieldError{{Field: "email", Message: "is already used by another account"}}}
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO "+s.inst.Prefix+"users (id, email, email_key, name, password_hash, operator, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			u.ID, email, key, name, hash, in.Operator, now, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CountUsers returns the number of accounts.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.inst.R.QueryRowContext(ctx, "SELECT count(*) FROM "+s.inst.Prefix+"users").Scan(&n)
	return n, s.wrap("CountUsers", err)
}

var errBadLogin = coffer.Errorf(coffer.EUNAUTHORIZED, "the e-mail or password is not correct")

// Login checks the credentials and opens a session. An unknown e-mail costs
// the same hashing work and gets the same answer as a wrong password.
func (s *Store) Login(ctx context.Context, email, password string) (*coffer.Session, error) {
	_, key, ok := normalizeEmail(email)
	if len(password) > auth.MaxPasswordBytes {
		ok = false
	}
	var u coffer.User
	var hash string
	var deactivated sql.NullInt64
	var created int64
	found := false
	if ok {
		err := s.inst.R.QueryRowContext(ctx, s.q("SELECT id, email, name, operator, password_hash, created_at, deactivated_at FROM "+s.inst.Prefix+"users WHERE email_key = ?"), key).
			Scan(&u.ID, &u.Email, &u.Name, &u.Operator, &hash, &created, &deactivated)
		switch {
		case err == nil:
			found = !deactivated.Valid
		case errors.Is(err, sql.ErrNoRows):
		default:
			return nil, s.wrap("Login", err)
		}
	}
	if !found {
		_, _ = auth.VerifyPassword(ctx, s.dummyHash(ctx), password)
		return nil, errBadLogin
	}
	match, err := auth.VerifyPassword(ctx, hash, password)
	if err != nil {
		return nil, s.wrap("Login", err)
	}
	if !match {
		return nil, errBadLogin
	}
	u.CreatedAt = fromMicros(created)
	token, tokenHash := auth.NewToken(SessionKeyPrefix)
	now := s.Now()
	sess := &coffer.Session{ID: coffer.NewID(coffer.PrefixSession), Key: token, ExpiresAt: now.Add(SessionLifetime), User: &u}
	err = s.write(ctx, s.inst, "Login", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO "+s.inst.Prefix+"sessions (id, key_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"),
			sess.ID, tokenHash, u.ID, now.UnixMicro(), sess.ExpiresAt.UnixMicro())
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

var errBadSession = coffer.Errorf(coffer.EUNAUTHORIZED, "the session key is not valid or has expired")

// sessionEntry is a cached session: the caller and when the session expires.
type sessionEntry struct {
	c       coffer.Caller
	expires int64
}

// Authenticate returns the caller behind a session key.
func (s *Store) Authenticate(ctx context.Context, key string) (*coffer.Caller, error) {
	if !strings.HasPrefix(key, SessionKeyPrefix) || len(key) > 100 {
		return nil, errBadSession
	}
	hash := auth.HashToken(key)
	now := s.Now()
	var e sessionEntry
	ok := false
	if !s.inst.Shared {
		e, ok = s.sessions.get(string(hash), now)
	}
	if !ok {
		var deactivated sql.NullInt64
		row, err := s.inst.queryRow(ctx, s.q("SELECT s.id, s.expires_at, u.id, u.email, u.name, u.operator, u.deactivated_at FROM "+
			s.inst.Prefix+"sessions s JOIN "+s.inst.Prefix+"users u ON u.id = s.user_id WHERE s.key_hash = ?"), hash)
		if err != nil {
			return nil, s.wrap("Authenticate", err)
		}
		err = row.Scan(&e.c.SessionID, &e.expires, &e.c.UserID, &e.c.Email, &e.c.Name, &e.c.Operator, &deactivated)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errBadSession
		}
		if err != nil {
			return nil, s.wrap("Authenticate", err)
		}
		if deactivated.Valid {
			return nil, errBadSession
		}
		if !s.inst.Shared {
			s.sessions.put(string(hash), e, now)
		}
	}
	if now.UnixMicro() >= e.expires {
		return nil, errBadSession
	}
	c := e.c
	return &c, nil
}

// Logout deletes the caller's session.
func (s *Store) Logout(ctx context.Context) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	err = s.write(ctx, s.inst, "Logout", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, s.q("DELETE FROM "+s.inst.Prefix+"sessions WHERE id = ?"), c.SessionID)
		return err
	})
	s.sessions.drop(func(_ string, e sessionEntry) bool { return e.c.SessionID == c.SessionID })
	return err
}
