// Package access is Coffer's access engine. It turns a notebook's members
// and grants, and a caller, into what that caller may do on one table:
// which rows are visible, which cells readable and writable, which columns
// may be filtered and sorted on, and which capabilities apply.
//
// The rules (docs/access.md has examples):
//
//   - Default deny. Roles and grants add up.
//   - A role gives broad rights on the whole notebook: owner and admin
//     everything, editor reads and writes every row and column and may
//     create and delete records, see history and export; viewer reads every
//     row and column and nothing more.
//   - A grant gives its principal (a user, a group, every member, or a share
//     link) rights on a scope (the notebook, one table or one view) for the
//     rows that match its condition (a filter expression that may use
//     @user.id, @user.email, @user.groups and the record's own columns),
//     per column (none, read or write, with a default "*"), plus
//     capabilities (create, delete, history, access_log, export, share,
//     schema, restore). A view scope intersects the grant with the view's
//     filter and visible columns.
//   - A row is visible if some applicable grant matches it. A cell is
//     readable if some applicable grant matches the row and gives at least
//     read on its column; otherwise it is NULL to the caller.
//   - A write is allowed if some grant with write on every changed column
//     matches the row both before and after the change. Create and delete
//     need the capability and a match on the new or old row (create also
//     needs write on every column it sets).
//
// Decide computes a Decision for (caller, table): a list of conditions,
// one per applicable grant or role, and for each column and capability
// which conditions give it. Compile turns a Decision into SQL: a row
// predicate and, per column, the value or NULL. The SQL evaluates each
// condition once per row (as a column g0, g1, … of a subquery) so that the
// masks carry no arguments of their own.
package access

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// Roles of notebook members, from the most to the least powerful.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// ValidRole reports whether r is a notebook role.
func ValidRole(r string) bool {
	return r == RoleOwner || r == RoleAdmin || r == RoleEditor || r == RoleViewer
}

// roleRank orders roles; higher is more.
func roleRank(r string) int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleEditor:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// MaxRole returns the stronger of two roles ("" is no role).
func MaxRole(a, b string) string {
	if roleRank(b) > roleRank(a) {
		return b
	}
	return a
}

// Right is what a grant allows on a column.
type Right string

// Column rights, from none to write.
const (
	None  Right = "none"
	Read  Right = "read"
	Write Right = "write"
)

func (r Right) valid() bool { return r == None || r == Read || r == Write }

// Capability is a right beyond reading and writing cells.
type Capability string

// The capabilities.
const (
	CapCreate    Capability = "create"
	CapDelete    Capability = "delete"
	CapHistory   Capability = "history"
	CapAccessLog Capability = "access_log"
	CapExport    Capability = "export"
	CapShare     Capability = "share"
	CapSchema    Capability = "schema"
	CapRestore   Capability = "restore"
)

// Capabilities lists every capability.
var Capabilities = []Capability{CapCreate, CapDelete, CapHistory, CapAccessLog, CapExport, CapShare, CapSchema, CapRestore}

// roleCaps are the capabilities that roles give on every row.
var roleCaps = map[string][]Capability{
	RoleOwner:  Capabilities,
	RoleAdmin:  Capabilities,
	RoleEditor: {CapCreate, CapDelete, CapHistory, CapExport},
	RoleViewer: nil,
}

// Principal types of grants.
const (
	PrincipalUser    = "user"
	PrincipalGroup   = "group"
	PrincipalMembers = "members"
	PrincipalLink    = "link"
)

// Principal is whom a grant is for. ID is empty for "members".
type Principal struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Grant is one access rule of a notebook, with names resolved to ids.
type Grant struct {
	ID        string
	Principal Principal
	// TableID is the table of the scope, "" for every table. ViewID, when
	// set, narrows the scope to a view of that table.
	TableID string
	ViewID  string
	// Rows is a filter expression; "" matches every row.
	Rows string
	// Columns maps column ids, and "*" for the others, to rights. A
	// column absent from the map gets the "*" right, or none.
	Columns map[string]Right
	// Capabilities apply to the rows the grant matches.
	Capabilities []Capability
}

// Subject is the caller as the engine sees it.
type Subject struct {
	UserID string
	Email  string
	Groups []string // ids of the caller's groups (grants and memberships name groups by id)
	// GroupNames are the names of the caller's groups that belong to an
	// organization of the notebook's owner: filters may say
	// "sales" in @user.groups. Groups of other organizations count by id
	// only, so nobody can match a condition by naming a group of their own.
	GroupNames []string
	// Role is the caller's notebook role ("" when not a member); the
	// strongest of their own membership and their groups'.
	Role string
	// Link is the share link the request came with, if any (a later issue).
	Link string
}

// Env returns the values of @user.* for filter expressions.
func (s Subject) Env() filter.Env {
	groups := append(append([]string(nil), s.Groups...), s.GroupNames...)
	return filter.Env{UserID: s.UserID, UserEmail: s.Email, UserGroups: groups}
}

// Applies reports whether a grant or membership for p is for the subject.
func (s Subject) Applies(p Principal) bool {
	switch p.Type {
	case PrincipalUser:
		return s.UserID != "" && p.ID == s.UserID
	case PrincipalGroup:
		return slices.Contains(s.Groups, p.ID)
	case PrincipalMembers:
		return s.Role != ""
	case PrincipalLink:
		return s.Link != "" && p.ID == s.Link
	}
	return false
}

// Table is what the engine needs to know of a table.
type Table struct {
	ID      string
	Columns []string // column ids
	// View returns a view of this table by id.
	View func(id string) (*coffer.View, bool)
}

// Cond is one condition of a Decision: the rows one grant (or the role)
// matches, with what it gives there.
type Cond struct {
	Source string      // "role:<role>" or the grant id
	Expr   filter.Expr // nil: every row
	Cols   map[string]Right
	Caps   []Capability
}

// Decision is what a subject may do on one table.
type Decision struct {
	// Full is true for owners and admins: every row, column and capability.
	Full  bool
	Role  string
	Conds []Cond
	cols  []string
}

// Decide computes the subject's rights on a table from the notebook's
// grants. It never fails on a grant that no longer fits the table (a view
// or column deleted since): such parts simply give nothing.
func Decide(s Subject, grants []Grant, t Table) *Decision {
	d := &Decision{Role: s.Role, cols: t.Columns}
	switch s.Role {
	case RoleOwner, RoleAdmin:
		d.Full = true
		return d
	case RoleEditor, RoleViewer:
		r := Read
		if s.Role == RoleEditor {
			r = Write
		}
		d.Conds = append(d.Conds, Cond{Source: "role:" + s.Role, Cols: map[string]Right{"*": r}, Caps: roleCaps[s.Role]})
	}
	for _, g := range grants {
		if !s.Applies(g.Principal) || (g.TableID != "" && g.TableID != t.ID) {
			continue
		}
		c := Cond{Source: g.ID, Cols: g.Columns, Caps: g.Capabilities}
		var parts []filter.Expr
		if g.Rows != "" {
			e, err := filter.Parse(g.Rows)
			if err != nil {
				continue // checked when the grant was saved; stale now
			}
			if e != nil {
				parts = append(parts, e)
			}
		}
		if g.ViewID != "" {
			v, ok := t.View(g.ViewID)
			if !ok {
				continue // the view is gone: the grant gives nothing
			}
			if v.Filter != "" {
				e, err := filter.Parse(v.Filter)
				if err != nil {
					continue
				}
				if e != nil {
					parts = append(parts, e)
				}
			}
			if len(v.Columns) > 0 {
				c.Cols = viewColumns(g.Columns, v.Columns, t.Columns)
			}
		}
		switch len(parts) {
		case 1:
			c.Expr = parts[0]
		case 2:
			c.Expr = &filter.And{Terms: parts}
		}
		d.Conds = append(d.Conds, c)
	}
	return d
}

// viewColumns limits a grant's column rights to the view's columns (ids).
func viewColumns(rights map[string]Right, view, all []string) map[string]Right {
	out := map[string]Right{}
	for _, id := range all {
		if slices.Contains(view, id) {
			out[id] = rightOf(rights, id)
		}
	}
	out["*"] = None
	return out
}

func rightOf(rights map[string]Right, col string) Right {
	if r, ok := rights[col]; ok {
		return r
	}
	if r, ok := rights["*"]; ok {
		return r
	}
	return None
}

// Right returns what a condition gives on a column.
func (c Cond) Right(col string) Right { return rightOf(c.Cols, col) }

// Visible reports whether the subject may see some rows of the table.
func (d *Decision) Visible() bool { return d.Full || len(d.Conds) > 0 }

// Readers returns the indexes of the conditions that give at least read
// on a column.
func (d *Decision) Readers(col string) []int {
	var out []int
	for i, c := range d.Conds {
		if r := c.Right(col); r == Read || r == Write {
			out = append(out, i)
		}
	}
	return out
}

// Writers returns the indexes of the conditions that give write on every
// one of cols.
func (d *Decision) Writers(cols []string) []int {
	var out []int
next:
	for i, c := range d.Conds {
		for _, col := range cols {
			if c.Right(col) != Write {
				continue next
			}
		}
		out = append(out, i)
	}
	return out
}

// With returns the indexes of the conditions that give capability c.
func (d *Decision) With(c Capability) []int {
	var out []int
	for i, cd := range d.Conds {
		if slices.Contains(cd.Caps, c) {
			out = append(out, i)
		}
	}
	return out
}

// Can reports whether the subject has capability c on some rows.
func (d *Decision) Can(c Capability) bool { return d.Full || len(d.With(c)) > 0 }

// Filterable reports whether filters and sorts may use a column: it is
// readable in some row. A column hidden in every row would let a filter
// reveal its values, so it is refused.
func (d *Decision) Filterable(col string) bool { return d.Full || len(d.Readers(col)) > 0 }

// AllRows reports whether the subject sees every row of the table: full
// access, or a condition (a role, or a grant without row condition or
// view filter) that matches every row.
func (d *Decision) AllRows() bool {
	if d.Full {
		return true
	}
	for _, c := range d.Conds {
		if c.Expr == nil {
			return true
		}
	}
	return false
}

// CheckGrant validates a grant against the notebook before it is saved:
// principal, rights, capabilities and the row condition against the
// table's fields (sch; nil when the grant covers every table, then the
// condition may use system fields and @user only).
func CheckGrant(g Grant, sch filter.Schema) []coffer.FieldError {
	var errs []coffer.FieldError
	switch g.Principal.Type {
	case PrincipalUser, PrincipalGroup, PrincipalLink:
		if g.Principal.ID == "" {
			errs = append(errs, coffer.FieldError{Field: "principal.id", Message: "is required for a " + g.Principal.Type})
		}
	case PrincipalMembers:
		if g.Principal.ID != "" {
			errs = append(errs, coffer.FieldError{Field: "principal.id", Message: "must be empty for members"})
		}
	default:
		errs = append(errs, coffer.FieldError{Field: "principal.type", Message: "must be user, group, members or link"})
	}
	keys := make([]string, 0, len(g.Columns))
	for k := range g.Columns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !g.Columns[k].valid() {
			errs = append(errs, coffer.FieldError{Field: "columns." + k, Message: "must be none, read or write"})
		}
	}
	for i, c := range g.Capabilities {
		if !slices.Contains(Capabilities, c) {
			errs = append(errs, coffer.FieldError{Field: fmt.Sprintf("capabilities[%d]", i),
				Message: "must be one of " + capNames()})
		}
	}
	if g.Rows != "" {
		e, err := filter.Parse(g.Rows)
		if err == nil && e != nil && sch != nil {
			_, _, err = filter.Compile(e, sch, filter.Env{UserID: "x", UserEmail: "x@example.com"}, checkDialect{})
		}
		for _, fe := range coffer.ErrorFields(err) {
			errs = append(errs, coffer.FieldError{Field: "rows", Message: fe.Message})
		}
	}
	return errs
}

func capNames() string {
	var s []string
	for _, c := range Capabilities {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

// checkDialect compiles row conditions only to check them.
type checkDialect struct{}

func (checkDialect) ContainsFold(expr, ph string) string {
	return "instr(" + expr + ", " + ph + ") > 0"
}
