package schedule

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// TestInterruptedRun: a run whose process died (kill -9: no outcome
// recorded, the lease left to expire) is never taken for a finished run;
// the next run marks it interrupted.
func TestInterruptedRun(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	core := store.NewCore(b)
	dead := NewLedger(core)
	if err := dead.Acquire(ctx, LeaseName, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r, err := dead.begin(ctx, KindDaily)
	if err != nil {
		t.Fatal(err)
	}
	if last, err := dead.LastStart(ctx, KindDaily); err != nil || !last.IsZero() {
		t.Errorf("a run in progress counts as the last run: %v %v", last, err)
	}
	time.Sleep(5 * time.Millisecond)
	w := New(NewLedger(core), Jobs{Notebooks: func(context.Context) ([]string, error) { return nil, nil },
		Snapshot: func(context.Context, string, string, bool) (Outcome, error) { return Outcome{}, nil }}, Config{MinPause: -1})
	if _, err := w.Run(ctx, Options{Kind: KindDaily}); err != nil {
		t.Fatal(err)
	}
	runs, err := dead.Runs(ctx, 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs %v %v", runs, err)
	}
	if runs[1].ID != r.ID || runs[1].Status != StatusInterrupted || runs[1].FinishedAt == nil {
		t.Errorf("dead run = %+v", runs[1])
	}
	if runs[0].Status != StatusGood {
		t.Errorf("new run = %+v", runs[0])
	}
}
