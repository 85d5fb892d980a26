package main

// The load generator of coffer bench --peers runs in a process of its own
// (the hidden subcommand "coffer bench-load"), so that neither server
// shares its CPU scheduling or its garbage collector with the client. It
// reads one peerLoadSpec as JSON on standard input and writes one
// peerLoadResult as JSON on standard output.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// peerLoadSpec is one measured run: the same request, with a random id and
// a random body from the lists, sent by Concurrency clients, each on its
// own keep-alive connection, for Duration after Warmup.
type peerLoadSpec struct {
	Concurrency int               `json:"concurrency"`
	Warmup      time.Duration     `json:"warmup_ns"`   // not measured
	Duration    time.Duration     `json:"duration_ns"` // measured
	Timeout     time.Duration     `json:"timeout_ns"`  // per request; a request past it counts at this latency
	Method      string            `json:"method"`
	URL         string            `json:"url"` // "{id}" is replaced by a random element of IDs
	IDs         []string          `json:"ids,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Bodies      []string          `json:"bodies,omitempty"` // one is sent at random; none: no body
	Status      int               `json:"status"`           // the answer's expected status
}

// peerLoadResult is what a run measured. Latencies are over every request
// that ended: answered as expected, answered otherwise (errors) and timed
// out (counted at the timeout). Ops/s counts the expected answers only.
type peerLoadResult struct {
	Requests   int           `json:"requests"`
	OK         int           `json:"ok"`
	Errors     int           `json:"errors"`
	Timeouts   int           `json:"timeouts"`
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	OpsPerSec  float64       `json:"ops_per_sec"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
}

func (s *peerLoadSpec) check() error {
	switch {
	case s.Concurrency < 1 || s.Duration <= 0 || s.Timeout <= 0 || s.Warmup < 0:
		return errors.New("bench-load: concurrency, duration and timeout must be positive")
	case s.Method == "" || s.URL == "" || s.Status == 0:
		return errors.New("bench-load: method, url and status are required")
	case strings.Contains(s.URL, "{id}") && len(s.IDs) == 0:
		return errors.New("bench-load: the url has {id} but no ids are given")
	}
	return nil
}

// cmdBenchLoad is the hidden subcommand "coffer bench-load".
func cmdBenchLoad(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	var spec peerLoadSpec
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bench-load: reading the spec: %w", err)
	}
	if err := spec.check(); err != nil {
		return err
	}
	res, err := runPeerLoad(ctx, &spec)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// runPeerLoad warms up, then measures.
func runPeerLoad(ctx context.Context, spec *peerLoadSpec) (peerLoadResult, error) {
	hc := newBenchClient(spec.Concurrency).hc
	defer hc.CloseIdleConnections()
	if spec.Warmup > 0 {
		if _, err := drivePeerLoad(ctx, hc, spec, spec.Warmup); err != nil {
			return peerLoadResult{}, err
		}
	}
	return drivePeerLoad(ctx, hc, spec, spec.Duration)
}

// peerWorker is what one client goroutine counted.
type peerWorker struct {
	lat          []time.Duration
	ok, errs, to int
	firstErr     error
}

// drivePeerLoad sends requests from spec.Concurrency goroutines until d
// has passed; requests in flight then finish (or time out) and count.
func drivePeerLoad(ctx context.Context, hc *http.Client, spec *peerLoadSpec, d time.Duration) (peerLoadResult, error) {
	workers := make([]peerWorker, spec.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := &workers[w]
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				timedOut, err := peerRequest(ctx, hc, spec, rng)
				lat := time.Since(t0)
				switch {
				case ctx.Err() != nil:
					return
				case timedOut:
					pw.to++
					lat = spec.Timeout
				case err != nil:
					if pw.errs == 0 {
						pw.firstErr = err
					}
					pw.errs++
				default:
					pw.ok++
				}
				pw.lat = append(pw.lat, lat)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return peerLoadResult{}, err
	}
	return summarizePeerLoad(workers, time.Since(start)), nil
}

// summarizePeerLoad adds up what the workers counted. Timed-out requests
// are in their latencies (at the timeout), so a server that stalls shows
// in p99 instead of dropping out of it.
func summarizePeerLoad(workers []peerWorker, elapsed time.Duration) peerLoadResult {
	var all []time.Duration
	res := peerLoadResult{Elapsed: elapsed}
	for _, pw := range workers {
		all = append(all, pw.lat...)
		res.OK += pw.ok
		res.Errors += pw.errs
		res.Timeouts += pw.to
		if pw.firstErr != nil && res.FirstError == "" {
			res.FirstError = pw.firstErr.Error()
		}
	}
	res.Requests = len(all)
	if elapsed > 0 {
		res.OpsPerSec = float64(res.OK) / elapsed.Seconds()
	}
	res.P50, res.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return res
}

// peerRequest sends one request of spec and reads the whole answer (so
// that the connection is reused). timedOut reports that the request's own
// timeout ended it.
func peerRequest(ctx context.Context, hc *http.Client, spec *peerLoadSpec, rng *rand.Rand) (timedOut bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	u := spec.URL
	if len(spec.IDs) > 0 {
		u = strings.Replace(u, "{id}", spec.IDs[rng.IntN(len(spec.IDs))], 1)
	}
	var body io.Reader
	if len(spec.Bodies) > 0 {
		body = strings.NewReader(spec.Bodies[rng.IntN(len(spec.Bodies))])
	}
	req, err := http.NewRequestWithContext(rctx, spec.Method, u, body)
	if err != nil {
		return false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range spec.Headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err == nil {
		var msg bytes.Buffer
		if resp.StatusCode != spec.Status {
			_, err = io.Copy(&msg, io.LimitReader(resp.Body, 512))
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		if err == nil && resp.StatusCode != spec.Status {
			return false, fmt.Errorf("%s %s: status %d: %s", spec.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(msg.String()))
		}
	}
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		return true, err
	}
	return false, err
}
