package main

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memPeak is the peak memory seen so far. The Go figures leave out
// SQLite's own allocations (modernc.org/sqlite allocates outside the Go
// heap); the resident set (VmHWM, from the kernel) counts everything, the
// load generator included.
type memPeak struct {
	heapInUse uint64 // Go heap objects, live and not yet swept
	goMapped  uint64 // all memory mapped by the Go runtime, minus what it returned to the OS
	rssPeak   uint64 // VmHWM: peak resident set of the process
}

// memSampler samples the Go runtime's memory periodically and keeps the peaks.
type memSampler struct {
	mu   sync.Mutex
	max  memPeak
	done chan struct{}
	wg   sync.WaitGroup
}

var memSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func startMemSampler(every time.Duration) *memSampler {
	m := &memSampler{done: make(chan struct{})}
	m.sample()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *memSampler) sample() {
	s := make([]metrics.Sample, len(memSamples))
	copy(s, memSamples)
	metrics.Read(s)
	heap, total, released := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	m.mu.Lock()
	m.max.heapInUse = max(m.max.heapInUse, heap)
	m.max.goMapped = max(m.max.goMapped, total-released)
	m.mu.Unlock()
}

// peak returns the peaks so far, with the process's VmHWM.
func (m *memSampler) peak() memPeak {
	m.sample()
	m.mu.Lock()
	p := m.max
	m.mu.Unlock()
	p.rssPeak = procStatusBytes("VmHWM")
	return p
}

func (m *memSampler) stop() {
	close(m.done)
	m.wg.Wait()
}

// procStatusBytes reads a "kB" line of /proc/self/status (0 where there is none).
func procStatusBytes(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return n * 1024
	}
	return 0
}
