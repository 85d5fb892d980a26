package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// testAuditPrune: pruning drops only a whole checkpointed prefix of the
// entries older than the limit, the next checkpoint records the range,
// the log still verifies and proves, even its pruned entries.
func testAuditPrune(t *testing.T, open Opener) {
	s := open(t)
	clock := &stepClock{}
	clock.Freeze()
	s.Now = clock.Now
	f := newAuditFixture(t, s)
	ctx := context.Background()
	opCtx := auditOperator(t, s)
	MustUser(t, s)
	c1 := f.checkpoint(t)
	MustUser(t, s)
	c2 := f.checkpoint(t) // made at the same time as c1's entries
	clock.Add(time.Hour)
	MustUser(t, s)
	MustUser(t, s)
	c3 := f.checkpoint(t)
	MustUser(t, s) // not checkpointed yet

	// Everything before the hour: the prefix up to c2.
	from, to, err := f.log.Prune(ctx, clock.Now().Add(-time.Minute))
	if err != nil || from != 0 || to != c2.Size {
		t.Fatalf("Prune = [%d, %d), %v; want [0, %d)", from, to, err, c2.Size)
	}
	if from, to, err := f.log.Prune(ctx, clock.Now().Add(-time.Minute)); err != nil || from != to {
		t.Errorf("Prune again = [%d, %d), %v; want nothing", from, to, err)
	}
	f.mustVerify(t)
	entries := allEntries(t, opCtx, s, "", coffer.AuditFilter{})
	if last := entries[len(entries)-1]; last.Index != c2.Size {
		t.Errorf("oldest entry listed %d, want %d", last.Index, c2.Size)
	}
	c4 := f.checkpoint(t)
	if c4.DroppedFrom != 0 || c4.DroppedTo != c2.Size || c3.DroppedTo != 0 {
		t.Errorf("dropped ranges: c3 [%d, %d), c4 [%d, %d); want c4 [0, %d)", c3.DroppedFrom, c3.DroppedTo, c4.DroppedFrom, c4.DroppedTo, c2.Size)
	}
	p, err := f.log.Prove(ctx, 0, f.key)
	if err != nil || p.Record != nil {
		t.Errorf("Prove(0) of a pruned entry: %v (record %s)", err, p.Record)
	}
	// Everything, at a later time: only up to the latest checkpoint.
	MustUser(t, s)
	from, to, err = f.log.Prune(ctx, clock.Now().Add(time.Hour))
	if err != nil || from != c2.Size || to != c4.Size {
		t.Fatalf("Prune(all) = [%d, %d), %v; want [%d, %d)", from, to, err, c2.Size, c4.Size)
	}
	f.mustVerify(t)
	c5 := f.checkpoint(t)
	if c5.DroppedFrom != c2.Size || c5.DroppedTo != c4.Size {
		t.Errorf("c5 dropped [%d, %d), want [%d, %d)", c5.DroppedFrom, c5.DroppedTo, c2.Size, c4.Size)
	}
	r := f.mustVerify(t)
	if r.First != c4.Size || r.Size != c5.Size || c1.Size >= c2.Size {
		t.Errorf("report %+v", r)
	}
}
