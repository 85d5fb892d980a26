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

// testUsers covers accounts and sessions. Password hashing is deliberately
// slow, so the subtests share one store and create few accounts.
func testUsers(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()

	t.Run("CreateUser", func(t *testing.T) {
		testUsersCreateUser(t, s, ctx)
	})

	t.Run("LoginAndSessions", func(t *testing.T) {
		testUsersLoginAndSessions(t, s, ctx)
	})

	t.Run("SessionExpiry", func(t *testing.T) {
		testUsersSessionExpiry(t, open, ctx)
	})

	t.Run("SessionIdleTimeout", func(t *testing.T) {
		testUsersSessionIdleTimeout(t, open, ctx)
	})
}

// testUsersCreateUser is the subtest CreateUser of testUsers.
func testUsersCreateUser(t *testing.T, s *all.Store, ctx context.Context) {
	before, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := coffer.UserInput{Email: "Grace.Hopper@Example.com", Name: " Grace Hopper ", Password: "fifteen-chars-x"}
	u, err := s.CreateUser(ctx, in)
	if err != nil {
		t.Fatalf("CreateUser with a 15-character password: %v", err)
	}
	if !coffer.ValidID(coffer.PrefixUser, u.ID) {
		t.Errorf("ID = %q, want a %s id", u.ID, coffer.PrefixUser)
	}
	if got, want := u.Email, "Grace.Hopper@Example.com"; got != want {
		t.Errorf("Email = %q, want %q", got, want)
	}
	if got, want := u.Name, "Grace Hopper"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if u.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero")
	}
	after, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("CountUsers = %d after one account, want %d", after, before+1)
	}

	tests := []struct {
		name  string
		in    coffer.UserInput
		code  string
		field string
	}{
		{"duplicate e-mail in another case", coffer.UserInput{Email: "grace.hopper@EXAMPLE.com", Name: "G", Password: TestPassword}, coffer.ECONFLICT, "email"},
		{"duplicate e-mail with spaces", coffer.UserInput{Email: "  grace.hopper@example.com ", Name: "G", Password: TestPassword}, coffer.ECONFLICT, "email"},
		{"e-mail without @", coffer.UserInput{Email: "not-an-email", Name: "N", Password: TestPassword}, coffer.EINVALID, "email"},
		{"e-mail with display name", coffer.UserInput{Email: "Ada <ada@example.com>", Name: "N", Password: TestPassword}, coffer.EINVALID, "email"},
		{"e-mail without dot in domain", coffer.UserInput{Email: "ada@localhost", Name: "N", Password: TestPassword}, coffer.EINVALID, "email"},
		{"empty e-mail", coffer.UserInput{Email: "", Name: "N", Password: TestPassword}, coffer.EINVALID, "email"},
		{"too long e-mail", coffer.UserInput{Email: strings.Repeat("a", 250) + "@example.com", Name: "N", Password: TestPassword}, coffer.EINVALID, "email"},
		{"password of 14 characters", coffer.UserInput{Email: "short@example.com", Name: "N", Password: "fourteen-chars"}, coffer.EINVALID, "password"},
		{"empty password", coffer.UserInput{Email: "short@example.com", Name: "N", Password: ""}, coffer.EINVALID, "password"},
		{"password of 14 characters and 28 bytes", coffer.UserInput{Email: "short@example.com", Name: "N", Password: strings.Repeat("é", 14)}, coffer.EINVALID, "password"},
		{"empty name", coffer.UserInput{Email: "noname@example.com", Name: "  ", Password: TestPassword}, coffer.EINVALID, "name"},
		{"name on two lines", coffer.UserInput{Email: "noname@example.com", Name: "a\nb", Password: TestPassword}, coffer.EINVALID, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tt.in)
			if wantCode(t, err, tt.code) {
				wantFields(t, err, tt.field)
			}
			if strings.Contains(err.Error(), tt.in.Password) && tt.in.Password != "" {
				t.Errorf("the error echoes the password: %v", err)
			}
		})
	}
	final, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if final != after {
		t.Errorf("CountUsers = %d after refused accounts, want %d", final, after)
	}
}

// testUsersLoginAndSessions is the subtest LoginAndSessions of testUsers.
func testUsersLoginAndSessions(t *testing.T, s *all.Store, ctx context.Context) {
	u, err := s.CreateUser(ctx, coffer.UserInput{Email: "Login@Example.com", Name: "Login", Password: TestPassword})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sess, err := s.Login(ctx, "login@example.COM", TestPassword)
	if err != nil {
		t.Fatalf("Login with the e-mail in another case: %v", err)
	}
	if !strings.HasPrefix(sess.Key, identity.SessionKeyPrefix) {
		t.Errorf("session key %q lacks the prefix %q", sess.Key, identity.SessionKeyPrefix)
	}
	if sess.User == nil || sess.User.ID != u.ID || sess.User.Email != u.Email {
		t.Errorf("session user = %+v, want %+v", sess.User, u)
	}
	if d := sess.ExpiresAt.Sub(start); d < coffer.DefaultAbsoluteTimeout-time.Minute || d > coffer.DefaultAbsoluteTimeout+time.Minute {
		t.Errorf("session expires in %v, want about %v", d, coffer.DefaultAbsoluteTimeout)
	}

	// Wrong password, unknown e-mail and a malformed e-mail answer alike.
	_, errWrong := s.Login(ctx, "login@example.com", "a wrong password, long enough")
	_, errUnknown := s.Login(ctx, "nobody@example.com", TestPassword)
	_, errMalformed := s.Login(ctx, "not an e-mail", TestPassword)
	for name, err := range map[string]error{"wrong password": errWrong, "unknown e-mail": errUnknown, "malformed e-mail": errMalformed} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, err, coffer.EUNAUTHORIZED)
			if got, want := coffer.ErrorMessage(err), coffer.ErrorMessage(errWrong); got != want {
				t.Errorf("message = %q, want the same as for a wrong password: %q", got, want)
			}
			if len(coffer.ErrorFields(err)) != len(coffer.ErrorFields(errWrong)) {
				t.Errorf("fields = %v, want the same as for a wrong password: %v", coffer.ErrorFields(err), coffer.ErrorFields(errWrong))
			}
		})
	}

	c, err := s.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if c.UserID != u.ID || c.Email != u.Email || c.Name != u.Name || c.SessionID == "" {
		t.Errorf("Authenticate = %+v, want user %s with a session id", c, u.ID)
	}

	for _, key := range []string{"", "cfs_", "cfs_garbage", sess.Key + "x", sess.Key[:len(sess.Key)-1], "Bearer " + sess.Key, strings.ToUpper(sess.Key), "cfs_" + strings.Repeat("a", 5000)} {
		_, err := s.Authenticate(ctx, key)
		wantCode(t, err, coffer.EUNAUTHORIZED)
	}

	// A second session survives the logout of the first.
	other, err := s.Login(ctx, "login@example.com", TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.Logout(ctx), coffer.EUNAUTHORIZED)
	if err := s.Logout(coffer.WithCaller(ctx, c)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	_, err = s.Authenticate(ctx, sess.Key)
	wantCode(t, err, coffer.EUNAUTHORIZED)
	if _, err := s.Authenticate(ctx, other.Key); err != nil {
		t.Errorf("Authenticate with another session after logout: %v", err)
	}
}

// testUsersSessionExpiry is the subtest SessionExpiry of testUsers.
func testUsersSessionExpiry(t *testing.T, open Opener, ctx context.Context) {
	s := open(t)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	if _, err := s.CreateUser(ctx, coffer.UserInput{Email: "expiry@example.com", Name: "E", Password: TestPassword}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(ctx, "expiry@example.com", TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(coffer.DefaultAbsoluteTimeout); !sess.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", sess.ExpiresAt, want)
	}
	// Used every 50 minutes, the session lives until its absolute
	// timeout and not a microsecond longer.
	for at := 50 * time.Minute; at < coffer.DefaultAbsoluteTimeout; at += 50 * time.Minute {
		clk.Set(t0.Add(at))
		if _, err := s.Authenticate(ctx, sess.Key); err != nil {
			t.Fatalf("Authenticate after %v of regular use: %v", at, err)
		}
	}
	clk.Set(t0.Add(coffer.DefaultAbsoluteTimeout - time.Microsecond))
	if _, err := s.Authenticate(ctx, sess.Key); err != nil {
		t.Errorf("Authenticate just before expiry: %v", err)
	}
	clk.Set(t0.Add(coffer.DefaultAbsoluteTimeout))
	_, err = s.Authenticate(ctx, sess.Key)
	wantCode(t, err, coffer.EUNAUTHORIZED)
	clk.Add(365 * 24 * time.Hour)
	_, err = s.Authenticate(ctx, sess.Key)
	wantCode(t, err, coffer.EUNAUTHORIZED)
}

// testUsersSessionIdleTimeout is the subtest SessionIdleTimeout of testUsers.
func testUsersSessionIdleTimeout(t *testing.T, open Opener, ctx context.Context) {
	s := open(t)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	if _, err := s.CreateUser(ctx, coffer.UserInput{Email: "idle@example.com", Name: "I", Password: TestPassword}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(ctx, "idle@example.com", TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(coffer.DefaultIdleTimeout))
	if _, err := s.Authenticate(ctx, sess.Key); err != nil {
		t.Fatalf("Authenticate exactly at the idle timeout: %v", err)
	}
	// That use moved the idle deadline.
	clk.Add(coffer.DefaultIdleTimeout)
	if _, err := s.Authenticate(ctx, sess.Key); err != nil {
		t.Fatalf("Authenticate an idle timeout after the last use: %v", err)
	}
	clk.Add(coffer.DefaultIdleTimeout + time.Microsecond)
	_, err = s.Authenticate(ctx, sess.Key)
	wantCode(t, err, coffer.EUNAUTHORIZED)
}
