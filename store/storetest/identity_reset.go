package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/store/all"
)

// requestReset checks that unknown and malformed addresses get no
// ticket, and that a known one (in any case) gets a well-formed one,
// recorded as one request.
func requestReset(t *testing.T, s *all.Store, ctx context.Context, u *coffer.User, email string, kinds func() map[string]int) *coffer.ResetTicket {
	for _, addr := range []string{"nobody@example.com", "not an address", "", strings.Repeat("a", 400) + "@example.com"} {
		tk, err := s.RequestPasswordReset(ctx, addr)
		if err != nil || tk != nil {
			t.Errorf("RequestPasswordReset(%.20q) = %v, %v; want nil, nil", addr, tk, err)
		}
	}

	tk, err := s.RequestPasswordReset(ctx, email)
	if err != nil || tk == nil {
		t.Fatalf("RequestPasswordReset(known) = %v, %v", tk, err)
	}
	if !strings.HasPrefix(tk.Token, identity.ResetTokenPrefix) || len(tk.Token) != len(identity.ResetTokenPrefix)+43 {
		t.Errorf("token %q: want %s and 256 bits in base64url", tk.Token, identity.ResetTokenPrefix)
	}
	if tk.UserID != u.ID || tk.Email != u.Email {
		t.Errorf("ticket for %s <%s>, want %s <%s>", tk.UserID, tk.Email, u.ID, u.Email)
	}
	if d := tk.ExpiresAt.Sub(s.Now()); d < 29*time.Minute || d > 30*time.Minute {
		t.Errorf("the link expires in %v, want 30 minutes", d)
	}
	if got := kinds(); got[coffer.EventResetRequested] != 1 || got[coffer.EventResetAlert] != 0 {
		t.Errorf("events after one request: %v", got)
	}
	return tk
}

// checkResetEndsSessions resets the password with token while a session
// and a streak of failed logins are pending: both end, the token is used
// up, the old password no longer works and the new one does.
func checkResetEndsSessions(t *testing.T, s *all.Store, ctx context.Context, u *coffer.User, token string) {
	// A session and a pending failure streak, both ended by the reset.
	for range 3 {
		if _, err := s.Login(ctx, u.Email, "wrong password, wrong password"); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
			t.Fatalf("wrong login: %v", err)
		}
	}
	res, err := s.Login(coffer.WithClient(context.Background(), coffer.Client{IP: "192.0.2.8"}), u.Email, TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, res.Session.Key); err != nil {
		t.Fatal(err)
	}

	const newPassword = "a brand new passphrase"
	if err := s.ResetPassword(ctx, token, newPassword); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if _, err := s.Authenticate(ctx, res.Session.Key); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Errorf("a session from before the reset: %v, want EUNAUTHORIZED", err)
	}
	if err := s.ResetPassword(ctx, token, "another new passphrase"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("second use of a token: %v, want EINVALID", err)
	}
	if _, err := s.Login(ctx, u.Email, TestPassword); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Errorf("login with the old password: %v", err)
	}
	if _, err := s.Login(ctx, u.Email, newPassword); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}

// testPasswordReset covers reset links and operator resets: tickets only
// for active accounts, the per-account cap and alert, single use, expiry,
// policy, sessions ended and the account unlocked.
func testPasswordReset(t *testing.T, open Opener) {
	s := open(t)
	var offset time.Duration
	s.Now = func() time.Time { return time.Now().Add(offset).UTC() }
	ctx := coffer.WithClient(context.Background(), coffer.Client{IP: "192.0.2.7"})
	_, u := MustUser(t, s)
	email := strings.ToUpper(u.Email)

	kinds := func() map[string]int {
		t.Helper()
		evs, err := s.Events(ctx, u.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, e := range evs {
			m[e.Kind]++
		}
		return m
	}

	tk := requestReset(t, s, ctx, u, email, kinds)

	t.Run("policy refused, token kept", func(t *testing.T) {
		err := s.ResetPassword(ctx, tk.Token, "short")
		if coffer.ErrorCode(err) != coffer.EINVALID || !hasField(err, "password") {
			t.Fatalf("ResetPassword(short) = %v, want EINVALID on password", err)
		}
	})
	t.Run("wrong tokens", func(t *testing.T) {
		for _, bad := range []string{"", "cfr_x", tk.Token + "x", "cfs_" + tk.Token[4:], strings.Repeat("x", 500)} {
			if err := s.ResetPassword(ctx, bad, "a brand new passphrase"); coffer.ErrorCode(err) != coffer.EINVALID || !hasField(err, "token") {
				t.Errorf("ResetPassword(%.10q…) = %v, want EINVALID on token", bad, err)
			}
		}
	})

	checkResetEndsSessions(t, s, ctx, u, tk.Token)

	// Expiry, the alert from the third request in an hour, the cap of three
	// links an hour.
	tk2, err := s.RequestPasswordReset(ctx, u.Email)
	if err != nil || tk2 == nil {
		t.Fatalf("second request: %v, %v", tk2, err)
	}
	offset += coffer.ResetLifetime + time.Second
	if err := s.ResetPassword(ctx, tk2.Token, "yet another passphrase"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("expired token: %v, want EINVALID", err)
	}
	tk3, err := s.RequestPasswordReset(ctx, u.Email)
	if err != nil || tk3 == nil {
		t.Fatalf("third request: %v, %v", tk3, err)
	}
	if got := kinds(); got[coffer.EventResetRequested] != 3 || got[coffer.EventResetAlert] != 1 || got[coffer.EventPasswordReset] != 1 {
		t.Errorf("events after three requests in an hour: %v", got)
	}
	if tk4, err := s.RequestPasswordReset(ctx, u.Email); err != nil || tk4 != nil {
		t.Errorf("fourth request within the hour: %v, %v; want no ticket", tk4, err)
	}
	offset += 29 * time.Minute
	if err := s.ResetPassword(ctx, tk3.Token, "yet another passphrase"); err != nil {
		t.Errorf("a token 29 minutes old: %v", err)
	}

	t.Run("SetPassword", func(t *testing.T) {
		testPasswordResetSetPassword(t, s, ctx, u, email, kinds)
	})
}

// testPasswordResetSetPassword is the subtest SetPassword of testPasswordReset.
func testPasswordResetSetPassword(t *testing.T, s *all.Store, ctx context.Context, u *coffer.User, email string, kinds func() map[string]int) {
	if err := s.SetPassword(ctx, "nobody@example.com", "an operator passphrase"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("unknown account: %v, want ENOTFOUND", err)
	}
	if err := s.SetPassword(ctx, u.Email, "short"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("short password: %v, want EINVALID", err)
	}
	if err := s.SetPassword(ctx, email, "an operator passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, u.Email, "an operator passphrase"); err != nil {
		t.Errorf("login after SetPassword: %v", err)
	}
	if got := kinds(); got[coffer.EventPasswordReset] != 3 {
		t.Errorf("password.reset events: %v", got)
	}
}

func hasField(err error, field string) bool {
	for _, f := range coffer.ErrorFields(err) {
		if f.Field == field {
			return true
		}
	}
	return false
}
