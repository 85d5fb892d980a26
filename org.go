package coffer

import "context"

// OrganizationInput describes an organization to create: its name and its
// first owner (an existing account, by id or e-mail address).
type OrganizationInput struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
}

// OrganizationUpdate changes an organization; nil fields stay as they are.
// Policy replaces the whole policy.
type OrganizationUpdate struct {
	Name   *string `json:"name,omitempty"`
	Policy *Policy `json:"policy,omitempty"`
}

// OrgService manages organizations, their members and groups.
//
// Rights: instance operators (signed in, not through an API key) may do
// everything; an organization's owners may change its name and policy and
// manage every member; its admins manage members (but not owners) and
// groups; its members may read the organization, its members and its
// groups. Anyone else gets ENOTFOUND, as if the organization did not exist.
// API keys only read.
type OrgService interface {
	// CreateOrganization creates an organization with a first owner.
	// Operators only (EFORBIDDEN); EINVALID for a bad name or an unknown
	// owner.
	CreateOrganization(ctx context.Context, in OrganizationInput) (*Organization, error)
	// FindOrganizations lists the caller's organizations (every one for
	// an operator), by name.
	FindOrganizations(ctx context.Context) ([]*Organization, error)
	// FindOrganization returns an organization of the caller. ENOTFOUND.
	FindOrganization(ctx context.Context, id string) (*Organization, error)
	// UpdateOrganization renames an organization or replaces its policy.
	// Owners and operators; EFORBIDDEN for admins and members; EINVALID
	// for a bad name or policy; ECONFLICT for an SSO domain another
	// organization claims.
	UpdateOrganization(ctx context.Context, id string, upd OrganizationUpdate) (*Organization, error)
	// DeleteOrganization deletes an organization with its memberships and
	// groups (the accounts stay). Operators only: EFORBIDDEN.
	DeleteOrganization(ctx context.Context, id string) error

	// ListOrgMembers lists the members with their roles. ENOTFOUND.
	ListOrgMembers(ctx context.Context, orgID string) ([]*Membership, error)
	// SetOrgMember adds a user (by id or e-mail address) to the
	// organization with role, or changes the role of a member; created
	// reports an addition. Admins may not make, change or remove owners
	// (EFORBIDDEN); the last owner cannot be demoted (ECONFLICT); ENOTFOUND
	// for an unknown user; EINVALID for an unknown role.
	SetOrgMember(ctx context.Context, orgID, user, role string) (m *Membership, created bool, err error)
	// RemoveOrgMember removes a member (and from the organization's
	// groups). Admins and owners, or the member themselves (leaving); the
	// last owner cannot leave (ECONFLICT). ENOTFOUND.
	RemoveOrgMember(ctx context.Context, orgID, user string) error

	// CreateGroup creates a group. Admins; ECONFLICT for a taken name.
	CreateGroup(ctx context.Context, orgID, name string) (*Group, error)
	// FindGroups lists the organization's groups with their members.
	FindGroups(ctx context.Context, orgID string) ([]*Group, error)
	// RenameGroup renames a group. Admins; ECONFLICT; ENOTFOUND.
	RenameGroup(ctx context.Context, orgID, groupID, name string) (*Group, error)
	// DeleteGroup deletes a group. Admins; ENOTFOUND.
	DeleteGroup(ctx context.Context, orgID, groupID string) error
	// AddGroupMember adds a member of the organization to a group
	// (idempotent). Admins; EINVALID when the user is not a member of the
	// organization; ENOTFOUND.
	AddGroupMember(ctx context.Context, orgID, groupID, user string) error
	// RemoveGroupMember removes a user from a group. Admins; ENOTFOUND.
	RemoveGroupMember(ctx context.Context, orgID, groupID, user string) error
}

// AccountService changes accounts: deactivation by those who administer
// them, and a person's own password.
type AccountService interface {
	// DeactivateUser (by id or e-mail address) ends every session and API
	// key of the user at once and refuses their logins until
	// reactivation. Operators may deactivate anyone but themselves; an
	// organization owner or admin may deactivate a user who belongs only to
	// organizations they administer, with a role no higher than theirs,
	// and who is not an operator. ENOTFOUND for a user the caller may not
	// see; EFORBIDDEN; EINVALID for oneself.
	DeactivateUser(ctx context.Context, user string) error
	// ReactivateUser lets a deactivated user log in again. Same rights.
	ReactivateUser(ctx context.Context, user string) error
	// ChangePassword replaces the caller's password given the current one
	// (EUNAUTHORIZED otherwise, counted as a failed login); EINVALID when
	// the new one breaks the policy; EFORBIDDEN for API keys. It lifts a
	// change_password restriction of the current session and, with
	// endOtherSessions, ends the caller's other sessions, returning how
	// many.
	ChangePassword(ctx context.Context, current, newPassword string, endOtherSessions bool) (int, error)
}
