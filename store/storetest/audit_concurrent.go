package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// ConcurrentAudit appends from many goroutines on two stores of one
// database (two nodes; or one store twice) while both sign checkpoints:
// the entries get consecutive indexes, none is lost, and the log, with
// every checkpoint of either node, is one consistent tree.
func ConcurrentAudit(t *testing.T, s1, s2 *all.Store) {
	ctx := context.Background()
	f1, f2 := newAuditFixture(t, s1), &auditFixture{s: s2, log: s2.Identity.Audit, sink: audit.Sink{Dir: t.TempDir()}}
	f2.key = f1.key // the nodes of one instance share the key
	start, err := f1.log.Verify(ctx, f1.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*each+64)
	for _, f := range []*auditFixture{f1, f2} {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					err := f.s.Write(ctx, f.s.Inst, "test", func(tx *store.WriteTx) error {
						return f.log.Append(ctx, tx, audit.Event{Kind: "test.concurrent", Detail: fmt.Sprintf("%p %d %d", f, w, i)})
					})
					if err != nil {
						errs <- err
					}
					if i%4 == 0 {
						if _, err := f.log.Checkpoint(ctx, f.key, f.sink); err != nil {
							errs <- err
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append or checkpoint: %v", err)
	}
	f1.checkpoint(t)
	r := f1.mustVerify(t)
	if want := start.Size + 2*writers*each; r.Size != want {
		t.Errorf("log size %d, want %d", r.Size, want)
	}
	if r2 := f2.mustVerify(t); r2.Size != r.Size || r2.Checkpoints != r.Checkpoints {
		t.Errorf("the second node's file: %+v; the first's %+v", r2, r)
	}
	seen := map[string]bool{}
	for _, e := range allEntries(t, auditOperator(t, s1), s1, "", coffer.AuditFilter{Limit: audit.MaxLimit}) {
		if e.Kind == "test.concurrent" {
			if seen[e.Detail] {
				t.Errorf("entry %q twice", e.Detail)
			}
			seen[e.Detail] = true
		}
	}
	if len(seen) != 2*writers*each {
		t.Errorf("%d distinct entries, want %d", len(seen), 2*writers*each)
	}
}
