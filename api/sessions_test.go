package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestSessionsListAndRevoke: people see their sessions and end them; an
// ended session stops working at the next request.
func TestSessionsListAndRevoke(t *testing.T) {
	f := MustFixture(t)
	second := f.MustLogin("alice@example.com")
	if second == f.Alice {
		t.Fatal("two logins gave the same session key")
	}
	var list struct {
		Sessions []coffer.SessionInfo `json:"sessions"`
	}
	f.Do("GET", "/api/v1/users/me/sessions", f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Sessions) != 2 {
		t.Fatalf("Alice has %d sessions listed, want 2", len(list.Sessions))
	}
	var current, other string
	for _, si := range list.Sessions {
		if si.Current {
			current = si.ID
		} else {
			other = si.ID
		}
		if si.Method != "password" || si.MFA || si.ExpiresAt.IsZero() {
			t.Errorf("session %+v: want a password session without MFA", si)
		}
	}
	if current == "" || other == "" {
		t.Fatalf("sessions %+v: want one current and one other", list.Sessions)
	}
	body := string(f.Do("GET", "/api/v1/users/me/sessions", f.Alice, nil).Body)
	if strings.Contains(body, f.Alice) || strings.Contains(body, second) || strings.Contains(body, "key_hash") {
		t.Errorf("the session list shows a key: %s", body)
	}

	// Bob can neither list nor end Alice's sessions: both answer 404.
	var me map[string]any
	f.Do("GET", "/api/v1/auth/me", f.Alice, nil).WantStatus(http.StatusOK).JSON(&me)
	aliceID := me["id"].(string)
	f.Do("GET", "/api/v1/users/"+aliceID+"/sessions", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("DELETE", "/api/v1/sessions/"+other, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("DELETE", "/api/v1/sessions/ses_nonsense", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks", second, nil).WantStatus(http.StatusOK)

	f.Do("DELETE", "/api/v1/sessions/"+other, f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", "/api/v1/notebooks", second, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.Do("GET", "/api/v1/notebooks", f.Alice, nil).WantStatus(http.StatusOK)

	// Ending the other sessions keeps the current one.
	third, fourth := f.MustLogin("alice@example.com"), f.MustLogin("alice@example.com")
	var ended struct {
		Ended int `json:"ended"`
	}
	f.Do("POST", "/api/v1/auth/logout-others", f.Alice, nil).WantStatus(http.StatusOK).JSON(&ended)
	if ended.Ended != 2 {
		t.Errorf("logout-others ended %d sessions, want 2", ended.Ended)
	}
	for _, k := range []string{third, fourth} {
		f.Do("GET", "/api/v1/notebooks", k, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	}
	f.Do("GET", "/api/v1/notebooks", f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/notebooks", f.Bob, nil).WantStatus(http.StatusOK)

	events, err := f.Store.Events(t.Context(), aliceID, 50)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	if kinds[coffer.EventLoginSucceeded] != 4 || kinds[coffer.EventSessionRevoked] != 2 {
		t.Errorf("Alice's events %v: want 4 logins and 2 revocations", kinds)
	}
}

// TestSessionTimeoutsOverHTTP: idle (1 h) and absolute (24 h) timeouts.
func TestSessionTimeoutsOverHTTP(t *testing.T) {
	e := MustEnv(t)
	e.MustUser("ada@example.com", "Ada")
	key := e.MustLogin("ada@example.com")
	e.Clock.Advance(59 * time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK)
	e.Clock.Advance(61 * time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)

	key = e.MustLogin("ada@example.com")
	for i := 0; i < 28; i++ { // 23 h 20 min of regular use
		e.Clock.Advance(50 * time.Minute)
		e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK)
	}
	e.Clock.Advance(41 * time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}

// TestOrganizationTimeouts: an organization's policy shortens the timeouts.
func TestOrganizationTimeouts(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("ada@example.com", "Ada")
	e.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, 'Acme', ?, 0, 0)",
		"org_00000000000000000000000001", `{"idle_timeout_minutes":10,"absolute_timeout_hours":1}`)
	e.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', 0)", "org_00000000000000000000000001", u.ID)
	key := e.MustLogin("ada@example.com")
	e.Clock.Advance(11 * time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	key = e.MustLogin("ada@example.com")
	for i := 0; i < 6; i++ {
		e.Clock.Advance(9 * time.Minute)
		e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK)
	}
	e.Clock.Advance(7 * time.Minute)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}

// TestRequire2FARestrictsSession: a member of an organization that
// requires 2FA, without a second factor, gets a session that can only
// enrol one (and see who it is, and log out).
func TestRequire2FARestrictsSession(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("ada@example.com", "Ada")
	e.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, 'Acme', ?, 0, 0)",
		"org_00000000000000000000000001", `{"require_2fa":true}`)
	e.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', 0)", "org_00000000000000000000000001", u.ID)
	r := e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": testPassword}).WantStatus(http.StatusOK)
	var sess coffer.Session
	r.JSON(&sess)
	if sess.Restriction != coffer.RestrictEnrol2FA {
		t.Fatalf("restriction = %q, want %q", sess.Restriction, coffer.RestrictEnrol2FA)
	}
	p := e.Do("GET", "/api/v1/notebooks", sess.Key, nil).WantProblem(http.StatusForbidden, coffer.ERESTRICTED)
	if !strings.Contains(p.Detail, "two-factor") {
		t.Errorf("detail %q does not say what to do", p.Detail)
	}
	e.Do("POST", "/api/v1/notebooks", sess.Key, map[string]any{"name": "x"}).WantProblem(http.StatusForbidden, coffer.ERESTRICTED)
	e.Do("POST", "/api/v1/api-keys", sess.Key, map[string]any{"name": "x"}).WantProblem(http.StatusForbidden, coffer.ERESTRICTED)
	me := e.Do("GET", "/api/v1/auth/me", sess.Key, nil).WantStatus(http.StatusOK).Map()
	if me["restriction"] != coffer.RestrictEnrol2FA {
		t.Errorf("me = %v, want the restriction shown", me)
	}
	e.Do("POST", "/api/v1/auth/logout", sess.Key, nil).WantStatus(http.StatusNoContent)
}

// TestAPIKeys: creation shows the key once; keys authenticate, are scoped
// (read-only, notebooks), expire, can be revoked, and never mint keys.
func TestAPIKeys(t *testing.T) {
	f := MustFixture(t)
	var full coffer.APIKey
	r := f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "sync job"}).WantStatus(http.StatusCreated)
	r.JSON(&full)
	if !strings.HasPrefix(full.Key, "cfk_") || len(full.Key) < 40 || full.ReadOnly || full.Notebooks != nil || full.ExpiresAt != nil {
		t.Fatalf("created key %+v: want a cfk_ key, read-write, every notebook, no expiry", full)
	}
	var list struct {
		Keys []coffer.APIKey `json:"api_keys"`
	}
	lr := f.Do("GET", "/api/v1/users/me/api-keys", f.Alice, nil).WantStatus(http.StatusOK)
	lr.JSON(&list)
	if len(list.Keys) != 1 || list.Keys[0].ID != full.ID || list.Keys[0].Key != "" || strings.Contains(string(lr.Body), full.Key) {
		t.Fatalf("key list %s: want the key's metadata without the secret", lr.Body)
	}

	// A full key reads and writes like its user, and no more.
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+f.Recs[0], full.Key, nil).WantStatus(http.StatusOK)
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+f.Recs[0], full.Key, map[string]any{"fields": map[string]any{"age": 37}}).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/notebooks/"+f.BobNB, full.Key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	me := f.Do("GET", "/api/v1/auth/me", full.Key, nil).WantStatus(http.StatusOK).Map()
	if k, _ := me["api_key"].(map[string]any); k == nil || k["id"] != full.ID {
		t.Errorf("me with a key = %v, want the key described", me)
	}
	// Keys do not mint keys, and have no session to end.
	f.Do("POST", "/api/v1/api-keys", full.Key, map[string]any{"name": "child"}).WantProblem(http.StatusForbidden, coffer.ESESSION)
	f.Do("POST", "/api/v1/auth/logout", full.Key, nil).WantProblem(http.StatusForbidden, coffer.ESESSION)

	// Read-only: every read works, every change is refused and changes nothing.
	var ro coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "report", "read_only": true}).WantStatus(http.StatusCreated).JSON(&ro)
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records", ro.Key, nil).WantStatus(http.StatusOK)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/notebooks"},
		{"PATCH", "/api/v1/notebooks/" + f.NB},
		{"DELETE", "/api/v1/notebooks/" + f.NB},
		{"POST", "/api/v1/notebooks/" + f.NB + "/tables/People/records"},
		{"PATCH", "/api/v1/notebooks/" + f.NB + "/tables/People/records/" + f.Recs[0]},
		{"DELETE", "/api/v1/notebooks/" + f.NB + "/tables/People/records/" + f.Recs[0]},
		{"DELETE", "/api/v1/notebooks/" + f.NB + "/tables/People"},
	} {
		f.Do(c.method, c.path, ro.Key, map[string]any{}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	}
	rec := f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+f.Recs[0], ro.Key, nil).WantStatus(http.StatusOK).Map()
	if fields := rec["fields"].(map[string]any); fields["age"] != float64(37) {
		t.Errorf("after refused writes the record is %v", fields)
	}
	// The store refuses too, whatever the HTTP layer does.
	roCaller, err := f.Store.Authenticate(t.Context(), ro.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Store.CreateNotebook(coffer.WithCaller(t.Context(), roCaller), "sneaky"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("store CreateNotebook with a read-only key: %v, want forbidden", err)
	}

	// Scoped to one notebook: the others do not exist for the key.
	var other coffer.Notebook
	f.Do("POST", "/api/v1/notebooks", f.Alice, map[string]any{"name": "Other"}).WantStatus(http.StatusCreated).JSON(&other)
	var scoped coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "one", "notebooks": []string{f.NB}}).WantStatus(http.StatusCreated).JSON(&scoped)
	f.Do("GET", "/api/v1/notebooks/"+f.NB, scoped.Key, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/notebooks/"+other.ID, scoped.Key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+other.ID+"/tables", scoped.Key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("POST", "/api/v1/notebooks", scoped.Key, map[string]any{"name": "new"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	var nbs struct {
		Notebooks []coffer.Notebook `json:"notebooks"`
	}
	f.Do("GET", "/api/v1/notebooks", scoped.Key, nil).WantStatus(http.StatusOK).JSON(&nbs)
	if len(nbs.Notebooks) != 1 || nbs.Notebooks[0].ID != f.NB {
		t.Errorf("scoped key lists %+v, want only %s", nbs.Notebooks, f.NB)
	}

	// Bad input changes nothing; a notebook one cannot reach is refused
	// like one that does not exist.
	for name, body := range map[string]map[string]any{
		"no name":          {"name": ""},
		"two lines":        {"name": "a\nb"},
		"past expiry":      {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
		"far expiry":       {"name": "x", "expires_at": "2200-01-01T00:00:00Z"},
		"Bob's notebook":   {"name": "x", "notebooks": []string{f.BobNB}},
		"missing notebook": {"name": "x", "notebooks": []string{f.MissingNB}},
		"unknown field":    {"name": "x", "admin": true},
	} {
		t.Run(name, func(t *testing.T) {
			f.Do("POST", "/api/v1/api-keys", f.Alice, body).WantProblem(http.StatusBadRequest, coffer.EINVALID)
		})
	}
	f.Do("GET", "/api/v1/users/me/api-keys", f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Keys) != 3 {
		t.Errorf("Alice has %d keys after refused creations, want 3", len(list.Keys))
	}

	// Expiry.
	var short coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "short", "expires_at": f.Clock.Now().Add(2 * time.Hour)}).WantStatus(http.StatusCreated).JSON(&short)
	f.Do("GET", "/api/v1/notebooks", short.Key, nil).WantStatus(http.StatusOK)
	f.Clock.Advance(2*time.Hour + time.Second)
	f.Do("GET", "/api/v1/notebooks", short.Key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	// Keys have no idle timeout: the full key still works hours later.
	f.Do("GET", "/api/v1/notebooks", full.Key, nil).WantStatus(http.StatusOK)

	// Revocation: Bob cannot, Alice can, and it takes effect at once.
	bob := f.MustLogin("bob@example.com")
	f.Do("DELETE", "/api/v1/api-keys/"+full.ID, bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	bobKeysOfAlice := f.Do("GET", "/api/v1/users/"+full.UserID+"/api-keys", bob, nil)
	bobKeysOfAlice.WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	alice := f.MustLogin("alice@example.com")
	f.Do("DELETE", "/api/v1/api-keys/"+full.ID, alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", "/api/v1/notebooks", full.Key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.Do("DELETE", "/api/v1/api-keys/"+full.ID, alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestOrgAdminManagesMemberKeys: an admin of an organization sees and ends
// its members' sessions and keys; a plain member does not.
func TestOrgAdminManagesMemberKeys(t *testing.T) {
	f := MustFixture(t)
	carol := f.MustUser("carol@example.com", "Carol")
	aliceMe := f.Do("GET", "/api/v1/auth/me", f.Alice, nil).Map()
	bobMe := f.Do("GET", "/api/v1/auth/me", f.Bob, nil).Map()
	const org = "org_00000000000000000000000001"
	f.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, 'Acme', '{}', 0, 0)", org)
	f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'org-admin', 0)", org, aliceMe["id"])
	f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', 0)", org, bobMe["id"])
	f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', 0)", org, carol.ID)

	var bobKey coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Bob, map[string]any{"name": "bob's"}).WantStatus(http.StatusCreated).JSON(&bobKey)
	carolKey := f.MustLogin("carol@example.com")
	// A member sees nothing of another member.
	f.Do("GET", "/api/v1/users/"+bobKey.UserID+"/api-keys", carolKey, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("DELETE", "/api/v1/api-keys/"+bobKey.ID, carolKey, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// The admin does.
	var list struct {
		Keys []coffer.APIKey `json:"api_keys"`
	}
	f.Do("GET", "/api/v1/users/"+bobKey.UserID+"/api-keys", f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Keys) != 1 || list.Keys[0].ID != bobKey.ID {
		t.Fatalf("admin sees %+v, want Bob's key", list.Keys)
	}
	var sessions struct {
		Sessions []coffer.SessionInfo `json:"sessions"`
	}
	f.Do("GET", "/api/v1/users/"+bobKey.UserID+"/sessions", f.Alice, nil).WantStatus(http.StatusOK).JSON(&sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].Current {
		t.Fatalf("admin sees Bob's sessions %+v, want one, not current", sessions.Sessions)
	}
	f.Do("DELETE", "/api/v1/sessions/"+sessions.Sessions[0].ID, f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", "/api/v1/notebooks", f.Bob, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.Do("DELETE", "/api/v1/api-keys/"+bobKey.ID, f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", "/api/v1/notebooks", bobKey.Key, nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
}
