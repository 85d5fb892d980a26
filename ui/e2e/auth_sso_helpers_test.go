package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ssoTestOP is a minimal OpenID provider for the sign-in tests: discovery,
// keys, an authorize endpoint that approves at once as the person set
// with as, and a token endpoint that checks PKCE and signs an ID token.
type ssoTestOP struct {
	t     *testing.T
	srv   *httptest.Server
	key   *rsa.PrivateKey
	mu    sync.Mutex
	codes map[string]ssoOPCode
	email string
}

type ssoOPCode struct{ nonce, challenge, email string }

func startSSOTestOP(t *testing.T, clientID string) *ssoTestOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &ssoTestOP{t: t, key: key, codes: map[string]ssoOPCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": o.issuer(), "authorization_endpoint": o.issuer() + "/authorize", "token_endpoint": o.issuer() + "/token",
			"jwks_uri": o.issuer() + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &o.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := rand.Text()
		o.mu.Lock()
		o.codes[code] = ssoOPCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), email: o.email}
		o.mu.Unlock()
		ru, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return
		}
		ru.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		o.mu.Lock()
		c, ok := o.codes[r.Form.Get("code")]
		delete(o.codes, r.Form.Get("code"))
		o.mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		now := time.Now()
		claims := map[string]any{"iss": o.issuer(), "sub": "sub-" + c.email, "aud": clientID, "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "nonce": c.nonce, "email": c.email, "email_verified": true, "name": "Person " + c.email}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": o.sign(claims)})
	})
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *ssoTestOP) issuer() string { return o.srv.URL }

// as makes the next approvals sign in the person with this e-mail.
func (o *ssoTestOP) as(email string) {
	o.mu.Lock()
	o.email = email
	o.mu.Unlock()
}

func (o *ssoTestOP) sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: o.key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		o.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		o.t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		o.t.Fatal(err)
	}
	return s
}
