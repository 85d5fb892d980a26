package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/store/all"
)

// testIdentity checks login throttling, its audit events and API keys on
// the backend: the counters and events live in the database, so every
// node of an instance shares them.
func testIdentity(t *testing.T, open Opener) {
	t.Run("Throttling", func(t *testing.T) {
		testIdentityThrottling(t, open)
	})

	t.Run("ConcurrentAttempts", func(t *testing.T) {
		ConcurrentAttempts(t, open(t))
	})

	t.Run("APIKeys", func(t *testing.T) {
		testIdentityAPIKeys(t, open)
	})
}

// checkThrottlingEvents checks the events testIdentityThrottling leaves:
// userID's failures (from the throttled address) and logins, and the
// throttled attempts of every account.
func checkThrottlingEvents(t *testing.T, s *all.Store, userID string) {
	events, err := s.Events(context.Background(), userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.Kind]++
		if e.Kind == coffer.EventLoginFailed && e.IP != "192.0.2.1" {
			t.Errorf("failure event from %q, want 192.0.2.1", e.IP)
		}
	}
	if count[coffer.EventLoginFailed] != 8 || count[coffer.EventLoginSucceeded] != 3 {
		t.Errorf("events %v: want 8 failures and 3 logins", count)
	}
	all, err := s.Events(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	throttled := 0
	for _, e := range all {
		if e.Kind == coffer.EventLoginThrottled {
			throttled++
		}
	}
	if throttled != 3 {
		t.Errorf("%d throttled events, want 3", throttled)
	}
}

// testIdentityThrottling is the subtest Throttling of testIdentity.
func testIdentityThrottling(t *testing.T, open Opener) {
	s := open(t)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	u, err := s.CreateUser(context.Background(), coffer.UserInput{Email: "throttle@example.com", Name: "T", Password: TestPassword})
	if err != nil {
		t.Fatal(err)
	}
	fromA := coffer.WithClient(context.Background(), coffer.Client{IP: "192.0.2.1"})
	fromB := coffer.WithClient(context.Background(), coffer.Client{IP: "198.51.100.7"})
	const wrong = "not the password, but long enough"
	// Five failures from one address are free; the sixth blocks the
	// (account, address) pair for a second.
	for i := 1; i <= 6; i++ {
		_, err := s.Login(fromA, u.Email, wrong)
		if !wantCode(t, err, coffer.EUNAUTHORIZED) {
			t.Fatalf("failure %d", i)
		}
	}
	_, err = s.Login(fromA, u.Email, TestPassword)
	wantCode(t, err, coffer.ETOOMANY)
	if secs := coffer.RetryAfter(err); secs != 1 {
		t.Errorf("Retry-After = %d s, want 1", secs)
	}
	// An unknown e-mail from the same address behaves the same way: its
	// own counter, the same answers.
	for i := 1; i <= 6; i++ {
		_, err := s.Login(fromA, "nobody@example.com", wrong)
		wantCode(t, err, coffer.EUNAUTHORIZED)
	}
	_, err = s.Login(fromA, "nobody@example.com", wrong)
	wantCode(t, err, coffer.ETOOMANY)

	// The owner, from elsewhere, is not slowed down.
	res, err := s.Login(fromB, u.Email, TestPassword)
	if err != nil || res.Session == nil {
		t.Fatalf("login from another address while one is throttled: %v", err)
	}
	// After the delay the next failure doubles it.
	clk.Add(time.Second)
	_, err = s.Login(fromA, u.Email, wrong)
	wantCode(t, err, coffer.EUNAUTHORIZED)
	_, err = s.Login(fromA, u.Email, TestPassword)
	wantCode(t, err, coffer.ETOOMANY)
	if secs := coffer.RetryAfter(err); secs != 2 {
		t.Errorf("Retry-After after the seventh failure = %d s, want 2", secs)
	}
	clk.Add(2 * time.Second)
	if _, err := s.Login(fromA, u.Email, TestPassword); err != nil {
		t.Fatalf("login once the delay passed: %v", err)
	}
	// Success cleared the pair's counter: a new failure is free again.
	_, err = s.Login(fromA, u.Email, wrong)
	wantCode(t, err, coffer.EUNAUTHORIZED)
	if _, err := s.Login(fromA, u.Email, TestPassword); err != nil {
		t.Fatalf("login after one new failure: %v", err)
	}

	checkThrottlingEvents(t, s, u.ID)
}

// testIdentityAPIKeys is the subtest APIKeys of testIdentity.
func testIdentityAPIKeys(t *testing.T, open Opener) {
	s := open(t)
	ctx, u := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Keys")
	k, err := s.CreateAPIKey(ctx, coffer.APIKeyInput{Name: "ro", ReadOnly: true, Notebooks: []string{nb.ID}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Authenticate(context.Background(), k.Key)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != u.ID || c.APIKeyID != k.ID || !c.ReadOnly || len(c.Notebooks) != 1 || c.Notebooks[0] != nb.ID || c.SessionID != "" {
		t.Errorf("caller of the key = %+v", c)
	}
	kctx := coffer.WithCaller(context.Background(), c)
	if _, err := s.FindNotebook(kctx, nb.ID); err != nil {
		t.Errorf("the key's notebook: %v", err)
	}
	_, err = s.CreateTable(kctx, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "a", Type: coffer.TypeText}}})
	wantCode(t, err, coffer.EFORBIDDEN)
	if err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(context.Background(), k.Key)
	wantCode(t, err, coffer.EUNAUTHORIZED)
	if _, err := s.Authenticate(context.Background(), identity.APIKeyPrefix+"garbage"); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Errorf("a made-up key: %v", err)
	}
}
