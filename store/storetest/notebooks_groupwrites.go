package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
)

// testConcurrentWrites: many writers at once, some of whose writes fail
// after part of their work was done (a batch whose last operation is
// refused). Every write that succeeded is there; nothing of a failed write
// is, even when the backend commits several writes together.
func testConcurrentWrites(t *testing.T, open Opener) {
	s := open(t)
	ctx, _ := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Group")
	tbl := MustTable(t, ctx, s, nb.ID, "T", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
	const writers, each = 8, 40
	var mu sync.Mutex
	var want, unwanted []string
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				var err error
				good := i%3 != 0
				switch {
				case good && i%2 == 0:
					_, err = s.CreateRecord(ctx, nb.ID, tbl.ID, map[string]any{"Name": name})
				case good:
					_, err = s.Batch(ctx, nb.ID, tbl.ID, []coffer.BatchOp{
						{Op: coffer.OpCreate, Fields: map[string]any{"Name": name}},
					})
				default:
					// The create runs, then the update of a missing record fails the batch.
					_, err = s.Batch(ctx, nb.ID, tbl.ID, []coffer.BatchOp{
						{Op: coffer.OpCreate, Fields: map[string]any{"Name": name}},
						{Op: coffer.OpUpdate, ID: coffer.NewID(coffer.PrefixRecord), Fields: map[string]any{"Name": "x"}},
					})
				}
				mu.Lock()
				switch {
				case good && err != nil:
					t.Errorf("write %s: %v", name, err)
				case !good && coffer.ErrorCode(err) != coffer.ENOTFOUND:
					t.Errorf("failing batch %s: got %v, want not_found", name, err)
				case good:
					want = append(want, name)
				default:
					unwanted = append(unwanted, name)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var got []string
	for _, r := range MustListAll(t, ctx, s, nb.ID, tbl.ID, coffer.ListQuery{Limit: 1000}) {
		got = append(got, r.Fields["Name"].(string))
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("records after concurrent writes: got %d, want %d (failed writes: %d)", len(got), len(want), len(unwanted))
		for _, n := range unwanted {
			if slices.Contains(got, n) {
				t.Errorf("a failed batch left its record %s", n)
			}
		}
	}
}
