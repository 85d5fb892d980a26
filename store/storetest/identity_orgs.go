package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/store/all"
)

// orgCode fails unless err has the code.
func orgCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := coffer.ErrorCode(err); got != code {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// testOrgs covers organizations, members, groups, deactivation and
// password changes with history, on every backend.
func testOrgs(t *testing.T, open Opener) {
	s := open(t)
	bg := context.Background()
	n := userSeq.Add(1)
	op, err := s.CreateUser(bg, coffer.UserInput{Email: fmt.Sprintf("op%d@example.com", n), Name: "Operator", Password: TestPassword, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	opCtx := CallerContext(op)
	ownerCtx, owner := MustUser(t, s)
	adminCtx, admin := MustUser(t, s)
	memberCtx, member := MustUser(t, s)
	strangerCtx, _ := MustUser(t, s)

	_, err = s.CreateOrganization(ownerCtx, coffer.OrganizationInput{Name: "Acme", Owner: owner.ID})
	orgCode(t, "CreateOrganization by a non-operator", err, coffer.EFORBIDDEN)
	_, err = s.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Acme", Owner: "nobody@example.com"})
	orgCode(t, "CreateOrganization with an unknown owner", err, coffer.EINVALID)
	org, err := s.CreateOrganization(opCtx, coffer.OrganizationInput{Name: " Acme ", Owner: owner.Email})
	if err != nil {
		t.Fatal(err)
	}
	if org.Name != "Acme" || !coffer.ValidID(coffer.PrefixOrg, org.ID) {
		t.Errorf("organization %+v", org)
	}
	if _, _, err := s.SetOrgMember(ownerCtx, org.ID, admin.Email, coffer.OrgAdmin); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.SetOrgMember(adminCtx, org.ID, member.ID, coffer.OrgMember); err != nil || !created {
		t.Fatalf("admin adds a member: created %v, %v", created, err)
	}

	t.Run("Visibility", func(t *testing.T) {
		testOrgsVisibility(t, opCtx, ownerCtx, memberCtx, strangerCtx, s, org)
	})

	t.Run("Roles", func(t *testing.T) {
		testOrgsRoles(t, s, memberCtx, org, admin, adminCtx, member, owner, ownerCtx, opCtx, op)
	})

	t.Run("Groups", func(t *testing.T) {
		testOrgsGroups(t, s, memberCtx, org, adminCtx, member, op)
	})

	t.Run("Deactivation", func(t *testing.T) {
		testOrgsDeactivation(t, s, bg, member, memberCtx, admin, strangerCtx, adminCtx, owner, op, opCtx)
	})

	t.Run("PasswordHistoryAndLifetime", func(t *testing.T) {
		testOrgsPasswordHistoryAndLifetime(t, s, ownerCtx, org, bg, admin)
	})
	_ = identity.MaxFailedLogins
}

// testOrgsVisibility is the subtest Visibility of testOrgs.
func testOrgsVisibility(t *testing.T, opCtx context.Context, ownerCtx context.Context, memberCtx context.Context, strangerCtx context.Context, s *all.Store, org *coffer.Organization) {
	for _, c := range []struct {
		name string
		ctx  context.Context
		want int
	}{{"operator", opCtx, 1}, {"owner", ownerCtx, 1}, {"member", memberCtx, 1}, {"stranger", strangerCtx, 0}} {
		l, err := s.FindOrganizations(c.ctx)
		if err != nil || len(l) < c.want || (c.want == 0 && len(l) != 0) {
			t.Errorf("%s: FindOrganizations = %d, %v", c.name, len(l), err)
		}
	}
	_, err := s.FindOrganization(strangerCtx, org.ID)
	orgCode(t, "stranger FindOrganization", err, coffer.ENOTFOUND)
	_, err = s.ListOrgMembers(strangerCtx, org.ID)
	orgCode(t, "stranger ListOrgMembers", err, coffer.ENOTFOUND)
	ms, err := s.ListOrgMembers(memberCtx, org.ID)
	if err != nil || len(ms) != 3 {
		t.Errorf("ListOrgMembers = %d, %v", len(ms), err)
	}
}

// testOrgsRoles is the subtest Roles of testOrgs.
func testOrgsRoles(t *testing.T, s *all.Store, memberCtx context.Context, org *coffer.Organization, admin *coffer.User, adminCtx context.Context, member *coffer.User, owner *coffer.User, ownerCtx context.Context, opCtx context.Context, op *coffer.User) {
	_, _, err := s.SetOrgMember(memberCtx, org.ID, admin.ID, coffer.OrgMember)
	orgCode(t, "member changes a role", err, coffer.EFORBIDDEN)
	_, _, err = s.SetOrgMember(adminCtx, org.ID, member.ID, coffer.OrgOwner)
	orgCode(t, "admin makes an owner", err, coffer.EFORBIDDEN)
	_, _, err = s.SetOrgMember(adminCtx, org.ID, owner.ID, coffer.OrgMember)
	orgCode(t, "admin demotes an owner", err, coffer.EFORBIDDEN)
	_, _, err = s.SetOrgMember(ownerCtx, org.ID, owner.ID, coffer.OrgAdmin)
	orgCode(t, "the last owner demotes themselves", err, coffer.ECONFLICT)
	orgCode(t, "the last owner leaves", s.RemoveOrgMember(ownerCtx, org.ID, owner.ID), coffer.ECONFLICT)
	orgCode(t, "operator removes the last owner", s.RemoveOrgMember(opCtx, org.ID, owner.ID), coffer.ECONFLICT)
	_, _, err = s.SetOrgMember(ownerCtx, org.ID, member.ID, "root")
	orgCode(t, "unknown role", err, coffer.EINVALID)
	_, _, err = s.SetOrgMember(ownerCtx, org.ID, "ghost@example.com", coffer.OrgMember)
	orgCode(t, "unknown user", err, coffer.ENOTFOUND)
	_, err = s.UpdateOrganization(adminCtx, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{History: 3}})
	orgCode(t, "admin changes the policy", err, coffer.EFORBIDDEN)
	orgCode(t, "owner deletes the organization", s.DeleteOrganization(ownerCtx, org.ID), coffer.EFORBIDDEN)
	_, err = s.UpdateOrganization(ownerCtx, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{MinLength: 5}})
	orgCode(t, "min length 5", err, coffer.EINVALID)
	_, err = s.UpdateOrganization(ownerCtx, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{SSODomains: []string{"not a domain"}}})
	orgCode(t, "bad domain", err, coffer.EINVALID)
	o, err := s.UpdateOrganization(ownerCtx, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{SSODomains: []string{"Acme.Example"}, RestrictSharing: true}})
	if err != nil || len(o.Policy.SSODomains) != 1 || o.Policy.SSODomains[0] != "acme.example" || !o.Policy.RestrictSharing {
		t.Errorf("UpdateOrganization policy: %+v, %v", o, err)
	}
	other, err := s.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Other", Owner: op.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateOrganization(opCtx, other.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{SSODomains: []string{"acme.example"}}})
	orgCode(t, "a domain claimed twice", err, coffer.ECONFLICT)
	if err := s.DeleteOrganization(opCtx, other.ID); err != nil {
		t.Error(err)
	}
}

// testOrgsGroups is the subtest Groups of testOrgs.
func testOrgsGroups(t *testing.T, s *all.Store, memberCtx context.Context, org *coffer.Organization, adminCtx context.Context, member *coffer.User, op *coffer.User) {
	_, err := s.CreateGroup(memberCtx, org.ID, "Sales")
	orgCode(t, "member creates a group", err, coffer.EFORBIDDEN)
	g, err := s.CreateGroup(adminCtx, org.ID, "Sales")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateGroup(adminCtx, org.ID, "Sales")
	orgCode(t, "duplicate group", err, coffer.ECONFLICT)
	if err := s.AddGroupMember(adminCtx, org.ID, g.ID, member.Email); err != nil {
		t.Fatal(err)
	}
	orgCode(t, "stranger in a group", s.AddGroupMember(adminCtx, org.ID, g.ID, op.ID), coffer.EINVALID)
	gs, err := s.FindGroups(memberCtx, org.ID)
	if err != nil || len(gs) != 1 || len(gs[0].Members) != 1 || gs[0].Members[0] != member.ID {
		t.Errorf("FindGroups = %+v, %v", gs, err)
	}
	if g, err = s.RenameGroup(adminCtx, org.ID, g.ID, "Sales EU"); err != nil || g.Name != "Sales EU" {
		t.Errorf("RenameGroup: %+v %v", g, err)
	}
	if err := s.RemoveGroupMember(adminCtx, org.ID, g.ID, member.ID); err != nil {
		t.Error(err)
	}
	orgCode(t, "remove a non-member of the group", s.RemoveGroupMember(adminCtx, org.ID, g.ID, member.ID), coffer.ENOTFOUND)
	if err := s.DeleteGroup(adminCtx, org.ID, g.ID); err != nil {
		t.Error(err)
	}
	_, err = s.RenameGroup(adminCtx, org.ID, g.ID, "x")
	orgCode(t, "rename a deleted group", err, coffer.ENOTFOUND)
}

// testOrgsDeactivation is the subtest Deactivation of testOrgs.
func testOrgsDeactivation(t *testing.T, s *all.Store, bg context.Context, member *coffer.User, memberCtx context.Context, admin *coffer.User, strangerCtx context.Context, adminCtx context.Context, owner *coffer.User, op *coffer.User, opCtx context.Context) {
	res, err := s.Login(bg, member.Email, TestPassword)
	if err != nil || res.Session == nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := s.Authenticate(bg, res.Session.Key); err != nil {
		t.Fatal(err)
	}
	orgCode(t, "member deactivates", s.DeactivateUser(memberCtx, admin.ID), coffer.EFORBIDDEN)
	orgCode(t, "stranger deactivates", s.DeactivateUser(strangerCtx, member.ID), coffer.ENOTFOUND)
	orgCode(t, "admin deactivates the owner", s.DeactivateUser(adminCtx, owner.ID), coffer.EFORBIDDEN)
	orgCode(t, "admin deactivates an operator", s.DeactivateUser(adminCtx, op.ID), coffer.ENOTFOUND)
	if err := s.DeactivateUser(adminCtx, member.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(bg, res.Session.Key)
	orgCode(t, "session after deactivation", err, coffer.EUNAUTHORIZED)
	_, err = s.Login(bg, member.Email, TestPassword)
	orgCode(t, "login after deactivation", err, coffer.EUNAUTHORIZED)
	if err := s.ReactivateUser(opCtx, member.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(bg, member.Email, TestPassword); err != nil {
		t.Errorf("login after reactivation: %v", err)
	}
	_, err = s.Authenticate(bg, res.Session.Key)
	orgCode(t, "old session after reactivation", err, coffer.EUNAUTHORIZED)
}

// testOrgsPasswordHistoryAndLifetime is the subtest PasswordHistoryAndLifetime of testOrgs.
func testOrgsPasswordHistoryAndLifetime(t *testing.T, s *all.Store, ownerCtx context.Context, org *coffer.Organization, bg context.Context, admin *coffer.User) {
	if _, err := s.UpdateOrganization(ownerCtx, org.ID, coffer.OrganizationUpdate{Policy: &coffer.Policy{History: 2, MaxAgeDays: 30}}); err != nil {
		t.Fatal(err)
	}
	login := func(pw string) (context.Context, *coffer.Session) {
		t.Helper()
		res, err := s.Login(bg, admin.Email, pw)
		if err != nil || res.Session == nil {
			t.Fatalf("login: %v", err)
		}
		c, err := s.Authenticate(bg, res.Session.Key)
		if err != nil {
			t.Fatal(err)
		}
		return coffer.WithCaller(bg, c), res.Session
	}
	ctx, _ := login(TestPassword)
	_, err := s.ChangePassword(ctx, "wrong password entirely", "a brand new passphrase here", false)
	orgCode(t, "wrong current password", err, coffer.EUNAUTHORIZED)
	_, err = s.ChangePassword(ctx, TestPassword, TestPassword, false)
	orgCode(t, "same password", err, coffer.EINVALID)
	// Made only of the organization's name and "coffer" (NIST SP 800-63B context words).
	_, err = s.ChangePassword(ctx, TestPassword, "Acme-Coffer-Acme-2026-Acme", false)
	orgCode(t, "password made of the organization's name", err, coffer.EINVALID)
	const second = "a brand new passphrase here"
	if _, err := s.ChangePassword(ctx, TestPassword, second, false); err != nil {
		t.Fatal(err)
	}
	_, err = s.ChangePassword(ctx, second, TestPassword, false)
	orgCode(t, "reuse of the previous password (history 2)", err, coffer.EINVALID)
	if _, err := s.ChangePassword(ctx, second, "third passphrase for the history", false); err != nil {
		t.Fatal(err)
	}
	// History 2 remembers the current and one previous: the first one is free again.
	if _, err := s.ChangePassword(ctx, "third passphrase for the history", TestPassword, false); err != nil {
		t.Errorf("password older than the history: %v", err)
	}
	// Lifetime: 31 days later the next login is restricted.
	now := s.Now
	s.Now = func() time.Time { return now().Add(31 * 24 * time.Hour) }
	defer func() { s.Now = now }()
	ctx, sess := login(TestPassword)
	if sess.Restriction != coffer.RestrictChangePassword {
		t.Fatalf("restriction %q after the lifetime, want %q", sess.Restriction, coffer.RestrictChangePassword)
	}
	if _, err := s.ChangePassword(ctx, TestPassword, "fourth passphrase, after expiry", true); err != nil {
		t.Fatal(err)
	}
	c, err := s.Authenticate(bg, sess.Key)
	if err != nil || c.Restriction != "" {
		t.Errorf("after the change: restriction %q, %v", c.Restriction, err)
	}
}
