package accesslog

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestCompact merges one client's reads of a table into one row that
// expands back into the same entries, each with its own time, newest
// first; other clients, tables and entries without a record keep rows of
// their own.
func TestCompact(t *testing.T) {
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixMicro()
	read := func(actor, table string, at int64, recs ...string) Entry {
		e := Entry{Kind: coffer.AccessRecordRead, Actor: actor, IP: "192.0.2.1", UserAgent: "UA", Table: table, At: base + at}
		if len(recs) == 1 {
			e.Record = recs[0]
		} else {
			e.Records = recs
		}
		return e
	}
	es := []Entry{
		read("usr_a", "tbl_1", 0, "rec_1"),
		read("usr_a", "tbl_1", 10, "rec_2", "rec_3"), // a page
		{Kind: coffer.AccessNotebookOpen, Actor: "usr_a", At: base + 15},
		read("usr_b", "tbl_1", 20, "rec_1"),
		read("usr_a", "tbl_1", 30, "rec_1"),
		read("usr_a", "tbl_2", 40, "rec_9"),
	}
	rows := compact(es)
	if len(rows) != 4 {
		t.Fatalf("rows = %+v, want 4 (a's reads of tbl_1, the opening, b's read, a's read of tbl_2)", rows)
	}
	a := rows[0]
	if a.Record != "" || len(a.Records) != 4 || a.At != base+30 {
		t.Fatalf("merged row = %+v", a)
	}
	r := Row{AccessEntry: coffer.AccessEntry{At: time.UnixMicro(a.At).UTC(), Kind: a.Kind}, Records: a.Records}
	var got []string
	for _, e := range r.Entries("") {
		got = append(got, e.RecordID+"@"+e.At.Sub(time.UnixMicro(base).UTC()).String())
	}
	want := []string{"rec_1@30µs", "rec_2@10µs", "rec_3@10µs", "rec_1@0s"}
	if len(got) != len(want) {
		t.Fatalf("expanded %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("expanded %v, want %v", got, want)
			break
		}
	}
	if only := r.Entries("rec_1"); len(only) != 2 {
		t.Errorf("entries of rec_1: %d, want 2", len(only))
	}
	if rows[2].Record != "rec_1" || rows[2].Actor != "usr_b" || rows[3].Record != "rec_9" || rows[1].Kind != coffer.AccessNotebookOpen {
		t.Errorf("other rows = %+v", rows[1:])
	}
}
