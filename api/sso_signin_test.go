package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/auth/oidc/oidctest"

	"github.com/cofferhq/coffer"
)

// TestSignInProviders: the sign-in page's public list has each provider's id and name
// only, and the organization's name once two organizations have providers.
func TestSignInProviders(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
	env := f.env
	var list struct {
		Providers []map[string]any `json:"sso_providers"`
		Passkeys  *bool            `json:"passkeys"`
	}
	env.Do("GET", "/api/v1/auth/sign-in-options", "", nil).WantStatus(http.StatusOK).JSON(&list)
	// The test server is reached as localhost: passkeys are on.
	if len(list.Providers) != 0 || list.Passkeys == nil || !*list.Passkeys {
		t.Fatalf("no provider yet: %+v", list)
	}
	o := oidctest.Start(t, "fake-client")
	id := f.addProvider("Acme Login", o.Issuer(), "acme-client-id", "s3cret-value")
	r := env.Do("GET", "/api/v1/auth/sign-in-options", "", nil).WantStatus(http.StatusOK)
	for _, secret := range []string{o.Issuer(), "acme-client-id", "s3cret-value", "acme.test", f.org} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("public list reveals %q: %s", secret, r.Body)
		}
	}
	r.JSON(&list)
	if len(list.Providers) != 1 || list.Providers[0]["id"] != id || list.Providers[0]["name"] != "Acme Login" || len(list.Providers[0]) != 2 {
		t.Fatalf("one organization: %v", list.Providers)
	}

	// A second organization with a provider: buttons name their organization.
	org2 := env.mustOrg(coffer.Policy{})
	env.mustMember(org2, env.MustUser("admin2@beta.test", "Admin Two").ID, coffer.OrgOwner)
	k2 := env.MustLogin("admin2@beta.test")
	env.Do("POST", "/api/v1/organizations/"+org2+"/sso-providers", k2,
		map[string]any{"name": "Beta Login", "issuer": o.Issuer(), "client_id": "beta", "client_secret": "x-secret"}).WantStatus(http.StatusCreated)
	env.Do("GET", "/api/v1/auth/sign-in-options", "", nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Providers) != 2 {
		t.Fatalf("two organizations: %v", list.Providers)
	}
	for _, p := range list.Providers {
		if s, _ := p["organization"].(string); s == "" {
			t.Errorf("provider %v lacks its organization's name", p)
		}
	}
}

// TestSSOCallbackBrowserRefusal: a refused single sign-on sends a browser
// to the sign-in page with a fixed word, and sets no session.
func TestSSOCallbackBrowserRefusal(t *testing.T) {
	f := newSSOFixture(t, coffer.Policy{SSODomains: []string{"acme.test"}})
	env := f.env
	o := oidctest.Start(t, "fake-client")
	prov := f.addProvider("Fake", o.Issuer(), "fake-client", "s3cret")
	u, binding := ssoStart(t, env, prov)
	cb := followToCallback(t, env, u)
	// Another browser (no binding cookie) cannot finish it.
	req, _ := http.NewRequest("GET", cb, nil)
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != env.URL+"/login?sso=refused" {
		t.Fatalf("refused browser callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, c := range res.Cookies() {
		if c.Name == "__Host-coffer_session" && c.Value != "" {
			t.Fatalf("refused callback set a session cookie")
		}
	}
	_ = binding
}
