package coffer

import (
	"context"
	"time"
)

// User is one person's account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Operator  bool      `json:"operator,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// UserInput describes an account to create. Password is only hashed, never stored.
type UserInput struct {
	Email    string
	Name     string
	Password string
	Operator bool
}

// Session is a login. Key is the secret bearer token: it is returned once, at
// login, and only its hash is stored.
type Session struct {
	ID        string    `json:"-"`
	Key       string    `json:"session_key"`
	ExpiresAt time.Time `json:"expires_at"`
	User      *User     `json:"user"`
	// Restriction, when set, says which step the session must finish first.
	Restriction string `json:"restriction,omitempty"`
	// Device is a device token: proof, at later logins, that this client
	// has signed in to the account before. Failed logins that carry it
	// count against this device alone, so others cannot lock it out.
	// Browsers get it as a cookie; API clients send it back in the
	// Coffer-Device header.
	Device string `json:"device_token,omitempty"`
}

// UserService manages accounts. It is used by the CLI and, later, by
// administrators.
type UserService interface {
	// CreateUser creates an account. EINVALID for a bad e-mail, name or a
	// password that breaks the policy; ECONFLICT for a taken e-mail.
	CreateUser(ctx context.Context, in UserInput) (*User, error)
	// CountUsers returns the number of accounts.
	CountUsers(ctx context.Context) (int, error)
}

// SetupService claims an empty instance (the first-run setup link; the
// link's token is checked by the caller, package firstrun).
type SetupService interface {
	// ClaimInstance creates the first account, an operator, and opens its
	// session, only when no account exists: decided in the transaction
	// that inserts. ESETUPDONE when an account exists; EINVALID for a bad
	// e-mail, name or a password that breaks the policy.
	ClaimInstance(ctx context.Context, in UserInput) (*Session, error)
}

// AuthService logs people in and authenticates requests.
type AuthService interface {
	// Login checks an e-mail and password. It opens a session, or returns a
	// challenge when the account has a second factor. EUNAUTHORIZED with
	// the same message whether the e-mail exists or not; ETOOMANY when the
	// account or the client's address is throttled.
	Login(ctx context.Context, email, password string) (*LoginResult, error)
	// SecondFactor answers a login challenge with a TOTP or recovery code
	// and opens the session. EUNAUTHORIZED for a wrong, used or expired
	// code or challenge.
	SecondFactor(ctx context.Context, challenge, method, code string) (*Session, error)
	// Authenticate returns the caller behind a session key. EUNAUTHORIZED.
	Authenticate(ctx context.Context, key string) (*Caller, error)
	// Logout ends the session of the caller in ctx.
	Logout(ctx context.Context) error
}

// SessionService lets people see and end their sessions and manage their
// API keys; organization admins may end those of their members.
type SessionService interface {
	// ListSessions lists the open sessions of a user: the caller's own, or a
	// member's for an admin of one of the user's organizations. ENOTFOUND.
	ListSessions(ctx context.Context, userID string) ([]*SessionInfo, error)
	// RevokeSession ends a session of the caller or, for an organization
	// admin, of a member. ENOTFOUND.
	RevokeSession(ctx context.Context, id string) error
	// RevokeOtherSessions ends every session of the caller but the current one.
	RevokeOtherSessions(ctx context.Context) (int, error)
	// CreateAPIKey creates a key for the caller; the answer holds the key
	// once. EINVALID for a bad name, scope or expiry; EFORBIDDEN when the
	// caller is itself an API key.
	CreateAPIKey(ctx context.Context, in APIKeyInput) (*APIKey, error)
	// ListAPIKeys lists a user's keys (the caller's, or a member's for an
	// organization admin). ENOTFOUND.
	ListAPIKeys(ctx context.Context, userID string) ([]*APIKey, error)
	// RevokeAPIKey deletes a key of the caller or, for an admin, of a member. ENOTFOUND.
	RevokeAPIKey(ctx context.Context, id string) error
}
