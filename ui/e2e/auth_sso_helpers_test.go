package e2e

import (
	"testing"

	"github.com/cofferhq/coffer/auth/oidc/oidctest"
)

// ssoTestOP is the test OpenID provider (auth/oidc/oidctest) with the
// person it signs in next.
type ssoTestOP struct{ *oidctest.Provider }

func startSSOTestOP(t *testing.T, clientID string) *ssoTestOP {
	t.Helper()
	return &ssoTestOP{oidctest.Start(t, clientID)}
}

func (o *ssoTestOP) issuer() string { return o.Issuer() }

// as makes the next approvals sign in the person with this e-mail.
func (o *ssoTestOP) as(email string) {
	o.SetClaims(map[string]any{"sub": "sub-" + email, "email": email, "name": "Person " + email})
}
