package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/store/all"
)

// ConcurrentAttempts checks that failed attempts are reserved before the
// secret is checked, so that N concurrent attempts count as N: bursts of
// wrong passwords and wrong second factors sent at once, spread over the
// given stores (several stores on one database act as several nodes),
// get no more evaluations than the same attempts sent one by one. All
// stores share a frozen clock.
func ConcurrentAttempts(t *testing.T, nodes ...*all.Store) {
	clk := newClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	for _, n := range nodes {
		n.Now = clk.Now
	}
	s := nodes[0]
	bg := context.Background()
	const wrong = "not the password, but long enough"
	// burst runs n calls of f at once, the i-th on node i mod len(nodes),
	// and counts the answers by error code.
	burst := func(n int, f func(i int, node *all.Store) error) map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				code := coffer.ErrorCode(f(i, nodes[i%len(nodes)]))
				mu.Lock()
				got[code]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return got
	}

	t.Run("WrongPasswords", func(t *testing.T) {
		_, u := MustUser(t, s)
		from := coffer.WithClient(bg, coffer.Client{IP: "203.0.113.9"})
		// One by one, an account and address get five free failures and a
		// sixth that starts the delay: the same must hold at once.
		got := burst(100, func(_ int, node *all.Store) error {
			_, err := node.Login(from, u.Email, wrong)
			return err
		})
		if got[coffer.EUNAUTHORIZED] != 6 || got[coffer.ETOOMANY] != 94 {
			t.Errorf("100 concurrent wrong passwords: %v, want 6 %s and 94 %s", got, coffer.EUNAUTHORIZED, coffer.ETOOMANY)
		}
		// The owner, from another address, is not slowed down.
		if res, err := s.Login(coffer.WithClient(bg, coffer.Client{IP: "192.0.2.44"}), u.Email, TestPassword); err != nil || res.Session == nil {
			t.Fatalf("the owner from elsewhere: %v", err)
		}
	})

	t.Run("UnknownClientsPool", func(t *testing.T) {
		// From 120 addresses at once, below every per-address limit: the
		// pool of unknown clients lets exactly MaxFailedLogins passwords be
		// checked; the others are refused unchecked (the same answer).
		_, u := MustUser(t, s)
		got := burst(120, func(i int, node *all.Store) error {
			ctx := coffer.WithClient(bg, coffer.Client{IP: fmt.Sprintf("198.51.%d.%d", 100+i/200, i%200+1)})
			_, err := node.Login(ctx, u.Email, wrong)
			return err
		})
		if got[coffer.EUNAUTHORIZED] != 120 {
			t.Fatalf("120 wrong passwords from 120 addresses: %v, want 120 %s", got, coffer.EUNAUTHORIZED)
		}
		events, err := s.Events(bg, u.ID, 500)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, e := range events {
			kinds[e.Kind]++
		}
		if kinds[coffer.EventLoginFailed] != identity.MaxFailedLogins || kinds[coffer.EventLoginLocked] != 120-identity.MaxFailedLogins {
			t.Errorf("events %v: want %d checked failures and %d refused unchecked", kinds, identity.MaxFailedLogins, 120-identity.MaxFailedLogins)
		}
	})

	t.Run("WrongSecondFactors", func(t *testing.T) {
		ConcurrentAttemptsWrongSecondFactors(t, s, clk, bg, burst)
	})
}

// ConcurrentAttemptsWrongSecondFactors is the subtest WrongSecondFactors of ConcurrentAttempts.
func ConcurrentAttemptsWrongSecondFactors(t *testing.T, s *all.Store, clk *clock, bg context.Context, burst func(n int, f func(i int, node *all.Store) error) map[string]int) {
	_, u := MustUser(t, s)
	ctx := MustSession(t, s, u.Email)
	e, err := s.BeginTOTP(ctx, TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, TOTPCode(t, e.Secret, clk.Now(), 0)); err != nil {
		t.Fatal(err)
	}
	code := "000000"
	for d := -1; d <= 1; d++ {
		if TOTPCode(t, e.Secret, clk.Now(), d) == code {
			code = "111111"
		}
	}
	// Twenty challenges (a correct password each), answered wrongly at
	// once: the account's five free failures and the sixth, no more.
	var challenges []string
	for range 20 {
		res, err := s.Login(coffer.WithClient(bg, coffer.Client{IP: "192.0.2.77"}), u.Email, TestPassword)
		if err != nil || res.Challenge == nil {
			t.Fatalf("Login: %v", err)
		}
		challenges = append(challenges, res.Challenge.Token)
	}
	got := burst(20, func(i int, node *all.Store) error {
		_, err := node.SecondFactor(bg, challenges[i], coffer.FactorTOTP, code)
		return err
	})
	if got[coffer.EUNAUTHORIZED] != 6 || got[coffer.ETOOMANY] != 14 {
		t.Errorf("20 concurrent wrong codes: %v, want 6 %s and 14 %s", got, coffer.EUNAUTHORIZED, coffer.ETOOMANY)
	}
}
