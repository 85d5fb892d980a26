package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/cofferhq/coffer/auth"
)

// TestRehashOnLogin: a hash made with weaker parameters than today's is
// replaced at the next successful login, and the password still works.
func TestRehashOnLogin(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("ada@example.com", "Ada")
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(testPassword), salt, 1, 8*1024, 1, 32)
	b64 := base64.RawStdEncoding
	weak := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 8*1024, 1, 1, b64.EncodeToString(salt), b64.EncodeToString(key))
	if !auth.NeedsRehash(weak) {
		t.Fatal("NeedsRehash(m=8 MiB, t=1) = false")
	}
	e.MustExec("UPDATE {p}users SET password_hash = ? WHERE id = ?", weak, u.ID)

	// A wrong password changes nothing.
	e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "not the password at all"}).
		WantStatus(http.StatusUnauthorized)
	if got := storedHash(t, e, u.ID); got != weak {
		t.Fatalf("a failed login changed the hash to %q", got)
	}
	e.MustLogin("ada@example.com")
	got := storedHash(t, e, u.ID)
	if got == weak || auth.NeedsRehash(got) || !strings.Contains(got, fmt.Sprintf("m=%d,t=%d,p=%d", auth.ArgonMemory, auth.ArgonTime, auth.ArgonThreads)) {
		t.Fatalf("after login the hash is %q, want today's parameters", got)
	}
	e.MustLogin("ada@example.com")
}

func storedHash(t *testing.T, e *Env, userID string) string {
	t.Helper()
	var h string
	if err := e.DB.R.QueryRow("SELECT password_hash FROM "+e.DB.Prefix+"users WHERE id = ?", userID).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
