package schedule_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
)

// backends open a fresh instance database for a test.
var backends = []struct {
	name string
	open func(t *testing.T) store.Backend
}{
	{"sqlite", func(t *testing.T) store.Backend {
		b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"postgres", openPostgres},
}

func openPostgres(t *testing.T) store.Backend {
	t.Helper()
	url := os.Getenv("COFFER_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	schema := "sch_" + strings.ToLower(rand.Text()[:10])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, NotebookSchemaPrefix: schema + "_n"})
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "postgres") {
			t.Fatalf("PostgreSQL is required (COFFER_TEST_REQUIRE): %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() {
		b.Pool().ExecContext(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`)
		b.Close()
	})
	return b
}

// fakeJobs is a backup service of notebooks nb1…nbN, where nb2 is
// unchanged and "bad" fails.
type fakeJobs struct {
	mu    sync.Mutex
	calls []string
	after []string
}

func (f *fakeJobs) jobs(nbs ...string) schedule.Jobs {
	return schedule.Jobs{
		Notebooks: func(context.Context) ([]string, error) { return nbs, nil },
		Snapshot: func(ctx context.Context, nb, kind string, force bool) (schedule.Outcome, error) {
			f.mu.Lock()
			f.calls = append(f.calls, fmt.Sprintf("%s/%s/%v", nb, kind, force))
			f.mu.Unlock()
			switch {
			case nb == "bad":
				return schedule.Outcome{}, errors.New("disk on fire")
			case nb == "nb2" && !force:
				return schedule.Outcome{ID: "old", Skipped: true}, nil
			}
			return schedule.Outcome{ID: "s-" + nb, Bytes: 100}, nil
		},
		After: []schedule.Step{
			{Name: "replicate", Run: func(context.Context) error { f.note("replicate"); return nil }},
			{Name: "prune", Full: true, Run: func(context.Context) error { f.note("prune"); return nil }},
		},
	}
}

func (f *fakeJobs) note(s string) { f.mu.Lock(); f.after = append(f.after, s); f.mu.Unlock() }

func TestRunRecordsProgressAndOutcome(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			core := store.NewCore(be.open(t))
			f := &fakeJobs{}
			var failed *schedule.Run
			w := schedule.New(schedule.NewLedger(core), f.jobs("nb1", "nb2", "bad", "nb4"),
				schedule.Config{MinPause: -1, OnFailure: func(_ context.Context, r *schedule.Run) { failed = r }})
			var seen []schedule.Run
			r, err := w.Run(ctx, schedule.Options{Progress: func(p schedule.Run) { seen = append(seen, p) }})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != schedule.StatusFailed || r.Total != 5 || r.Done != 5 || r.Taken != 3 || r.Skipped != 1 || r.Failed != 1 || r.Bytes != 300 {
				t.Errorf("run = %+v", r)
			}
			if !strings.Contains(r.Error, "snapshot bad: disk on fire") {
				t.Errorf("error = %q", r.Error)
			}
			if failed == nil || failed.ID != r.ID {
				t.Errorf("OnFailure not called with the failed run")
			}
			if got := strings.Join(f.calls, " "); got != "nb1/manual/false nb2/manual/false bad/manual/false nb4/manual/false /manual/false" {
				t.Errorf("snapshots = %s (each notebook, then the instance)", got)
			}
			if got := strings.Join(f.after, " "); got != "replicate prune" {
				t.Errorf("steps after = %s", got)
			}
			// Progress went up one notebook at a time, naming each.
			var currents []string
			for _, p := range seen {
				if p.Current != "" && (len(currents) == 0 || currents[len(currents)-1] != p.Current) {
					currents = append(currents, p.Current)
				}
			}
			if got := strings.Join(currents, " "); got != "nb1 nb2 bad nb4 instance" {
				t.Errorf("progress named %s", got)
			}
			// The ledger has it, as the command line and other nodes see it.
			runs, err := schedule.NewLedger(core).Runs(ctx, 10)
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs = %v, %v", runs, err)
			}
			if got := runs[0]; got.ID != r.ID || got.Status != schedule.StatusFailed || got.Taken != 3 || got.Bytes != 300 || got.FinishedAt == nil || got.Phase != "done" {
				t.Errorf("recorded run = %+v", got)
			}
			// A run of one notebook: forced, without the instance or the full-only steps.
			f.calls, f.after, failed = nil, nil, nil
			r, err = w.Run(ctx, schedule.Options{Notebooks: []string{"nb2"}, Force: true})
			if err != nil || r.Status != schedule.StatusGood || r.Total != 1 || r.Taken != 1 {
				t.Fatalf("one notebook: %+v %v", r, err)
			}
			if got := strings.Join(f.calls, " ") + " | " + strings.Join(f.after, " "); got != "nb2/manual/true | replicate" {
				t.Errorf("one notebook did %s", got)
			}
			if failed != nil {
				t.Errorf("OnFailure called for a good run")
			}
			st, err := w.Status(ctx)
			if err != nil || st.Running != nil || st.Last == nil || st.Last.ID != r.ID || st.LastGood == nil || st.LastGood.ID != r.ID || st.Next.IsZero() {
				t.Errorf("status = %+v, %v", st, err)
			}
		})
	}
}

// TestLeaseExcludes: while one process runs a backup, another's is
// refused with ECONFLICT, its own progress visible to the other; a lease
// whose holder died expires, and its run is then marked interrupted.
func TestLeaseExcludes(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			core := store.NewCore(be.open(t))
			entered, release := make(chan struct{}), make(chan struct{})
			jobs := schedule.Jobs{
				Notebooks: func(context.Context) ([]string, error) { return nil, nil },
				Snapshot: func(ctx context.Context, nb, kind string, force bool) (schedule.Outcome, error) {
					close(entered)
					<-release
					return schedule.Outcome{Bytes: 1}, nil
				},
			}
			a := schedule.New(schedule.NewLedger(core), jobs, schedule.Config{MinPause: -1})
			done := make(chan error, 1)
			go func() { _, err := a.Run(ctx, schedule.Options{}); done <- err }()
			<-entered
			b := schedule.New(schedule.NewLedger(core), jobs, schedule.Config{MinPause: -1})
			_, err := b.Run(ctx, schedule.Options{})
			if coffer.ErrorCode(err) != coffer.ECONFLICT || !errors.Is(err, schedule.ErrBusy) {
				t.Errorf("second run: %v, want ECONFLICT (busy)", err)
			}
			st, err := b.Status(ctx)
			if err != nil || st.Running == nil || st.Running.Current != "instance" {
				t.Errorf("the other process's status: %+v %v", st, err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Now free.
			if err := schedule.NewLedger(core).Acquire(ctx, schedule.LeaseName, time.Millisecond); err != nil {
				t.Fatalf("acquire after release: %v", err)
			}
			// That holder "dies": its lease expires and another takes it.
			time.Sleep(5 * time.Millisecond)
			if err := schedule.NewLedger(core).Acquire(ctx, schedule.LeaseName, time.Minute); err != nil {
				t.Errorf("acquire after expiry: %v", err)
			}
		})
	}
}

// TestStartCatchesUpOnce: a server that was down at the scheduled time
// runs one backup as it starts, then waits for the next scheduled time.
func TestStartCatchesUpOnce(t *testing.T) {
	ctx := context.Background()
	core := store.NewCore(backends[0].open(t))
	f := &fakeJobs{}
	w := schedule.New(schedule.NewLedger(core), f.jobs("nb1"), schedule.Config{MinPause: -1, Zone: time.UTC})
	real := core.Now
	core.Now = func() time.Time { return real().Add(-72 * time.Hour) }
	if _, err := w.Run(ctx, schedule.Options{Kind: schedule.KindDaily}); err != nil {
		t.Fatal(err)
	}
	core.Now = real
	stop := w.Start(ctx)
	defer stop()
	l := schedule.NewLedger(core)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := l.Runs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 2 && runs[0].Status == schedule.StatusGood {
			if runs[0].Kind != schedule.KindDaily {
				t.Errorf("catch-up run kind %s", runs[0].Kind)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no catch-up run after 10 s: %d runs", len(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	st, err := w.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := schedule.Next(schedule.TimeOfDay{Hour: 4}, time.UTC, st.Last.StartedAt, time.Now()); !st.Next.Equal(want) || !st.Next.After(time.Now()) {
		t.Errorf("next = %v, want %v (in the future)", st.Next, want)
	}
	if runs, _ := l.Runs(ctx, 10); len(runs) != 2 {
		t.Errorf("%d runs, want 2: one catch-up only", len(runs))
	}
}
