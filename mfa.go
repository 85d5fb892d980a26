package coffer

import (
	"context"
	"encoding/json"
	"time"
)

// TOTPEnrolment is a new TOTP secret waiting for its first code. It is shown
// once: the secret for typing, the otpauth URI and the same URI as a QR code
// (a PNG data URL) for scanning.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRCode string `json:"qr_code"`
}

// Passkey describes a registered passkey. It never holds key material.
type Passkey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// MFAStatus says which second factors a user has enrolled.
type MFAStatus struct {
	TOTP          bool `json:"totp"`
	Passkeys      int  `json:"passkeys"`
	RecoveryCodes int  `json:"recovery_codes"` // unused ones left
}

// RecoveryCodeCount is the number of recovery codes made at a time.
const RecoveryCodeCount = 10

// Event kinds of second factors besides EventMFAEnabled and EventMFADisabled.
const (
	EventRecoveryCodes = "mfa.recovery_codes" // recovery codes were replaced
)

// MFAService enrols and removes second factors (TOTP, passkeys, recovery
// codes) and logs in with passkeys. Enrolment methods act on the caller's own
// account, are open to a session restricted to enrolling a second factor,
// and need the current password where they change an enrolled factor
// (EUNAUTHORIZED for a wrong password, ETOOMANY after repeated wrong
// passwords or codes). Every change is an audit event.
type MFAService interface {
	// PasskeysOn reports whether passkeys work on this server (they need
	// a public URL with a host name).
	PasskeysOn() bool
	// MFAStatus returns the caller's enrolled factors.
	MFAStatus(ctx context.Context) (*MFAStatus, error)
	// BeginTOTP makes a new, unconfirmed TOTP secret for the caller.
	// ECONFLICT when TOTP is already enabled.
	BeginTOTP(ctx context.Context, password string) (*TOTPEnrolment, error)
	// ConfirmTOTP enables the pending TOTP secret with a first code. When it
	// is the account's first factor it returns new recovery codes (once).
	// EINVALID for a wrong code; ENOTFOUND when no enrolment is pending.
	ConfirmTOTP(ctx context.Context, code string) (recoveryCodes []string, err error)
	// DisableTOTP removes TOTP; it needs the password and a TOTP or
	// recovery code. EFORBIDDEN when the organization requires 2FA and it
	// is the last factor.
	DisableTOTP(ctx context.Context, password, code string) error
	// RegenerateRecoveryCodes replaces the caller's recovery codes. EINVALID
	// when the account has no second factor.
	RegenerateRecoveryCodes(ctx context.Context, password string) ([]string, error)

	// BeginPasskeyRegistration returns the WebAuthn creation options
	// (PublicKeyCredentialCreationOptions) for a new passkey of the caller;
	// user verification is required.
	BeginPasskeyRegistration(ctx context.Context, password string) (json.RawMessage, error)
	// FinishPasskeyRegistration checks the authenticator's answer (a
	// PublicKeyCredential in JSON) and stores the passkey. When it is the
	// account's first factor it returns new recovery codes (once).
	// EINVALID for an answer that does not verify.
	FinishPasskeyRegistration(ctx context.Context, name string, credential []byte) (*Passkey, []string, error)
	// ListPasskeys lists the caller's passkeys.
	ListPasskeys(ctx context.Context) ([]*Passkey, error)
	// DeletePasskey removes one of the caller's passkeys. ENOTFOUND;
	// EFORBIDDEN when the organization requires 2FA and it is the last factor.
	DeletePasskey(ctx context.Context, id, password string) error
	// BeginPasskeyLogin returns WebAuthn request options
	// (PublicKeyCredentialRequestOptions). With challenge (from a password
	// login) the passkey answers that challenge as a second factor;
	// without, any discoverable passkey logs in without a password.
	BeginPasskeyLogin(ctx context.Context, challenge string) (json.RawMessage, error)
	// FinishPasskeyLogin checks an assertion (with user verification) and
	// opens a session with mfa set. EUNAUTHORIZED when it does not verify.
	FinishPasskeyLogin(ctx context.Context, challenge string, credential []byte) (*Session, error)
}
