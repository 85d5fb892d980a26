package identity

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

func checkGroupName(name string) (string, error) {
	name, msg := coffer.CheckName(name, 100)
	if msg != "" {
		return "", coffer.Invalid("the group is not valid", coffer.FieldError{Field: "name", Message: msg})
	}
	return name, nil
}

func errGroupNameTaken() error {
	return &coffer.Error{Code: coffer.ECONFLICT, Message: "the organization already has a group with this name",
		Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another group"}}}
}

func (s *Service) groupNameTaken(ctx context.Context, q catalog.Querier, orgID, name, except string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"user_groups WHERE org_id = ? AND name = ? AND id <> ?"), orgID, name, except).Scan(&n)
	return n > 0, err
}

// CreateGroup creates a group in an organization. Admins.
func (s *Service) CreateGroup(ctx context.Context, orgID, name string) (*coffer.Group, error) {
	var g *coffer.Group
	err := s.Write(ctx, s.Inst, "CreateGroup", func(tx *store.WriteTx) error {
		c, _, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if name, err = checkGroupName(name); err != nil {
			return err
		}
		if taken, err := s.groupNameTaken(ctx, tx, orgID, name, ""); err != nil || taken {
			if err == nil {
				err = errGroupNameTaken()
			}
			return err
		}
		now := s.NowMicros()
		g = &coffer.Group{ID: coffer.NewID(coffer.PrefixGroup), OrgID: orgID, Name: name, Members: []string{}, CreatedAt: store.FromMicros(now)}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"user_groups (id, org_id, name, created_at) VALUES (?, ?, ?, ?)"), g.ID, orgID, name, now); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventOrgChanged, c.UserID, c.Email, "group created "+g.ID)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func (s *Service) loadGroups(ctx context.Context, q catalog.Querier, orgID, groupID string) ([]*coffer.Group, error) {
	query := "SELECT id, org_id, name, created_at FROM " + s.Inst.Prefix + "user_groups WHERE org_id = ?"
	args := []any{orgID}
	if groupID != "" {
		query += " AND id = ?"
		args = append(args, groupID)
	}
	rows, err := q.QueryContext(ctx, s.Rebind(query+" ORDER BY name, id"), args...)
	if err != nil {
		return nil, err
	}
	out := []*coffer.Group{}
	byID := map[string]*coffer.Group{}
	for rows.Next() {
		var g coffer.Group
		var created int64
		if err := rows.Scan(&g.ID, &g.OrgID, &g.Name, &created); err != nil {
			rows.Close()
			return nil, err
		}
		g.CreatedAt = store.FromMicros(created)
		g.Members = []string{}
		out = append(out, &g)
		byID[g.ID] = &g
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	mrows, err := q.QueryContext(ctx, s.Rebind("SELECT gm.group_id, gm.user_id FROM "+s.Inst.Prefix+"group_members gm JOIN "+s.Inst.Prefix+
		"user_groups g ON g.id = gm.group_id WHERE g.org_id = ? ORDER BY gm.user_id"), orgID)
	if err != nil {
		return nil, err
	}
	defer mrows.Close()
	for mrows.Next() {
		var gid, uid string
		if err := mrows.Scan(&gid, &uid); err != nil {
			return nil, err
		}
		if g := byID[gid]; g != nil {
			g.Members = append(g.Members, uid)
		}
	}
	return out, mrows.Err()
}

func (s *Service) loadGroup(ctx context.Context, q catalog.Querier, orgID, groupID string) (*coffer.Group, error) {
	if !coffer.ValidID(coffer.PrefixGroup, groupID) {
		return nil, catalog.ErrGroupNotFound
	}
	gs, err := s.loadGroups(ctx, q, orgID, groupID)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, catalog.ErrGroupNotFound
	}
	return gs[0], nil
}

// FindGroups lists an organization's groups with their members. Members
// of the organization and operators.
func (s *Service) FindGroups(ctx context.Context, orgID string) ([]*coffer.Group, error) {
	var out []*coffer.Group
	err := s.read(ctx, "FindGroups", func(q catalog.Querier) error {
		if _, _, err := s.orgAccess(ctx, q, orgID); err != nil {
			return err
		}
		var err error
		out, err = s.loadGroups(ctx, q, orgID, "")
		return err
	})
	return out, err
}

// RenameGroup renames a group. Admins.
func (s *Service) RenameGroup(ctx context.Context, orgID, groupID, name string) (*coffer.Group, error) {
	// Group names and organizations decide @user.groups: compiled rights are recomputed.
	defer s.ForgetAccess("")
	var g *coffer.Group
	err := s.Write(ctx, s.Inst, "RenameGroup", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, _, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if g, err = s.loadGroup(ctx, tx, orgID, groupID); err != nil {
			return err
		}
		if name, err = checkGroupName(name); err != nil {
			return err
		}
		if taken, err := s.groupNameTaken(ctx, tx, orgID, name, groupID); err != nil || taken {
			if err == nil {
				err = errGroupNameTaken()
			}
			return err
		}
		g.Name = name
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"user_groups SET name = ? WHERE id = ?"), name, groupID); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventOrgChanged, c.UserID, c.Email, "group renamed "+groupID)
	}))
	if err != nil {
		return nil, err
	}
	return g, nil
}

// DeleteGroup deletes a group. Admins.
func (s *Service) DeleteGroup(ctx context.Context, orgID, groupID string) error {
	// Group memberships decide notebook access: compiled rights are recomputed.
	defer s.ForgetAccess("")
	return s.Write(ctx, s.Inst, "DeleteGroup", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, _, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if _, err := s.loadGroup(ctx, tx, orgID, groupID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"group_members WHERE group_id = ?"), groupID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"user_groups WHERE id = ?"), groupID); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventOrgChanged, c.UserID, c.Email, "group deleted "+groupID)
	}))
}

// AddGroupMember adds a member of the organization to a group. Admins.
func (s *Service) AddGroupMember(ctx context.Context, orgID, groupID, user string) error {
	// Group memberships decide notebook access: compiled rights are recomputed.
	defer s.ForgetAccess("")
	return s.Write(ctx, s.Inst, "AddGroupMember", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, _, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		g, err := s.loadGroup(ctx, tx, orgID, groupID)
		if err != nil {
			return err
		}
		u, role, err := s.userAndRole(ctx, tx, orgID, user)
		if err != nil {
			return err
		}
		if role == "" {
			return coffer.Invalid("the user is not a member of the organization",
				coffer.FieldError{Field: "user", Message: "must be a member of the organization"})
		}
		for _, id := range g.Members {
			if id == u.ID {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"group_members (group_id, user_id) VALUES (?, ?)"), groupID, u.ID); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventMembershipChange, u.ID, u.Email, fmt.Sprintf("group %s added by %s", groupID, c.UserID))
	}))
}

// RemoveGroupMember removes a user from a group. Admins.
func (s *Service) RemoveGroupMember(ctx context.Context, orgID, groupID, user string) error {
	// Group memberships decide notebook access: compiled rights are recomputed.
	defer s.ForgetAccess("")
	return s.Write(ctx, s.Inst, "RemoveGroupMember", s.WithAccessEpoch(func(tx *store.WriteTx) error {
		c, _, err := s.orgWriter(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if _, err := s.loadGroup(ctx, tx, orgID, groupID); err != nil {
			return err
		}
		u, _, err := s.resolveUser(ctx, tx, user)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"group_members WHERE group_id = ? AND user_id = ?"), groupID, u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return catalog.ErrUserNotFound
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventMembershipChange, u.ID, u.Email, fmt.Sprintf("group %s removed by %s", groupID, c.UserID))
	}))
}
