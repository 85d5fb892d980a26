package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// sharingFixture adds to the fixture Carol (admin of NB), Dave (editor),
// Erin (viewer), Frank (no access) and Gina (a spare user).
type sharingFixture struct {
	*Fixture
	keys map[string]string // role → session key
	ids  map[string]string // first name → user id
}

func mustSharing(t *testing.T) *sharingFixture {
	t.Helper()
	f := &sharingFixture{Fixture: MustFixture(t), keys: map[string]string{}, ids: map[string]string{}}
	f.keys["owner"] = f.Alice
	for _, p := range []struct{ name, role string }{
		{"carol", "admin"}, {"dave", "editor"}, {"erin", "viewer"}, {"frank", ""}, {"gina", ""},
	} {
		u := f.MustUser(p.name+"@example.com", p.name)
		f.ids[p.name] = u.ID
		key := f.MustLogin(p.name + "@example.com")
		if p.role != "" {
			f.put(f.Alice, u.ID, p.role).WantStatus(http.StatusOK)
			f.keys[p.role] = key
		} else if p.name == "frank" {
			f.keys["stranger"] = key
		}
	}
	for _, p := range []string{"alice", "bob"} {
		var u struct {
			ID string `json:"id"`
		}
		key := f.Alice
		if p == "bob" {
			key = f.Bob
		}
		f.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK).JSON(&u)
		f.ids[p] = u.ID
	}
	return f
}

func (f *sharingFixture) put(key, principal, role string) *Response {
	return f.Do("PUT", "/api/v1/notebooks/"+f.NB+"/members/"+principal, key, map[string]string{"role": role})
}

func (f *sharingFixture) grant(key string, body map[string]any) *Response {
	return f.Do("POST", "/api/v1/notebooks/"+f.NB+"/grants", key, body)
}

// mustGrant creates a grant as Alice and returns it.
func (f *sharingFixture) mustGrant(body map[string]any) *coffer.Grant {
	f.TB.Helper()
	var g coffer.Grant
	f.grant(f.Alice, body).WantStatus(http.StatusCreated).JSON(&g)
	return &g
}

func (f *sharingFixture) notebookIDs(key string) []string {
	var l struct{ Notebooks []coffer.Notebook }
	f.Do("GET", "/api/v1/notebooks", key, nil).WantStatus(http.StatusOK).JSON(&l)
	var ids []string
	for _, nb := range l.Notebooks {
		ids = append(ids, nb.ID)
	}
	return ids
}

// TestSharingRoleMatrix calls every members and grants endpoint as each
// role: owners and admins manage; editors and viewers are refused;
// strangers get exactly the answer of a notebook that does not exist.
func TestSharingRoleMatrix(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	roles := []string{"owner", "admin", "editor", "viewer", "stranger"}
	manage := map[string]int{"owner": 200, "admin": 200, "editor": 403, "viewer": 403, "stranger": 404}
	grantBody := map[string]any{"principal": map[string]any{"type": "user", "id": f.ids["gina"]}, "table": "People"}
	for _, role := range roles {
		key := f.keys[role]
		want := manage[role]
		status := func(ok int) int {
			if want == 200 {
				return ok
			}
			return want
		}
		t.Run(role, func(t *testing.T) {
			f.Do("GET", nb+"/members", key, nil).WantStatus(want)
			f.Do("PUT", nb+"/members/"+f.ids["gina"], key, map[string]string{"role": "viewer"}).WantStatus(want)
			f.put(f.Alice, f.ids["gina"], "viewer").WantStatus(200)
			f.Do("DELETE", nb+"/members/"+f.ids["gina"], key, nil).WantStatus(status(204))

			f.grant(key, grantBody).WantStatus(status(201))
			f.Do("GET", nb+"/grants", key, nil).WantStatus(want)
			g := f.mustGrant(grantBody)
			f.Do("GET", nb+"/grants/"+g.ID, key, nil).WantStatus(want)
			f.Do("PATCH", nb+"/grants/"+g.ID, key, map[string]any{"rows": "age > 3"}).WantStatus(want)
			f.Do("DELETE", nb+"/grants/"+g.ID, key, nil).WantStatus(status(204))

			// Explaining oneself needs only to see the notebook; another
			// user or a record needs an owner or admin.
			self := 200
			if role == "stranger" {
				self = 404
			}
			f.Do("GET", nb+"/access/explain?table=People", key, nil).WantStatus(self)
			f.Do("GET", nb+"/access/explain?table=People&user="+f.ids["gina"], key, nil).WantStatus(want)
			f.Do("GET", nb+"/access/explain?table=People&record="+f.Recs[0], key, nil).WantStatus(want)
		})
	}
	// No credentials: 401 everywhere.
	f.Do("GET", nb+"/members", "", nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.Do("POST", nb+"/grants", "", grantBody).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	// A forbidden answer is a problem document with its code.
	f.Do("GET", nb+"/grants", f.keys["editor"], nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("GET", nb+"/grants", f.keys["stranger"], nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

func TestMembersList(t *testing.T) {
	f := mustSharing(t)
	var l struct{ Members []coffer.Member }
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/members", f.Alice, nil).WantStatus(http.StatusOK).JSON(&l)
	var got []string
	for _, m := range l.Members {
		got = append(got, m.Name+":"+m.Role)
		if m.Principal.Type != "user" || m.CreatedAt.IsZero() || m.Email == "" {
			t.Errorf("member %+v lacks its principal, e-mail or creation time", m)
		}
	}
	if want := []string{"Alice:owner", "carol:admin", "dave:editor", "erin:viewer"}; !slices.Equal(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
	// Bad role, unknown or malformed principal, unknown fields.
	p := f.put(f.Alice, f.ids["gina"], "boss").WantProblem(http.StatusBadRequest, coffer.EINVALID)
	if !slices.Contains(p.fieldNames(), "role") {
		t.Errorf("bad role: fields %v", p.fieldNames())
	}
	f.put(f.Alice, coffer.NewID(coffer.PrefixUser), "viewer").WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.put(f.Alice, coffer.NewID(coffer.PrefixGroup), "viewer").WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.put(f.Alice, "nobody", "viewer").WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("PUT", "/api/v1/notebooks/"+f.NB+"/members/"+f.ids["gina"], f.Alice, map[string]any{"role": "viewer", "admin": true}).
		WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("DELETE", "/api/v1/notebooks/"+f.NB+"/members/"+f.ids["gina"], f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// A deactivated user cannot be added.
	f.MustExec("UPDATE {p}users SET deactivated_at = 1 WHERE id = ?", f.ids["gina"])
	f.put(f.Alice, f.ids["gina"], "viewer").WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// Another notebook's owner cannot manage this one, nor this owner Bob's.
	f.Do("GET", "/api/v1/notebooks/"+f.BobNB+"/members", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/api/v1/notebooks/"+f.MissingNB+"/members", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestOwnership: the last owner is protected, admins cannot touch owners,
// owners transfer ownership and the primary owner follows.
func TestOwnership(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	f.Do("DELETE", nb+"/members/"+f.ids["alice"], f.Alice, nil).WantProblem(http.StatusConflict, coffer.ECONFLICT)
	f.put(f.Alice, f.ids["alice"], "admin").WantProblem(http.StatusConflict, coffer.ECONFLICT)
	// Admins neither make nor unmake owners, nor remove them.
	f.put(f.keys["admin"], f.ids["dave"], "owner").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.put(f.keys["admin"], f.ids["carol"], "owner").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.put(f.keys["admin"], f.ids["alice"], "viewer").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", nb+"/members/"+f.ids["alice"], f.keys["admin"], nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	// Admins manage the other roles.
	f.put(f.keys["admin"], f.ids["dave"], "viewer").WantStatus(http.StatusOK)
	// Transfer: Alice makes Bob owner, then leaves; Bob becomes the primary owner.
	f.put(f.Alice, f.ids["bob"], "owner").WantStatus(http.StatusOK)
	if !slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Fatal("the new owner does not see the notebook")
	}
	f.Do("DELETE", nb+"/members/"+f.ids["alice"], f.Alice, nil).WantStatus(http.StatusNoContent)
	var n coffer.Notebook
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusOK).JSON(&n)
	if n.OwnerID != f.ids["bob"] {
		t.Errorf("owner_id = %s after the primary owner left, want Bob %s", n.OwnerID, f.ids["bob"])
	}
	f.Do("GET", nb, f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	if slices.Contains(f.notebookIDs(f.Alice), f.NB) {
		t.Error("the former owner still lists the notebook")
	}
	// Bob is now the last owner.
	f.Do("DELETE", nb+"/members/"+f.ids["bob"], f.Bob, nil).WantProblem(http.StatusConflict, coffer.ECONFLICT)
	// Demoting the primary owner hands the registry over too.
	f.put(f.Bob, f.ids["carol"], "owner").WantStatus(http.StatusOK)
	f.put(f.Bob, f.ids["bob"], "editor").WantStatus(http.StatusOK)
	f.Do("GET", nb, f.keys["admin"], nil).WantStatus(http.StatusOK).JSON(&n)
	if n.OwnerID != f.ids["carol"] {
		t.Errorf("owner_id = %s after the primary owner was demoted, want Carol", n.OwnerID)
	}
	// Bob, now an editor, can no longer manage; he can leave.
	f.Do("GET", nb+"/members", f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", nb+"/members/"+f.ids["bob"], f.Bob, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", nb, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// A viewer may leave on their own.
	f.Do("DELETE", nb+"/members/"+f.ids["erin"], f.keys["viewer"], nil).WantStatus(http.StatusNoContent)
	f.Do("GET", nb, f.keys["viewer"], nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// mustGroup creates an organization (with policy) whose members are the
// given users, and a group of it with the same members, in SQL.
func (f *sharingFixture) mustOrg(policy string, users ...string) (orgID, groupID string) {
	orgID, groupID = coffer.NewID(coffer.PrefixOrg), coffer.NewID(coffer.PrefixGroup)
	now := time.Now().UnixMicro()
	f.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", orgID, "Acme "+orgID[4:10], policy, now, now)
	f.MustExec("INSERT INTO {p}user_groups (id, org_id, name, created_at) VALUES (?, ?, ?, ?)", groupID, orgID, "Sales", now)
	for _, u := range users {
		f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", orgID, u, now)
		f.MustExec("INSERT INTO {p}group_members (group_id, user_id) VALUES (?, ?)", groupID, u)
	}
	return orgID, groupID
}

// TestSharingVisibility: membership (own or a group's) and grants make a
// notebook visible, at the next request, and removing them hides it.
func TestSharingVisibility(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	if slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Fatal("Bob sees Alice's notebook before any sharing")
	}
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusNotFound)
	f.put(f.Alice, f.ids["bob"], "viewer").WantStatus(http.StatusOK)
	if !slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Error("a member does not see the notebook in their list")
	}
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusOK)
	f.Do("DELETE", nb+"/members/"+f.ids["bob"], f.Alice, nil).WantStatus(http.StatusNoContent)
	if slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Error("a removed member still lists the notebook")
	}
	f.Do("GET", nb, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)

	// A grant to a user.
	g := f.mustGrant(map[string]any{"principal": map[string]any{"type": "user", "id": f.ids["bob"]}, "table": "People", "rows": `team = "red"`})
	if !slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Error("a grant does not make the notebook visible")
	}
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusOK)
	// A grant alone gives no management right.
	f.Do("GET", nb+"/members", f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", nb+"/grants/"+g.ID, f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", nb, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	if slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Error("the notebook stays listed after its only grant was deleted")
	}

	// Group membership counts, for members and grants.
	_, grp := f.mustOrg("{}", f.ids["bob"])
	var m coffer.Member
	f.put(f.Alice, grp, "editor").WantStatus(http.StatusOK).JSON(&m)
	if m.Principal.Type != "group" || m.Name != "Sales" {
		t.Errorf("group member = %+v", m)
	}
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusOK)
	var e coffer.AccessExplanation
	f.Do("GET", nb+"/access/explain?table=People", f.Bob, nil).WantStatus(http.StatusOK).JSON(&e)
	if e.Role != "editor" || !slices.Contains(e.User.Groups, grp) {
		t.Errorf("explain through a group: role %q, groups %v", e.Role, e.User.Groups)
	}
	f.put(f.Alice, grp, "owner").WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("DELETE", nb+"/members/"+grp, f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", nb, f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.mustGrant(map[string]any{"principal": map[string]any{"type": "group", "id": grp}, "table": nil})
	f.Do("GET", nb, f.Bob, nil).WantStatus(http.StatusOK)
}

// TestRestrictSharing: an organization that restricts sharing keeps its
// owners' notebooks among its members (users and groups), and refuses links.
func TestRestrictSharing(t *testing.T) {
	f := mustSharing(t)
	_, inside := f.mustOrg(`{"restrict_sharing":true}`, f.ids["alice"], f.ids["gina"])
	_, outside := f.mustOrg("{}", f.ids["bob"])
	f.put(f.Alice, f.ids["bob"], "viewer").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.put(f.Alice, outside, "viewer").WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.grant(f.Alice, map[string]any{"principal": map[string]any{"type": "user", "id": f.ids["bob"]}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.grant(f.Alice, map[string]any{"principal": map[string]any{"type": "link", "id": "lnk_abc"}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.put(f.Alice, f.ids["gina"], "viewer").WantStatus(http.StatusOK)
	f.put(f.Alice, inside, "viewer").WantStatus(http.StatusOK)
	f.grant(f.Alice, map[string]any{"principal": map[string]any{"type": "members"}}).WantStatus(http.StatusCreated)
	if slices.Contains(f.notebookIDs(f.Bob), f.NB) {
		t.Error("an outsider sees a restricted notebook")
	}
	// Existing members keep their role changes (the check is at joining).
	f.put(f.Alice, f.ids["carol"], "editor").WantStatus(http.StatusOK)
}

// TestBadGrants: every problem of a grant body is refused with a field
// error; a table of another notebook, and ids of other notebooks' grants,
// answer 404.
func TestBadGrants(t *testing.T) {
	f := mustSharing(t)
	gina := map[string]any{"type": "user", "id": f.ids["gina"]}
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown column", map[string]any{"principal": gina, "table": "People", "columns": map[string]any{"salary": "read"}}, "columns.salary"},
		{"bad right", map[string]any{"principal": gina, "table": "People", "columns": map[string]any{"name": "admin"}}, "columns.name"},
		{"bad default", map[string]any{"principal": gina, "table": "People", "columns": map[string]any{"*": "all"}}, "columns.*"},
		{"column on every table", map[string]any{"principal": gina, "columns": map[string]any{"name": "read"}}, "columns.name"},
		{"bad capability", map[string]any{"principal": gina, "table": "People", "capabilities": []string{"create", "fly"}}, "capabilities[1]"},
		{"bad filter", map[string]any{"principal": gina, "table": "People", "rows": "age >"}, "rows"},
		{"unknown filter column", map[string]any{"principal": gina, "table": "People", "rows": "salary > 3"}, "rows"},
		{"filter type", map[string]any{"principal": gina, "table": "People", "rows": `age = "old"`}, "rows"},
		{"user column on every table", map[string]any{"principal": gina, "rows": `name = "x"`}, "rows"},
		{"view of another table", map[string]any{"principal": gina, "table": "Teams", "view": f.View}, "view"},
		{"view without table", map[string]any{"principal": gina, "view": f.View}, "view"},
		{"unknown view", map[string]any{"principal": gina, "table": "People", "view": "Nope"}, "view"},
		{"bad principal type", map[string]any{"principal": map[string]any{"type": "robot", "id": "x"}}, "principal.type"},
		{"principal without id", map[string]any{"principal": map[string]any{"type": "user"}}, "principal.id"},
		{"members with id", map[string]any{"principal": map[string]any{"type": "members", "id": f.ids["gina"]}}, "principal.id"},
		{"malformed user id", map[string]any{"principal": map[string]any{"type": "user", "id": "bob"}}, "principal.id"},
		{"unknown user", map[string]any{"principal": map[string]any{"type": "user", "id": coffer.NewID(coffer.PrefixUser)}}, "principal.id"},
		{"unknown group", map[string]any{"principal": map[string]any{"type": "group", "id": coffer.NewID(coffer.PrefixGroup)}}, "principal.id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := f.grant(f.Alice, c.body).WantProblem(http.StatusBadRequest, coffer.EINVALID)
			if !slices.Contains(p.fieldNames(), c.field) {
				t.Errorf("fields %v, want %q", p.fieldNames(), c.field)
			}
		})
	}
	// Unknown fields of the body are refused (no mass assignment).
	f.grant(f.Alice, map[string]any{"principal": gina, "id": coffer.NewID(coffer.PrefixGrant)}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	// Bob's table in Alice's notebook: not found.
	var bt coffer.Table
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/tables", f.Bob, map[string]any{"name": "Secret", "columns": []map[string]any{{"name": "x", "type": "text"}}}).
		WantStatus(http.StatusCreated).JSON(&bt)
	f.grant(f.Alice, map[string]any{"principal": gina, "table": bt.ID}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.grant(f.Alice, map[string]any{"principal": gina, "table": "Nope"}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// Bob's grant through Alice's notebook, and Alice's through Bob's: 404.
	var bg coffer.Grant
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/grants", f.Bob, map[string]any{"principal": gina, "table": "Secret"}).WantStatus(http.StatusCreated).JSON(&bg)
	ag := f.mustGrant(map[string]any{"principal": gina, "table": "People"})
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"rows": ""}
		}
		f.Do(m, "/api/v1/notebooks/"+f.NB+"/grants/"+bg.ID, f.Alice, body).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
		f.Do(m, "/api/v1/notebooks/"+f.BobNB+"/grants/"+ag.ID, f.Bob, body).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
		f.Do(m, "/api/v1/notebooks/"+f.NB+"/grants/nonsense", f.Alice, body).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	}
	// Both grants are intact.
	f.Do("GET", "/api/v1/notebooks/"+f.BobNB+"/grants/"+bg.ID, f.Bob, nil).WantStatus(http.StatusOK)
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/grants/"+ag.ID, f.Alice, nil).WantStatus(http.StatusOK)
}

// TestGrantRoundTrip: names in, ids out; PATCH changes only what it names.
func TestGrantRoundTrip(t *testing.T) {
	f := mustSharing(t)
	var tbl coffer.Table
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/tables/People", f.Alice, nil).WantStatus(http.StatusOK).JSON(&tbl)
	col := map[string]string{}
	for _, c := range tbl.Columns {
		col[c.Name] = c.ID
	}
	g := f.mustGrant(map[string]any{
		"principal": map[string]any{"type": "user", "id": f.ids["gina"]}, "table": "People", "view": "Adults",
		"rows": "created_by = @user.id", "columns": map[string]any{"note": "none", "*": "read", "AGE": "write"},
		"capabilities": []string{"create", "create", "export"},
	})
	if g.Table == nil || *g.Table != f.People || g.View == nil || *g.View != f.View {
		t.Errorf("scope = %v/%v, want ids %s/%s", g.Table, g.View, f.People, f.View)
	}
	if want := map[string]string{col["note"]: "none", "*": "read", col["age"]: "write"}; len(g.Columns) != 3 || g.Columns[col["note"]] != "none" || g.Columns[col["age"]] != "write" {
		t.Errorf("columns = %v, want %v", g.Columns, want)
	}
	if !slices.Equal(g.Capabilities, []string{"create", "export"}) {
		t.Errorf("capabilities = %v", g.Capabilities)
	}
	var got coffer.Grant
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/grants/"+g.ID, f.Alice, map[string]any{"view": nil, "capabilities": []string{}}).
		WantStatus(http.StatusOK).JSON(&got)
	if got.View != nil || got.Table == nil || len(got.Capabilities) != 0 || got.Rows != g.Rows || got.Columns[col["age"]] != "write" {
		t.Errorf("after PATCH: %+v", got)
	}
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/grants/"+g.ID, f.Alice, map[string]any{"table": nil}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("PATCH", "/api/v1/notebooks/"+f.NB+"/grants/"+g.ID, f.Alice, map[string]any{"table": nil, "columns": map[string]string{"*": "read"}}).
		WantStatus(http.StatusOK).JSON(&got)
	if got.Table != nil || got.Rows != "created_by = @user.id" {
		t.Errorf("notebook-wide grant: %+v", got)
	}
	var l struct{ Grants []coffer.Grant }
	f.Do("GET", "/api/v1/notebooks/"+f.NB+"/grants", f.Alice, nil).WantStatus(http.StatusOK).JSON(&l)
	if len(l.Grants) != 1 || l.Grants[0].ID != g.ID {
		t.Errorf("grants = %+v", l.Grants)
	}
}

// TestExplain: a row-conditioned grant with a hidden column, explained for
// a record it matches and one it does not.
func TestExplain(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	g := f.mustGrant(map[string]any{
		"principal": map[string]any{"type": "user", "id": f.ids["bob"]}, "table": "People",
		"rows": `team = "red"`, "columns": map[string]any{"note": "none", "age": "write", "*": "read"}, "capabilities": []string{"history"},
	})
	col := func(e coffer.AccessExplanation, name string) coffer.ColumnAccess {
		for _, c := range e.Columns {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no column %s in %+v", name, e.Columns)
		return coffer.ColumnAccess{}
	}
	explain := func(key, path string) (e coffer.AccessExplanation) {
		t.Helper()
		f.Do("GET", path, key, nil).WantStatus(http.StatusOK).JSON(&e)
		return e
	}
	var e coffer.AccessExplanation
	// Ada is in the red team: the grant matches.
	e = explain(f.Alice, nb+"/access/explain?table=People&user="+f.ids["bob"]+"&record="+f.Recs[0])
	if e.User.ID != f.ids["bob"] || e.Role != "" || !e.Visible || e.Record == nil || *e.Record != f.Recs[0] || e.Table != f.People {
		t.Errorf("explanation header: %+v", e)
	}
	if len(e.Sources) != 1 || e.Sources[0].Source != g.ID || e.Sources[0].Grant == nil || !e.Sources[0].Conditional ||
		e.Sources[0].Matches == nil || !*e.Sources[0].Matches {
		t.Errorf("sources = %+v", e.Sources)
	}
	if c := col(e, "note"); c.Access != "hidden" || len(c.ReadBy) != 0 {
		t.Errorf("note: %+v", c)
	}
	if c := col(e, "name"); c.Access != "read" || !slices.Equal(c.ReadBy, []string{g.ID}) || len(c.WriteBy) != 0 {
		t.Errorf("name: %+v", c)
	}
	if c := col(e, "age"); c.Access != "write" || !slices.Equal(c.WriteBy, []string{g.ID}) {
		t.Errorf("age: %+v", c)
	}
	if !slices.Equal(e.Capabilities["history"], []string{g.ID}) || e.Capabilities["export"] != nil {
		t.Errorf("capabilities = %v", e.Capabilities)
	}
	// Grace is blue: nothing applies, everything is hidden.
	e = explain(f.Alice, nb+"/access/explain?table=People&user="+f.ids["bob"]+"&record="+f.Recs[1])
	if e.Visible || *e.Sources[0].Matches || col(e, "name").Access != "hidden" || len(e.Capabilities) != 0 {
		t.Errorf("non-matching record: %+v", e)
	}
	// Without a record: what the grant gives where it matches. Bob's own
	// explanation does not name note, hidden from him in every row.
	e = explain(f.Bob, nb+"/access/explain?table="+f.People)
	if !e.Visible || e.Sources[0].Matches != nil || col(e, "age").Access != "write" {
		t.Errorf("table-level self explanation: %+v", e)
	}
	for _, c := range e.Columns {
		if c.Name == "note" {
			t.Errorf("Bob's explanation names the hidden column: %+v", c)
		}
	}
	if _, ok := e.Sources[0].Grant.Columns[col(explain(f.Alice, nb+"/access/explain?table=People"), "note").Column]; ok {
		t.Errorf("Bob's explanation shows his rights on the hidden column: %+v", e.Sources[0].Grant)
	}
	// An owner: everything, from the role.
	e = explain(f.Alice, nb+"/access/explain?table=People&record="+f.Recs[1])
	if e.Role != "owner" || !e.Visible || len(e.Sources) != 1 || e.Sources[0].Source != "role:owner" || col(e, "note").Access != "write" {
		t.Errorf("owner explanation: %+v", e)
	}
	// A viewer reads everything through the role.
	e = explain(f.Alice, nb+"/access/explain?table=People&user="+f.ids["erin"])
	if e.Role != "viewer" || col(e, "note").Access != "read" || len(e.Capabilities) != 0 {
		t.Errorf("viewer explanation: %+v", e)
	}
	// A grant change shows at the next request.
	f.Do("PATCH", nb+"/grants/"+g.ID, f.Alice, map[string]any{"columns": map[string]any{"*": "read"}}).WantStatus(http.StatusOK)
	e = explain(f.Alice, nb+"/access/explain?table=People&user="+f.ids["bob"]+"&record="+f.Recs[0])
	if col(e, "note").Access != "read" || col(e, "age").Access != "read" {
		t.Errorf("after the change: %+v", e.Columns)
	}
	// Errors: missing table, unknown table, record, user; another notebook's record.
	f.Do("GET", nb+"/access/explain", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", nb+"/access/explain?table=Nope", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/access/explain?table=People&record="+f.MissingRec, f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/access/explain?table=Teams&record="+f.Recs[0], f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/access/explain?table=People&user="+coffer.NewID(coffer.PrefixUser), f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// Bob sees only People through his grant: Teams is not found for him.
	f.Do("GET", nb+"/access/explain?table=Teams", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}

// TestSharingAPIKeys: a read-only key changes no member or grant; a key
// limited to other notebooks does not reach this one.
func TestSharingAPIKeys(t *testing.T) {
	f := mustSharing(t)
	nb := "/api/v1/notebooks/" + f.NB
	var ro, scoped coffer.APIKey
	var second coffer.Notebook
	f.Do("POST", "/api/v1/notebooks", f.Alice, map[string]any{"name": "Second"}).WantStatus(http.StatusCreated).JSON(&second)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "ro", "read_only": true}).WantStatus(http.StatusCreated).JSON(&ro)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "scoped", "notebooks": []string{second.ID}}).WantStatus(http.StatusCreated).JSON(&scoped)
	if ro.Key == "" || scoped.Key == "" {
		t.Fatal("no API key in the answer")
	}
	f.Do("GET", nb+"/members", ro.Key, nil).WantStatus(http.StatusOK)
	f.Do("PUT", nb+"/members/"+f.ids["gina"], ro.Key, map[string]string{"role": "viewer"}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", nb+"/members/"+f.ids["erin"], ro.Key, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", nb+"/grants", ro.Key, map[string]any{"principal": map[string]any{"type": "members"}}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("GET", nb+"/members", scoped.Key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("PUT", nb+"/members/"+f.ids["gina"], scoped.Key, map[string]string{"role": "viewer"}).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", nb+"/access/explain?table=People", scoped.Key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
}
