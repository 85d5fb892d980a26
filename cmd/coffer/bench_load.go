package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"
)

// opFunc is one operation of a workload; rng belongs to the calling
// goroutine.
type opFunc func(ctx context.Context, rng *rand.Rand) error

// result is what one workload measured.
type result struct {
	name     string
	ops      int
	errors   int
	firstErr error
	elapsed  time.Duration
	p50, p99 time.Duration
	rssPeak  uint64 // the process's VmHWM when the workload ended
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// loadGen runs an operation from `concurrency` goroutines for `duration`,
// after a short warm-up that is not measured.
type loadGen struct {
	concurrency int
	duration    time.Duration
}

// maxErrorShare is the share of failed operations above which a workload
// is reported as broken rather than measured.
const maxErrorShare = 0.01

func (g loadGen) run(ctx context.Context, name string, op opFunc) (result, error) {
	warm := min(g.duration/10, 500*time.Millisecond)
	if _, _, err := g.drive(ctx, warm, op); err != nil {
		return result{}, fmt.Errorf("bench %s (warm-up): %w", name, err)
	}
	lat, errs, err := g.drive(ctx, g.duration, op)
	if err != nil {
		return result{}, fmt.Errorf("bench %s: %w", name, err)
	}
	r := result{name: name, ops: lat.ops, errors: errs.n, firstErr: errs.first, elapsed: lat.elapsed}
	if total := r.ops + r.errors; total == 0 || float64(r.errors) > maxErrorShare*float64(total) {
		return r, fmt.Errorf("bench %s: %d of %d operations failed, first: %v", name, r.errors, total, r.firstErr)
	}
	r.p50, r.p99 = percentile(lat.samples, 0.50), percentile(lat.samples, 0.99)
	return r, nil
}

type latencies struct {
	samples []time.Duration // a uniform sample of at most maxSamples per goroutine
	ops     int             // every successful operation
	elapsed time.Duration
}

// maxSamples bounds the latencies kept per goroutine (reservoir sampling
// beyond it), so in-process workloads of millions of operations a second
// do not fill the load generator's memory.
const maxSamples = 50_000

type errCount struct {
	n     int
	first error
}

// drive runs op until d has passed and returns the latency of every
// successful operation. Each goroutine keeps its own slice: no lock on the
// hot path.
func (g loadGen) drive(ctx context.Context, d time.Duration, op opFunc) (latencies, errCount, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := make([][]time.Duration, g.concurrency)
	counts := make([]int, g.concurrency)
	errs := make([]errCount, g.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range g.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for {
				t0 := time.Now()
				if !t0.Before(deadline) || ctx.Err() != nil {
					return
				}
				if err := op(ctx, rng); err != nil {
					if ctx.Err() != nil {
						return
					}
					if errs[w].n == 0 {
						errs[w].first = err
					}
					errs[w].n++
					continue
				}
				lat := time.Since(t0)
				counts[w]++
				if len(per[w]) < maxSamples {
					per[w] = append(per[w], lat)
				} else if j := rng.IntN(counts[w]); j < maxSamples {
					per[w][j] = lat
				}
			}
		}()
	}
	wg.Wait()
	out := latencies{elapsed: time.Since(start)}
	var ec errCount
	for w := range g.concurrency {
		out.samples = append(out.samples, per[w]...)
		out.ops += counts[w]
		if errs[w].n > 0 && ec.first == nil {
			ec.first = errs[w].first
		}
		ec.n += errs[w].n
	}
	return out, ec, ctx.Err()
}

// percentile returns the q-quantile of samples (sorting them in place).
func percentile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	if !slices.IsSorted(samples) {
		slices.Sort(samples)
	}
	i := int(q * float64(len(samples)-1))
	return samples[i]
}

// startCPUProfile writes a CPU profile of one workload to dir; the returned
// function stops it.
func startCPUProfile(dir, name string) (func(), error) {
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
