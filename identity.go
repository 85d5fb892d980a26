package coffer

import (
	"context"
	"time"
)

// Organization is a company account: its members, groups and policy.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Policy    Policy    `json:"policy"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Roles of a user in an organization.
const (
	OrgOwner  = "org-owner"
	OrgAdmin  = "org-admin"
	OrgMember = "member"
)

// Membership is a user's membership of an organization.
type Membership struct {
	User *User  `json:"user"`
	Role string `json:"role"`
}

// Group is a named set of members of one organization.
type Group struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"organization_id"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"` // user ids
	CreatedAt time.Time `json:"created_at"`
}

// Policy is an organization's rules for its members. Zero values mean the
// defaults; a user in several organizations follows the strictest rule of
// each (see Policy.Merge).
type Policy struct {
	// MinLength is the minimum password length in code points. 0 means the
	// default: 15, or 8 for an account with a second factor.
	MinLength     int  `json:"min_length,omitempty"`
	RequireLower  bool `json:"require_lower,omitempty"`
	RequireUpper  bool `json:"require_upper,omitempty"`
	RequireDigit  bool `json:"require_digit,omitempty"`
	RequireSymbol bool `json:"require_symbol,omitempty"`
	// History is how many previous passwords cannot be reused.
	History int `json:"password_history,omitempty"`
	// MaxAgeDays is a password's lifetime; after it the next login must
	// change the password. 0: passwords do not expire.
	MaxAgeDays int `json:"password_max_age_days,omitempty"`
	// Require2FA: members without a second factor can only enrol one.
	Require2FA bool `json:"require_2fa,omitempty"`
	// RequireSSO: members log in through one of the organization's OpenID
	// Connect providers only (operators excepted).
	RequireSSO bool `json:"require_sso,omitempty"`
	// SSODomains are e-mail domains whose people join the organization
	// just in time at their first SSO login.
	SSODomains []string `json:"sso_domains,omitempty"`
	// IdleTimeoutMinutes ends a session unused for that long (default 60).
	IdleTimeoutMinutes int `json:"idle_timeout_minutes,omitempty"`
	// AbsoluteTimeoutHours ends a session that long after login (default 24).
	AbsoluteTimeoutHours int `json:"absolute_timeout_hours,omitempty"`
	// RestrictSharing limits sharing of the organization's notebooks to its
	// own members.
	RestrictSharing bool `json:"restrict_sharing,omitempty"`
}

// Default session timeouts.
const (
	DefaultIdleTimeout     = time.Hour
	DefaultAbsoluteTimeout = 24 * time.Hour
)

// Merge returns the strictest combination of p and o.
func (p Policy) Merge(o Policy) Policy {
	minPos := func(a, b int) int {
		switch {
		case a == 0:
			return b
		case b == 0:
			return a
		}
		return min(a, b)
	}
	r := p
	r.MinLength = max(p.MinLength, o.MinLength)
	r.RequireLower = p.RequireLower || o.RequireLower
	r.RequireUpper = p.RequireUpper || o.RequireUpper
	r.RequireDigit = p.RequireDigit || o.RequireDigit
	r.RequireSymbol = p.RequireSymbol || o.RequireSymbol
	r.History = max(p.History, o.History)
	r.MaxAgeDays = minPos(p.MaxAgeDays, o.MaxAgeDays)
	r.Require2FA = p.Require2FA || o.Require2FA
	r.RequireSSO = p.RequireSSO || o.RequireSSO
	r.SSODomains = nil // per organization, never merged
	r.IdleTimeoutMinutes = minPos(p.IdleTimeoutMinutes, o.IdleTimeoutMinutes)
	r.AbsoluteTimeoutHours = minPos(p.AbsoluteTimeoutHours, o.AbsoluteTimeoutHours)
	r.RestrictSharing = p.RestrictSharing || o.RestrictSharing
	return r
}

// IdleTimeout returns the policy's idle timeout or the default.
func (p Policy) IdleTimeout() time.Duration {
	if p.IdleTimeoutMinutes > 0 {
		return time.Duration(p.IdleTimeoutMinutes) * time.Minute
	}
	return DefaultIdleTimeout
}

// AbsoluteTimeout returns the policy's absolute timeout or the default.
func (p Policy) AbsoluteTimeout() time.Duration {
	if p.AbsoluteTimeoutHours > 0 {
		return time.Duration(p.AbsoluteTimeoutHours) * time.Hour
	}
	return DefaultAbsoluteTimeout
}

// Restrictions of a session that must finish a step before anything else.
const (
	RestrictEnrol2FA       = "enrol_2fa"       // the organization requires 2FA and the user has none
	RestrictChangePassword = "change_password" // the password is older than the policy allows
)

// Second factors a login challenge may be answered with.
const (
	FactorTOTP     = "totp"
	FactorRecovery = "recovery_code"
	FactorPasskey  = "passkey"
)

// LoginResult is the outcome of a correct password: either a session, or a
// challenge to answer with a second factor. The session is embedded, so a
// finished login reads like a Session.
type LoginResult struct {
	*Session
	Challenge *Challenge
}

// Challenge is a half-finished login waiting for a second factor. Token is
// secret and single-use; it expires after a few minutes.
type Challenge struct {
	Token     string    `json:"challenge"`
	Methods   []string  `json:"methods"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SessionInfo describes a session for lists; it never holds the key.
type SessionInfo struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Method     string    `json:"method"` // password, sso, passkey
	MFA        bool      `json:"mfa"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

// APIKey is a long-lived key for integrations. Key is returned once, at
// creation; only its hash is stored.
type APIKey struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	ReadOnly   bool       `json:"read_only"`
	Notebooks  []string   `json:"notebooks"` // nil: every notebook of the user
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// APIKeyInput describes a key to create. ExpiresAt nil means no expiry.
type APIKeyInput struct {
	Name      string     `json:"name"`
	ReadOnly  bool       `json:"read_only"`
	Notebooks []string   `json:"notebooks"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// Event is a security-relevant fact for the audit log.
type Event struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	UserID string    `json:"user_id,omitempty"`
	Email  string    `json:"email,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Event kinds of authentication.
const (
	EventLoginSucceeded   = "login.succeeded"
	EventLoginFailed      = "login.failed"
	EventLoginThrottled   = "login.throttled"
	EventLoginLocked      = "login.locked"
	EventSecondFactorOK   = "login.second_factor"
	EventSecondFactorBad  = "login.second_factor_failed"
	EventLogout           = "logout"
	EventSessionRevoked   = "session.revoked"
	EventPasswordChanged  = "password.changed"
	EventResetRequested   = "password.reset_requested"
	EventResetAlert       = "password.reset_alert"
	EventPasswordReset    = "password.reset"
	EventMFAEnabled       = "mfa.enabled"
	EventMFADisabled      = "mfa.disabled"
	EventAPIKeyCreated    = "api_key.created"
	EventAPIKeyRevoked    = "api_key.revoked"
	EventUserCreated      = "user.created"
	EventInstanceClaimed  = "instance.claimed" // the first account, created through the setup link
	EventUserDeactivated  = "user.deactivated"
	EventUserReactivated  = "user.reactivated"
	EventSSOLogin         = "sso.login"
	EventSSOFailed        = "sso.failed"
	EventOrgChanged       = "org.changed"
	EventMembershipChange = "org.membership"
	EventSharingChanged   = "sharing.changed" // a notebook's members or grants
)

// Client describes where a request comes from, for throttling and audit.
type Client struct {
	IP        string
	UserAgent string
	// Device is the device token the client sent (a cookie or header set at
	// an earlier login; see Session.Device), or "".
	Device string
}

type clientKey struct{}

// WithClient returns a context that carries the request's client.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client carried by ctx, or the zero Client.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
