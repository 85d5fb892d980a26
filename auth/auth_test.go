package auth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/auth"
)

func TestPasswordHash(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	h, err := auth.HashPassword(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	// The stored form is a PHC string with the parameters and a 16-byte salt.
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	var m, tm, p int
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &tm, &p); err != nil || m < 19*1024 || tm < 2 || p < 1 {
		t.Errorf("parameters %q below m=19 MiB, t=2", parts[3])
	}
	if salt, err := base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) != 16 {
		t.Errorf("salt %q: %v", parts[4], err)
	}
	h2, _ := auth.HashPassword(ctx, pw)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{pw, true},
		{pw[:len(pw)-1], false}, // never truncated
		{pw + " ", false},
		{strings.ToUpper(pw), false},
		{"", false},
	} {
		got, err := auth.VerifyPassword(ctx, h, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	// NFKC: a compatibility form of the same password verifies.
	hw, _ := auth.HashPassword(ctx, "ｆｕｌｌｗｉｄｔｈ passphrase here")
	if ok, _ := auth.VerifyPassword(ctx, hw, "fullwidth passphrase here"); !ok {
		t.Error("NFKC-equivalent password refused")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=0,t=1,p=1$AA$AA", "$argon2id$v=19$m=19456,t=2,p=1$!!$AA"} {
		if _, err := auth.VerifyPassword(ctx, bad, pw); err == nil {
			t.Errorf("VerifyPassword accepted the malformed hash %q", bad)
		}
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		tok, hash := auth.NewToken("cfs_")
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "cfs_"))
		if err != nil || len(raw) < 16 {
			t.Fatalf("token %q carries fewer than 128 random bits", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		if string(hash) != string(auth.HashToken(tok)) || strings.Contains(string(hash), tok) {
			t.Fatal("the stored hash does not match the token")
		}
	}
}
