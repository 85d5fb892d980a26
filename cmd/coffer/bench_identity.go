package main

// The identity workloads of coffer bench: logins over HTTP (argon2id bound)
// against the raw argon2id verification in process, and the validation of
// a session key and of an API key (what every request pays before its own
// work) against a get by id over HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"text/tabwriter"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
)

// Names of the identity workloads and limit.
const (
	wlLogin      = "login"
	wlAuthKey    = "validate session key"
	wlAuthAPIKey = "validate API key"
	limArgon     = "L2 argon2id verify in process"
	// authShareTarget: validating a key must cost less than this share of
	// a get by id.
	authShareTarget = 0.05
)

// loginOp logs in over HTTP as n people, each with an account of their
// own and an address of their own (sent in X-Forwarded-For: the bench's
// server trusts its loopback proxy), taken in turn. Login throttling
// counts an attempt before checking it, so n concurrent logins to one
// account from one address would be throttled as a burst; people signing
// in are spread over accounts and addresses, and so is this load. The
// addresses are in TEST-NET-1 (192.0.2.0/24): only header text, no
// traffic goes there.
func (e *benchEnv) loginOp(ctx context.Context, n int) (opFunc, error) {
	bodies := make([][]byte, n)
	for i := range bodies {
		email := fmt.Sprintf("login-%d@example.com", i)
		if _, err := e.st.CreateUser(ctx, coffer.UserInput{Email: email, Name: fmt.Sprint("Login ", i), Password: e.password}); err != nil {
			return nil, fmt.Errorf("login account %d: %w", i, err)
		}
		bodies[i], _ = json.Marshal(map[string]string{"email": email, "password": e.password})
	}
	var next atomic.Uint64
	return func(ctx context.Context, rng *rand.Rand) error {
		i := int(next.Add(1) % uint64(n))
		req, err := http.NewRequestWithContext(ctx, "POST", e.base+"/auth/login", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i%254+1))
		resp, err := e.client.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /auth/login: status %d", resp.StatusCode)
		}
		return nil
	}, nil
}

// authOp validates a key as the API's middleware does, in process.
func (e *benchEnv) authOp(key string) opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		_, err := e.st.Authenticate(ctx, key)
		return err
	}
}

// argonOp verifies the password against a hash made with the server's
// parameters: the floor under any login.
func argonOp(password string) (opFunc, error) {
	hash, err := auth.HashPassword(context.Background(), password)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, rng *rand.Rand) error {
		ok, err := auth.VerifyPassword(ctx, hash, password)
		if err == nil && !ok {
			err = fmt.Errorf("argon2id: the password does not match its hash")
		}
		return err
	}, nil
}

// newBenchAPIKey creates an API key for the bench account.
func (e *benchEnv) newBenchAPIKey(ctx context.Context) (string, error) {
	k, err := e.st.CreateAPIKey(coffer.WithCaller(ctx, &coffer.Caller{UserID: e.userID, Email: e.email, SessionID: "bench"}),
		coffer.APIKeyInput{Name: "bench"})
	if err != nil {
		return "", err
	}
	return k.Key, nil
}

// printIdentity prints the identity figures.
func (r *benchReport) printIdentity(w io.Writer) {
	login, ok1 := r.find(r.workloads, wlLogin)
	argon, ok2 := r.find(r.limits, limArgon)
	get, ok3 := r.find(r.workloads, "get")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	fmt.Fprintln(w, "\nIdentity (argon2id m=19 MiB, t=2, p=1; at most max(2, cores) hashes at once):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tops/s\tp50\tp99\terrors\tagainst\tits ops/s\tratio\ttarget\tmet")
	ratio := login.rate() / argon.rate()
	fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%.0f\t%.2f\t-\t-\n",
		login.name, login.rate(), fmtDur(login.p50), fmtDur(login.p99), login.errors, limArgon, argon.rate(), ratio)
	for _, name := range []string{wlAuthKey, wlAuthAPIKey} {
		a, ok := r.find(r.workloads, name)
		if !ok || a.rate() == 0 {
			continue
		}
		// Cost per operation is 1/rate: the share of a get's cost that
		// validating the key takes is get rate / validation rate.
		share := get.rate() / a.rate()
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\tget by id (HTTP)\t%.0f\tcost %.3f of a get\t< %.2f\t%s\n",
			a.name, a.rate(), fmtDur(a.p50), fmtDur(a.p99), a.errors, get.rate(), share, authShareTarget, yesNo(share < authShareTarget))
	}
	tw.Flush()
	fmt.Fprintf(w, "  %s: ops/s %.0f, p50 %s, p99 %s\n", limArgon, argon.rate(), fmtDur(argon.p50), fmtDur(argon.p99))
}
