package api_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	_ "modernc.org/sqlite"
)

// orgEnv is an organization with one user of each role, an operator and a
// stranger, all signed in.
type orgEnv struct {
	*Env
	org                                       string
	owner, admin, member, stranger, operator  *coffer.User
	kOwner, kAdmin, kMember, kStranger, kOper string
}

func mustOrgEnv(t *testing.T) *orgEnv {
	t.Helper()
	e := MustEnv(t)
	o := &orgEnv{Env: e}
	op, err := e.Store.CreateUser(context.Background(), coffer.UserInput{Email: "op@example.com", Name: "Operator", Password: testPassword, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	o.operator = op
	o.owner = e.MustUser("owner@example.com", "Olive Owner")
	o.admin = e.MustUser("admin@example.com", "Adam Admin")
	o.member = e.MustUser("member@example.com", "Mia Member")
	o.stranger = e.MustUser("stranger@example.com", "Sam Stranger")
	o.kOper, o.kOwner, o.kAdmin = e.MustLogin("op@example.com"), e.MustLogin("owner@example.com"), e.MustLogin("admin@example.com")
	o.kMember, o.kStranger = e.MustLogin("member@example.com"), e.MustLogin("stranger@example.com")
	var org coffer.Organization
	e.Do("POST", "/api/v1/organizations", o.kOper, map[string]any{"name": "Acme", "owner": "owner@example.com"}).WantStatus(201).JSON(&org)
	o.org = org.ID
	e.Do("PUT", "/api/v1/organizations/"+o.org+"/members/"+url.PathEscape("admin@example.com"), o.kOwner, map[string]any{"role": "org-admin"}).WantStatus(201)
	e.Do("PUT", "/api/v1/organizations/"+o.org+"/members/"+o.member.ID, o.kAdmin, map[string]any{"role": "member"}).WantStatus(201)
	return o
}

// TestOrgRoleMatrix checks each organization endpoint for each role.
func TestOrgRoleMatrix(t *testing.T) {
	o := mustOrgEnv(t)
	e := o.Env
	base := "/api/v1/organizations/" + o.org
	var g coffer.Group
	e.Do("POST", base+"/groups", o.kAdmin, map[string]any{"name": "Sales"}).WantStatus(201).JSON(&g)
	keys := map[string]string{"operator": o.kOper, "owner": o.kOwner, "admin": o.kAdmin, "member": o.kMember, "stranger": o.kStranger}
	type want map[string]int
	cases := []struct {
		method, path string
		body         any
		want         want
	}{
		{"GET", base, nil, want{"operator": 200, "owner": 200, "admin": 200, "member": 200, "stranger": 404}},
		{"PATCH", base, map[string]any{"name": "Acme Inc"}, want{"operator": 200, "owner": 200, "admin": 403, "member": 403, "stranger": 404}},
		{"GET", base + "/members", nil, want{"operator": 200, "owner": 200, "admin": 200, "member": 200, "stranger": 404}},
		{"PUT", base + "/members/" + o.stranger.ID, map[string]any{"role": "member"}, want{"member": 403, "stranger": 404}},
		{"GET", base + "/groups", nil, want{"operator": 200, "owner": 200, "admin": 200, "member": 200, "stranger": 404}},
		{"POST", base + "/groups", map[string]any{"name": "G"}, want{"member": 403, "stranger": 404}},
		{"PATCH", base + "/groups/" + g.ID, map[string]any{"name": "Sales"}, want{"operator": 200, "owner": 200, "admin": 200, "member": 403, "stranger": 404}},
		{"PUT", base + "/groups/" + g.ID + "/members/" + o.member.ID, nil, want{"operator": 204, "owner": 204, "admin": 204, "member": 403, "stranger": 404}},
		{"DELETE", base + "/groups/" + g.ID + "/members/" + o.stranger.ID, nil, want{"member": 403, "stranger": 404}},
		{"DELETE", base, nil, want{"owner": 403, "admin": 403, "member": 403, "stranger": 404}},
		{"POST", "/api/v1/organizations", map[string]any{"name": "X", "owner": "member@example.com"}, want{"owner": 403, "admin": 403, "member": 403, "stranger": 403}},
	}
	for _, c := range cases {
		for role, status := range c.want {
			r := e.Do(c.method, c.path, keys[role], c.body)
			if r.Status != status {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, role, r.Status, status, r.Body)
			}
		}
	}
	// Listing: a stranger sees no organization, an operator every one.
	var l struct{ Organizations []coffer.Organization }
	e.Do("GET", "/api/v1/organizations", o.kStranger, nil).WantStatus(200).JSON(&l)
	if len(l.Organizations) != 0 {
		t.Errorf("stranger lists %d organizations", len(l.Organizations))
	}
	e.Do("GET", "/api/v1/organizations", o.kOper, nil).WantStatus(200).JSON(&l)
	if len(l.Organizations) != 1 {
		t.Errorf("operator lists %d organizations", len(l.Organizations))
	}
	// Admins cannot make owners; the last owner is protected.
	e.Do("PUT", base+"/members/"+o.member.ID, o.kAdmin, map[string]any{"role": "org-owner"}).WantProblem(403, coffer.EFORBIDDEN)
	e.Do("PUT", base+"/members/"+o.owner.ID, o.kOwner, map[string]any{"role": "member"}).WantProblem(409, coffer.ECONFLICT)
	e.Do("DELETE", base+"/members/"+o.owner.ID, o.kOper, nil).WantProblem(409, coffer.ECONFLICT)
	e.Do("PUT", base+"/members/"+o.member.ID, o.kOwner, map[string]any{"role": "org-owner"}).WantStatus(200)
	e.Do("DELETE", base+"/members/"+o.owner.ID, o.kOwner, nil).WantStatus(204) // another owner exists now
	e.Do("PUT", base+"/members/"+o.admin.ID, o.kOwner, map[string]any{"role": "bogus", "extra": 1}).WantProblem(400, coffer.EINVALID)
	// Policy validation.
	e.Do("PATCH", base, o.kOper, map[string]any{"policy": map[string]any{"password_history": 99}}).WantProblem(400, coffer.EINVALID)
	e.Do("DELETE", base, o.kOper, nil).WantStatus(204)
	e.Do("GET", base, o.kOper, nil).WantProblem(404, coffer.ENOTFOUND)
}

// TestDeactivationEndsEverything: sessions and API keys stop working at
// the very next request.
func TestDeactivationEndsEverything(t *testing.T) {
	o := mustOrgEnv(t)
	e := o.Env
	second := e.MustLogin("member@example.com")
	apiKey, hash := auth.NewToken("cfk_")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO api_keys (id, key_hash, user_id, name, read_only, created_at) VALUES (?, ?, ?, 'k', 0, ?)",
		coffer.NewID(coffer.PrefixAPIKey), hash, o.member.ID, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{o.kMember, second, apiKey} {
		e.Do("GET", "/api/v1/notebooks", k, nil).WantStatus(200)
	}
	e.Do("POST", "/api/v1/users/"+o.member.ID+"/deactivate", o.kMember, nil).WantProblem(400, coffer.EINVALID) // not oneself
	e.Do("POST", "/api/v1/users/"+o.member.ID+"/deactivate", o.kStranger, nil).WantProblem(404, coffer.ENOTFOUND)
	e.Do("POST", "/api/v1/users/"+o.owner.ID+"/deactivate", o.kAdmin, nil).WantProblem(403, coffer.EFORBIDDEN)
	e.Do("POST", "/api/v1/users/"+url.PathEscape("member@example.com")+"/deactivate", o.kAdmin, nil).WantStatus(204)
	for _, k := range []string{o.kMember, second, apiKey} {
		e.Do("GET", "/api/v1/notebooks", k, nil).WantProblem(401, coffer.EUNAUTHORIZED)
	}
	var n int
	if err := db.QueryRow("SELECT (SELECT count(*) FROM sessions WHERE user_id = ?) + (SELECT count(*) FROM api_keys WHERE user_id = ?)", o.member.ID, o.member.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d sessions and keys left (%v)", n, err)
	}
	e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "member@example.com", "password": testPassword}).WantProblem(401, coffer.EUNAUTHORIZED)
	e.Do("POST", "/api/v1/users/"+o.member.ID+"/reactivate", o.kOper, nil).WantStatus(204)
	e.MustLogin("member@example.com")
}

// TestOperatorCannotReadNotebooks: operators have no right to notebook data.
func TestOperatorCannotReadNotebooks(t *testing.T) {
	o := mustOrgEnv(t)
	var nb coffer.Notebook
	o.Do("POST", "/api/v1/notebooks", o.kMember, map[string]any{"name": "HR"}).WantStatus(201).JSON(&nb)
	o.Do("GET", "/api/v1/notebooks/"+nb.ID, o.kOper, nil).WantProblem(404, coffer.ENOTFOUND)
	o.Do("GET", "/api/v1/notebooks/"+nb.ID+"/tables", o.kOper, nil).WantProblem(404, coffer.ENOTFOUND)
}

func changePassword(e *Env, key, current, next string, endOthers bool) *Response {
	return e.Do("POST", "/api/v1/auth/password", key, map[string]any{"current_password": current, "new_password": next, "end_other_sessions": endOthers})
}

func login(e *Env, email, pw string) *Response {
	return e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": pw})
}

func sessionAndID(r *Response) (string, string) {
	var s struct {
		Key         string `json:"session_key"`
		Restriction string `json:"restriction"`
	}
	r.JSON(&s)
	return s.Key, s.Restriction
}

// TestPasswordRules: length, context, 2FA minimum, exact verification,
// organization composition rules and history, through the API.
func TestPasswordRules(t *testing.T) {
	o := mustOrgEnv(t)
	e := o.Env
	k := o.kStranger
	changePassword(e, k, "not my password at all", "tq7 vmz bk4 wpx", false).WantProblem(401, coffer.EUNAUTHORIZED)
	p := changePassword(e, k, testPassword, "tq7 vmz bk4 wp", false).WantProblem(400, coffer.EINVALID)
	if len(p.Errors) == 0 || p.Errors[0].Field != "new_password" || strings.Contains(string(p.Errors[0].Message), "tq7") {
		t.Errorf("14 characters: %+v", p)
	}
	changePassword(e, k, testPassword, "Sam Stranger 1234567", false).WantProblem(400, coffer.EINVALID)
	changePassword(e, k, testPassword, "password12345678", false).WantProblem(400, coffer.EINVALID)
	long := strings.Repeat("tq7 vmz bk4 wpx ", 16) // 256 characters
	wantJSON(t, changePassword(e, k, testPassword, long, false), 200)
	login(e, "stranger@example.com", long[:255]).WantProblem(401, coffer.EUNAUTHORIZED)
	login(e, "stranger@example.com", long).WantStatus(200)
	wantJSON(t, changePassword(e, k, long, "tq7 vmz bk4 wpx", false), 200) // 15 characters
	login(e, "stranger@example.com", "tq7 vmz bk4 wpx").WantStatus(200)

	// 8 characters are enough with a second factor.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	changePassword(e, k, "tq7 vmz bk4 wpx", "Kq7vXz2m", false).WantProblem(400, coffer.EINVALID)
	if _, err := db.Exec("INSERT INTO totp_secrets (user_id, secret, confirmed_at, created_at) VALUES (?, ?, 1, 1)", o.stranger.ID, e.sealTOTP(o.stranger.ID, "JBSWY3DPEHPK3PXP")); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, changePassword(e, k, "tq7 vmz bk4 wpx", "Kq7vXz2m", false), 200)

	// Organization rules: min 6 with lower, upper and digit; history 3.
	base := "/api/v1/organizations/" + o.org
	e.Do("PATCH", base, o.kOwner, map[string]any{"policy": map[string]any{"min_length": 6, "require_lower": true, "require_upper": true, "require_digit": true, "password_history": 3}}).WantStatus(200)
	km := o.kMember
	changePassword(e, km, testPassword, "tq7 vmz bk4 wpx", false).WantProblem(400, coffer.EINVALID) // no upper
	wantJSON(t, changePassword(e, km, testPassword, "Vq7mzKb4wp", false), 200)                      // 10 characters
	wantJSON(t, changePassword(e, km, "Vq7mzKb4wp", "Second Pass 2 here", false), 200)
	changePassword(e, km, "Second Pass 2 here", "Vq7mzKb4wp", false).WantProblem(400, coffer.EINVALID)      // in history
	changePassword(e, km, "Second Pass 2 here", "correct Horse battery 9", false).WantStatus(200)           // new
	changePassword(e, km, "correct Horse battery 9", testPassword, false).WantProblem(400, coffer.EINVALID) // no upper/digit
	changePassword(e, km, "correct Horse battery 9", "Vq7mzKb4wp", false).WantProblem(400, coffer.EINVALID) // 3rd back: still remembered
}

// TestPasswordLifetime: no forced change by default, even 400 days later;
// with a 365-day lifetime the next login is restricted until the change.
func TestPasswordLifetime(t *testing.T) {
	o := mustOrgEnv(t)
	e := o.Env
	e.Clock.Advance(400 * 24 * time.Hour)
	key, restr := sessionAndID(login(e, "member@example.com", testPassword).WantStatus(200))
	if restr != "" {
		t.Fatalf("restriction %q without a lifetime policy", restr)
	}
	e.Do("GET", "/api/v1/notebooks", key, nil).WantStatus(200)

	kOwner := e.MustLogin("owner@example.com")
	e.Do("PATCH", "/api/v1/organizations/"+o.org, kOwner, map[string]any{"policy": map[string]any{"password_max_age_days": 365}}).WantStatus(200)
	other, _ := sessionAndID(login(e, "member@example.com", testPassword).WantStatus(200))
	key, restr = sessionAndID(login(e, "member@example.com", testPassword).WantStatus(200))
	if restr != coffer.RestrictChangePassword {
		t.Fatalf("restriction %q, want %q", restr, coffer.RestrictChangePassword)
	}
	e.Do("GET", "/api/v1/notebooks", key, nil).WantProblem(403, coffer.ERESTRICTED)
	e.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(200)
	var res struct {
		SessionsEnded int `json:"sessions_ended"`
	}
	wantJSON(t, changePassword(e, key, testPassword, "a fresh passphrase for the year", true), 200).JSON(&res)
	if res.SessionsEnded < 2 {
		t.Errorf("sessions_ended = %d, want at least 2", res.SessionsEnded)
	}
	e.Do("GET", "/api/v1/notebooks", key, nil).WantStatus(200)
	e.Do("GET", "/api/v1/notebooks", other, nil).WantProblem(401, coffer.EUNAUTHORIZED)
	_, restr = sessionAndID(login(e, "member@example.com", "a fresh passphrase for the year").WantStatus(200))
	if restr != "" {
		t.Errorf("restriction %q right after a change", restr)
	}
}
