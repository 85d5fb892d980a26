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

// AuthService logs people in and authenticates requests.
type AuthService interface {
	// Login checks an e-mail and password and opens a session.
	// EUNAUTHORIZED with the same message whether the e-mail exists or not.
	Login(ctx context.Context, email, password string) (*Session, error)
	// Authenticate returns the caller behind a session key. EUNAUTHORIZED.
	Authenticate(ctx context.Context, key string) (*Caller, error)
	// Logout ends the session of the caller in ctx.
	Logout(ctx context.Context) error
}
