package oidc_test

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer/auth/oidc"
)

func TestCheckIssuer(t *testing.T) {
	for _, c := range []struct {
		issuer string
		ok     bool
	}{
		{"https://acme.okta.com", true},
		{"https://keycloak.example.com/realms/acme", true},
		{"http://127.0.0.1:8081", true},
		{"http://localhost:8081/realms/x", true},
		{"http://idp.example.com", false},
		{"ftp://idp.example.com", false},
		{"https://idp.example.com/?x=1", false},
		{"https://idp.example.com/#f", false},
		{"https://user:pw@idp.example.com", false},
		{"/relative", false},
		{"", false},
	} {
		if err := oidc.CheckIssuer(c.issuer); (err == nil) != c.ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok=%v", c.issuer, err, c.ok)
		}
	}
}

func TestSigningAlgsAreAsymmetric(t *testing.T) {
	for _, bad := range []string{"none", "HS256", "HS384", "HS512"} {
		if slices.Contains(oidc.SigningAlgs, bad) {
			t.Errorf("SigningAlgs accepts %s", bad)
		}
	}
}
