package sqlite_test

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestSnapshotSandboxesBeside: two processes on one data directory (the
// command line beside a server) browse the same snapshot; one closing its
// sandboxes leaves the other's readable.
func TestSnapshotSandboxesBeside(t *testing.T) {
	dir := t.TempDir()
	var stores [2]*all.Store
	for i := range stores {
		b, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		stores[i] = all.New(b, keyring.ForTests())
	}
	s1, s2 := stores[0], stores[1]
	src := storetest.MustCopySnapshots(t, s1)
	s2.SetSnapshots(src, nil)
	t.Cleanup(s2.CloseSnapshots)
	ctx, _ := storetest.MustUser(t, s1)
	nb := storetest.MustNotebook(t, ctx, s1, "Beside")
	storetest.MustTable(t, ctx, s1, nb.ID, "T", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
	r := storetest.MustRecord(t, ctx, s1, nb.ID, "T", map[string]any{"Name": "then"})
	sn := src.MustTake(t, ctx, nb.ID)
	b1, rel1, err := s1.BrowseSnapshot(ctx, nb.ID, sn.ID)
	if err != nil {
		t.Fatal(err)
	}
	b2, rel2, err := s2.BrowseSnapshot(ctx, nb.ID, sn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rel2()
	storetest.MustFindRecord(t, b1, s1, nb.ID, "T", r.ID)
	rel1()
	s1.CloseSnapshots()
	if got := storetest.MustFindRecord(t, b2, s2, nb.ID, "T", r.ID); got.Fields["Name"] != "then" {
		t.Errorf("the second process reads %v", got.Fields)
	}
}
