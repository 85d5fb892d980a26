package api_test

import (
	"net/url"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestAuditEndpoints: operators read the whole audit log; an
// organization's owners and admins its part only; members are refused,
// strangers answered as for a missing organization; filters, pages and
// bad queries.
func TestAuditEndpoints(t *testing.T) {
	o := mustOrgEnv(t)
	e := o.Env
	var other coffer.Organization
	e.Do("POST", "/api/v1/organizations", o.kOper, map[string]any{"name": "Globex", "owner": "stranger@example.com"}).WantStatus(201).JSON(&other)
	base := "/api/v1/organizations/" + o.org + "/audit"
	for _, key := range []string{o.kOwner, o.kAdmin, o.kOper} {
		var page coffer.AuditPage
		e.Do("GET", base, key, nil).WantStatus(200).JSON(&page)
		// Created, its owner, the admin, the member.
		if len(page.Entries) != 4 {
			t.Errorf("%d entries of the organization, want 4: %+v", len(page.Entries), page.Entries)
		}
		for i, en := range page.Entries {
			if en.OrgID != o.org || en.Hash == "" || (i > 0 && en.Index >= page.Entries[i-1].Index) {
				t.Errorf("entry %+v", en)
			}
		}
	}
	e.Do("GET", base, o.kMember, nil).WantProblem(403, coffer.EFORBIDDEN)
	e.Do("GET", base, o.kStranger, nil).WantProblem(404, coffer.ENOTFOUND)
	e.Do("GET", "/api/v1/audit", o.kOwner, nil).WantProblem(403, coffer.EFORBIDDEN)
	e.Do("GET", "/api/v1/audit", "", nil).WantProblem(401, coffer.EUNAUTHORIZED)

	// Pages of two, by kind; by actor.
	q := url.Values{"kind": {coffer.EventMembershipChange}, "limit": {"2"}}
	var page coffer.AuditPage
	e.Do("GET", base+"?"+q.Encode(), o.kOwner, nil).WantStatus(200).JSON(&page)
	if len(page.Entries) != 2 || page.Entries[0].UserID != o.member.ID || page.Entries[1].UserID != o.admin.ID || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	q.Set("cursor", *page.NextCursor)
	e.Do("GET", base+"?"+q.Encode(), o.kOwner, nil).WantStatus(200).JSON(&page)
	if len(page.Entries) != 1 || page.Entries[0].UserID != o.owner.ID || page.NextCursor != nil {
		t.Errorf("second page %+v, want the owner's membership, last", page)
	}
	e.Do("GET", base+"?actor="+o.admin.ID, o.kOwner, nil).WantStatus(200).JSON(&page)
	if len(page.Entries) != 1 || page.Entries[0].Actor != o.admin.ID || page.Entries[0].IP == "" || page.Entries[0].UserAgent == "" {
		t.Errorf("entries by the admin %+v", page.Entries)
	}
	var all coffer.AuditPage
	e.Do("GET", "/api/v1/audit?since=2000-01-01T00:00:00Z", o.kOper, nil).WantStatus(200).JSON(&all)
	if len(all.Entries) < 10 {
		t.Errorf("the operator sees %d entries", len(all.Entries))
	}
	for _, bad := range []string{"?limit=0", "?limit=501", "?since=yesterday", "?cursor=abc", "?kind=a&kind=b", "?sort=at"} {
		e.Do("GET", "/api/v1/audit"+bad, o.kOper, nil).WantProblem(400, coffer.EINVALID)
	}
}
