package coffer

import (
	"context"
	"time"
)

// PrefixSSOProvider starts the ids of single sign-on providers.
const PrefixSSOProvider = "idp_"

// EventSSOLinked is recorded when a logged-in user links an identity of a
// provider to their account.
const EventSSOLinked = "sso.linked"

// SSOStateLifetime bounds the time between the start of a single sign-on
// login and the provider's callback.
const SSOStateLifetime = 10 * time.Minute

// SSOProvider is an OpenID Connect provider of an organization. Its client
// secret is write-only: it is never returned.
type SSOProvider struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"organization_id"`
	Name      string    `json:"name"`
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
}

// SSOProviderInput describes a provider to add to an organization.
type SSOProviderInput struct {
	Name         string   `json:"name"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
}

// SSOStart is a single sign-on login in progress: the provider's
// authorization URL to send the browser to, and a binding secret that the
// browser must present at the callback (kept in a cookie), so a login
// started by one browser cannot be finished by another.
type SSOStart struct {
	URL       string
	Binding   string
	ExpiresAt time.Time
}

// SSOService logs people in through their organization's OpenID Connect
// providers and lets organization admins manage those providers.
type SSOService interface {
	// CreateSSOProvider adds a provider to an organization. Owners and
	// admins of the organization and operators only: EFORBIDDEN for other
	// members, ENOTFOUND for everyone else; EINVALID for a bad issuer,
	// client id or name; ECONFLICT for a taken name.
	CreateSSOProvider(ctx context.Context, orgID string, in SSOProviderInput) (*SSOProvider, error)
	// ListSSOProviders lists an organization's providers, without secrets.
	// Same rights as CreateSSOProvider.
	ListSSOProviders(ctx context.Context, orgID string) ([]*SSOProvider, error)
	// DeleteSSOProvider removes a provider and the identities linked
	// through it. Same rights; ENOTFOUND for an unknown provider.
	DeleteSSOProvider(ctx context.Context, orgID, providerID string) error
	// StartSSO starts a login with a provider: it stores the state, nonce
	// and PKCE verifier and returns the authorization URL. redirectURI is
	// Coffer's callback URL registered at the provider. ENOTFOUND for an
	// unknown provider; EUNAVAILABLE when the provider cannot be reached.
	StartSSO(ctx context.Context, providerID, redirectURI string) (*SSOStart, error)
	// StartSSOLink is StartSSO for the logged-in caller who wants to link
	// the provider's identity to their account. EUNAUTHORIZED without a
	// session (API keys cannot link).
	StartSSOLink(ctx context.Context, providerID, redirectURI string) (*SSOStart, error)
	// FinishSSO finishes a login at the provider's callback: it consumes
	// the state (single use, expiring), exchanges the code, verifies the
	// ID token and opens a session for the account linked to the token's
	// issuer and subject, creating it just in time for a verified e-mail
	// of one of the organization's domains. EUNAUTHORIZED for every
	// refusal (the reason is in the sso.failed event); EFORBIDDEN when an
	// account with the same e-mail exists but is not linked.
	FinishSSO(ctx context.Context, cb SSOCallback) (*Session, error)
	// SignInProviders lists every provider as a sign-in page shows it, to
	// anyone: id and name, and the organization's name only when several
	// organizations have providers (to tell the buttons apart).
	SignInProviders(ctx context.Context) ([]SignInProvider, error)
}

// SignInProvider is a provider's button on the sign-in page: nothing
// about its configuration (issuer, client id) or its organization's
// domains, members or policy.
type SignInProvider struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Organization string `json:"organization,omitempty"`
}

// SSOCallback is what the provider's redirect brings back: the state and
// either a code or an error, plus the browser's binding cookie.
type SSOCallback struct {
	State   string
	Code    string
	Error   string // the provider's error code (e.g. access_denied)
	Binding string
}
