package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/value"
)

// checkHistoryAccess reads the history of the access property test's
// table as the caller and compares it with the reference: the records
// were created by the owner, so the history is their creations. A caller
// sees the creation of a record (its existence, and each value it was
// created with in a column) when some grant of theirs with `history`
// matches the record now (and gives read on that column); nothing else
// ever reaches them. Without `history` on any grant, they are refused.
func checkHistoryAccess(t *testing.T, s *all.Store, ctx context.Context, nb, tbl, where string, cols map[string]*coffer.Column,
	stored []map[string]any, mine []propGrant, eval func(src string, row map[string]any) bool) {
	t.Helper()
	if !slices.ContainsFunc(mine, func(g propGrant) bool { return g.history }) {
		for _, q := range []coffer.HistoryQuery{{}, {Table: tbl}} {
			if _, err := s.FindHistory(ctx, nb, q); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
				t.Fatalf("%s: history %+v without the history capability: %v, want forbidden", where, q, err)
			}
		}
		return
	}
	want := map[string]string{} // "record column" → the value's storage form ("" for the existence)
	for _, row := range stored {
		id := row["id"].(string)
		for _, g := range mine {
			if !g.history || !eval(g.rows, row) {
				continue
			}
			want[id+" *"] = ""
			for n, ok := range g.read {
				if ok && row[n] != nil {
					want[id+" "+n] = fmt.Sprint(row[n])
				}
			}
		}
	}
	got := map[string]string{}
	for _, e := range MustHistory(t, ctx, s, nb, coffer.HistoryQuery{Table: tbl}) {
		if e.Kind != "record.create" {
			t.Fatalf("%s: history shows a %s action; only the owner's creations of records exist", where, e.Kind)
		}
		for _, c := range e.Changes {
			key := c.Record + " *"
			v := ""
			if c.ColumnID != "" {
				key = c.Record + " " + c.Column
				v = historyStored(t, cols[c.Column], c.New)
			}
			if _, dup := got[key]; dup {
				t.Fatalf("%s: history shows %s twice", where, key)
			}
			got[key] = v
		}
	}
	for k, v := range got {
		w, ok := want[k]
		if !ok {
			t.Fatalf("%s: history shows %s = %q, which the reference hides", where, k, v)
		}
		if v != w {
			t.Fatalf("%s: history shows %s = %q, reference %q", where, k, v, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: history shows %d cells, the reference %d", where, len(got), len(want))
	}
}

// historyStored is the storage form of a value of column c in a history
// change.
func historyStored(t *testing.T, c *coffer.Column, raw json.RawMessage) string {
	t.Helper()
	if c == nil {
		t.Fatalf("a change to an unknown column: %s", raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("history value %s: %v", raw, err)
	}
	sv, err := value.FromJSON(c, v)
	if err != nil {
		t.Fatalf("history value %s of %s: %v", raw, c.Name, err)
	}
	return fmt.Sprint(sv)
}
