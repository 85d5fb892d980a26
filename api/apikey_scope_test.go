package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestAPIKeysReachDataNotTheAccount: an API key, even read-write and
// whether scoped to notebooks or not, reaches the user's data but nothing
// of the account: sessions, API keys, the password, second factors, single
// sign-on links and organizations answer 403 session_required, in the
// HTTP layer and again in the store, and nothing changes.
func TestAPIKeysReachDataNotTheAccount(t *testing.T) {
	f := MustFixture(t)
	ctx := context.Background()
	other := f.MustLogin("alice@example.com")
	aliceID := f.Do("GET", "/api/v1/auth/me", f.Alice, nil).WantStatus(http.StatusOK).Map()["id"].(string)
	bobID := f.Do("GET", "/api/v1/auth/me", f.Bob, nil).WantStatus(http.StatusOK).Map()["id"].(string)
	var sessions struct {
		Sessions []coffer.SessionInfo `json:"sessions"`
	}
	f.Do("GET", "/api/v1/users/me/sessions", f.Alice, nil).WantStatus(http.StatusOK).JSON(&sessions)
	otherSession := ""
	for _, si := range sessions.Sessions {
		if !si.Current {
			otherSession = si.ID
		}
	}
	var full, scoped, spare coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "full"}).WantStatus(http.StatusCreated).JSON(&full)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "scoped", "notebooks": []string{f.NB}}).WantStatus(http.StatusCreated).JSON(&scoped)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "spare", "read_only": true}).WantStatus(http.StatusCreated).JSON(&spare)
	// Alice owns an organization with a group and Bob as a member.
	op, err := f.Store.CreateUser(ctx, coffer.UserInput{Email: "op@example.com", Name: "Op", Password: testPassword, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	opCtx := coffer.WithCaller(ctx, &coffer.Caller{UserID: op.ID, Email: op.Email, Operator: true})
	org, err := f.Store.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Acme", Owner: aliceID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Store.SetOrgMember(opCtx, org.ID, bobID, coffer.OrgMember); err != nil {
		t.Fatal(err)
	}
	grp, err := f.Store.CreateGroup(opCtx, org.ID, "Team")
	if err != nil {
		t.Fatal(err)
	}
	const o = "/api/v1/organizations/"
	endpoints := []struct{ method, path string }{
		{"POST", "/api/v1/auth/logout"},
		{"POST", "/api/v1/auth/logout-others"},
		{"GET", "/api/v1/users/me/sessions"},
		{"GET", "/api/v1/users/" + aliceID + "/sessions"},
		{"DELETE", "/api/v1/sessions/" + otherSession},
		{"GET", "/api/v1/users/me/api-keys"},
		{"POST", "/api/v1/api-keys"},
		{"DELETE", "/api/v1/api-keys/" + spare.ID},
		{"POST", "/api/v1/auth/password"},
		{"GET", "/api/v1/auth/mfa"},
		{"POST", "/api/v1/auth/totp"},
		{"POST", "/api/v1/auth/totp/confirm"},
		{"POST", "/api/v1/auth/totp/disable"},
		{"POST", "/api/v1/auth/recovery-codes"},
		{"GET", "/api/v1/auth/passkeys"},
		{"DELETE", "/api/v1/auth/passkeys/pkey_06h4yecx0g3jhqt38te9qa415w"},
		{"POST", "/api/v1/auth/passkeys/register/begin"},
		{"POST", "/api/v1/auth/passkeys/register/finish"},
		{"POST", "/api/v1/auth/sso/sso_06h4yecx0g3jhqt38te9qa415w/link"},
		{"GET", o + org.ID + "/sso-providers"},
		{"POST", o + org.ID + "/sso-providers"},
		{"DELETE", o + org.ID + "/sso-providers/sso_06h4yecx0g3jhqt38te9qa415w"},
		{"POST", "/api/v1/organizations"},
		{"GET", "/api/v1/organizations"},
		{"GET", o + org.ID},
		{"PATCH", o + org.ID},
		{"DELETE", o + org.ID},
		{"GET", o + org.ID + "/members"},
		{"PUT", o + org.ID + "/members/" + bobID},
		{"DELETE", o + org.ID + "/members/" + bobID},
		{"POST", o + org.ID + "/groups"},
		{"GET", o + org.ID + "/groups"},
		{"PATCH", o + org.ID + "/groups/" + grp.ID},
		{"DELETE", o + org.ID + "/groups/" + grp.ID},
		{"PUT", o + org.ID + "/groups/" + grp.ID + "/members/" + bobID},
		{"DELETE", o + org.ID + "/groups/" + grp.ID + "/members/" + bobID},
		{"POST", "/api/v1/users/" + bobID + "/deactivate"},
		{"POST", "/api/v1/users/" + bobID + "/reactivate"},
	}
	for _, key := range []coffer.APIKey{full, scoped} {
		for _, ep := range endpoints {
			var body any
			if ep.method != "GET" && ep.method != "DELETE" {
				body = map[string]any{}
			}
			if r := f.Do(ep.method, ep.path, key.Key, body); r.Status != http.StatusForbidden {
				t.Errorf("%s key: %s %s: status %d, want 403; body %s", key.Name, ep.method, ep.path, r.Status, r.Body)
			} else {
				r.WantProblem(http.StatusForbidden, coffer.ESESSION)
			}
		}
	}
	// The keys still reach data.
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People/records", scoped.Key, nil).WantStatus(http.StatusOK)
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/tables/People/records/"+f.Recs[0], full.Key, map[string]any{"fields": map[string]any{"age": 40}}).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/auth/me", full.Key, nil).WantStatus(http.StatusOK)

	// The store refuses too, whatever the HTTP layer does.
	kc, err := f.Store.Authenticate(ctx, full.Key)
	if err != nil {
		t.Fatal(err)
	}
	kctx := coffer.WithCaller(ctx, kc)
	name := "Renamed"
	for what, call := range map[string]func() error{
		"ListSessions":        func() error { _, err := f.Store.ListSessions(kctx, aliceID); return err },
		"RevokeSession":       func() error { return f.Store.RevokeSession(kctx, otherSession) },
		"RevokeOtherSessions": func() error { _, err := f.Store.RevokeOtherSessions(kctx); return err },
		"Logout":              func() error { return f.Store.Logout(kctx) },
		"CreateAPIKey":        func() error { _, err := f.Store.CreateAPIKey(kctx, coffer.APIKeyInput{Name: "child"}); return err },
		"ListAPIKeys":         func() error { _, err := f.Store.ListAPIKeys(kctx, aliceID); return err },
		"RevokeAPIKey":        func() error { return f.Store.RevokeAPIKey(kctx, spare.ID) },
		"ChangePassword": func() error {
			_, err := f.Store.ChangePassword(kctx, testPassword, "a brand new passphrase here", true)
			return err
		},
		"MFAStatus":         func() error { _, err := f.Store.MFAStatus(kctx); return err },
		"BeginTOTP":         func() error { _, err := f.Store.BeginTOTP(kctx, testPassword); return err },
		"ListPasskeys":      func() error { _, err := f.Store.ListPasskeys(kctx); return err },
		"StartSSOLink":      func() error { _, err := f.Store.StartSSOLink(kctx, "sso_06h4yecx0g3jhqt38te9qa415w", ""); return err },
		"ListSSOProviders":  func() error { _, err := f.Store.ListSSOProviders(kctx, org.ID); return err },
		"FindOrganizations": func() error { _, err := f.Store.FindOrganizations(kctx); return err },
		"FindOrganization":  func() error { _, err := f.Store.FindOrganization(kctx, org.ID); return err },
		"UpdateOrganization": func() error {
			_, err := f.Store.UpdateOrganization(kctx, org.ID, coffer.OrganizationUpdate{Name: &name})
			return err
		},
		"CreateGroup": func() error { _, err := f.Store.CreateGroup(kctx, org.ID, "Other"); return err },
		"CreateOrganization": func() error {
			_, err := f.Store.CreateOrganization(kctx, coffer.OrganizationInput{Name: "X", Owner: aliceID})
			return err
		},
		"DeactivateUser":    func() error { return f.Store.DeactivateUser(kctx, bobID) },
		"ListOrgMembers":    func() error { _, err := f.Store.ListOrgMembers(kctx, org.ID); return err },
		"RemoveGroupMember": func() error { return f.Store.RemoveGroupMember(kctx, org.ID, grp.ID, bobID) },
		"SetOrgMember":      func() error { _, _, err := f.Store.SetOrgMember(kctx, org.ID, bobID, coffer.OrgAdmin); return err },
	} {
		if err := call(); coffer.ErrorCode(err) != coffer.ESESSION {
			t.Errorf("store %s with an API key: %v, want %s", what, err, coffer.ESESSION)
		}
	}

	// Nothing changed: the other session and the spare key still work,
	// and the organization kept its name.
	f.Do("GET", "/api/v1/notebooks", other, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/notebooks", spare.Key, nil).WantStatus(http.StatusOK)
	if got := f.Do("GET", o+org.ID, f.Alice, nil).WantStatus(http.StatusOK); !strings.Contains(string(got.Body), `"Acme"`) {
		t.Errorf("the organization changed: %s", got.Body)
	}
}
