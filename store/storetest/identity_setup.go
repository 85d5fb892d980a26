package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
)

// testClaimInstance covers the first-run claim: only an empty instance is
// claimed, by exactly one of several concurrent claims (decided in the
// transaction that inserts), and the owner is an operator with a session.
func testClaimInstance(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	in := func(email, pw string) coffer.UserInput {
		return coffer.UserInput{Email: email, Name: "Owner " + email, Password: pw}
	}
	const pw = "correct horse battery staple"

	// A weak password creates nothing.
	if _, err := s.ClaimInstance(ctx, in("weak@example.com", "short")); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("weak password: %v", err)
	}
	if n, _ := s.CountUsers(ctx); n != 0 {
		t.Fatalf("%d accounts after a refused claim", n)
	}

	const claims = 6
	var wg sync.WaitGroup
	errs := make([]error, claims)
	sessions := make([]*coffer.Session, claims)
	for i := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sessions[i], errs[i] = s.ClaimInstance(ctx, in(fmt.Sprintf("owner%d@example.com", i), pw))
		}()
	}
	wg.Wait()
	var won *coffer.Session
	for i, err := range errs {
		switch coffer.ErrorCode(err) {
		case "":
			if won != nil {
				t.Fatalf("two claims won: %s and %s", won.User.Email, sessions[i].User.Email)
			}
			won = sessions[i]
		case coffer.ESETUPDONE:
		default:
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	if won == nil {
		t.Fatalf("no claim won: %v", errs)
	}
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("%d accounts after concurrent claims, want 1", n)
	}
	c, err := s.Authenticate(ctx, won.Key)
	if err != nil || !c.Operator || c.UserID != won.User.ID || c.Restriction != "" {
		t.Fatalf("the owner's session: %+v %v", c, err)
	}
	evs, err := s.Events(ctx, won.User.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range evs {
		kinds[e.Kind] = true
	}
	if !kinds[coffer.EventInstanceClaimed] || !kinds[coffer.EventUserCreated] || !kinds[coffer.EventLoginSucceeded] {
		t.Fatalf("events of the claim: %v", kinds)
	}
	// A claimed instance stays claimed.
	if _, err := s.ClaimInstance(ctx, in("late@example.com", pw)); coffer.ErrorCode(err) != coffer.ESETUPDONE {
		t.Fatalf("late claim: %v", err)
	}
}
