package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

var _ coffer.OrgService = (*Service)(nil)
var _ coffer.AccountService = (*Service)(nil)

// Bounds of organization policies.
const (
	maxPolicyAgeDays     = 3650
	maxPolicyIdleMinutes = 24 * 60
	maxPolicyAbsHours    = 30 * 24
	maxSSODomains        = 50
)

// roleOperator is the rank of an instance operator in orgAccess.
const roleOperator = "operator"

func roleRank(role string) int {
	switch role {
	case coffer.OrgMember:
		return 1
	case coffer.OrgAdmin:
		return 2
	case coffer.OrgOwner:
		return 3
	case roleOperator:
		return 4
	}
	return 0
}

var (
	errNotOrgAdmin = coffer.Errorf(coffer.EFORBIDDEN, "only the organization's owners and admins may do this")
	errNotOrgOwner = coffer.Errorf(coffer.EFORBIDDEN, "only the organization's owners may do this")
	errNotOperator = coffer.Errorf(coffer.EFORBIDDEN, "only instance operators may do this")
)

// orgAccess returns the caller and its role in the organization
// (roleOperator for an operator signed in as a person). Callers who are
// not members get ENOTFOUND.
func (s *Service) orgAccess(ctx context.Context, q catalog.Querier, orgID string) (*coffer.Caller, string, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, "", err
	}
	if !coffer.ValidID(coffer.PrefixOrg, orgID) {
		return nil, "", errOrgNotFound
	}
	var n int
	if err := q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"organizations WHERE id = ?"), orgID).Scan(&n); err != nil {
		return nil, "", err
	}
	if n == 0 {
		return nil, "", errOrgNotFound
	}
	if c.Operator && c.APIKeyID == "" {
		return c, roleOperator, nil
	}
	role, err := s.orgRole(ctx, q, orgID, c.UserID)
	if err != nil {
		return nil, "", err
	}
	if role == "" {
		return nil, "", errOrgNotFound
	}
	return c, role, nil
}

// orgWriter is orgAccess for changes: API keys and members get EFORBIDDEN;
// it returns the role of an admin, owner or operator.
func (s *Service) orgWriter(ctx context.Context, q catalog.Querier, orgID string) (*coffer.Caller, string, error) {
	c, role, err := s.orgAccess(ctx, q, orgID)
	if err != nil {
		return nil, "", err
	}
	if c.APIKeyID != "" || roleRank(role) < roleRank(coffer.OrgAdmin) {
		return nil, "", errNotOrgAdmin
	}
	return c, role, nil
}

// resolveUser finds an account by id or e-mail address. ENOTFOUND.
func (s *Service) resolveUser(ctx context.Context, q catalog.Querier, ref string) (*coffer.User, bool, error) {
	ref = strings.TrimSpace(ref)
	where, arg := "id = ?", ref
	if !coffer.ValidID(coffer.PrefixUser, ref) {
		_, key, ok := normalizeEmail(ref)
		if !ok {
			return nil, false, catalog.ErrUserNotFound
		}
		where, arg = "email_key = ?", key
	}
	var u coffer.User
	var created int64
	var deactivated sql.NullInt64
	err := q.QueryRowContext(ctx, s.Rebind("SELECT id, email, name, operator, created_at, deactivated_at FROM "+s.Inst.Prefix+"users WHERE "+where), arg).
		Scan(&u.ID, &u.Email, &u.Name, &u.Operator, &created, &deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, catalog.ErrUserNotFound
	}
	if err != nil {
		return nil, false, err
	}
	u.CreatedAt = store.FromMicros(created)
	return &u, deactivated.Valid, nil
}

func checkOrgName(name string) (string, *coffer.FieldError) {
	name, msg := coffer.CheckName(name, 200)
	if msg != "" {
		return "", &coffer.FieldError{Field: "name", Message: msg}
	}
	return name, nil
}

// validDomain reports whether d is a syntactically valid DNS name with at
// least two labels (lowercase letters, digits and hyphens).
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkPolicy validates a policy and normalizes its SSO domains.
func checkPolicy(p *coffer.Policy) []coffer.FieldError {
	var out []coffer.FieldError
	bad := func(field, msg string) { out = append(out, coffer.FieldError{Field: "policy." + field, Message: msg}) }
	if p.MinLength != 0 && (p.MinLength < auth.MinPolicyLength || p.MinLength > auth.MaxPolicyLength) {
		bad("min_length", fmt.Sprintf("must be 0 (the default) or from %d to %d", auth.MinPolicyLength, auth.MaxPolicyLength))
	}
	if p.History < 0 || p.History > maxPolicyHistory {
		bad("password_history", fmt.Sprintf("must be from 0 to %d", maxPolicyHistory))
	}
	if p.MaxAgeDays < 0 || p.MaxAgeDays > maxPolicyAgeDays {
		bad("password_max_age_days", fmt.Sprintf("must be 0 (no expiry) or from 1 to %d", maxPolicyAgeDays))
	}
	if p.IdleTimeoutMinutes < 0 || p.IdleTimeoutMinutes > maxPolicyIdleMinutes {
		bad("idle_timeout_minutes", fmt.Sprintf("must be 0 (the default, 60) or from 1 to %d", maxPolicyIdleMinutes))
	}
	if p.AbsoluteTimeoutHours < 0 || p.AbsoluteTimeoutHours > maxPolicyAbsHours {
		bad("absolute_timeout_hours", fmt.Sprintf("must be 0 (the default, 24) or from 1 to %d", maxPolicyAbsHours))
	}
	if len(p.SSODomains) > maxSSODomains {
		bad("sso_domains", fmt.Sprintf("must have at most %d domains", maxSSODomains))
	}
	seen := map[string]bool{}
	var doms []string
	for _, d := range p.SSODomains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if !validDomain(d) {
			bad("sso_domains", "must be domain names such as example.com")
			break
		}
		if !seen[d] {
			seen[d] = true
			doms = append(doms, d)
		}
	}
	sort.Strings(doms)
	p.SSODomains = doms
	return out
}

func scanOrg(row interface{ Scan(...any) error }) (*coffer.Organization, error) {
	var o coffer.Organization
	var raw string
	var created, updated int64
	if err := row.Scan(&o.ID, &o.Name, &raw, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(raw), &o.Policy); err != nil {
		return nil, fmt.Errorf("organization policy: %w", err)
	}
	o.CreatedAt, o.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return &o, nil
}

const orgCols = "id, name, policy, created_at, updated_at"

func (s *Service) loadOrg(ctx context.Context, q catalog.Querier, id string) (*coffer.Organization, error) {
	o, err := scanOrg(q.QueryRowContext(ctx, s.Rebind("SELECT "+orgCols+" FROM "+s.Inst.Prefix+"organizations WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	}
	return o, err
}

// CreateOrganization creates an organization and makes in.Owner its first
// owner. Only operators create organizations: an organization is a
// customer account of the instance, set up by whoever runs it.
func (s *Service) CreateOrganization(ctx context.Context, in coffer.OrganizationInput) (*coffer.Organization, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !c.Operator || c.APIKeyID != "" {
		return nil, errNotOperator
	}
	var fields []coffer.FieldError
	name, fe := checkOrgName(in.Name)
	if fe != nil {
		fields = append(fields, *fe)
	}
	if strings.TrimSpace(in.Owner) == "" {
		fields = append(fields, coffer.FieldError{Field: "owner", Message: "must name an existing account (id or e-mail address)"})
	}
	if len(fields) > 0 {
		return nil, coffer.Invalid("the organization is not valid", fields...)
	}
	now := s.NowMicros()
	o := &coffer.Organization{ID: coffer.NewID(coffer.PrefixOrg), Name: name, CreatedAt: store.FromMicros(now), UpdatedAt: store.FromMicros(now)}
	err = s.Write(ctx, s.Inst, "CreateOrganization", func(tx *store.WriteTx) error {
		owner, deactivated, err := s.resolveUser(ctx, tx, in.Owner)
		if err != nil || deactivated {
			return coffer.Invalid("the organization is not valid", coffer.FieldError{Field: "owner", Message: "must name an existing, active account"})
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)"),
			o.ID, name, now, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)"),
			o.ID, owner.ID, coffer.OrgOwner, now); err != nil {
			return err
		}
		if err := s.OrgEvent(ctx, tx, o.ID, coffer.EventOrgChanged, c.UserID, c.Email, "created "+o.ID); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, o.ID, coffer.EventMembershipChange, owner.ID, owner.Email, o.ID+" "+coffer.OrgOwner)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// FindOrganizations lists the caller's organizations; an operator's list
// holds every organization.
func (s *Service) FindOrganizations(ctx context.Context) ([]*coffer.Organization, error) {
	c, err := accountCaller(ctx)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + orgCols + " FROM " + s.Inst.Prefix + "organizations"
	var args []any
	if !c.Operator || c.APIKeyID != "" {
		q += " WHERE id IN (SELECT org_id FROM " + s.Inst.Prefix + "org_members WHERE user_id = ?)"
		args = append(args, c.UserID)
	}
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind(q+" ORDER BY name, id"), args...)
	if err != nil {
		return nil, s.Wrap("FindOrganizations", err)
	}
	defer rows.Close()
	out := []*coffer.Organization{}
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, s.Wrap("FindOrganizations", err)
		}
		out = append(out, o)
	}
	return out, s.Wrap("FindOrganizations", rows.Err())
}

// FindOrganization returns an organization the caller belongs to (any
// organization for an operator). ENOTFOUND.
func (s *Service) FindOrganization(ctx context.Context, id string) (*coffer.Organization, error) {
	var o *coffer.Organization
	err := s.read(ctx, "FindOrganization", func(q catalog.Querier) error {
		if _, _, err := s.orgAccess(ctx, q, id); err != nil {
			return err
		}
		var err error
		o, err = s.loadOrg(ctx, q, id)
		return err
	})
	return o, err
}

// UpdateOrganization renames an organization or replaces its policy.
// Owners and operators.
func (s *Service) UpdateOrganization(ctx context.Context, id string, upd coffer.OrganizationUpdate) (*coffer.Organization, error) {
	var fields []coffer.FieldError
	var name string
	if upd.Name != nil {
		var fe *coffer.FieldError
		if name, fe = checkOrgName(*upd.Name); fe != nil {
			fields = append(fields, *fe)
		}
	}
	var pol coffer.Policy
	if upd.Policy != nil {
		pol = *upd.Policy
		fields = append(fields, checkPolicy(&pol)...)
	}
	var o *coffer.Organization
	err := s.Write(ctx, s.Inst, "UpdateOrganization", func(tx *store.WriteTx) error {
		c, role, err := s.orgWriter(ctx, tx, id)
		if err != nil {
			return err
		}
		if roleRank(role) < roleRank(coffer.OrgOwner) {
			return errNotOrgOwner
		}
		if len(fields) > 0 {
			return coffer.Invalid("the organization is not valid", fields...)
		}
		if o, err = s.loadOrg(ctx, tx, id); err != nil {
			return err
		}
		if upd.Name != nil {
			o.Name = name
		}
		if upd.Policy != nil {
			if err := s.checkDomainsFree(ctx, tx, id, pol.SSODomains); err != nil {
				return err
			}
			o.Policy = pol
		}
		raw, err := json.Marshal(o.Policy)
		if err != nil {
			return err
		}
		now := s.NowMicros()
		o.UpdatedAt = store.FromMicros(now)
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"organizations SET name = ?, policy = ?, updated_at = ? WHERE id = ?"),
			o.Name, string(raw), now, id); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, id, coffer.EventOrgChanged, c.UserID, c.Email, "updated "+id)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// checkDomainsFree returns ECONFLICT when another organization claims one
// of the SSO domains (at their first SSO login, people join the one
// organization of their domain).
func (s *Service) checkDomainsFree(ctx context.Context, q catalog.Querier, orgID string, domains []string) error {
	if len(domains) == 0 {
		return nil
	}
	mine := map[string]bool{}
	for _, d := range domains {
		mine[d] = true
	}
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT "+orgCols+" FROM "+s.Inst.Prefix+"organizations WHERE id <> ?"), orgID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return err
		}
		for _, d := range o.Policy.SSODomains {
			if mine[d] {
				return &coffer.Error{Code: coffer.ECONFLICT, Message: "another organization already claims an SSO domain",
					Fields: []coffer.FieldError{{Field: "policy.sso_domains", Message: d + " belongs to another organization"}}}
			}
		}
	}
	return rows.Err()
}

// DeleteOrganization deletes an organization, its memberships and groups.
// Operators only.
func (s *Service) DeleteOrganization(ctx context.Context, id string) error {
	// Group memberships decide notebook access: compiled rights are recomputed.
	defer s.ForgetAccess("")
	return s.Write(ctx, s.Inst, "DeleteOrganization", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, role, err := s.orgAccess(ctx, tx, id)
		if err != nil {
			return err
		}
		if role != roleOperator {
			return errNotOperator
		}
		// Explicit deletes: foreign-key cascades are not relied upon.
		for _, q := range []string{
			"DELETE FROM " + s.Inst.Prefix + "group_members WHERE group_id IN (SELECT id FROM " + s.Inst.Prefix + "user_groups WHERE org_id = ?)",
			"DELETE FROM " + s.Inst.Prefix + "user_groups WHERE org_id = ?",
			"DELETE FROM " + s.Inst.Prefix + "org_members WHERE org_id = ?",
			"DELETE FROM " + s.Inst.Prefix + "organizations WHERE id = ?",
		} {
			if _, err := tx.ExecContext(ctx, s.Rebind(q), id); err != nil {
				return err
			}
		}
		return s.OrgEvent(ctx, tx, id, coffer.EventOrgChanged, c.UserID, c.Email, "deleted "+id)
	}))
}

// ListOrgMembers lists an organization's members by e-mail address.
func (s *Service) ListOrgMembers(ctx context.Context, orgID string) ([]*coffer.Membership, error) {
	out := []*coffer.Membership{}
	err := s.read(ctx, "ListOrgMembers", func(q catalog.Querier) error {
		if _, _, err := s.orgAccess(ctx, q, orgID); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, s.Rebind("SELECT u.id, u.email, u.name, u.operator, u.created_at, m.role FROM "+s.Inst.Prefix+"org_members m JOIN "+
			s.Inst.Prefix+"users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY u.email_key"), orgID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u coffer.User
			var m coffer.Membership
			var created int64
			if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Operator, &created, &m.Role); err != nil {
				return err
			}
			u.CreatedAt = store.FromMicros(created)
			m.User = &u
			out = append(out, &m)
		}
		return rows.Err()
	})
	return out, err
}

func (s *Service) ownerCount(ctx context.Context, q catalog.Querier, orgID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"org_members WHERE org_id = ? AND role = ?"), orgID, coffer.OrgOwner).Scan(&n)
	return n, err
}

// SetOrgMember adds a user to an organization or changes a member's role.
func (s *Service) SetOrgMember(ctx context.Context, orgID, user, role string) (*coffer.Membership, bool, error) {
	// Group names and organizations decide @user.groups: compiled rights are recomputed.
	defer s.ForgetAccess("")
	var m *coffer.Membership
	var created bool
	err := s.Write(ctx, s.Inst, "SetOrgMember", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, myRole, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if roleRank(role) == 0 || role == roleOperator {
			return coffer.Invalid("the role is not valid", coffer.FieldError{Field: "role", Message: "must be org-owner, org-admin or member"})
		}
		u, cur, err := s.userAndRole(ctx, tx, orgID, user)
		if err != nil {
			return err
		}
		// Owners are made, changed and removed by owners (and operators).
		if (role == coffer.OrgOwner || cur == coffer.OrgOwner) && roleRank(myRole) < roleRank(coffer.OrgOwner) {
			return errNotOrgOwner
		}
		m = &coffer.Membership{User: u, Role: role}
		if cur == role {
			return nil
		}
		if cur == coffer.OrgOwner {
			n, err := s.ownerCount(ctx, tx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return coffer.Errorf(coffer.ECONFLICT, "the last owner of an organization cannot be demoted: make another member owner first")
			}
		}
		if cur == "" {
			created = true
			_, err = tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)"),
				orgID, u.ID, role, s.NowMicros())
		} else {
			_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"org_members SET role = ? WHERE org_id = ? AND user_id = ?"), role, orgID, u.ID)
		}
		if err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventMembershipChange, u.ID, u.Email, fmt.Sprintf("%s %s by %s", orgID, role, c.UserID))
	}))
	if err != nil {
		return nil, false, err
	}
	return m, created, nil
}

// RemoveOrgMember removes a member from an organization and its groups.
func (s *Service) RemoveOrgMember(ctx context.Context, orgID, user string) error {
	// Group memberships decide notebook access: compiled rights are recomputed.
	defer s.ForgetAccess("")
	return s.Write(ctx, s.Inst, "RemoveOrgMember", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, myRole, err := s.orgAccess(ctx, tx, orgID)
		if err != nil {
			return err
		}
		u, cur, err := s.userAndRole(ctx, tx, orgID, user)
		if err != nil {
			return err
		}
		self := u.ID == c.UserID && c.APIKeyID == ""
		if !self {
			if c.APIKeyID != "" || roleRank(myRole) < roleRank(coffer.OrgAdmin) {
				return errNotOrgAdmin
			}
			if cur == "" {
				return catalog.ErrUserNotFound
			}
			if cur == coffer.OrgOwner && roleRank(myRole) < roleRank(coffer.OrgOwner) {
				return errNotOrgOwner
			}
		}
		if cur == "" {
			return catalog.ErrUserNotFound
		}
		if cur == coffer.OrgOwner {
			n, err := s.ownerCount(ctx, tx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return coffer.Errorf(coffer.ECONFLICT, "the last owner of an organization cannot be removed: make another member owner first")
			}
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"group_members WHERE user_id = ? AND group_id IN (SELECT id FROM "+
			s.Inst.Prefix+"user_groups WHERE org_id = ?)"), u.ID, orgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"org_members WHERE org_id = ? AND user_id = ?"), orgID, u.ID); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventMembershipChange, u.ID, u.Email, fmt.Sprintf("%s removed by %s", orgID, c.UserID))
	}))
}
