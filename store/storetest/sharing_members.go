package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func strp(s string) *string { return &s }

// testSharing covers members and grants: who may manage them, the last
// owner, ownership transfer, visibility, validation and explanations.
func testSharing(t *testing.T, open Opener) {
	s := open(t)
	aliceCtx, alice := MustUser(t, s)
	bobCtx, bob := MustUser(t, s)
	carolCtx, carol := MustUser(t, s)
	_, dave := MustUser(t, s)
	nb := MustNotebook(t, aliceCtx, s, "Shared")
	other := MustNotebook(t, bobCtx, s, "Bob's")
	tbl := MustTable(t, aliceCtx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "salary", Type: coffer.TypeNumber},
		coffer.ColumnInput{Name: "team", Type: coffer.TypeText})
	MustTable(t, bobCtx, s, other.ID, "Secret", coffer.ColumnInput{Name: "x", Type: coffer.TypeText})
	red := MustRecord(t, aliceCtx, s, nb.ID, "People", map[string]any{"name": "Ada", "salary": 10, "team": "red"})
	blue := MustRecord(t, aliceCtx, s, nb.ID, "People", map[string]any{"name": "Bo", "salary": 20, "team": "blue"})

	visible := func(ctx context.Context, id string) bool {
		t.Helper()
		nbs, err := s.FindNotebooks(ctx)
		if err != nil {
			t.Fatalf("FindNotebooks: %v", err)
		}
		return slices.ContainsFunc(nbs, func(n *coffer.Notebook) bool { return n.ID == id })
	}

	t.Run("Members", func(t *testing.T) {
		testSharingMembers(t, s, aliceCtx, nb, alice, bobCtx, visible, bob, carol, other, carolCtx)
	})

	t.Run("Grants", func(t *testing.T) {
		testSharingGrants(t, s, aliceCtx, nb, dave, tbl, visible, bobCtx, other, red, blue)
	})

	t.Run("OwnershipTransfer", func(t *testing.T) {
		testSharingOwnershipTransfer(t, s, aliceCtx, nb, carol, alice, carolCtx)
	})

	// Two owners demoting each other at once never leave the notebook
	// without an owner.
	t.Run("ConcurrentDemotion", func(t *testing.T) {
		testSharingConcurrentDemotion(t, aliceCtx, s, bob, bobCtx, alice)
	})
}

// testSharingMembers is the subtest Members of testSharing.
func testSharingMembers(t *testing.T, s *all.Store, aliceCtx context.Context, nb *coffer.Notebook, alice *coffer.User, bobCtx context.Context, visible func(ctx context.Context, id string) bool, bob *coffer.User, carol *coffer.User, other *coffer.Notebook, carolCtx context.Context) {
	ms, err := s.FindMembers(aliceCtx, nb.ID)
	if err != nil || len(ms) != 1 || ms[0].Principal.ID != alice.ID || ms[0].Role != "owner" {
		t.Fatalf("FindMembers = %v, %v; want Alice as owner", ms, err)
	}
	_, err = s.FindMembers(bobCtx, nb.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	if visible(bobCtx, nb.ID) {
		t.Fatal("Bob sees the notebook before sharing")
	}
	m, err := s.PutMember(aliceCtx, nb.ID, bob.ID, coffer.MemberInput{Role: "viewer"})
	if !wantCode(t, err, "") || m.Role != "viewer" || m.Email != bob.Email {
		t.Fatalf("PutMember = %+v", m)
	}
	if !visible(bobCtx, nb.ID) {
		t.Error("a member does not see the notebook")
	}
	_, err = s.FindMembers(bobCtx, nb.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.PutMember(bobCtx, nb.ID, carol.ID, coffer.MemberInput{Role: "viewer"})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.PutMember(aliceCtx, nb.ID, carol.ID, coffer.MemberInput{Role: "boss"})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "role")
	_, err = s.PutMember(aliceCtx, nb.ID, coffer.NewID(coffer.PrefixUser), coffer.MemberInput{Role: "viewer"})
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.PutMember(aliceCtx, other.ID, carol.ID, coffer.MemberInput{Role: "viewer"})
	wantCode(t, err, coffer.ENOTFOUND)
	// Admins manage roles below owner only.
	_, err = s.PutMember(aliceCtx, nb.ID, carol.ID, coffer.MemberInput{Role: "admin"})
	wantCode(t, err, "")
	_, err = s.PutMember(carolCtx, nb.ID, bob.ID, coffer.MemberInput{Role: "owner"})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.PutMember(carolCtx, nb.ID, bob.ID, coffer.MemberInput{Role: "editor"})
	wantCode(t, err, "")
	// The last owner is protected.
	wantCode(t, s.DeleteMember(aliceCtx, nb.ID, alice.ID), coffer.ECONFLICT)
	_, err = s.PutMember(aliceCtx, nb.ID, alice.ID, coffer.MemberInput{Role: "admin"})
	wantCode(t, err, coffer.ECONFLICT)
	// Removal takes effect at once.
	wantCode(t, s.DeleteMember(carolCtx, nb.ID, bob.ID), "")
	if visible(bobCtx, nb.ID) {
		t.Error("a removed member still sees the notebook")
	}
	_, err = s.FindNotebook(bobCtx, nb.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteMember(aliceCtx, nb.ID, bob.ID), coffer.ENOTFOUND)
}

// testSharingGrants is the subtest Grants of testSharing.
func testSharingGrants(t *testing.T, s *all.Store, aliceCtx context.Context, nb *coffer.Notebook, dave *coffer.User, tbl *coffer.Table, visible func(ctx context.Context, id string) bool, bobCtx context.Context, other *coffer.Notebook, red *coffer.Record, blue *coffer.Record) {
	g, err := s.CreateGrant(aliceCtx, nb.ID, coffer.GrantInput{
		Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: strp("People"),
		Rows: `team = "red"`, Columns: map[string]string{"salary": "none", "*": "read"},
	})
	if !wantCode(t, err, "") {
		return
	}
	salary := tbl.Columns[1].ID
	if *g.Table != tbl.ID || g.Columns[salary] != "none" || g.Columns["*"] != "read" || g.NotebookID != nb.ID {
		t.Errorf("grant = %+v", g)
	}
	daveCtx := CallerContext(dave)
	if !visible(daveCtx, nb.ID) {
		t.Error("a grant does not make the notebook visible")
	}
	gs, err := s.FindGrants(aliceCtx, nb.ID)
	if err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Errorf("FindGrants = %v, %v", gs, err)
	}
	_, err = s.FindGrants(daveCtx, nb.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindGrant(bobCtx, other.ID, g.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteGrant(bobCtx, other.ID, g.ID), coffer.ENOTFOUND)

	_, err = s.CreateGrant(aliceCtx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: strp("Secret")})
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.CreateGrant(aliceCtx, nb.ID, coffer.GrantInput{
		Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: strp("People"), Rows: "bonus > 1",
		Columns: map[string]string{"bonus": "read", "name": "maybe"}, Capabilities: []string{"fly"},
	})
	wantCode(t, err, coffer.EINVALID)
	wantOnlyFields(t, err, "rows", "columns.bonus", "columns.name", "capabilities[0]")

	// Explain: Ada matches the grant, Bo does not.
	e, err := s.Explain(aliceCtx, nb.ID, coffer.ExplainQuery{User: dave.ID, Table: "People", Record: red.ID})
	if !wantCode(t, err, "") {
		return
	}
	if !e.Visible || len(e.Sources) != 1 || !*e.Sources[0].Matches || e.Columns[1].Access != coffer.AccessHidden || e.Columns[0].Access != coffer.AccessRead {
		t.Errorf("explain (matching) = %+v", e)
	}
	e, err = s.Explain(aliceCtx, nb.ID, coffer.ExplainQuery{User: dave.ID, Table: "People", Record: blue.ID})
	if wantCode(t, err, "") && (e.Visible || *e.Sources[0].Matches || e.Columns[0].Access != coffer.AccessHidden) {
		t.Errorf("explain (not matching) = %+v", e)
	}
	_, err = s.Explain(daveCtx, nb.ID, coffer.ExplainQuery{Table: "People", Record: red.ID})
	wantCode(t, err, coffer.EFORBIDDEN)

	// A change applies at the next call; deleting the grant hides the notebook.
	_, err = s.UpdateGrant(aliceCtx, nb.ID, g.ID, coffer.GrantUpdate{Rows: strp("")})
	wantCode(t, err, "")
	e, err = s.Explain(aliceCtx, nb.ID, coffer.ExplainQuery{User: dave.ID, Table: "People", Record: blue.ID})
	if wantCode(t, err, "") && !e.Visible {
		t.Errorf("explain after the change = %+v", e)
	}
	wantCode(t, s.DeleteGrant(aliceCtx, nb.ID, g.ID), "")
	if visible(daveCtx, nb.ID) {
		t.Error("the notebook stays visible after its grant was deleted")
	}
	wantCode(t, s.DeleteGrant(aliceCtx, nb.ID, g.ID), coffer.ENOTFOUND)
}

// testSharingOwnershipTransfer is the subtest OwnershipTransfer of testSharing.
func testSharingOwnershipTransfer(t *testing.T, s *all.Store, aliceCtx context.Context, nb *coffer.Notebook, carol *coffer.User, alice *coffer.User, carolCtx context.Context) {
	_, err := s.PutMember(aliceCtx, nb.ID, carol.ID, coffer.MemberInput{Role: "owner"})
	wantCode(t, err, "")
	wantCode(t, s.DeleteMember(aliceCtx, nb.ID, alice.ID), "")
	n, err := s.FindNotebook(carolCtx, nb.ID)
	if wantCode(t, err, "") && n.OwnerID != carol.ID {
		t.Errorf("owner_id = %s, want %s", n.OwnerID, carol.ID)
	}
	_, err = s.FindNotebook(aliceCtx, nb.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteMember(carolCtx, nb.ID, carol.ID), coffer.ECONFLICT)
}

// testSharingConcurrentDemotion is the subtest ConcurrentDemotion of testSharing.
func testSharingConcurrentDemotion(t *testing.T, aliceCtx context.Context, s *all.Store, bob *coffer.User, bobCtx context.Context, alice *coffer.User) {
	for i := 0; i < 5; i++ {
		n := MustNotebook(t, aliceCtx, s, "Race")
		if _, err := s.PutMember(aliceCtx, n.ID, bob.ID, coffer.MemberInput{Role: "owner"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, c := range []struct {
			ctx  context.Context
			whom string
		}{{aliceCtx, bob.ID}, {bobCtx, alice.ID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = s.PutMember(c.ctx, n.ID, c.whom, coffer.MemberInput{Role: "viewer"})
			}()
		}
		wg.Wait()
		owners := 0
		for _, ctx := range []context.Context{aliceCtx, bobCtx} {
			if ms, err := s.FindMembers(ctx, n.ID); err == nil {
				for _, m := range ms {
					if m.Role == "owner" {
						owners++
					}
				}
				break
			}
		}
		if owners != 1 {
			t.Fatalf("after concurrent demotions (errors %v): %d owners, want 1", errs, owners)
		}
		for _, err := range errs {
			if c := coffer.ErrorCode(err); c != "" && c != coffer.ECONFLICT && c != coffer.EFORBIDDEN {
				t.Errorf("concurrent demotion: %v", err)
			}
		}
	}
}
