package coffer_test

import (
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestNewIDMonotonic: ids made one after another are strictly increasing,
// also the many made within one millisecond, and keep their shape.
func TestNewIDMonotonic(t *testing.T) {
	prev := coffer.NewID(coffer.PrefixRecord)
	for i := 0; i < 200000; i++ {
		id := coffer.NewID(coffer.PrefixRecord)
		if !coffer.ValidID(coffer.PrefixRecord, id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if id <= prev {
			t.Fatalf("id %d: %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
}

// TestNewIDConcurrent: ids made from many goroutines are all distinct.
func TestNewIDConcurrent(t *testing.T) {
	const workers, each = 8, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], coffer.NewID(coffer.PrefixRecord))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, l := range ids {
		for i, id := range l {
			if seen[id] {
				t.Fatalf("duplicate id %q", id)
			}
			seen[id] = true
			if i > 0 && id <= l[i-1] {
				t.Fatalf("ids of one goroutine out of order: %q then %q", l[i-1], id)
			}
		}
	}
}
