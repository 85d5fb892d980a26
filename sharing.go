package coffer

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// Principal is whom a membership or a grant is for: a user ("user", a
// usr_ id), a group ("group", a grp_ id), every member of the notebook
// ("members", no id; grants only) or a share link ("link", an opaque id;
// grants only).
type Principal struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Member is a user or group with a role in a notebook.
type Member struct {
	Principal Principal `json:"principal"`
	// Role is owner, admin, editor or viewer.
	Role string `json:"role"`
	// Name is the user's name or the group's name.
	Name string `json:"name"`
	// Email is the user's e-mail address (empty for a group).
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// MemberInput is the body of PUT …/members/{principal}.
type MemberInput struct {
	Role string `json:"role"`
}

// Grant is an access rule of a notebook: its principal gets, on a scope
// (every table, one table or one view of it), for the rows its condition
// matches, rights per column and capabilities. Table, View and the keys of
// Columns are ids.
type Grant struct {
	ID         string    `json:"id"`
	NotebookID string    `json:"notebook_id"`
	Principal  Principal `json:"principal"`
	// Table is the table id of the scope; nil: every table of the notebook.
	Table *string `json:"table"`
	// View is the view id of the scope; nil: the whole table.
	View *string `json:"view"`
	// Rows is the row condition (filter language); "" matches every row.
	Rows string `json:"rows"`
	// Columns maps column ids, and "*" for the others, to none, read or write.
	Columns map[string]string `json:"columns"`
	// Capabilities are create, delete, history, access_log, export, share,
	// schema and restore.
	Capabilities []string  `json:"capabilities"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// GrantInput describes a grant to create. Table, View and the keys of
// Columns may be ids or names. A nil Table is every table of the notebook
// (View must then be nil); an empty Rows matches every row; a nil Columns
// is {"*": "read"}.
type GrantInput struct {
	Principal    Principal         `json:"principal"`
	Table        *string           `json:"table"`
	View         *string           `json:"view"`
	Rows         string            `json:"rows"`
	Columns      map[string]string `json:"columns"`
	Capabilities []string          `json:"capabilities"`
}

// GrantUpdate lists the changes of UpdateGrant; absent fields stay as they
// are. Table and View distinguish absent from null (null: every table, or
// the whole table).
type GrantUpdate struct {
	Principal    *Principal        `json:"principal"`
	Table        Nullable          `json:"table"`
	View         Nullable          `json:"view"`
	Rows         *string           `json:"rows"`
	Columns      map[string]string `json:"columns"`
	Capabilities *[]string         `json:"capabilities"`
}

// Nullable is a JSON string field that tells absent (Set false), null (Set,
// Value nil) and a string apart.
type Nullable struct {
	Set   bool
	Value *string
}

// UnmarshalJSON implements json.Unmarshaler; it is called only for a field
// present in the document.
func (n *Nullable) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n.Value = &s
	return nil
}

// MarshalJSON implements json.Marshaler.
func (n Nullable) MarshalJSON() ([]byte, error) {
	if n.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*n.Value)
}

// AccessExplanation says what a user may do on one table of a notebook, and
// why: their role, the grants that apply to them, and per column whether
// it is writable, readable or hidden and which grants (or the role) make
// it so. With a record, each grant says whether it matches that record,
// and column access is for that record; without one, access is what the
// user has in the rows the grants match (Conditional says which grants
// depend on the row).
type AccessExplanation struct {
	User   ExplainedUser `json:"user"`
	Table  string        `json:"table"`            // table id
	Record *string       `json:"record,omitempty"` // record id, when one was given
	// Role is the user's notebook role ("" when not a member).
	Role string `json:"role"`
	// Visible: with a record, whether the user sees it; without one,
	// whether the user sees some rows of the table.
	Visible bool `json:"visible"`
	// Sources are the role ("role:<role>") and the grants that apply to
	// the user on this table, in the order the engine uses them.
	Sources []AccessSource `json:"sources"`
	// Columns are the table's columns in order.
	Columns []ColumnAccess `json:"columns"`
	// Capabilities maps each capability the user has to the sources that
	// give it (with a record: the matching sources only).
	Capabilities map[string][]string `json:"capabilities"`
}

// ExplainedUser is the user an explanation is about.
type ExplainedUser struct {
	ID     string   `json:"id"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"` // group ids
}

// AccessSource is one reason for access: the role or a grant.
type AccessSource struct {
	// Source is "role:<role>" or the grant id.
	Source string `json:"source"`
	// Grant is the grant (nil for a role).
	Grant *Grant `json:"grant,omitempty"`
	// Conditional is true when the source applies to some rows only (a
	// row condition, or a view's filter).
	Conditional bool `json:"conditional"`
	// Matches, with a record, says whether the source applies to it.
	Matches *bool `json:"matches,omitempty"`
}

// Column access levels of an explanation.
const (
	AccessWrite  = "write"
	AccessRead   = "read"
	AccessHidden = "hidden"
)

// ColumnAccess is what a user may do with one column.
type ColumnAccess struct {
	Column string `json:"column"` // id
	Name   string `json:"name"`
	// Access is write, read or hidden.
	Access string `json:"access"`
	// ReadBy and WriteBy are the sources that give read (or write) on the
	// column (with a record: those that match it).
	ReadBy  []string `json:"read_by"`
	WriteBy []string `json:"write_by"`
}

// ExplainQuery selects what Explain explains.
type ExplainQuery struct {
	User   string // user id; "" or "me" for the caller
	Table  string // table id or name
	Record string // record id; "" for the table as a whole
}

// SharingService manages who may access a notebook: its members (users and
// groups with a role) and its grants. Every method needs a caller in the
// context (EUNAUTHORIZED otherwise) and answers ENOTFOUND, exactly as for
// a notebook that does not exist, when the caller cannot see the notebook.
// Ids of another notebook's grants, tables and views answer ENOTFOUND.
//
// Members and grants are managed by the notebook's owners and admins;
// editors, viewers and callers who see the notebook through a grant only
// get EFORBIDDEN (a later issue may let the share capability delegate).
// Changes take effect at the next request. A read-only API key gets
// EFORBIDDEN on changes.
type SharingService interface {
	// FindMembers lists the members of a notebook: owners first, then by
	// role and name. Owners and admins only (EFORBIDDEN).
	FindMembers(ctx context.Context, notebook string) ([]*Member, error)
	// PutMember gives a user (usr_ id) or group (grp_ id) a role, adding
	// them or changing their role. The user must exist and be active and
	// the group must exist (ENOTFOUND otherwise); when the organization of
	// the notebook's primary owner restricts sharing, they must belong to
	// it (EFORBIDDEN). Only owners may make or unmake owners (EFORBIDDEN
	// for admins). The last owner cannot be demoted (ECONFLICT). When the
	// notebook's primary owner is demoted, another owner becomes primary.
	// EINVALID for a bad role.
	PutMember(ctx context.Context, notebook, principal string, in MemberInput) (*Member, error)
	// DeleteMember removes a member. Owners and admins may remove others
	// (only owners remove owners); any member may remove their own
	// membership. The last owner cannot leave (ECONFLICT). ENOTFOUND when
	// the principal is not a member.
	DeleteMember(ctx context.Context, notebook, principal string) error

	// CreateGrant adds a grant. EINVALID (with field errors) for a bad
	// principal (including a user that is not active or a group that does
	// not exist: the id is part of the body), row condition, column right or
	// capability, or a column or view that is not of the table; ENOTFOUND
	// for a table that is not in the notebook (as every id of another
	// notebook); EFORBIDDEN when the organization restricts sharing and the
	// principal is outside, or for a share link then.
	CreateGrant(ctx context.Context, notebook string, in GrantInput) (*Grant, error)
	// FindGrants lists a notebook's grants, oldest first. Owners and admins.
	FindGrants(ctx context.Context, notebook string) ([]*Grant, error)
	// FindGrant returns one grant. ENOTFOUND.
	FindGrant(ctx context.Context, notebook, id string) (*Grant, error)
	// UpdateGrant changes a grant; the result is validated as CreateGrant
	// validates. ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateGrant(ctx context.Context, notebook, id string, upd GrantUpdate) (*Grant, error)
	// DeleteGrant deletes a grant. ENOTFOUND.
	DeleteGrant(ctx context.Context, notebook, id string) error

	// Explain says what a user may do on a table, optionally for one
	// record, and why. Owners and admins may explain any user; others
	// only themselves and only for the table as a whole (EFORBIDDEN
	// otherwise). ENOTFOUND for an unknown user, table or record, or a
	// table the explained user (when it is the caller) cannot see.
	Explain(ctx context.Context, notebook string, q ExplainQuery) (*AccessExplanation, error)
}

// PrefixGrant is the id prefix of grants.
const PrefixGrant = "gnt_"
