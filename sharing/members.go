package sharing

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

var (
	_ coffer.SharingService = (*Service)(nil)

	errMemberNotFound = coffer.Errorf(coffer.ENOTFOUND, "member not found")
)

// sharingTx runs fn in a write transaction on the instance database for a
// change of a notebook's members or grants. It first bumps the notebook's
// access_version (which also locks the registry row where writes run
// concurrently, so two changes of one notebook's sharing never interleave:
// two owners demoting each other cannot leave the notebook ownerless),
// then reads the notebook and the caller's access from the transaction
// itself, not from a cache. Cached access of the notebook is dropped once
// the change is committed (or failed), so it applies at the next request.
func (s *Service) sharingTx(ctx context.Context, notebook, op string, fn func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error) error {
	if err := store.Writable(ctx, true); err != nil {
		return err
	}
	if !coffer.ValidID(coffer.PrefixNotebook, notebook) {
		return catalog.ErrNotebookNotFound
	}
	err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebooks SET access_version = access_version + 1 WHERE id = ?"), notebook); err != nil {
			return err
		}
		nb, a, err := s.FindNotebookAccess(ctx, tx, notebook)
		if err != nil {
			return err
		}
		if err := fn(tx, nb, a); err != nil {
			return err
		}
		// Who changed the sharing of which notebook, for the audit trail.
		c := coffer.CallerFrom(ctx)
		return s.Event(ctx, tx, coffer.EventSharingChanged, c.UserID, c.Email, op+" "+notebook)
	})
	s.ForgetAccess(notebook)
	s.ForgetNotebook(notebook)
	return err
}

// requireManager refuses callers who are not owners or admins.
func requireManager(a *catalog.Rights) error {
	if !a.AtLeast(access.RoleAdmin) {
		return coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may manage its members and grants")
	}
	return nil
}

// principalOf parses the {principal} of a members path: a user or group id.
func principalOf(id string) (access.Principal, bool) {
	switch {
	case coffer.ValidID(coffer.PrefixUser, id):
		return access.Principal{Type: access.PrincipalUser, ID: id}, true
	case coffer.ValidID(coffer.PrefixGroup, id):
		return access.Principal{Type: access.PrincipalGroup, ID: id}, true
	}
	return access.Principal{}, false
}

// principalName returns the name (and e-mail) of an active user or an
// existing group, or ENOTFOUND.
func (s *Service) principalName(ctx context.Context, q catalog.Querier, p access.Principal) (name, email string, err error) {
	switch p.Type {
	case access.PrincipalUser:
		err = q.QueryRowContext(ctx, s.Rebind("SELECT name, email FROM "+s.Inst.Prefix+"users WHERE id = ? AND deactivated_at IS NULL"), p.ID).Scan(&name, &email)
		if errors.Is(err, sql.ErrNoRows) {
			err = catalog.ErrUserNotFound
		}
	case access.PrincipalGroup:
		err = q.QueryRowContext(ctx, s.Rebind("SELECT name FROM "+s.Inst.Prefix+"user_groups WHERE id = ?"), p.ID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			err = catalog.ErrGroupNotFound
		}
	default:
		err = coffer.Errorf(coffer.ENOTFOUND, "member not found")
	}
	return name, email, err
}

// checkSharingPolicy refuses a principal outside an organization of the
// notebook's primary owner whose policy restricts sharing. With several
// such organizations the principal must belong to each (the strictest
// reading, as policies combine elsewhere). A user belongs to an
// organization through org_members, a group through its organization;
// "members" is always allowed (only members are concerned) and share links
// are refused, since they reach people outside any organization.
func (s *Service) checkSharingPolicy(ctx context.Context, q catalog.Querier, nb *coffer.Notebook, p access.Principal) error {
	p0 := s.Inst.Prefix
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT o.id, o.name, o.policy FROM "+p0+"organizations o JOIN "+p0+
		"org_members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.id"), nb.OwnerID)
	if err != nil {
		return err
	}
	type org struct{ id, name string }
	var restricting []org
	for rows.Next() {
		var id, name, raw string
		if err := rows.Scan(&id, &name, &raw); err != nil {
			rows.Close()
			return err
		}
		var pol coffer.Policy
		if err := json.Unmarshal([]byte(raw), &pol); err != nil {
			rows.Close()
			return fmt.Errorf("organization policy: %w", err)
		}
		if pol.RestrictSharing {
			restricting = append(restricting, org{id, name})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range restricting {
		var n int
		switch p.Type {
		case access.PrincipalMembers:
			n = 1
		case access.PrincipalUser:
			err = q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+p0+"org_members WHERE org_id = ? AND user_id = ?"), o.id, p.ID).Scan(&n)
		case access.PrincipalGroup:
			err = q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+p0+"user_groups WHERE id = ? AND org_id = ?"), p.ID, o.id).Scan(&n)
		case access.PrincipalLink:
			return coffer.Errorf(coffer.EFORBIDDEN, "the organization %q restricts sharing to its members: share links are not allowed", o.name)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.EFORBIDDEN, "the organization %q restricts sharing to its members", o.name)
		}
	}
	return nil
}

// userOwners returns the users with the owner role, oldest first. The
// registry's primary owner counts even without a member row.
func (s *Service) userOwners(ctx context.Context, q catalog.Querier, nb *coffer.Notebook) ([]string, error) {
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT principal_id FROM "+s.Inst.Prefix+
		"notebook_members WHERE notebook_id = ? AND principal_type = 'user' AND role = 'owner' ORDER BY created_at, principal_id"), nb.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	primary := false
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		primary = primary || id == nb.OwnerID
		out = append(out, id)
	}
	if !primary {
		out = append([]string{nb.OwnerID}, out...)
	}
	return out, rows.Err()
}

// memberRole returns a principal's own role row, or "" when not a member.
func (s *Service) memberRole(ctx context.Context, q catalog.Querier, nbID string, p access.Principal) (string, error) {
	var role string
	err := q.QueryRowContext(ctx, s.Rebind("SELECT role FROM "+s.Inst.Prefix+
		"notebook_members WHERE notebook_id = ? AND principal_type = ? AND principal_id = ?"), nbID, p.Type, p.ID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// stepDown is called before a user owner stops being one (demoted or
// removed): it refuses to leave the notebook without an owner and, when
// the user is the registry's primary owner, hands that over to the oldest
// other owner.
func (s *Service) stepDown(ctx context.Context, tx *store.WriteTx, nb *coffer.Notebook, userID string) error {
	owners, err := s.userOwners(ctx, tx, nb)
	if err != nil {
		return err
	}
	var next string
	for _, id := range owners {
		if id != userID {
			next = id
			break
		}
	}
	if next == "" {
		return coffer.Errorf(coffer.ECONFLICT, "the last owner of a notebook cannot leave it or stop being its owner: make someone else owner first")
	}
	if nb.OwnerID == userID {
		_, err = tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebooks SET owner_id = ? WHERE id = ?"), next, nb.ID)
		nb.OwnerID = next
	}
	return err
}

// FindMembers lists a notebook's members.
func (s *Service) FindMembers(ctx context.Context, notebook string) ([]*coffer.Member, error) {
	var out []*coffer.Member
	err := s.ReadTx(ctx, s.Inst.R, "FindMembers", func(tx *sql.Tx) error {
		nb, a, err := s.FindNotebookAccess(ctx, tx, notebook)
		if err != nil {
			return err
		}
		if err := requireManager(a); err != nil {
			return err
		}
		out, err = s.members(ctx, tx, nb)
		return err
	})
	return out, err
}

// members reads the members of nb with their names, owners first, then
// by role, name and id.
func (s *Service) members(ctx context.Context, q catalog.Querier, nb *coffer.Notebook) ([]*coffer.Member, error) {
	p := s.Inst.Prefix
	rows, err := q.QueryContext(ctx, s.Rebind("SELECT m.principal_type, m.principal_id, m.role, m.created_at, "+
		"COALESCE(u.name, g.name, ''), COALESCE(u.email, '') FROM "+p+"notebook_members m "+
		"LEFT JOIN "+p+"users u ON m.principal_type = 'user' AND u.id = m.principal_id "+
		"LEFT JOIN "+p+"user_groups g ON m.principal_type = 'group' AND g.id = m.principal_id "+
		"WHERE m.notebook_id = ?"), nb.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*coffer.Member{}
	for rows.Next() {
		var m coffer.Member
		var created int64
		if err := rows.Scan(&m.Principal.Type, &m.Principal.ID, &m.Role, &created, &m.Name, &m.Email); err != nil {
			return nil, err
		}
		m.CreatedAt = store.FromMicros(created)
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rank := map[string]int{access.RoleOwner: 0, access.RoleAdmin: 1, access.RoleEditor: 2, access.RoleViewer: 3}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.Role] != rank[b.Role] {
			return rank[a.Role] < rank[b.Role]
		}
		if ka, kb := strings.ToLower(a.Name), strings.ToLower(b.Name); ka != kb {
			return ka < kb
		}
		return a.Principal.ID < b.Principal.ID
	})
	return out, nil
}

// PutMember adds a member or changes their role.
func (s *Service) PutMember(ctx context.Context, notebook, principal string, in coffer.MemberInput) (*coffer.Member, error) {
	var out *coffer.Member
	err := s.sharingTx(ctx, notebook, "PutMember", func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error {
		if err := requireManager(a); err != nil {
			return err
		}
		p, ok := principalOf(principal)
		if !ok {
			return errMemberNotFound
		}
		if !access.ValidRole(in.Role) {
			return coffer.Invalid("the membership is not valid", coffer.FieldError{Field: "role", Message: "must be owner, admin, editor or viewer"})
		}
		if p.Type == access.PrincipalGroup && in.Role == access.RoleOwner {
			return coffer.Invalid("the membership is not valid", coffer.FieldError{Field: "role", Message: "a group cannot own a notebook: owners are users (give the group admin)"})
		}
		name, email, err := s.principalName(ctx, tx, p)
		if err != nil {
			return err
		}
		old, err := s.memberRole(ctx, tx, nb.ID, p)
		if err != nil {
			return err
		}
		if p.Type == access.PrincipalUser && p.ID == nb.OwnerID {
			old = access.RoleOwner
		}
		if (old == access.RoleOwner || in.Role == access.RoleOwner) && old != in.Role && a.Role() != access.RoleOwner {
			return coffer.Errorf(coffer.EFORBIDDEN, "only owners may make or unmake owners")
		}
		if old == "" {
			if err := s.checkSharingPolicy(ctx, tx, nb, p); err != nil {
				return err
			}
		}
		if old == access.RoleOwner && in.Role != access.RoleOwner {
			if err := s.stepDown(ctx, tx, nb, p.ID); err != nil {
				return err
			}
		}
		now := s.NowMicros()
		res, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebook_members SET role = ? WHERE notebook_id = ? AND principal_type = ? AND principal_id = ?"),
			in.Role, nb.ID, p.Type, p.ID)
		if err != nil {
			return err
		}
		created := now
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"notebook_members (notebook_id, principal_type, principal_id, role, created_at) VALUES (?, ?, ?, ?, ?)"),
				nb.ID, p.Type, p.ID, in.Role, now); err != nil {
				return err
			}
		} else if err := tx.QueryRowContext(ctx, s.Rebind("SELECT created_at FROM "+s.Inst.Prefix+"notebook_members WHERE notebook_id = ? AND principal_type = ? AND principal_id = ?"),
			nb.ID, p.Type, p.ID).Scan(&created); err != nil {
			return err
		}
		out = &coffer.Member{Principal: coffer.Principal{Type: p.Type, ID: p.ID}, Role: in.Role, Name: name, Email: email, CreatedAt: store.FromMicros(created)}
		return nil
	})
	return out, err
}

// DeleteMember removes a member.
func (s *Service) DeleteMember(ctx context.Context, notebook, principal string) error {
	return s.sharingTx(ctx, notebook, "DeleteMember", func(tx *store.WriteTx, nb *coffer.Notebook, a *catalog.Rights) error {
		c, err := store.Caller(ctx)
		if err != nil {
			return err
		}
		p, ok := principalOf(principal)
		self := ok && p.Type == access.PrincipalUser && p.ID == c.UserID
		if !self {
			if err := requireManager(a); err != nil {
				return err
			}
		}
		if !ok {
			return errMemberNotFound
		}
		role, err := s.memberRole(ctx, tx, nb.ID, p)
		if err != nil {
			return err
		}
		if p.Type == access.PrincipalUser && p.ID == nb.OwnerID {
			role = access.RoleOwner
		}
		if role == "" {
			return errMemberNotFound
		}
		if role == access.RoleOwner {
			if !self && a.Role() != access.RoleOwner {
				return coffer.Errorf(coffer.EFORBIDDEN, "only owners may remove an owner")
			}
			if err := s.stepDown(ctx, tx, nb, p.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"notebook_members WHERE notebook_id = ? AND principal_type = ? AND principal_id = ?"),
			nb.ID, p.Type, p.ID)
		return err
	})
}

// Service is the sharing service.
type Service struct {
	*catalog.Catalog
}

// New returns the sharing service on the catalogue cat.
func New(cat *catalog.Catalog) *Service { return &Service{Catalog: cat} }
