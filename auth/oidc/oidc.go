// Package oidc is Coffer's OpenID Connect relying party: provider discovery
// (cached per issuer), the authorization URL with state, nonce and PKCE
// (S256), the code exchange and the verification of the ID token.
//
// The protocol work is done by maintained libraries (github.com/coreos/go-oidc
// and golang.org/x/oauth2); this package fixes the choices that matter for
// security in one place:
//   - the issuer of the discovery document must be the configured one, and
//     the ID token's iss must be that issuer;
//   - aud must hold the client id (and azp, when there are several audiences);
//   - the signature is checked with the provider's JWKS, with asymmetric
//     algorithms only: never none, never HMAC with the client secret;
//   - the token must not be expired and its nonce must be the one sent;
//   - the e-mail is taken from the ID token, or from the UserInfo endpoint
//     whose sub must then equal the token's.
//
// Every HTTP call goes through one client with timeouts.
package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// SigningAlgs are the ID token signature algorithms accepted: asymmetric
// ones only. "none" and the HMAC algorithms are refused.
var SigningAlgs = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512,
	gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512,
	gooidc.EdDSA,
}

// DefaultScopes are requested when a provider names none.
var DefaultScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// DiscoveryTTL is how long a provider's discovery document is reused.
const DiscoveryTTL = 15 * time.Minute

// Provider is the configuration of one relying party registration.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // openid is always added
	RedirectURI  string
}

// Identity is what a verified ID token says about the person.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Error is a failed login step. Reason is short and safe to log (never a
// token); the wrapped error keeps the library's detail for debugging.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "oidc: " + e.Reason + ": " + e.Err.Error()
	}
	return "oidc: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func fail(reason string, err error) error { return &Error{Reason: reason, Err: err} }

// Client is a relying party for any number of providers. Its zero value is
// not usable: call New.
type Client struct {
	http *http.Client
	ttl  time.Duration
	// Now is the clock for token expiry and the discovery cache.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p   *gooidc.Provider
	at  time.Time
	err error
}

// New returns a Client that makes its HTTP calls with hc, or, when hc is
// nil, with a client that times out after 10 seconds and follows no
// redirects to other hosts' discovery documents.
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       90 * time.Second,
			},
		}
	}
	return &Client{http: hc, ttl: DiscoveryTTL, Now: time.Now, cache: map[string]cached{}}
}

// CheckIssuer validates an issuer URL: https (http only for loopback
// addresses, for development and tests), no query or fragment.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an absolute https URL without query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return errors.New("must use https")
}

// discover returns the provider of an issuer, from the cache when it was
// fetched less than the TTL ago. Failures are cached for a few seconds so
// a dead provider is not hammered.
func (c *Client) discover(ctx context.Context, issuer string) (*gooidc.Provider, error) {
	now := c.Now()
	c.mu.Lock()
	e, ok := c.cache[issuer]
	c.mu.Unlock()
	if ok && ((e.err == nil && now.Sub(e.at) < c.ttl) || (e.err != nil && now.Sub(e.at) < 5*time.Second)) {
		return e.p, e.err
	}
	// Discovery and the JWKS fetched later use this client; the context
	// only carries it (go-oidc ignores its cancellation for key fetches).
	dctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, c.http), 15*time.Second)
	defer cancel()
	p, err := gooidc.NewProvider(dctx, issuer)
	if err != nil {
		err = fail("discovery failed", err)
	}
	c.mu.Lock()
	c.cache[issuer] = cached{p: p, at: now, err: err}
	c.mu.Unlock()
	return p, err
}

// Forget drops an issuer from the discovery cache (after a provider's
// configuration changed).
func (c *Client) Forget(issuer string) {
	c.mu.Lock()
	delete(c.cache, issuer)
	c.mu.Unlock()
}

func (c *Client) config(p *gooidc.Provider, pc Provider) *oauth2.Config {
	scopes := []string{gooidc.ScopeOpenID}
	src := pc.Scopes
	if len(src) == 0 {
		src = DefaultScopes
	}
	for _, s := range src {
		if s != gooidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: pc.ClientID, ClientSecret: pc.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: pc.RedirectURI, Scopes: scopes}
}

// AuthURL returns the provider's authorization URL for one login attempt,
// carrying state, nonce and the S256 challenge of the PKCE verifier.
func (c *Client) AuthURL(ctx context.Context, pc Provider, state, nonce, verifier string) (string, error) {
	p, err := c.discover(ctx, pc.Issuer)
	if err != nil {
		return "", err
	}
	return c.config(p, pc).AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// NewVerifier returns a fresh PKCE code verifier.
func NewVerifier() string { return oauth2.GenerateVerifier() }

// Exchange trades an authorization code (with the PKCE verifier) for
// tokens, verifies the ID token (issuer, audience, signature, algorithm,
// expiry, nonce) and returns the identity it asserts.
func (c *Client) Exchange(ctx context.Context, pc Provider, code, verifier, nonce string) (*Identity, error) {
	p, err := c.discover(ctx, pc.Issuer)
	if err != nil {
		return nil, err
	}
	cfg := c.config(p, pc)
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.http), 15*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fail("code exchange failed", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fail("no ID token in the token response", nil)
	}
	v := p.Verifier(&gooidc.Config{ClientID: pc.ClientID, SupportedSigningAlgs: SigningAlgs, Now: c.Now})
	idt, err := v.Verify(xctx, raw)
	if err != nil {
		return nil, fail(verifyReason(err), err)
	}
	if len(idt.Audience) > 1 {
		// OIDC Core 3.1.3.7: with several audiences, azp must be us.
		var azp struct {
			AZP string `json:"azp"`
		}
		if err := idt.Claims(&azp); err != nil || azp.AZP != pc.ClientID {
			return nil, fail("wrong audience", errors.New("azp is not the client id"))
		}
	}
	if !equalHashed(idt.Nonce, nonce) {
		return nil, fail("nonce mismatch", nil)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, fail("bad ID token claims", err)
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: claims.Email, EmailVerified: truthy(claims.EmailVerified), Name: claims.Name}
	if id.Subject == "" {
		return nil, fail("no subject in the ID token", nil)
	}
	if id.Email == "" && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(xctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fail("userinfo failed", err)
		}
		if ui.Subject != id.Subject {
			return nil, fail("userinfo subject differs from the ID token's", nil)
		}
		var more struct {
			Name string `json:"name"`
		}
		_ = ui.Claims(&more)
		id.Email, id.EmailVerified = ui.Email, ui.EmailVerified
		if id.Name == "" {
			id.Name = more.Name
		}
	}
	return id, nil
}

// verifyReason names the rule an ID token broke, for the sso.failed event.
// go-oidc has typed errors for expiry only, so the others are told apart by
// its messages; this only words the event: the token is refused either way.
func verifyReason(err error) string {
	var exp *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "expired ID token"
	case strings.Contains(msg, "issued by a different provider"):
		return "wrong issuer"
	case strings.Contains(msg, "expected audience"):
		return "wrong audience"
	case strings.Contains(msg, "signing algorithm") || strings.Contains(msg, "malformed jwt"):
		return "refused signature algorithm or malformed token"
	case strings.Contains(msg, "signature"):
		return "bad signature"
	}
	return "ID token refused"
}

// equalHashed compares two secrets in constant time.
func equalHashed(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1 && a != ""
}

// truthy reads email_verified, which some providers send as a string.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// String describes the identity for logs: issuer and subject only.
func (id *Identity) String() string { return fmt.Sprintf("%s#%s", id.Issuer, id.Subject) }
