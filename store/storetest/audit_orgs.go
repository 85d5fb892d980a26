package storetest

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer"
)

// testAuditOrgs: an organization's owners and admins read its part of
// the log and nothing else; its members are refused (forbidden), others
// answered as for an organization that does not exist.
func testAuditOrgs(t *testing.T, open Opener) {
	s := open(t)
	opCtx := auditOperator(t, s)
	ownerCtx, owner := MustUser(t, s)
	adminCtx, admin := MustUser(t, s)
	memberCtx, member := MustUser(t, s)
	otherCtx, other := MustUser(t, s)
	acme, err := s.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Acme", Owner: owner.Email})
	if err != nil {
		t.Fatal(err)
	}
	globex, err := s.CreateOrganization(opCtx, coffer.OrganizationInput{Name: "Globex", Owner: other.Email})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetOrgMember(ownerCtx, acme.ID, admin.Email, coffer.OrgAdmin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetOrgMember(adminCtx, acme.ID, member.Email, coffer.OrgMember); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(adminCtx, acme.ID, "Sales"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetOrgMember(otherCtx, globex.ID, owner.Email, coffer.OrgMember); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{ownerCtx, adminCtx, opCtx} {
		got := allEntries(t, ctx, s, acme.ID, coffer.AuditFilter{Limit: 2})
		// created, its owner, the admin, the member, the group.
		if len(got) != 5 {
			t.Errorf("%d entries of Acme, want 5: %v", len(got), got)
		}
		for _, e := range got {
			if e.OrgID != acme.ID {
				t.Errorf("Acme's log shows an entry of %q: %+v", e.OrgID, e)
			}
		}
	}
	byAdmin := allEntries(t, ownerCtx, s, acme.ID, coffer.AuditFilter{Actor: admin.ID})
	if len(byAdmin) != 2 {
		t.Errorf("%d entries by the admin, want 2 (member, group)", len(byAdmin))
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		org  string
		want string
	}{
		{"member", memberCtx, acme.ID, coffer.EFORBIDDEN},
		{"owner of another", otherCtx, acme.ID, coffer.ENOTFOUND},
		{"member of another", ownerCtx, globex.ID, coffer.EFORBIDDEN},
		{"no such organization", opCtx, coffer.NewID(coffer.PrefixOrg), coffer.ENOTFOUND},
		{"not an id", ownerCtx, "acme", coffer.ENOTFOUND},
		{"API key", coffer.WithCaller(context.Background(), &coffer.Caller{UserID: owner.ID, APIKeyID: "key_x"}), acme.ID, coffer.ESESSION},
	} {
		if _, err := s.OrgAuditLog(c.ctx, c.org, coffer.AuditFilter{}); coffer.ErrorCode(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := s.AuditLog(ownerCtx, coffer.AuditFilter{}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("AuditLog by an organization owner: %v, want forbidden", err)
	}
}
