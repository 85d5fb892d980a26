package coffer

import (
	"context"
	"time"
)

// ResetLifetime is how long a password reset link works.
const ResetLifetime = 30 * time.Minute

// ResetTicket is a password reset issued for an account: what the message
// to the account's owner needs. Token is the secret of the link; it goes
// only into that message, never into an HTTP response or a log.
type ResetTicket struct {
	UserID    string
	Email     string
	Name      string
	Token     string
	ExpiresAt time.Time
}

// PasswordResetService lets people who forgot their password set a new one
// through a link sent to their e-mail address. Nobody needs to be logged
// in to call it.
type PasswordResetService interface {
	// RequestPasswordReset sends a reset link to email when an active
	// account uses it. It answers alike whether or not one does (no account
	// enumeration): nil, or ETOOMANY when the client's address asked too
	// often.
	RequestPasswordReset(ctx context.Context, email string) error
	// ResetPassword sets a new password with the token of a reset link.
	// The token works once, for ResetLifetime. Every session of the account
	// ends; its second factors stay, and nobody is logged in. EINVALID for
	// an unknown, used or expired token or a password that breaks the
	// policy; ETOOMANY after too many bad tokens from one address.
	ResetPassword(ctx context.Context, token, password string) error
}

// PasswordResetStore is the storage side of password resets: it issues the
// tickets that a PasswordResetService sends by e-mail.
type PasswordResetStore interface {
	// RequestPasswordReset records a reset request for email and returns a
	// ticket to send, or nil when there is nothing to send (no active
	// account uses the address, or it got enough links lately). The error
	// does not depend on whether the account exists.
	RequestPasswordReset(ctx context.Context, email string) (*ResetTicket, error)
	// ResetPassword is PasswordResetService.ResetPassword.
	ResetPassword(ctx context.Context, token, password string) error
}
