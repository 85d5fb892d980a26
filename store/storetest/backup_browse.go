package storetest

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

func init() {
	historyGroups = append(historyGroups, group{"Backups", testBackups})
}

// testBackups is the suite of browsing, comparing and restoring snapshots
// (notebooks/snapshot*.go, restore*.go) on a storage-copying source.
func testBackups(t *testing.T, open Opener) {
	t.Run("Browse", func(t *testing.T) { testBackupBrowse(t, open(t)) })
	t.Run("ReadOnly", func(t *testing.T) { testBackupReadOnly(t, open(t)) })
	t.Run("Compare", func(t *testing.T) { testBackupCompare(t, open(t)) })
	t.Run("Sandboxes", func(t *testing.T) { testBackupSandboxes(t, open(t)) })
	t.Run("RestoreRecords", func(t *testing.T) { testRestoreRecords(t, open(t)) })
	t.Run("RestoreTable", func(t *testing.T) { testRestoreTable(t, open(t)) })
	t.Run("RestoreNotebook", func(t *testing.T) { testRestoreNotebook(t, open(t)) })
	t.Run("RestoreAccess", func(t *testing.T) { testRestoreAccess(t, open(t)) })
}

// backupFixture: Alice owns a notebook with table Staff (Name, Team,
// Salary) holding x (red, 100) and y (blue, 200). Uma holds a grant with
// restore on the red rows without Salary; Vic reads everything, without
// restore. Snap is a snapshot of that state; since, x was renamed x2, y
// deleted and z (blue) added.
type backupFixture struct {
	s               *all.Store
	src             *CopySnapshots
	ctx, uctx, vctx context.Context
	nb, other       string
	uGrant          string
	x, y, z         *coffer.Record
	snap, otherSnap *coffer.Snapshot
}

func newBackupFixture(t *testing.T, s *all.Store) *backupFixture {
	t.Helper()
	f := &backupFixture{s: s, src: MustCopySnapshots(t, s)}
	var alice *coffer.User
	f.ctx, alice = MustUser(t, s)
	_ = alice
	f.nb = MustNotebook(t, f.ctx, s, "Staff book").ID
	f.other = MustNotebook(t, f.ctx, s, "Other").ID
	tbl := MustTable(t, f.ctx, s, f.nb, "Staff", col("Name", coffer.TypeText), col("Team", coffer.TypeText), col("Salary", coffer.TypeNumber))
	var u, v *coffer.User
	f.uctx, u = MustUser(t, s)
	f.vctx, v = MustUser(t, s)
	g, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: u.ID}, Table: &tbl.ID,
		Rows: `Team = "red"`, Columns: map[string]string{"*": "write", "Salary": "none"}, Capabilities: []string{"restore", "create"}})
	if err != nil {
		t.Fatal(err)
	}
	f.uGrant = g.ID
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: v.ID}, Table: &tbl.ID}); err != nil {
		t.Fatal(err)
	}
	f.x = MustRecord(t, f.ctx, s, f.nb, "Staff", map[string]any{"Name": "x", "Team": "red", "Salary": 100})
	f.y = MustRecord(t, f.ctx, s, f.nb, "Staff", map[string]any{"Name": "y", "Team": "blue", "Salary": 200})
	f.snap = f.src.MustTake(t, f.ctx, f.nb)
	f.otherSnap = f.src.MustTake(t, f.ctx, f.other)
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Staff", f.x.ID, map[string]any{"Name": "x2"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(f.ctx, f.nb, "Staff", f.y.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.z = MustRecord(t, f.ctx, s, f.nb, "Staff", map[string]any{"Name": "z", "Team": "blue", "Salary": 300})
	return f
}

// browse opens the snapshot under ctx and fails the test on error.
func (f *backupFixture) browse(t *testing.T, ctx context.Context, id string) context.Context {
	t.Helper()
	bctx, release, err := f.s.BrowseSnapshot(ctx, f.nb, id)
	if err != nil {
		t.Fatalf("BrowseSnapshot: %v", err)
	}
	t.Cleanup(release)
	return bctx
}

// fieldsOf returns the fields of every record the caller lists, by name.
func fieldsOf(t *testing.T, ctx context.Context, s *all.Store, nb, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range MustListAll(t, ctx, s, nb, table, coffer.ListQuery{}) {
		b, _ := json.Marshal(r.Fields)
		out[r.Fields["Name"].(string)] = string(b)
	}
	return out
}

// testBackupBrowse: the owner reads the snapshot's values through the
// ordinary reads; a grantee with restore sees it through today's grant
// (a hidden column stays hidden, an invisible row is not found); someone
// without restore, an unknown snapshot and another notebook's snapshot
// answer alike, not found; revoking the grant closes the snapshot at once.
func testBackupBrowse(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	bctx := f.browse(t, f.ctx, f.snap.ID)
	wantFieldsJSON(t, "x in the snapshot", MustFindRecord(t, bctx, s, f.nb, "Staff", f.x.ID), map[string]any{"Name": "x", "Team": "red", "Salary": json.Number("100")})
	wantFieldsJSON(t, "y in the snapshot", MustFindRecord(t, bctx, s, f.nb, "Staff", f.y.ID), map[string]any{"Name": "y", "Team": "blue", "Salary": json.Number("200")})
	_, err := s.FindRecord(bctx, f.nb, "Staff", f.z.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	if got := ids(MustListAll(t, bctx, s, f.nb, "Staff", coffer.ListQuery{})); !slicesEqual(got, []string{f.x.ID, f.y.ID}) {
		t.Errorf("snapshot list = %v, want x and y", got)
	}
	if n := MustCount(t, bctx, s, f.nb, "Staff"); n != 2 {
		t.Errorf("snapshot count = %d, want 2", n)
	}
	tables, err := s.FindTables(bctx, f.nb)
	if err != nil || len(tables) != 1 || tables[0].NotebookID != f.nb {
		t.Errorf("snapshot tables = %v, %v: want Staff of the notebook", tables, err)
	}
	nb, err := s.FindNotebook(bctx, f.nb)
	if err != nil || nb.ID != f.nb {
		t.Errorf("snapshot notebook = %v, %v", nb, err)
	}
	// Today is untouched by the reads.
	wantFieldsJSON(t, "x now", MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.x.ID), map[string]any{"Name": "x2", "Team": "red", "Salary": json.Number("100")})

	// Uma: today's grant on the snapshot.
	ub := f.browse(t, f.uctx, f.snap.ID)
	r := MustFindRecord(t, ub, s, f.nb, "Staff", f.x.ID)
	if _, ok := r.Fields["Salary"]; ok || r.Fields["Name"] != "x" {
		t.Errorf("x in the snapshot for Uma: %v, want Name x and no Salary", r.Fields)
	}
	_, err = s.FindRecord(ub, f.nb, "Staff", f.y.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	if got := ids(MustListAll(t, ub, s, f.nb, "Staff", coffer.ListQuery{})); !slicesEqual(got, []string{f.x.ID}) {
		t.Errorf("snapshot list for Uma = %v, want x only", got)
	}
	if n := MustCount(t, ub, s, f.nb, "Staff"); n != 1 {
		t.Errorf("snapshot count for Uma = %d, want 1", n)
	}
	for _, q := range []coffer.ListQuery{{Filter: "Salary > 0"}, {Sort: "Salary"}, {Fields: []string{"Salary"}}} {
		_, err := s.FindRecords(ub, f.nb, "Staff", q)
		wantCode(t, err, coffer.EINVALID) // a hidden column does not exist, in a snapshot too
	}
	if l, err := s.FindSnapshots(f.uctx, f.nb, coffer.SnapshotQuery{}); err != nil || len(l) != 1 || l[0].ID != f.snap.ID || l[0].Rows != 0 || l[0].Size != 0 {
		t.Errorf("Uma's snapshot list: %+v, %v; want the snapshot without its totals", l, err)
	}
	if l, err := s.FindSnapshots(f.ctx, f.nb, coffer.SnapshotQuery{}); err != nil || len(l) != 1 || l[0].Rows == 0 {
		t.Errorf("the owner's snapshot list: %+v, %v; want the snapshot with its totals", l, err)
	}

	// A column deleted since: hidden from the grantee (no grant can name
	// it today), shown to the owner.
	if _, err := s.CreateColumn(f.ctx, f.nb, "Staff", col("Bonus", coffer.TypeNumber)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRecord(f.ctx, f.nb, "Staff", f.x.ID, map[string]any{"Bonus": 5}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindRecord(f.uctx, f.nb, "Staff", f.x.ID); err != nil {
		t.Fatal(err)
	} else if r, _ := s.FindRecord(f.uctx, f.nb, "Staff", f.x.ID); r.Fields["Bonus"] == nil {
		t.Fatalf("Uma does not read Bonus today: %v", r.Fields)
	}
	withBonus := f.src.MustTake(t, f.ctx, f.nb)
	if err := s.DeleteColumn(f.ctx, f.nb, "Staff", "Bonus"); err != nil {
		t.Fatal(err)
	}
	if r := MustFindRecord(t, f.browse(t, f.uctx, withBonus.ID), s, f.nb, "Staff", f.x.ID); r.Fields["Bonus"] != nil || r.Fields["Name"] != "x2" {
		t.Errorf("Uma reads a column deleted since in the snapshot: %v", r.Fields)
	}
	if r := MustFindRecord(t, f.browse(t, f.ctx, withBonus.ID), s, f.nb, "Staff", f.x.ID); r.Fields["Bonus"] == nil {
		t.Errorf("the owner does not read Bonus in the snapshot: %v", r.Fields)
	}

	// Reads of a snapshot are access records when the notebook keeps them
	// today (they were off when the snapshot was taken).
	on := true
	if _, err := s.UpdateNotebookSettings(f.ctx, f.nb, coffer.NotebookSettingsUpdate{AccessLog: &on}); err != nil {
		t.Fatal(err)
	}
	MustFindRecord(t, f.browse(t, f.uctx, f.snap.ID), s, f.nb, "Staff", f.x.ID)
	s.FlushAccessLog()
	if al, err := s.FindAccess(f.ctx, f.nb, coffer.AccessQuery{Record: f.x.ID}); err != nil || len(al.Entries) == 0 {
		t.Errorf("no access record of the snapshot read: %+v, %v", al, err)
	}

	// Vic (no restore), unknown ids and another notebook's snapshot: not found.
	missing := "bks_" + coffer.NewID("")
	for _, c := range []struct {
		name   string
		ctx    context.Context
		nb, id string
	}{
		{"no restore", f.vctx, f.nb, f.snap.ID},
		{"unknown", f.ctx, f.nb, missing},
		{"garbage", f.ctx, f.nb, "../../x"},
		{"of another notebook", f.ctx, f.nb, f.otherSnap.ID},
	} {
		_, _, err := s.BrowseSnapshot(c.ctx, c.nb, c.id)
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.FindSnapshot(c.ctx, c.nb, c.id)
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.CompareTable(c.ctx, c.nb, "Staff", c.id, "", 0)
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.CompareRecord(c.ctx, c.nb, "Staff", f.x.ID, c.id)
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.Restore(c.ctx, c.nb, coffer.RestoreInput{Snapshot: c.id, Table: "Staff", Records: []string{f.x.ID}})
		wantCode(t, err, coffer.ENOTFOUND)
		if c.name == "no restore" {
			_, err = s.FindSnapshots(c.ctx, c.nb, coffer.SnapshotQuery{})
			wantCode(t, err, coffer.ENOTFOUND)
		}
	}
	// A shredded key: a clear error.
	gone := f.src.MustTake(t, f.ctx, f.nb)
	f.src.mu.Lock()
	f.src.Unreadable[gone.ID] = true
	f.src.mu.Unlock()
	_, _, err = s.BrowseSnapshot(f.ctx, f.nb, gone.ID)
	wantCode(t, err, coffer.ESNAPSHOTUNREADABLE)

	// Revoked: the snapshot closes at the next request, even one open.
	if err := s.DeleteGrant(f.ctx, f.nb, f.uGrant); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindRecord(ub, f.nb, "Staff", f.x.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	_, _, err = s.BrowseSnapshot(f.uctx, f.nb, f.snap.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}

// testBackupReadOnly: every write under a snapshot's context is refused
// with snapshot_read_only and changes neither the snapshot nor today.
func testBackupReadOnly(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	bctx := f.browse(t, f.ctx, f.snap.ID)
	before, now := fieldsOf(t, bctx, s, f.nb, "Staff"), fieldsOf(t, f.ctx, s, f.nb, "Staff")
	_, err := s.UpdateRecord(bctx, f.nb, "Staff", f.x.ID, map[string]any{"Name": "no"}, 0)
	wantCode(t, err, coffer.ESNAPSHOTRO)
	_, err = s.CreateRecord(bctx, f.nb, "Staff", map[string]any{"Name": "no"})
	wantCode(t, err, coffer.ESNAPSHOTRO)
	wantCode(t, s.DeleteRecord(bctx, f.nb, "Staff", f.y.ID, 0), coffer.ESNAPSHOTRO)
	_, err = s.CreateTable(bctx, f.nb, coffer.TableInput{Name: "No"})
	wantCode(t, err, coffer.ESNAPSHOTRO)
	_, err = s.Batch(bctx, f.nb, "Staff", []coffer.BatchOp{{Op: coffer.OpCreate, Fields: map[string]any{"Name": "no"}}})
	wantCode(t, err, coffer.ESNAPSHOTRO)
	_, err = s.CreateView(bctx, f.nb, "Staff", coffer.ViewInput{Name: "No"})
	wantCode(t, err, coffer.ESNAPSHOTRO)
	wantCode(t, s.DeleteNotebook(bctx, f.nb), coffer.ESNAPSHOTRO)
	if got := fieldsOf(t, bctx, s, f.nb, "Staff"); !maps.Equal(got, before) {
		t.Errorf("the snapshot changed: %v, was %v", got, before)
	}
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); !maps.Equal(got, now) {
		t.Errorf("today changed: %v, was %v", got, now)
	}
}

// testBackupCompare: per table, the added, removed and changed records
// with their ids, paged; per record, column by column. For a grantee,
// invisible rows and hidden columns stay out on both sides.
func testBackupCompare(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	c, err := s.CompareTable(f.ctx, f.nb, "Staff", f.snap.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Added != 1 || c.Removed != 1 || c.Changed != 1 || len(c.Records) != 3 {
		t.Errorf("compare = %+v, want 1 added, 1 removed, 1 changed", c)
	}
	want := map[string]string{f.x.ID: "changed", f.y.ID: "removed", f.z.ID: "added"}
	for _, r := range c.Records {
		if want[r.ID] != r.Change {
			t.Errorf("compare says %s %s, want %s", r.ID, r.Change, want[r.ID])
		}
	}
	// Paged.
	var got []string
	cursor := ""
	for i := 0; i < 5; i++ {
		p, err := s.CompareTable(f.ctx, f.nb, "Staff", f.snap.ID, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			got = append(got, r.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(got) != 3 || !slices.IsSorted(got) {
		t.Errorf("compare pages = %v, want the three ids in order", got)
	}
	_, err = s.CompareTable(f.ctx, f.nb, "Staff", f.snap.ID, "nope", 0)
	wantCode(t, err, coffer.EINVALID)
	_, err = s.CompareTable(f.ctx, f.nb, "Staff", f.snap.ID, "", 5000)
	wantCode(t, err, coffer.EINVALID)

	rc, err := s.CompareRecord(f.ctx, f.nb, "Staff", f.x.ID, f.snap.ID)
	if err != nil || rc.Change != "changed" {
		t.Fatalf("compare x: %+v, %v", rc, err)
	}
	for _, cc := range rc.Columns {
		if cc.Changed != (cc.Column == "Name") {
			t.Errorf("compare x, column %s: %+v", cc.Column, cc)
		}
	}
	// Uma sees x only: z and y are blue, Salary hidden.
	uc, err := s.CompareTable(f.uctx, f.nb, "Staff", f.snap.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Added != 0 || uc.Removed != 0 || uc.Changed != 1 || len(uc.Records) != 1 || uc.Records[0].ID != f.x.ID {
		t.Errorf("Uma's compare = %+v, want x changed only", uc)
	}
	urc, err := s.CompareRecord(f.uctx, f.nb, "Staff", f.x.ID, f.snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range urc.Columns {
		if cc.Column == "Salary" {
			t.Errorf("Uma's compare of x shows Salary: %+v", cc)
		}
	}
	_, err = s.CompareRecord(f.uctx, f.nb, "Staff", f.y.ID, f.snap.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.CompareRecord(f.uctx, f.nb, "Staff", f.z.ID, f.snap.ID)
	wantCode(t, err, coffer.ENOTFOUND)
}

// testBackupSandboxes: a snapshot is loaded once while in use and for the
// idle time after, then removed.
func testBackupSandboxes(t *testing.T, s *all.Store) {
	f := newBackupFixture(t, s)
	for i := 0; i < 3; i++ {
		bctx, release, err := s.BrowseSnapshot(f.ctx, f.nb, f.snap.ID)
		if err != nil {
			t.Fatal(err)
		}
		MustFindRecord(t, bctx, s, f.nb, "Staff", f.x.ID)
		release()
	}
	if f.src.Loads != 1 || s.Sandboxes() != 1 {
		t.Errorf("three reads: %d loads, %d sandboxes; want 1 and 1", f.src.Loads, s.Sandboxes())
	}
	s.SetSnapshotIdle(time.Nanosecond)
	time.Sleep(time.Millisecond)
	if n := s.SweepSnapshots(); n != 1 || s.Sandboxes() != 0 {
		t.Errorf("sweep removed %d, %d left; want 1 and 0", n, s.Sandboxes())
	}
	bctx := f.browse(t, f.ctx, f.snap.ID)
	MustFindRecord(t, bctx, s, f.nb, "Staff", f.x.ID)
	if f.src.Loads != 2 {
		t.Errorf("after the sweep: %d loads, want 2", f.src.Loads)
	}
	// At most notebooks.MaxSandboxes at once (one is held above): when
	// all are in use, one more is refused; released, they make room.
	s.SetSnapshotIdle(time.Hour)
	var releases []func()
	for i := 0; i < notebooks.MaxSandboxes-1; i++ {
		sn := f.src.MustTake(t, f.ctx, f.nb)
		_, release, err := s.BrowseSnapshot(f.ctx, f.nb, sn.ID)
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		releases = append(releases, release)
	}
	if n := s.Sandboxes(); n != notebooks.MaxSandboxes {
		t.Errorf("%d sandboxes, want %d", n, notebooks.MaxSandboxes)
	}
	one := f.src.MustTake(t, f.ctx, f.nb)
	_, _, err := s.BrowseSnapshot(f.ctx, f.nb, one.ID)
	wantCode(t, err, coffer.EUNAVAILABLE)
	for _, r := range releases {
		r()
	}
	if _, release, err := s.BrowseSnapshot(f.ctx, f.nb, one.ID); err != nil {
		t.Errorf("once released: %v", err)
	} else {
		release()
	}
}
