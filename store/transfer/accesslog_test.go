package transfer_test

import (
	"reflect"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestCopyAccessLog: coffer migrate carries access records (list pages'
// rows included) and watch rules; on PostgreSQL the copy's sequence moves
// past the copied records, so new ones follow them.
func TestCopyAccessLog(t *testing.T) {
	a := openSQLite(t)
	sa := all.New(a, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, sa)
	nb := storetest.MustNotebook(t, uctx, sa, "Logged")
	tb := storetest.MustTable(t, uctx, sa, nb.ID, "People", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
	r := storetest.MustRecord(t, uctx, sa, nb.ID, tb.ID, map[string]any{"Name": "Ada"})
	storetest.MustRecord(t, uctx, sa, nb.ID, tb.ID, map[string]any{"Name": "Bob"})
	on := true
	if _, err := sa.UpdateNotebookSettings(uctx, nb.ID, coffer.NotebookSettingsUpdate{AccessLog: &on}); err != nil {
		t.Fatal(err)
	}
	storetest.MustFindRecord(t, uctx, sa, nb.ID, tb.ID, r.ID)
	storetest.MustList(t, uctx, sa, nb.ID, tb.ID, coffer.ListQuery{})
	sa.FlushAccessLog()
	if _, err := sa.CreateWatch(uctx, nb.ID, coffer.WatchInput{Table: &tb.Name, Events: &[]string{"read"}}); err != nil {
		t.Fatal(err)
	}
	want, err := sa.FindAccess(uctx, nb.ID, coffer.AccessQuery{})
	if err != nil || len(want.Entries) != 3 {
		t.Fatalf("source: %+v, %v", want, err)
	}
	wantWatches, _ := sa.FindWatches(uctx, nb.ID)

	dsts := []*all.Store{}
	b := openSQLite(t)
	mustMigrate(t, a, b)
	dsts = append(dsts, all.New(b, keyring.ForTests()))
	if pgURL() != "" {
		p := openPostgres(t)
		mustMigrate(t, a, p)
		dsts = append(dsts, all.New(p, keyring.ForTests()))
	}
	for _, d := range dsts {
		got, err := d.FindAccess(uctx, nb.ID, coffer.AccessQuery{})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("copy: %+v, %v; want %+v", got, err, want)
		}
		if ws, err := d.FindWatches(uctx, nb.ID); err != nil || !reflect.DeepEqual(ws, wantWatches) {
			t.Errorf("copied rules: %+v, %v", ws, err)
		}
		storetest.MustFindRecord(t, uctx, d, nb.ID, tb.ID, r.ID)
		d.FlushAccessLog()
		after, err := d.FindAccess(uctx, nb.ID, coffer.AccessQuery{})
		if err != nil || len(after.Entries) != 4 || after.Entries[0].Seq <= want.Entries[0].Seq {
			t.Errorf("a read after the copy: %+v, %v", after, err)
		}
	}
}
