package ship_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// TestMeasureShipping prints what shipping costs (set
// COFFER_SHIP_MEASURE=1; about a minute): the write rate with and without
// it, the time of a round over idle notebooks, of a base and of a
// restore.
func TestMeasureShipping(t *testing.T) {
	if os.Getenv("COFFER_SHIP_MEASURE") == "" {
		t.Skip("set COFFER_SHIP_MEASURE=1 to measure")
	}
	ctx := context.Background()
	rate := func(shipping, rounds bool) float64 {
		b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		core := store.NewCore(b)
		e := &env{b: b, core: core, ring: keyring.New(core, keyring.ForTests())}
		if shipping {
			ls, _ := local.Open(t.TempDir())
			e.st = &countingStore{Store: ls}
			e.s, err = ship.New(ship.Config{Backend: b, Ring: e.ring, Stores: []blob.Store{e.st}, Interval: time.Second, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if rounds {
				e.s.Start()
			}
			defer e.s.Close()
		}
		id := e.notebook(t)
		var n atomic.Int64
		stop := time.Now().Add(4 * time.Second)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int64(0); time.Now().Before(stop); i++ {
					e.write(t, id, "INSERT INTO t (n, note, pad) VALUES (?, 'x', randomblob(500))", int64(w)<<40|i)
					n.Add(1)
				}
			}()
		}
		if shipping {
			// How long a capture holds the writer while writes flow.
			var total time.Duration
			var count int
			for time.Now().Before(stop) {
				time.Sleep(20 * time.Millisecond)
				t0 := time.Now()
				if err := b.CaptureWAL(ctx, id); err != nil {
					t.Error(err)
				}
				total += time.Since(t0)
				count++
			}
			t.Logf("a capture (the writer held) took %s on average over %d, between writes", total/time.Duration(max(count, 1)), count)
		}
		wg.Wait()
		return float64(n.Load()) / 4
	}
	for range 2 {
		off, hook, on := rate(false, false), rate(true, false), rate(true, true)
		t.Logf("writes/s (4 writers, 500-byte rows, synchronous=FULL): %.0f without shipping, %.0f with the hook alone (%.2f×), %.0f shipping every second (%.2f×)", off, hook, hook/off, on, on/off)
	}
	if os.Getenv("COFFER_SHIP_MEASURE") == "rate" {
		return
	}

	e := newEnv(t, sqlite.Options{MaxOpenNotebooks: 64})
	var ids []string
	for range 100 {
		ids = append(ids, e.notebook(t))
	}
	e.ship(t)
	e.st.puts.Store(0)
	start := time.Now()
	e.ship(t)
	t.Logf("a round over %d idle notebooks: %s, %d puts", len(ids), time.Since(start), e.st.puts.Load())

	id := ids[0]
	e.write(t, id, "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 200000) INSERT INTO t (n, note, pad) SELECT v, 'row ' || v, randomblob(500) FROM s")
	e.ship(t)
	db, release, _ := e.b.Notebook(ctx, id)
	var pages, size int64
	db.R.QueryRow("PRAGMA page_count").Scan(&pages)
	db.R.QueryRow("PRAGMA page_size").Scan(&size)
	release()
	// A new generation: the base of a notebook of pages×size bytes.
	e.s.Reset(id)
	e.s.Committed(id)
	start = time.Now()
	e.ship(t)
	t.Logf("base of a %.0f MB notebook shipped in %s", float64(pages*size)/1e6, time.Since(start))
	for i := range 10 {
		e.write(t, id, "UPDATE t SET note = note || '+' WHERE n % 10 = ?", i)
		e.ship(t)
	}
	out := filepath.Join(t.TempDir(), "r.db")
	start = time.Now()
	if err := ship.RestoreAt(ctx, e.st, e.ring, id, time.Now(), out); err != nil {
		t.Fatal(err)
	}
	t.Logf("restore of %.0f MB (base and 10 segments of 20,000 updated rows each) in %s", float64(pages*size)/1e6, time.Since(start))
}
