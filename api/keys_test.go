package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestSealedSecretMovedIsIntegrityProblem: a TOTP secret sealed for
// another account and copied into this account's row does not open: the
// login answers 422 integrity_failed (a problem, never a 5xx), and nothing
// of the secret shows.
func TestSealedSecretMovedIsIntegrityProblem(t *testing.T) {
	env := MustEnv(t)
	env.Clock.Freeze()
	u := env.MustUser("ada@example.com", "Ada Lovelace")
	other := env.MustUser("bob@example.com", "Bob")
	const secret = "JBSWY3DPEHPK3PXP"
	env.exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, ?, 1, 1)", u.ID, env.sealTOTP(other.ID, secret))
	r := env.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": testPassword}).WantStatus(http.StatusOK)
	ch, _ := r.Map()["challenge"].(string)
	if ch == "" {
		t.Fatalf("no challenge: %s", r.Body)
	}
	res := env.Do("POST", "/api/v1/auth/login/second-factor", "", map[string]string{"challenge": ch, "method": "totp", "code": storetest.TOTPCode(t, secret, env.Clock.Now(), 0)})
	res.WantProblem(http.StatusUnprocessableEntity, coffer.EINTEGRITY)
	if strings.Contains(string(res.Body), secret) {
		t.Errorf("the answer shows the secret: %s", res.Body)
	}
}
