package storetest

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/store/all"
)

func init() {
	historyGroups = append(historyGroups, group{"AccessLog", testAccessLog}, group{"Watches", testWatches})
}

// setAccessLog switches a notebook's access records on or off through its
// settings (the caller of ctx is an owner).
func setAccessLog(t *testing.T, s *all.Store, ctx context.Context, nb string, on bool) {
	t.Helper()
	if st, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{AccessLog: &on}); err != nil || st.AccessLog != on {
		t.Fatalf("UpdateNotebookSettings(access_log %v): %+v, %v", on, st, err)
	}
}

// withClient is ctx with a client address and user agent.
func withClient(ctx context.Context, ip, ua string) context.Context {
	return coffer.WithClient(ctx, coffer.Client{IP: ip, UserAgent: ua})
}

// mustAccess lists every access record the caller may read.
func mustAccess(t *testing.T, s *all.Store, ctx context.Context, nb string, q coffer.AccessQuery) []*coffer.AccessEntry {
	t.Helper()
	var out []*coffer.AccessEntry
	for range 1000 {
		l, err := s.FindAccess(ctx, nb, q)
		if err != nil {
			t.Fatalf("FindAccess(%+v): %v (fields %v)", q, err, coffer.ErrorFields(err))
		}
		out = append(out, l.Entries...)
		if l.NextCursor == nil {
			return out
		}
		q.Cursor = *l.NextCursor
	}
	t.Fatal("FindAccess: the cursor does not advance")
	return nil
}

// accessKinds counts entries by kind.
func accessKinds(es []*coffer.AccessEntry) map[string]int {
	out := map[string]int{}
	for _, e := range es {
		out[e.Kind]++
	}
	return out
}

// accessFixture is a notebook with a table of people, records on.
type accessFixture struct {
	*setup
	table string
	recs  []*coffer.Record
}

func newAccessFixture(t *testing.T, s *all.Store, n int) *accessFixture {
	t.Helper()
	st := newSetup(t, s, "Access")
	tb := MustTable(t, st.ctx, s, st.nb, "People", col("Name", coffer.TypeText), col("Salary", coffer.TypeNumber))
	f := &accessFixture{setup: st, table: tb.ID}
	for i := range n {
		f.recs = append(f.recs, MustRecord(t, st.ctx, s, st.nb, tb.ID, map[string]any{"Name": []string{"ada", "bob", "cy"}[i%3], "Salary": i * 1000}))
	}
	return f
}

// testAccessLog covers access records: each kind written, batched,
// overflow counted and never blocking, nothing while off, and the
// access_log capability needed (and scoped) to read them.
func testAccessLog(t *testing.T, open Opener) {
	t.Run("Off", func(t *testing.T) {
		s := open(t)
		f := newAccessFixture(t, s, 3)
		MustFindRecord(t, f.ctx, s, f.nb, f.table, f.recs[0].ID)
		MustList(t, f.ctx, s, f.nb, f.table, coffer.ListQuery{})
		s.FlushAccessLog()
		if st := s.AccessLogStats(); st.Queued != 0 {
			t.Errorf("stats with access records off: %+v, want nothing queued", st)
		}
		if es := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{}); len(es) != 0 {
			t.Errorf("access records while off: %d, want 0", len(es))
		}
	})
	t.Run("Kinds", func(t *testing.T) { testAccessKinds(t, open(t)) })
	t.Run("Batched", func(t *testing.T) { testAccessBatched(t, open(t)) })
	t.Run("Overflow", func(t *testing.T) { testAccessOverflow(t, open(t)) })
	t.Run("Capability", func(t *testing.T) { testAccessCapability(t, open(t)) })
	t.Run("Query", func(t *testing.T) { testAccessQuery(t, open(t)) })
	t.Run("HistoryPaths", func(t *testing.T) { testAccessHistoryPaths(t, open(t)) })
}

// testAccessKinds writes one access record of each kind and reads them
// back with who, when, IP and user agent.
func testAccessKinds(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 3)
	setAccessLog(t, s, f.ctx, f.nb, true)
	ctx := withClient(f.ctx, "192.0.2.7", "TestAgent/1.0")
	before := time.Now().Add(-time.Minute)
	if _, err := s.FindNotebook(ctx, f.nb); err != nil {
		t.Fatal(err)
	}
	MustFindRecord(t, ctx, s, f.nb, f.table, f.recs[0].ID)
	page := MustList(t, ctx, s, f.nb, f.table, coffer.ListQuery{Limit: 2})
	s.NoteExport(ctx, f.nb, f.table, "records csv")
	s.NoteFileDownload(ctx, f.nb, "People", f.recs[1].ID, "Photo/cv.pdf")
	s.NoteLinkUse(ctx, f.nb, "", "", "lnk_1")
	s.FlushAccessLog()
	es := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{})
	want := map[string]int{coffer.AccessNotebookOpen: 1, coffer.AccessRecordRead: 1 + len(page.Records), coffer.AccessExport: 1, coffer.AccessFileDownload: 1, coffer.AccessLinkUse: 1}
	if got := accessKinds(es); !mapsEqual(got, want) {
		t.Errorf("kinds = %v, want %v", got, want)
	}
	for i, e := range es {
		if e.UserID != f.u.ID || e.IP != "192.0.2.7" || e.UserAgent != "TestAgent/1.0" || e.At.Before(before) || e.At.After(time.Now().Add(time.Minute)) {
			t.Errorf("entry %+v: want user %s, IP, user agent and a current time", e, f.u.ID)
		}
		if i > 0 && e.Seq > es[i-1].Seq { // a page's entries share its row's seq
			t.Errorf("entries not newest first: %d after %d", e.Seq, es[i-1].Seq)
		}
	}
	// A list page records one read per record on it.
	reads := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Kind: coffer.AccessRecordRead})
	var got []string
	for _, e := range reads {
		if e.TableID != f.table {
			t.Errorf("read of table %q, want %q", e.TableID, f.table)
		}
		got = append(got, e.RecordID)
	}
	wantIDs := append([]string{f.recs[0].ID}, ids(page.Records)...)
	if !slices.Equal(sorted(got), sorted(wantIDs)) {
		t.Errorf("records read = %v, want %v", got, wantIDs)
	}
	// Who read this record?
	rd, err := s.FindReaders(f.ctx, f.nb, f.table, f.recs[0].ID, coffer.AccessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rd.Entries) != 2 || rd.Entries[0].UserID != f.u.ID {
		t.Errorf("readers of the first record = %+v, want 2 reads (get and list) by %s", rd.Entries, f.u.ID)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// testAccessBatched reads many records and counts the write transactions:
// records are written in batches, not one transaction per read.
func testAccessBatched(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 10)
	setAccessLog(t, s, f.ctx, f.nb, true)
	s.SetAccessLogOptions(accesslog.Options{Manual: true, Batch: 500})
	const reads = 300
	for i := range reads {
		MustFindRecord(t, f.ctx, s, f.nb, f.table, f.recs[i%len(f.recs)].ID)
	}
	if st := s.AccessLogStats(); st.Queued != reads || st.Transactions != 0 {
		t.Fatalf("before the flush: %+v, want %d queued and no transaction", st, reads)
	}
	s.FlushAccessLog()
	if st := s.AccessLogStats(); st.Written != reads || st.Transactions != 1 || st.Dropped != 0 {
		t.Errorf("after the flush: %+v, want %d written in 1 transaction", st, reads)
	}
	// In the background (flushed every second or every 100 entries).
	s.SetAccessLogOptions(accesslog.Options{Batch: 100})
	for i := range reads {
		MustFindRecord(t, f.ctx, s, f.nb, f.table, f.recs[i%len(f.recs)].ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.AccessLogStats().Written < reads && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.AccessLogStats(); st.Written != reads || st.Transactions > reads/10 {
		t.Errorf("background writer: %+v, want %d written in at most %d transactions", st, reads, reads/10)
	}
	if es := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Kind: coffer.AccessRecordRead}); len(es) != 2*reads {
		t.Errorf("stored reads = %d, want %d", len(es), 2*reads)
	}
}

// testAccessOverflow fills a small queue: reads go on, the overflow is
// counted, and what was queued is written.
func testAccessOverflow(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 3)
	setAccessLog(t, s, f.ctx, f.nb, true)
	s.SetAccessLogOptions(accesslog.Options{Manual: true, Size: 10})
	for range 25 {
		MustFindRecord(t, f.ctx, s, f.nb, f.table, f.recs[0].ID)
	}
	MustList(t, f.ctx, s, f.nb, f.table, coffer.ListQuery{}) // a page: one entry for its 3 records, over too
	if st := s.AccessLogStats(); st.Queued != 10 || st.Dropped != 16 {
		t.Errorf("stats = %+v, want 10 queued and 16 dropped", st)
	}
	s.FlushAccessLog()
	if es := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{}); len(es) != 10 {
		t.Errorf("stored = %d, want the 10 queued", len(es))
	}
	// Room again after the flush.
	MustFindRecord(t, f.ctx, s, f.nb, f.table, f.recs[0].ID)
	if st := s.AccessLogStats(); st.Queued != 11 {
		t.Errorf("after the flush: %+v, want 11 queued", st)
	}
}

// testAccessCapability checks who may read access records: not a viewer
// without access_log; a grant's access_log shows only the records of the
// rows it covers now, and never notebook-wide ones.
func testAccessCapability(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 6)
	setAccessLog(t, s, f.ctx, f.nb, true)
	viewerCtx, viewer := MustUser(t, s)
	auditorCtx, auditor := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, viewer.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	table := f.table
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: auditor.ID}, Table: &table,
		Rows: `Name = "ada"`, Columns: map[string]string{"*": "read"}, Capabilities: []string{"access_log"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindNotebook(viewerCtx, f.nb); err != nil {
		t.Fatal(err)
	}
	MustList(t, viewerCtx, s, f.nb, f.table, coffer.ListQuery{})
	s.FlushAccessLog()

	_, err := s.FindAccess(viewerCtx, f.nb, coffer.AccessQuery{})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindReaders(viewerCtx, f.nb, f.table, f.recs[0].ID, coffer.AccessQuery{})
	wantCode(t, err, coffer.EFORBIDDEN)
	stranger, _ := MustUser(t, s)
	_, err = s.FindAccess(stranger, f.nb, coffer.AccessQuery{})
	wantCode(t, err, coffer.ENOTFOUND)

	es := mustAccess(t, s, auditorCtx, f.nb, coffer.AccessQuery{})
	var adas []string
	for _, r := range f.recs {
		if r.Fields["Name"] == "ada" {
			adas = append(adas, r.ID)
		}
	}
	var got []string
	for _, e := range es {
		if e.Kind != coffer.AccessRecordRead {
			t.Errorf("the auditor sees a %s record; only reads of their rows are theirs", e.Kind)
		}
		got = append(got, e.RecordID)
	}
	if !slices.Equal(sorted(got), sorted(adas)) {
		t.Errorf("the auditor sees reads of %v, want those of the ada rows %v", got, adas)
	}
	if l, err := s.FindReaders(auditorCtx, f.nb, f.table, adas[0], coffer.AccessQuery{}); err != nil || len(l.Entries) != 1 || l.Entries[0].UserID != viewer.ID {
		t.Errorf("the auditor asks who read an ada row: %+v, %v", l, err)
	}
	var other string
	for _, r := range f.recs {
		if r.Fields["Name"] != "ada" {
			other = r.ID
		}
	}
	_, err = s.FindReaders(auditorCtx, f.nb, f.table, other, coffer.AccessQuery{})
	wantCode(t, err, coffer.ENOTFOUND)
	// The owner sees everything: the viewer's opening too.
	if got := accessKinds(mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{User: viewer.ID})); got[coffer.AccessNotebookOpen] != 1 || got[coffer.AccessRecordRead] != len(f.recs) {
		t.Errorf("the owner sees the viewer's %v", got)
	}
}

// testAccessQuery covers filters, pagination and mistakes.
func testAccessQuery(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 5)
	setAccessLog(t, s, f.ctx, f.nb, true)
	s.SetAccessLogOptions(accesslog.Options{Manual: true})
	for _, r := range f.recs {
		MustFindRecord(t, f.ctx, s, f.nb, f.table, r.ID)
	}
	MustList(t, f.ctx, s, f.nb, f.table, coffer.ListQuery{}) // one stored row, five entries
	for _, r := range f.recs[:2] {
		MustFindRecord(t, f.ctx, s, f.nb, f.table, r.ID)
	}
	s.FlushAccessLog()
	l, err := s.FindAccess(f.ctx, f.nb, coffer.AccessQuery{Limit: 2})
	if err != nil || len(l.Entries) != 2 || l.NextCursor == nil {
		t.Fatalf("first page: %+v, %v", l, err)
	}
	// Pages of 2 and 3 cut through the list page's row: every entry once.
	for _, limit := range []int{2, 3, 12} {
		all := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Limit: limit})
		seen := map[string]int{}
		for _, e := range all {
			seen[e.RecordID]++
		}
		if len(all) != 12 || seen[f.recs[0].ID] != 3 || seen[f.recs[4].ID] != 2 {
			t.Errorf("paged by %d through %d entries (%v), want 12: 3 for the first two records, 2 for the others", limit, len(all), seen)
		}
	}
	one := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Table: "People", Record: f.recs[2].ID})
	if len(one) != 2 || one[0].RecordID != f.recs[2].ID || one[1].RecordID != f.recs[2].ID {
		t.Errorf("filter by record: %+v, want its get and its list page", one)
	}
	if got := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("since an hour ahead: %d entries", len(got))
	}
	if got := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{Until: time.Now().Add(time.Hour), Since: time.Now().Add(-time.Hour)}); len(got) != 12 {
		t.Errorf("within the last hour: %d entries, want 12", len(got))
	}
	_, err = s.FindAccess(f.ctx, f.nb, coffer.AccessQuery{Kind: "record.write", Limit: 5000, Cursor: "!!", User: "bob"})
	wantCode(t, err, coffer.EINVALID)
	wantFields(t, err, "kind", "limit", "cursor", "user")
	_, err = s.FindAccess(f.ctx, f.nb, coffer.AccessQuery{Table: "Nope"})
	wantCode(t, err, coffer.ENOTFOUND)
}

// testAccessHistoryPaths: reading the past (as_of) is reading records, and
// exporting history is an export, both recorded.
func testAccessHistoryPaths(t *testing.T, s *all.Store) {
	f := newAccessFixture(t, s, 3)
	setAccessLog(t, s, f.ctx, f.nb, true)
	now := &coffer.AsOf{Time: time.Now().Add(time.Hour)}
	if _, err := s.FindRecordAsOf(f.ctx, f.nb, f.table, f.recs[0].ID, now); err != nil {
		t.Fatal(err)
	}
	page, err := s.FindRecords(f.ctx, f.nb, f.table, coffer.ListQuery{AsOf: now, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExportHistory(f.ctx, f.nb, coffer.HistoryQuery{Table: f.table, Record: f.recs[1].ID}, coffer.HistoryCSV, io.Discard); err != nil {
		t.Fatal(err)
	}
	s.FlushAccessLog()
	es := mustAccess(t, s, f.ctx, f.nb, coffer.AccessQuery{})
	want := map[string]int{coffer.AccessRecordRead: 1 + len(page.Records), coffer.AccessExport: 1}
	if got := accessKinds(es); !mapsEqual(got, want) {
		t.Errorf("kinds = %v, want %v", got, want)
	}
	for _, e := range es {
		if e.Kind == coffer.AccessExport && e.RecordID != f.recs[1].ID {
			t.Errorf("export of record %q, want %q", e.RecordID, f.recs[1].ID)
		}
	}
}
