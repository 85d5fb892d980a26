package blobtest

import (
	"runtime"
	"time"
)

// HeapGrowth runs f and returns how far the heap in use rose above what it
// was before f, at its highest (sampled every few milliseconds, after a
// collection at the start).
func HeapGrowth(f func()) (growth uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base, peak := m.HeapInuse, m.HeapInuse
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	f()
	close(done)
	<-sampled
	runtime.ReadMemStats(&m)
	peak = max(peak, m.HeapInuse)
	return peak - base
}
