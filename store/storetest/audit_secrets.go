package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// secretFlow is the secrets a full account flow used, and the context
// of its client.
type secretFlow struct {
	s       *all.Store
	client  context.Context
	email   string
	secrets []string
	clock   *stepClock
}

func (f *secretFlow) keep(secrets ...string) { f.secrets = append(f.secrets, secrets...) }

// session authenticates a session key into a caller context.
func (f *secretFlow) session(t *testing.T, key string) context.Context {
	t.Helper()
	c, err := f.s.Authenticate(f.client, key)
	if err != nil {
		t.Fatal(err)
	}
	return coffer.WithCaller(f.client, c)
}

// twoFactorLogin logs in with password and answers the challenge with
// method and code.
func (f *secretFlow) twoFactorLogin(t *testing.T, password, method, code string) context.Context {
	t.Helper()
	res, err := f.s.Login(f.client, f.email, password)
	if err != nil || res.Challenge == nil {
		t.Fatalf("Login: %v, want a challenge", err)
	}
	f.keep(res.Challenge.Token)
	sess, err := f.s.SecondFactor(f.client, res.Challenge.Token, method, code)
	if err != nil {
		t.Fatalf("SecondFactor(%s): %v", method, err)
	}
	f.keep(sess.Key)
	return f.session(t, sess.Key)
}

// testAuditNoSecrets runs a full flow (account, login, wrong password,
// TOTP enrolment, second-factor logins, recovery code, API key, reset by
// link, password change) and then finds none of the secrets it used in
// any column of any entry of the log, while the events are there.
func testAuditNoSecrets(t *testing.T, open Opener) {
	s := open(t)
	f := &secretFlow{s: s, clock: &stepClock{}, email: fmt.Sprintf("secrets%d@example.com", userSeq.Add(1)),
		client: coffer.WithClient(context.Background(), coffer.Client{IP: "198.51.100.7", UserAgent: "audit-test/1"})}
	f.clock.Freeze()
	s.Now = f.clock.Now
	p1, p2, p3, wrong := "first "+rand.Text(), "second "+rand.Text(), "third "+rand.Text(), "wrong "+rand.Text()
	f.keep(p1, p2, p3, wrong)
	if _, err := s.CreateUser(f.client, coffer.UserInput{Email: f.email, Name: "Secret Keeper", Password: p1}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Login(f.client, f.email, p1)
	if err != nil || res.Session == nil {
		t.Fatalf("Login: %v", err)
	}
	f.keep(res.Session.Key)
	ctx := f.session(t, res.Session.Key)
	if _, err := s.Login(f.client, f.email, wrong); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Fatalf("wrong password: %v", err)
	}
	e, err := s.BeginTOTP(ctx, p1)
	if err != nil {
		t.Fatal(err)
	}
	f.keep(e.Secret, e.URI)
	codes, err := s.ConfirmTOTP(ctx, TOTPCode(t, e.Secret, f.clock.Now(), 0))
	if err != nil {
		t.Fatal(err)
	}
	f.keep(codes...)
	f.clock.Steps(2)
	ctx = f.twoFactorLogin(t, p1, coffer.FactorTOTP, TOTPCode(t, e.Secret, f.clock.Now(), 0))
	k, err := s.CreateAPIKey(ctx, coffer.APIKeyInput{Name: "integration"})
	if err != nil {
		t.Fatal(err)
	}
	f.keep(k.Key)
	tk, err := s.RequestPasswordReset(f.client, f.email)
	if err != nil || tk == nil {
		t.Fatalf("RequestPasswordReset: %v", err)
	}
	f.keep(tk.Token)
	if err := s.ResetPassword(f.client, tk.Token, p2); err != nil {
		t.Fatal(err)
	}
	ctx = f.twoFactorLogin(t, p2, coffer.FactorRecovery, codes[0])
	if _, err := s.ChangePassword(ctx, p2, p3, false); err != nil {
		t.Fatal(err)
	}
	checkNoSecrets(t, s, f.secrets)
}

// checkNoSecrets reads every column of every entry and fails on any
// secret; it also checks that the flow's events were recorded.
func checkNoSecrets(t *testing.T, s *all.Store, secrets []string) {
	rows, err := s.Inst.R.QueryContext(context.Background(), "SELECT kind, COALESCE(actor, ''), COALESCE(user_id, ''), email, COALESCE(org_id, ''), ip, user_agent, detail, record FROM "+
		s.Inst.Prefix+"audit_entries ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kinds := map[string]int{}
	for rows.Next() {
		cols := make([]string, 9)
		ptrs := make([]any, 9)
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		kinds[cols[0]]++
		entry := strings.Join(cols, "\x00")
		for _, sec := range secrets {
			if sec != "" && strings.Contains(entry, sec) {
				t.Errorf("entry %s holds the secret %.12q…", cols[0], sec)
			}
		}
		if cols[0] == coffer.EventAPIKeyCreated && cols[6] != "audit-test/1" {
			t.Errorf("api_key.created from user agent %q, want audit-test/1", cols[6])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{coffer.EventUserCreated, coffer.EventLoginSucceeded, coffer.EventLoginFailed, coffer.EventMFAEnabled,
		coffer.EventSecondFactorOK, coffer.EventAPIKeyCreated, coffer.EventResetRequested, coffer.EventPasswordReset, coffer.EventPasswordChanged} {
		if kinds[k] == 0 {
			t.Errorf("no %s entry (entries %v)", k, kinds)
		}
	}
}
