package storetest

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
)

// Parallel runs op(i) for i in [0, n) on n goroutines released at once
// and returns how many succeeded. An error whose code is among refusals
// (besides EUNAVAILABLE: the database too busy) is an expected refusal;
// any other fails the test.
func Parallel(t testing.TB, n int, op func(i int) error, refusals ...string) int {
	t.Helper()
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := op(i)
			switch code := coffer.ErrorCode(err); {
			case err == nil:
				ok.Add(1)
			case code == coffer.EUNAVAILABLE || slices.Contains(refusals, code):
			default:
				t.Errorf("parallel call %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}
