package storetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// SSO runs the single sign-on flow through the store on backend b: a
// provider is added to an organization (inserted directly: the
// organization API lives elsewhere), a login creates the account just in
// time, a second login finds it by issuer and subject, a replayed state is
// refused and a deleted provider is gone. The provider is a minimal one on
// 127.0.0.1; the API tests check every rule against a real one.
func SSO(t *testing.T, b store.Backend) {
	ctx := context.Background()
	s := all.New(b, keyring.ForTests())
	inst := b.Instance()
	op := startMiniOP(t, "s3cret")

	admin, err := s.CreateUser(ctx, coffer.UserInput{Email: "sso-admin@acme.test", Name: "Admin", Password: TestPassword})
	if err != nil {
		t.Fatal(err)
	}
	org := coffer.NewID(coffer.PrefixOrg)
	now := time.Now().UnixMicro()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO " + inst.Prefix + "organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			[]any{org, "Acme", `{"sso_domains":["acme.test"]}`, now, now}},
		{"INSERT INTO " + inst.Prefix + "org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
			[]any{org, admin.ID, coffer.OrgOwner, now}},
	} {
		if _, err := inst.W.ExecContext(ctx, b.Dialect().Rebind(q.sql), q.args...); err != nil {
			t.Fatal(err)
		}
	}
	adminCtx := coffer.WithCaller(ctx, &coffer.Caller{UserID: admin.ID, Email: admin.Email, SessionID: "ses_test"})
	p, err := s.CreateSSOProvider(adminCtx, org, coffer.SSOProviderInput{Name: "Mini", Issuer: op.URL, ClientID: "mini-client", ClientSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListSSOProviders(adminCtx, org); err != nil || len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("ListSSOProviders: %v %v", list, err)
	}

	login := func() (*coffer.Session, coffer.SSOCallback, error) {
		start, err := s.StartSSO(ctx, p.ID, "http://127.0.0.1:1/api/v1/auth/sso/callback")
		if err != nil {
			t.Fatal(err)
		}
		res, err := noFollow.Get(start.URL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		cb := coffer.SSOCallback{State: loc.Query().Get("state"), Code: loc.Query().Get("code"), Binding: start.Binding}
		sess, err := s.FinishSSO(ctx, cb)
		return sess, cb, err
	}
	sess, cb, err := login()
	if err != nil {
		t.Fatalf("FinishSSO: %v", err)
	}
	if sess.User.Email != "zoe@acme.test" {
		t.Fatalf("session for %v", sess.User)
	}
	if c, err := s.Authenticate(ctx, sess.Key); err != nil || c.UserID != sess.User.ID {
		t.Fatalf("Authenticate: %v %v", c, err)
	}
	if _, err := s.FinishSSO(ctx, cb); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Fatalf("replayed state: %v", err)
	}
	again, _, err := login()
	if err != nil || again.User.ID != sess.User.ID {
		t.Fatalf("second login: %v %v", again, err)
	}
	if err := s.DeleteSSOProvider(adminCtx, org, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartSSO(ctx, p.ID, "http://127.0.0.1:1/cb"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("StartSSO after delete: %v", err)
	}
}

var noFollow = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// startMiniOP starts an OpenID provider that approves every login as
// zoe@acme.test (subject "zoe") and signs with RS256. It does not check
// PKCE; the API tests' provider does. Its token endpoint wants the client
// secret clientSecret (HTTP basic or form), so a login proves the store
// kept and opened it right.
func startMiniOP(t *testing.T, clientSecret string) *httptest.Server {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	nonces := map[string]string{}
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize",
			"token_endpoint": srv.URL + "/token", "jwks_uri": srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		code := rand.Text()
		mu.Lock()
		nonces[code] = r.URL.Query().Get("nonce")
		mu.Unlock()
		ru, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		ru.RawQuery = url.Values{"code": {code}, "state": {r.URL.Query().Get("state")}}.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		} else {
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
		}
		if id != "mini-client" || secret != clientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		mu.Lock()
		nonce, ok := nonces[r.Form.Get("code")]
		delete(nonces, r.Form.Get("code"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
		claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "sub": "zoe", "aud": "mini-client", "exp": time.Now().Add(time.Hour).Unix(),
			"iat": time.Now().Unix(), "nonce": nonce, "email": "zoe@acme.test", "email_verified": true, "name": "Zoe"})
		obj, _ := signer.Sign(claims)
		tok, _ := obj.CompactSerialize()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": tok})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
