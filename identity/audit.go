package identity

import (
	"context"

	"github.com/cofferhq/coffer"
)

// AuditLog lists the whole audit log, newest first, for instance
// operators signed in with a session. Others get EFORBIDDEN; a bad filter
// or cursor EINVALID.
func (s *Service) AuditLog(ctx context.Context, f coffer.AuditFilter) (*coffer.AuditPage, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !c.Operator {
		return nil, errNotOperator
	}
	return s.Audit.List(ctx, "", f)
}

// OrgAuditLog lists the entries of an organization (its changes, members,
// groups and single sign-on), newest first, for its owners and admins and
// for operators. Members get EFORBIDDEN; callers outside the
// organization ENOTFOUND, as for one that does not exist.
func (s *Service) OrgAuditLog(ctx context.Context, orgID string, f coffer.AuditFilter) (*coffer.AuditPage, error) {
	if _, _, err := s.orgWriter(ctx, s.Inst.R, orgID); err != nil {
		return nil, s.Wrap("OrgAuditLog", err)
	}
	return s.Audit.List(ctx, orgID, f)
}
