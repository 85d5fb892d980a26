package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testNotebooks(t *testing.T, open Opener) {
	s := open(t)

	t.Run("Lifecycle", func(t *testing.T) {
		testNotebooksLifecycle(t, s)
	})

	t.Run("OwnerOnly", func(t *testing.T) {
		testNotebooksOwnerOnly(t, s)
	})

	t.Run("InvalidNames", func(t *testing.T) {
		testNotebooksInvalidNames(t, s)
	})

	t.Run("NoCaller", func(t *testing.T) {
		testNotebooksNoCaller(t, s)
	})
}

// testNotebooksLifecycle is the subtest Lifecycle of testNotebooks.
func testNotebooksLifecycle(t *testing.T, s *all.Store) {
	t.Parallel()
	ctx, u := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "  Customers  ")
	if !coffer.ValidID(coffer.PrefixNotebook, nb.ID) {
		t.Errorf("ID = %q, want a %s id", nb.ID, coffer.PrefixNotebook)
	}
	if nb.Name != "Customers" || nb.OwnerID != u.ID || nb.CreatedAt.IsZero() || !nb.UpdatedAt.Equal(nb.CreatedAt) {
		t.Errorf("CreateNotebook = %+v, want name Customers owned by %s", nb, u.ID)
	}
	got, err := s.FindNotebook(ctx, nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *nb {
		t.Errorf("FindNotebook = %+v, want %+v", got, nb)
	}
	MustNotebook(t, ctx, s, "Archive")
	list, err := s.FindNotebooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := notebookNames(list), []string{"Archive", "Customers"}; !equalStrings(got, want) {
		t.Errorf("FindNotebooks names = %q, want %q (by name)", got, want)
	}

	name := "Clients"
	upd, err := s.UpdateNotebook(ctx, nb.ID, coffer.NotebookUpdate{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Name != name || upd.ID != nb.ID || upd.UpdatedAt.Before(nb.UpdatedAt) {
		t.Errorf("UpdateNotebook = %+v, want name %q", upd, name)
	}
	same, err := s.UpdateNotebook(ctx, nb.ID, coffer.NotebookUpdate{})
	if err != nil || same.Name != name {
		t.Errorf("UpdateNotebook without changes = %+v, %v; want name %q", same, err, name)
	}
	if got, err := s.FindNotebook(ctx, nb.ID); err != nil || got.Name != name {
		t.Errorf("FindNotebook after rename = %+v, %v; want name %q", got, err, name)
	}

	// A notebook's tables go with it.
	MustTable(t, ctx, s, nb.ID, "People", col("Name", coffer.TypeText))
	if err := s.DeleteNotebook(ctx, nb.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindNotebook(ctx, nb.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.FindTables(ctx, nb.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.FindRecords(ctx, nb.ID, "People", coffer.ListQuery{})
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteNotebook(ctx, nb.ID), coffer.ENOTFOUND)
	_, err = s.UpdateNotebook(ctx, nb.ID, coffer.NotebookUpdate{Name: &name})
	wantCode(t, err, coffer.ENOTFOUND)
	list, err = s.FindNotebooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := notebookNames(list), []string{"Archive"}; !equalStrings(got, want) {
		t.Errorf("FindNotebooks after delete = %q, want %q", got, want)
	}
}

// testNotebooksOwnerOnly is the subtest OwnerOnly of testNotebooks.
func testNotebooksOwnerOnly(t *testing.T, s *all.Store) {
	t.Parallel()
	alice, _ := MustUser(t, s)
	bob, _ := MustUser(t, s)
	nb := MustNotebook(t, alice, s, "Alice's")
	MustTable(t, alice, s, nb.ID, "Secrets", col("Name", coffer.TypeText))
	rec := MustRecord(t, alice, s, nb.ID, "Secrets", map[string]any{"Name": "x"})

	list, err := s.FindNotebooks(bob)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("bob's FindNotebooks = %q, want none", notebookNames(list))
	}
	// Bob's view of Alice's notebook must be that of a missing one.
	_, errMissing := s.FindNotebook(bob, coffer.NewID(coffer.PrefixNotebook))
	name := "Bob's now"
	calls := map[string]error{}
	_, calls["FindNotebook"] = s.FindNotebook(bob, nb.ID)
	_, calls["UpdateNotebook"] = s.UpdateNotebook(bob, nb.ID, coffer.NotebookUpdate{Name: &name})
	calls["DeleteNotebook"] = s.DeleteNotebook(bob, nb.ID)
	_, calls["FindTables"] = s.FindTables(bob, nb.ID)
	_, calls["FindTable"] = s.FindTable(bob, nb.ID, "Secrets")
	_, calls["CreateTable"] = s.CreateTable(bob, nb.ID, coffer.TableInput{Name: "Mine"})
	calls["DeleteTable"] = s.DeleteTable(bob, nb.ID, "Secrets")
	_, calls["FindRecord"] = s.FindRecord(bob, nb.ID, "Secrets", rec.ID)
	_, calls["FindRecords"] = s.FindRecords(bob, nb.ID, "Secrets", coffer.ListQuery{})
	_, calls["CreateRecord"] = s.CreateRecord(bob, nb.ID, "Secrets", map[string]any{"Name": "y"})
	_, calls["UpdateRecord"] = s.UpdateRecord(bob, nb.ID, "Secrets", rec.ID, map[string]any{"Name": "y"}, 0)
	calls["DeleteRecord"] = s.DeleteRecord(bob, nb.ID, "Secrets", rec.ID, 0)
	_, calls["Batch"] = s.Batch(bob, nb.ID, "Secrets", []coffer.BatchOp{{Op: coffer.OpDelete, ID: rec.ID}})
	_, calls["FindViews"] = s.FindViews(bob, nb.ID, "Secrets")
	_, calls["CreateView"] = s.CreateView(bob, nb.ID, "Secrets", coffer.ViewInput{Name: "v"})
	for op, err := range calls {
		t.Run(op, func(t *testing.T) {
			wantCode(t, err, coffer.ENOTFOUND)
			if got, want := coffer.ErrorMessage(err), coffer.ErrorMessage(errMissing); op == "FindNotebook" && got != want {
				t.Errorf("message = %q, want that of a missing notebook: %q", got, want)
			}
		})
	}
	got, err := s.FindNotebook(alice, nb.ID)
	if err != nil || got.Name != "Alice's" {
		t.Errorf("alice's FindNotebook = %+v, %v; want it unchanged", got, err)
	}
	if r := MustFindRecord(t, alice, s, nb.ID, "Secrets", rec.ID); r.Fields["Name"] != "x" || r.Version != 1 {
		t.Errorf("alice's record = %+v, want it unchanged", r)
	}
}

// testNotebooksInvalidNames is the subtest InvalidNames of testNotebooks.
func testNotebooksInvalidNames(t *testing.T, s *all.Store) {
	t.Parallel()
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Valid")
	for _, name := range []string{"", "   ", strings.Repeat("x", 201), strings.Repeat("é", 201), "a\nb", "tab\tinside", "nul\x00", "del\x7f", "bad \xff utf-8"} {
		t.Run(name, func(t *testing.T) {
			_, err := s.CreateNotebook(ctx, name)
			if wantCode(t, err, coffer.EINVALID) {
				wantOnlyFields(t, err, "name")
			}
			_, err = s.UpdateNotebook(ctx, nb.ID, coffer.NotebookUpdate{Name: &name})
			if wantCode(t, err, coffer.EINVALID) {
				wantOnlyFields(t, err, "name")
			}
		})
	}
	if got, err := s.FindNotebook(ctx, nb.ID); err != nil || got.Name != "Valid" {
		t.Errorf("FindNotebook after refused renames = %+v, %v; want name Valid", got, err)
	}
	long := strings.Repeat("é", 200)
	if _, err := s.CreateNotebook(ctx, long); err != nil {
		t.Errorf("CreateNotebook with a 200-character name: %v", err)
	}
	list, _ := s.FindNotebooks(ctx)
	if len(list) != 2 {
		t.Errorf("FindNotebooks = %q, want 2 notebooks (refused ones not created)", notebookNames(list))
	}
}

// testNotebooksNoCaller is the subtest NoCaller of testNotebooks.
func testNotebooksNoCaller(t *testing.T, s *all.Store) {
	t.Parallel()
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Mine")
	name := "x"
	for _, anon := range []context.Context{context.Background(), coffer.WithCaller(context.Background(), &coffer.Caller{})} {
		calls := map[string]error{}
		_, calls["CreateNotebook"] = s.CreateNotebook(anon, "x")
		_, calls["FindNotebooks"] = s.FindNotebooks(anon)
		_, calls["FindNotebook"] = s.FindNotebook(anon, nb.ID)
		_, calls["UpdateNotebook"] = s.UpdateNotebook(anon, nb.ID, coffer.NotebookUpdate{Name: &name})
		calls["DeleteNotebook"] = s.DeleteNotebook(anon, nb.ID)
		calls["Logout"] = s.Logout(anon)
		for op, err := range calls {
			t.Run(op, func(t *testing.T) { wantCode(t, err, coffer.EUNAUTHORIZED) })
		}
	}
	if _, err := s.FindNotebook(ctx, nb.ID); err != nil {
		t.Errorf("FindNotebook by the owner: %v", err)
	}
}

func notebookNames(list []*coffer.Notebook) []string {
	out := make([]string, len(list))
	for i, nb := range list {
		out[i] = nb.Name
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
