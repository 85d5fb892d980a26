package postgres_test

import (
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestSnapshotSandboxesTwoNodes: two nodes on one database browse the same
// snapshot; one node closing its sandboxes (as at shutdown) leaves the
// other's readable.
func TestSnapshotSandboxesTwoNodes(t *testing.T) {
	requirePostgres(t)
	n1, n2 := nodePair(t, testOptions())
	src := storetest.MustCopySnapshots(t, n1)
	n2.SetSnapshots(src, nil)
	t.Cleanup(n2.CloseSnapshots)
	ctx1, ctx2, _ := signedInOnBoth(t, n1, n2, "two-nodes-snap@example.com")
	nb := storetest.MustNotebook(t, ctx1, n1, "Two nodes")
	storetest.MustTable(t, ctx1, n1, nb.ID, "T", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
	r := storetest.MustRecord(t, ctx1, n1, nb.ID, "T", map[string]any{"Name": "then"})
	sn := src.MustTake(t, ctx1, nb.ID)
	b1, rel1, err := n1.BrowseSnapshot(ctx1, nb.ID, sn.ID)
	if err != nil {
		t.Fatal(err)
	}
	b2, rel2, err := n2.BrowseSnapshot(ctx2, nb.ID, sn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rel2()
	storetest.MustFindRecord(t, b1, n1, nb.ID, "T", r.ID)
	rel1()
	n1.CloseSnapshots()
	if got := storetest.MustFindRecord(t, b2, n2, nb.ID, "T", r.ID); got.Fields["Name"] != "then" {
		t.Errorf("node 2 reads %v", got.Fields)
	}
}
