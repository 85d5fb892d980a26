// Package oidctest is a minimal OpenID Connect provider for tests, started
// on loopback: discovery, keys, an authorize endpoint that approves at
// once, and a token endpoint that checks PKCE (S256) and answers an ID
// token signed with the provider's RSA key. The claims of that token are
// the defaults of DefaultClaims with the overrides given to SetClaims, or
// whatever Mint makes (for tests of bad tokens).
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Provider is a running test provider.
type Provider struct {
	t        testing.TB
	srv      *httptest.Server
	clientID string
	// Key signs the ID tokens; its public half is served as the JWKS.
	Key *rsa.PrivateKey
	// Mint makes the ID token for a nonce; set it before a login to hand
	// out a bad token. The default signs DefaultClaims with Key (RS256).
	Mint func(p *Provider, nonce string) string

	mu        sync.Mutex
	codes     map[string]code
	overrides map[string]any
	pkceOK    bool
}

type code struct{ nonce, challenge, method string }

// Start starts a provider for clientID (the ID token's audience) and stops
// it at the end of the test.
func Start(t testing.TB, clientID string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{t: t, clientID: clientID, Key: key, codes: map[string]code{}}
	p.Mint = func(p *Provider, nonce string) string { return p.Sign(p.Key, jose.RS256, p.DefaultClaims(nonce)) }
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.Issuer(), "authorization_endpoint": p.Issuer() + "/authorize", "token_endpoint": p.Issuer() + "/token",
			"jwks_uri": p.Issuer() + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.Key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	p.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(p.srv.Close)
	return p
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := rand.Text()
	p.mu.Lock()
	p.codes[c] = code{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	p.mu.Unlock()
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	ru.RawQuery = url.Values{"code": {c}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	p.mu.Lock()
	c, ok := p.codes[r.Form.Get("code")]
	delete(p.codes, r.Form.Get("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
	w.Header().Set("Content-Type", "application/json")
	if !ok || c.method != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	p.mu.Lock()
	p.pkceOK = true
	mint := p.Mint
	p.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": mint(p, c.nonce)})
}

// Issuer is the provider's issuer URL (http://127.0.0.1:port).
func (p *Provider) Issuer() string { return p.srv.URL }

// SetClaims replaces the overrides of the default claims (nil: none).
func (p *Provider) SetClaims(overrides map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overrides = maps.Clone(overrides)
}

// DefaultClaims are the claims of a good ID token for nonce (subject
// sub-1, zoe@acme.test, verified), with the overrides of SetClaims.
func (p *Provider) DefaultClaims(nonce string) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": p.Issuer(), "sub": "sub-1", "aud": p.clientID, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"nonce": nonce, "email": "zoe@acme.test", "email_verified": true, "name": "Zoe"}
	p.mu.Lock()
	defer p.mu.Unlock()
	maps.Copy(c, p.overrides)
	return c
}

// PKCEChecked reports whether a token request passed the PKCE check.
func (p *Provider) PKCEChecked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pkceOK
}

// Sign makes a signed JWT of claims with key and alg.
func (p *Provider) Sign(key *rsa.PrivateKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}
