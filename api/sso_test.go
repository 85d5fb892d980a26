package api_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/auth/oidc/oidctest"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
)

// SSO tests: a real OpenID Connect provider (zitadel's op package, with
// its example in-memory storage) on 127.0.0.1 for the happy path, and a
// small hand-made provider serving crafted ID tokens for each rule an
// ID token or a callback can break.

const callbackPath = "/api/v1/auth/sso/callback"

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ---- organizations, inserted directly (the organization API is elsewhere)

func (e *Env) mustOrg(pol coffer.Policy) string {
	e.TB.Helper()
	id := coffer.NewID(coffer.PrefixOrg)
	raw, _ := json.Marshal(pol)
	now := time.Now().UnixMicro()
	e.exec("INSERT INTO "+e.DB.Prefix+"organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", id, "Acme", string(raw), now, now)
	return id
}

func (e *Env) mustMember(org, user, role string) {
	e.TB.Helper()
	e.exec("INSERT INTO "+e.DB.Prefix+"org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)", org, user, role, time.Now().UnixMicro())
}

// ssoFixture is an organization with an admin and one provider.
type ssoFixture struct {
	env      *Env
	org      string
	adminKey string
}

func newSSOFixture(t *testing.T, pol coffer.Policy) *ssoFixture {
	env := MustEnv(t)
	org := env.mustOrg(pol)
	admin := env.MustUser("admin@acme.test", "Admin")
	env.mustMember(org, admin.ID, coffer.OrgOwner)
	return &ssoFixture{env: env, org: org, adminKey: env.MustLogin("admin@acme.test")}
}

func (f *ssoFixture) addProvider(name, issuer, clientID, secret string) string {
	f.env.TB.Helper()
	r := f.env.Do("POST", "/api/v1/organizations/"+f.org+"/sso-providers", f.adminKey,
		map[string]any{"name": name, "issuer": issuer, "client_id": clientID, "client_secret": secret})
	r.WantStatus(http.StatusCreated)
	if strings.Contains(string(r.Body), secret) {
		f.env.TB.Fatalf("the provider's answer holds the client secret: %s", r.Body)
	}
	var p coffer.SSOProvider
	r.JSON(&p)
	return p.ID
}

// ---- the login flow as a browser does it

// ssoStart starts a login and returns the provider's URL and the binding cookie.
func ssoStart(t *testing.T, env *Env, provider string) (string, *http.Cookie) {
	t.Helper()
	res, err := noRedirect.Get(env.URL + "/api/v1/auth/sso/" + provider + "/start")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("start: %d %s", res.StatusCode, body)
	}
	var binding *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == api.SSOCookie {
			binding = c
		}
	}
	if binding == nil || !binding.Secure || !binding.HttpOnly || binding.SameSite != http.SameSiteLaxMode {
		t.Fatalf("start: binding cookie missing or weak: %v", res.Header.Values("Set-Cookie"))
	}
	return res.Header.Get("Location"), binding
}

// followToCallback follows the provider's redirects until it sends the
// browser to Coffer's callback, and returns that URL.
func followToCallback(t *testing.T, env *Env, u string) string {
	t.Helper()
	for range 10 {
		if strings.HasPrefix(u, env.URL+callbackPath) {
			return u
		}
		res, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET %s: %d %s", u, res.StatusCode, body)
		}
		next, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		u = next.String()
	}
	t.Fatal("too many redirects")
	return ""
}

// callback calls Coffer's callback URL like a browser (with the binding
// cookie unless nil) asking for JSON.
func callback(t *testing.T, env *Env, u string, binding *http.Cookie) *Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "application/json")
	if binding != nil {
		req.AddCookie(&http.Cookie{Name: binding.Name, Value: binding.Value})
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &Response{TB: t, Method: "GET", Path: callbackPath, Status: res.StatusCode, Header: res.Header, Body: body}
}

// ssoLogin runs the whole flow and returns the callback's answer.
func ssoLogin(t *testing.T, env *Env, provider string) *Response {
	t.Helper()
	u, binding := ssoStart(t, env, provider)
	return callback(t, env, followToCallback(t, env, u), binding)
}

// sessionOf checks a successful callback and returns the session's user
// as seen by /api/v1/auth/me.
func sessionOf(t *testing.T, env *Env, r *Response) (key string, me map[string]any) {
	t.Helper()
	r.WantStatus(http.StatusOK)
	var s coffer.Session
	r.JSON(&s)
	if !strings.HasPrefix(s.Key, "cfs_") {
		t.Fatalf("callback: no session key: %s", r.Body)
	}
	return s.Key, env.Do("GET", "/api/v1/auth/me", s.Key, nil).WantStatus(http.StatusOK).Map()
}

func lastEvent(t *testing.T, env *Env, kind string) *coffer.Event {
	t.Helper()
	evs, err := env.Store.Events(context.Background(), "", 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == kind {
			return e
		}
	}
	t.Fatalf("no %s event", kind)
	return nil
}

// ---- the real provider

// testUsers is the zitadel example's user store with the test's people.
type testUsers struct {
	mu    sync.Mutex
	users map[string]*storage.User
}

func (u *testUsers) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.users {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (u *testUsers) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[name]
}

func (u *testUsers) ExampleClientID() string { return "service" }

// realOP is a zitadel OpenID Provider on 127.0.0.1. Its login page logs in
// whoever `who` names, without a form.
type realOP struct {
	issuer string
	mu     sync.Mutex
	who    string
	users  *testUsers
}

func (o *realOP) loginAs(username string) {
	o.mu.Lock()
	o.who = username
	o.mu.Unlock()
}

func startRealOP(t *testing.T, redirectURI, clientID, secret string, people ...*storage.User) *realOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &realOP{issuer: "http://" + ln.Addr().String(), users: &testUsers{users: map[string]*storage.User{}}}
	for _, p := range people {
		p.Password = "op-password"
		p.PreferredLanguage = language.English
		o.users.users[p.Username] = p
	}
	st := storage.NewStorageWithClients(o.users, map[string]*storage.Client{clientID: storage.WebClient(clientID, secret, redirectURI)})
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("test op key")), CodeMethodS256: true, AuthMethodPost: true},
		st, op.StaticIssuer(o.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	login := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		o.mu.Lock()
		who := o.who
		o.mu.Unlock()
		if err := st.CheckUsernamePassword(who, "op-password", id); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(r.Context(), id), http.StatusFound)
	})
	mux.Handle("/login/username", login)
	mux.Handle("/", provider)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

func TestSSOEndToEndWithRealProvider(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
	env := f.env
	op := startRealOP(t, env.URL+callbackPath, "coffer-web", "op-client-secret",
		&storage.User{ID: "sub-ada", Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@acme.test", EmailVerified: true},
		&storage.User{ID: "sub-eve", Username: "eve", FirstName: "Eve", LastName: "Other", Email: "eve@other.test", EmailVerified: true},
		&storage.User{ID: "sub-uma", Username: "uma", FirstName: "Uma", LastName: "Unverified", Email: "uma@acme.test", EmailVerified: false},
	)
	prov := f.addProvider("Acme IdP", op.issuer, "coffer-web", "op-client-secret")

	// First login: the account is created just in time, as a member.
	op.loginAs("ada")
	key, me := sessionOf(t, env, ssoLogin(t, env, prov))
	if me["email"] != "ada@acme.test" {
		t.Fatalf("me = %v", me)
	}
	uid := me["id"].(string)
	var role string
	if err := env.DB.R.QueryRow("SELECT role FROM "+env.DB.Prefix+"org_members WHERE org_id = ? AND user_id = ?", f.org, uid).Scan(&role); err != nil || role != coffer.OrgMember {
		t.Fatalf("membership: %q %v", role, err)
	}
	if e := lastEvent(t, env, coffer.EventSSOLogin); e.UserID != uid {
		t.Fatalf("sso.login event for %q, want %q", e.UserID, uid)
	}
	env.Do("POST", "/api/v1/auth/logout", key, nil).WantStatus(http.StatusNoContent)

	// Second login: the same account, found by (issuer, subject).
	_, me2 := sessionOf(t, env, ssoLogin(t, env, prov))
	if me2["id"] != uid {
		t.Fatalf("second login: user %v, want %v", me2["id"], uid)
	}
	n, _ := env.Store.CountUsers(context.Background())
	if n != 2 {
		t.Fatalf("%d accounts, want 2 (admin and ada)", n)
	}

	// A browser (no Accept: JSON) gets the cookie and a redirect home.
	u, binding := ssoStart(t, env, prov)
	req, _ := http.NewRequest("GET", followToCallback(t, env, u), nil)
	req.AddCookie(&http.Cookie{Name: binding.Name, Value: binding.Value})
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != env.URL+"/" {
		t.Fatalf("browser callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var sessCookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == api.SessionCookie {
			sessCookie = c
		}
	}
	if sessCookie == nil || !sessCookie.Secure || !sessCookie.HttpOnly {
		t.Fatalf("browser callback: no session cookie: %v", res.Header.Values("Set-Cookie"))
	}

	// No just-in-time account for a domain the organization did not allow,
	// nor for an e-mail the provider has not verified.
	op.loginAs("eve")
	ssoLogin(t, env, prov).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	op.loginAs("uma")
	ssoLogin(t, env, prov).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	if n, _ := env.Store.CountUsers(context.Background()); n != 2 {
		t.Fatalf("%d accounts after refused logins, want 2", n)
	}
	if e := lastEvent(t, env, coffer.EventSSOFailed); !strings.Contains(e.Detail, "not verified") {
		t.Fatalf("sso.failed detail %q", e.Detail)
	}

	// A deactivated account is refused.
	env.exec("UPDATE "+env.DB.Prefix+"users SET deactivated_at = ? WHERE id = ?", time.Now().UnixMicro(), uid)
	op.loginAs("ada")
	ssoLogin(t, env, prov).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	if e := lastEvent(t, env, coffer.EventSSOFailed); !strings.Contains(e.Detail, "deactivated") {
		t.Fatalf("sso.failed detail %q", e.Detail)
	}

	// Tokens never reach the logs.
	env.Close()
	if strings.Contains(env.Logs.String(), "cfo_") || strings.Contains(env.Logs.String(), "code=") {
		t.Fatalf("logs hold login state or codes: %s", env.Logs.String())
	}
}

// ---- the hand-made provider for malicious tokens

func TestSSORefusesBadTokens(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := func(claims map[string]any) string {
		enc := base64.RawURLEncoding
		h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
		p, _ := json.Marshal(claims)
		return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "."
	}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		mint   func(o *oidctest.Provider, nonce string) string
		reason string
	}{
		{name: "wrong issuer", claims: map[string]any{"iss": "http://127.0.0.1:1/other"}, reason: "wrong issuer"},
		{name: "wrong audience", claims: map[string]any{"aud": "another-client"}, reason: "wrong audience"},
		{name: "several audiences without azp", claims: map[string]any{"aud": []string{"fake-client", "another-client"}}, reason: "wrong audience"},
		{name: "bad signature", mint: func(o *oidctest.Provider, nonce string) string {
			return o.Sign(other, jose.RS256, o.DefaultClaims(nonce))
		}, reason: "signature"},
		{name: "alg none", mint: func(o *oidctest.Provider, nonce string) string { return unsigned(o.DefaultClaims(nonce)) }, reason: "algorithm"},
		{name: "wrong nonce", claims: map[string]any{"nonce": "not-the-nonce"}, reason: "nonce"},
		{name: "no nonce", claims: map[string]any{"nonce": ""}, reason: "nonce"},
		{name: "expired token", claims: map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}, reason: "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
			o := oidctest.Start(t, "fake-client")
			o.SetClaims(tc.claims)
			if tc.mint != nil {
				o.Mint = tc.mint
			}
			prov := f.addProvider("Fake", o.Issuer(), "fake-client", "s3cret")
			ssoLogin(t, f.env, prov).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
			if e := lastEvent(t, f.env, coffer.EventSSOFailed); !strings.Contains(e.Detail, tc.reason) {
				t.Errorf("sso.failed detail %q, want it to name %q", e.Detail, tc.reason)
			}
			if n, _ := f.env.Store.CountUsers(context.Background()); n != 1 {
				t.Errorf("%d accounts, want only the admin", n)
			}
		})
	}
}

func TestSSOStateRules(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
	env := f.env
	o := oidctest.Start(t, "fake-client")
	prov := f.addProvider("Fake", o.Issuer(), "fake-client", "s3cret")

	// The fake provider works, so the refusals below are meaningful; and
	// the code exchange carried a PKCE verifier matching the S256 challenge.
	u, binding := ssoStart(t, env, prov)
	cb := followToCallback(t, env, u)
	sessionOf(t, env, callback(t, env, cb, binding))
	if !o.PKCEChecked() {
		t.Fatal("the token request did not prove PKCE")
	}

	t.Run("replayed state", func(t *testing.T) {
		callback(t, env, cb, binding).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
	t.Run("unknown state", func(t *testing.T) {
		callback(t, env, env.URL+callbackPath+"?state=cfo_forged&code=x", binding).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
	t.Run("no binding cookie", func(t *testing.T) {
		u, _ := ssoStart(t, env, prov)
		callback(t, env, followToCallback(t, env, u), nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
	t.Run("another login's binding cookie", func(t *testing.T) {
		u, _ := ssoStart(t, env, prov)
		_, other := ssoStart(t, env, prov)
		callback(t, env, followToCallback(t, env, u), other).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
	t.Run("expired state", func(t *testing.T) {
		u, binding := ssoStart(t, env, prov)
		cb := followToCallback(t, env, u)
		env.Clock.Advance(coffer.SSOStateLifetime + time.Second)
		defer env.Clock.Advance(-coffer.SSOStateLifetime - time.Second)
		callback(t, env, cb, binding).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
		if e := lastEvent(t, env, coffer.EventSSOFailed); !strings.Contains(e.Detail, "expired login state") {
			t.Errorf("sso.failed detail %q", e.Detail)
		}
	})
	t.Run("provider error", func(t *testing.T) {
		u, binding := ssoStart(t, env, prov)
		loc, _ := url.Parse(u)
		cb := env.URL + callbackPath + "?" + url.Values{"state": {loc.Query().Get("state")}, "error": {"access_denied"}}.Encode()
		callback(t, env, cb, binding).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	})
	t.Run("unknown provider", func(t *testing.T) {
		env.Do("GET", "/api/v1/auth/sso/idp_00000000000000000000000000/start", "", nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	})
}

// An identity from a second provider with the same e-mail is not linked to
// the existing account: the login is refused until the account's owner
// links it, logged in.
func TestSSOEmailCollisionAndLink(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
	env := f.env
	a, b := oidctest.Start(t, "fake-client"), oidctest.Start(t, "fake-client")
	provA := f.addProvider("A", a.Issuer(), "fake-client", "s3cret")
	provB := f.addProvider("B", b.Issuer(), "fake-client", "s3cret")

	_, me := sessionOf(t, env, ssoLogin(t, env, provA)) // zoe@acme.test, created just in time
	zoe := me["id"].(string)
	b.SetClaims(map[string]any{"sub": "someone-else"}) // same e-mail, another issuer and subject
	p := ssoLogin(t, env, provB).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	if !strings.Contains(p.Detail, "link") {
		t.Errorf("detail %q does not say how to link", p.Detail)
	}
	if e := lastEvent(t, env, coffer.EventSSOFailed); !strings.Contains(e.Detail, "collision") || e.UserID != zoe {
		t.Errorf("sso.failed event %+v", e)
	}

	// A password account meets an identity with its e-mail: refused too.
	carol := env.MustUser("carol@acme.test", "Carol")
	b.SetClaims(map[string]any{"sub": "carol-at-b", "email": "carol@acme.test"})
	ssoLogin(t, env, provB).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)

	// Carol logs in with her password and links provider B herself.
	key := env.MustLogin("carol@acme.test")
	env.Do("POST", "/api/v1/auth/sso/"+provB+"/link", "", nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	r := env.Do("POST", "/api/v1/auth/sso/"+provB+"/link", key, nil, "Accept", "application/json").WantStatus(http.StatusOK)
	var start struct {
		URL string `json:"url"`
	}
	r.JSON(&start)
	var binding *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == api.SSOCookie {
			binding = c
		}
	}
	if start.URL == "" || binding == nil {
		t.Fatalf("link: %s %v", r.Body, r.Header)
	}
	_, me = sessionOf(t, env, callback(t, env, followToCallback(t, env, start.URL), binding))
	if me["id"] != carol.ID {
		t.Fatalf("link: session for %v, want %v", me["id"], carol.ID)
	}
	lastEvent(t, env, coffer.EventSSOLinked)
	// From now on provider B logs Carol in.
	if _, me = sessionOf(t, env, ssoLogin(t, env, provB)); me["id"] != carol.ID {
		t.Fatalf("after link: %v, want %v", me["id"], carol.ID)
	}
	// Zoe cannot link Carol's identity to her account.
	zoeKey, _ := sessionOf(t, env, ssoLogin(t, env, provA))
	r = env.Do("POST", "/api/v1/auth/sso/"+provB+"/link", zoeKey, nil, "Accept", "application/json").WantStatus(http.StatusOK)
	r.JSON(&start)
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == api.SSOCookie {
			binding = c
		}
	}
	callback(t, env, followToCallback(t, env, start.URL), binding).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}

func TestSSOProviderAdmin(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{})
	env := f.env
	member := env.MustUser("member@acme.test", "Member")
	env.mustMember(f.org, member.ID, coffer.OrgMember)
	env.MustUser("stranger@elsewhere.test", "Stranger")
	memberKey, strangerKey := env.MustLogin("member@acme.test"), env.MustLogin("stranger@elsewhere.test")
	path := "/api/v1/organizations/" + f.org + "/sso-providers"
	body := map[string]any{"name": "Okta", "issuer": "https://acme.okta.com", "client_id": "0oa1", "client_secret": "very-secret-value"}

	env.Do("POST", path, memberKey, body).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	env.Do("POST", path, strangerKey, body).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	env.Do("GET", path, strangerKey, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	p := env.Do("POST", path, f.adminKey, map[string]any{"name": "Bad", "issuer": "http://idp.example.com", "client_id": ""}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if got := strings.Join(p.fieldNames(), ","); got != "issuer,client_id" {
		t.Errorf("invalid fields %q", got)
	}
	id := f.addProvider("Okta", "https://acme.okta.com", "0oa1", "very-secret-value")
	env.Do("POST", path, f.adminKey, body).WantProblem(http.StatusConflict, coffer.ECONFLICT)

	r := env.Do("GET", path, f.adminKey, nil).WantStatus(http.StatusOK)
	if strings.Contains(string(r.Body), "very-secret-value") {
		t.Fatalf("the list holds the client secret: %s", r.Body)
	}
	var list struct {
		Providers   []coffer.SSOProvider `json:"sso_providers"`
		RedirectURI string               `json:"redirect_uri"`
	}
	r.JSON(&list)
	if len(list.Providers) != 1 || list.Providers[0].ID != id || list.RedirectURI != env.URL+callbackPath ||
		strings.Join(list.Providers[0].Scopes, " ") != "openid email profile" {
		t.Fatalf("list: %s", r.Body)
	}
	env.Do("DELETE", path+"/"+id, memberKey, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	env.Do("DELETE", path+"/"+id, f.adminKey, nil).WantStatus(http.StatusNoContent)
	env.Do("DELETE", path+"/"+id, f.adminKey, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	env.Do("GET", "/api/v1/auth/sso/"+id+"/start", "", nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// An organization that requires SSO refuses its members' passwords.
func TestSSORequiredRefusesPasswordLogin(t *testing.T) {
	env := MustEnv(t)
	org := env.mustOrg(coffer.Policy{RequireSSO: true})
	u := env.MustUser("dan@acme.test", "Dan")
	env.MustLogin("dan@acme.test") // not a member yet
	env.mustMember(org, u.ID, coffer.OrgMember)
	env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "dan@acme.test", "password": testPassword}).
		WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
}
