package firstrun

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func TestTokenShape(t *testing.T) {
	_, tok := New()
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) < len(TokenPrefix)+43 {
		t.Fatalf("token %q: want the prefix and 32 random bytes in base64url", tok)
	}
	_, tok2 := New()
	if tok == tok2 {
		t.Fatal("two links share a token")
	}
	if u := URL("http://127.0.0.1:8080", tok); u != "http://127.0.0.1:8080/setup#token="+tok {
		t.Fatalf("URL %q: the token must be in the fragment", u)
	}
}

func TestCheckRefusesWrongMissingAndExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l, tok := NewAt(clock, time.Hour)
	if err := l.Check(tok); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], TokenPrefix, strings.Repeat("a", 300)} {
		if err := l.Check(bad); coffer.ErrorCode(err) != coffer.ESETUPTOKEN {
			t.Errorf("Check(%q) = %v, want %s", bad, err, coffer.ESETUPTOKEN)
		}
	}
	var nilLink *Link
	if err := nilLink.Check(tok); coffer.ErrorCode(err) != coffer.ESETUPTOKEN {
		t.Errorf("no link: %v", err)
	}
	now = now.Add(time.Hour - time.Second)
	if err := l.Check(tok); err != nil {
		t.Fatalf("token refused before its hour: %v", err)
	}
	now = now.Add(time.Second)
	if err := l.Check(tok); coffer.ErrorCode(err) != coffer.ESETUPTOKEN {
		t.Fatalf("expired token: %v", err)
	}
	called := false
	if err := l.Claim(tok, func() error { called = true; return nil }); coffer.ErrorCode(err) != coffer.ESETUPTOKEN || called {
		t.Fatalf("claim with an expired token: err %v, create called %v", err, called)
	}
}

func TestClaimIsSingleUseAndSurvivesAFailedCreate(t *testing.T) {
	l, tok := New()
	weak := coffer.Invalid("the account is not valid")
	if err := l.Claim(tok, func() error { return weak }); !errors.Is(err, weak) {
		t.Fatalf("failed create: %v", err)
	}
	if l.Used() {
		t.Fatal("a failed create used the token up")
	}
	n := 0
	if err := l.Claim(tok, func() error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("claim: %v (create ran %d times)", err, n)
	}
	if !l.Used() {
		t.Fatal("token not used after a claim")
	}
	if err := l.Claim(tok, func() error { n++; return nil }); coffer.ErrorCode(err) != coffer.ESETUPTOKEN || n != 1 {
		t.Fatalf("second claim: %v (create ran %d times)", err, n)
	}
}

// TestConcurrentClaims: create decides (as the store's transaction does)
// whether the instance is still empty; of many concurrent claims exactly
// one succeeds and the others get create's conflict or, once the token is
// used up, ErrInvalid.
func TestConcurrentClaims(t *testing.T) {
	l, tok := New()
	var mu sync.Mutex
	accounts := 0
	create := func() error {
		mu.Lock()
		defer mu.Unlock()
		time.Sleep(time.Millisecond)
		if accounts > 0 {
			return coffer.Errorf(coffer.ESETUPDONE, "already set up")
		}
		accounts++
		return nil
	}
	var ok, done, invalid atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := l.Claim(tok, create); coffer.ErrorCode(err) {
			case "":
				ok.Add(1)
			case coffer.ESETUPDONE:
				done.Add(1)
			case coffer.ESETUPTOKEN:
				invalid.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || accounts != 1 || ok.Load()+done.Load()+invalid.Load() != 32 {
		t.Fatalf("successes %d, conflicts %d, refused tokens %d, accounts %d", ok.Load(), done.Load(), invalid.Load(), accounts)
	}
	if !l.Used() {
		t.Fatal("token not used up")
	}
}
