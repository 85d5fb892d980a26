package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// countCacheFixture is a store with one notebook and table People (Name,
// Age) and the notebook's database handle, whose count cache statistics
// the tests read.
type countCacheFixture struct {
	s     *all.Store
	owner context.Context
	nb    string
	table string
	db    *store.DB
}

func newCountCacheFixture(t *testing.T) *countCacheFixture {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, s)
	nb := storetest.MustNotebook(t, uctx, s, "Counts")
	tbl := storetest.MustTable(t, uctx, s, nb.ID, "People",
		coffer.ColumnInput{Name: "Name", Type: coffer.TypeText},
		coffer.ColumnInput{Name: "Age", Type: coffer.TypeNumber})
	db, release, err := b.Notebook(ctx, nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return &countCacheFixture{s: s, owner: uctx, nb: nb.ID, table: tbl.ID, db: db}
}

func (f *countCacheFixture) total(t *testing.T, ctx context.Context, filter string) int64 {
	t.Helper()
	l := storetest.MustList(t, ctx, f.s, f.nb, f.table, coffer.ListQuery{Filter: filter, Limit: 1, Count: true})
	if l.Total == nil {
		t.Fatal("no total")
	}
	return *l.Total
}

// TestCountCacheHits checks that a total asked again with nothing
// committed since is served from the cache (the count query runs once),
// that a write makes the next one run again, and that another caller's
// total or another filter is not a hit.
func TestCountCacheHits(t *testing.T) {
	f := newCountCacheFixture(t)
	for i := 0; i < 10; i++ {
		storetest.MustRecord(t, f.owner, f.s, f.nb, f.table, map[string]any{"Name": fmt.Sprint("p", i), "Age": 20 + i})
	}
	step := func(name string, filter string, ctx context.Context, want int64, hit bool) {
		t.Helper()
		h0, r0 := f.db.CountStats()
		if n := f.total(t, ctx, filter); n != want {
			t.Fatalf("%s: total %d, want %d", name, n, want)
		}
		h1, r1 := f.db.CountStats()
		if hit && (h1 != h0+1 || r1 != r0) {
			t.Errorf("%s: hits +%d, count queries run +%d; want a hit and no query", name, h1-h0, r1-r0)
		}
		if !hit && (h1 != h0 || r1 != r0+1) {
			t.Errorf("%s: hits +%d, count queries run +%d; want one query and no hit", name, h1-h0, r1-r0)
		}
	}
	step("first", "Age > 24", f.owner, 5, false)
	step("same again", "Age > 24", f.owner, 5, true)
	step("and again", "Age > 24", f.owner, 5, true)
	step("another filter", "Age > 25", f.owner, 4, false)
	step("another value bound", "Age > 26", f.owner, 3, false)

	guest, g := storetest.MustUser(t, f.s)
	if _, err := f.s.CreateGrant(f.owner, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: g.ID}, Table: &f.table,
		Rows: "Age < 27", Columns: map[string]string{"*": "read"}}); err != nil {
		t.Fatal(err)
	}
	step("after a grant (instance write only)", "Age > 24", f.owner, 5, true)
	step("another caller", "Age > 24", guest, 2, false)
	step("that caller again", "Age > 24", guest, 2, true)

	storetest.MustRecord(t, f.owner, f.s, f.nb, f.table, map[string]any{"Name": "new", "Age": 99})
	step("after a create", "Age > 24", f.owner, 6, false)
	step("after a create, again", "Age > 24", f.owner, 6, true)
	step("another caller after a create", "Age > 24", guest, 2, false)
}

// TestCountCacheConcurrent runs writers creating records while readers ask
// for totals (run it with -race): every total equals the records of its own
// page (all rows fit in one page: one snapshot), is at least the creates
// acknowledged before the request and at most those begun before it
// returned.
func TestCountCacheConcurrent(t *testing.T) {
	f := newCountCacheFixture(t)
	const writers, perWriter, readers = 4, 25, 4
	var begun, acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, writers+readers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				begun.Add(1)
				if _, err := f.s.CreateRecord(f.owner, f.nb, f.table, map[string]any{"Name": fmt.Sprint("w", w, "-", i), "Age": i}); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	var rg sync.WaitGroup
	var lists atomic.Int64
	for r := 0; r < readers; r++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo := acked.Load()
				l, err := f.s.FindRecords(f.owner, f.nb, f.table, coffer.ListQuery{Limit: 500, Count: true})
				hi := begun.Load()
				if err != nil {
					errs <- err
					return
				}
				lists.Add(1)
				if l.Total == nil || *l.Total != int64(len(l.Records)) || *l.Total < lo || *l.Total > hi {
					errs <- fmt.Errorf("total %s with %d records on its page; %d creates acknowledged before, %d begun after",
						fmt.Sprint(*l.Total), len(l.Records), lo, hi)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if lists.Load() == 0 {
		t.Fatal("no list ran")
	}
	for i := 0; i < 2; i++ {
		if n := f.total(t, f.owner, ""); n != writers*perWriter {
			t.Fatalf("final total %d, want %d", n, writers*perWriter)
		}
	}
}

// BenchmarkCountCache reports the CPU time per operation (cpu-ms/op) of the
// page of 50 with its total (Team = "red" && Age > 30, -Age, 100,000 rows)
// as the owner and as a grantee: asked again with nothing committed since
// (the total from the cache), and with one record updated before each
// request (outside the measured time: the total counted again).
func BenchmarkCountCache(b *testing.B) {
	f := newCountFixture(b, 100_000)
	first := storetest.MustList(b, f.owner, f.s, f.nb, f.table, coffer.ListQuery{Limit: 1}).Records[0]
	q := coffer.ListQuery{Filter: `Team = "red" && Age > 30`, Sort: "-Age", Limit: 50, Count: true}
	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"owner", f.owner}, {"grantee", f.guest}} {
		for _, write := range []bool{false, true} {
			name := map[bool]string{false: "cached", true: "after-a-write"}[write]
			b.Run(who.name+"/"+name, func(b *testing.B) {
				var cpu time.Duration
				age := 0
				for b.Loop() {
					if write {
						b.StopTimer()
						age++
						if _, err := f.s.UpdateRecord(f.owner, f.nb, f.table, first.ID, map[string]any{"Name": fmt.Sprint("n", age)}, 0); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					c := cpuTime()
					l, err := f.s.FindRecords(who.ctx, f.nb, f.table, q)
					cpu += cpuTime() - c
					if err != nil || l.Total == nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
