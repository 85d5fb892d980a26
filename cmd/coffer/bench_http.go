package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// benchClient is the load generator's HTTP client: keep-alive connections,
// one idle connection kept per concurrent client.
type benchClient struct {
	hc   *http.Client
	auth string // Authorization header
}

func newBenchClient(concurrency int) *benchClient {
	tr := &http.Transport{
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &benchClient{hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// do sends one request and reads the whole answer (so the connection is
// reused); a status other than want is an error. With out set, the answer
// is decoded into it.
func (c *benchClient) do(ctx context.Context, method, u string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, want, out)
}

// send sends req with the client's credentials; a status other than want
// is an error. With out set, the answer is decoded into it.
func (c *benchClient) send(req *http.Request, want int, out any) error {
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// json sends in as a JSON body.
func (c *benchClient) json(ctx context.Context, method, u string, in any, want int, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, u, body, want, out)
}

// benchFields are the fields of one generated record, by column name.
type benchFields struct {
	Name   string      `json:"Name"`
	Age    int         `json:"Age"`
	Score  json.Number `json:"Score"`
	Team   string      `json:"Team"`
	Active bool        `json:"Active"`
	Born   string      `json:"Born"`
	Email  string      `json:"Email"`
	Seen   string      `json:"Seen"`
}

// newBenchFields generates the fields of record n: Age 18..80 and four
// teams, so that "Age > 30 && Team = red" matches about a fifth of them.
func newBenchFields(rng *rand.Rand, n int) benchFields {
	seen := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Second)
	return benchFields{
		Name:   "Person " + strconv.Itoa(n),
		Age:    18 + rng.IntN(63),
		Score:  json.Number(strconv.Itoa(rng.IntN(1000)) + "." + strconv.Itoa(10+rng.IntN(90))),
		Team:   benchTeams[rng.IntN(len(benchTeams))],
		Active: rng.IntN(2) == 0,
		Born:   fmt.Sprintf("%04d-%02d-%02d", 1950+rng.IntN(55), 1+rng.IntN(12), 1+rng.IntN(28)),
		Email:  "person" + strconv.Itoa(n) + "@example.com",
		Seen:   seen.Format(time.RFC3339),
	}
}

// loadBatch is the number of records per batch request while loading.
const loadBatch = 1000

// maxSample bounds the ids kept for random gets and updates, so that the
// load generator's own memory stays small beside the server's.
const maxSample = 100_000

// loadRecords creates n records through the batch endpoint, two batches in
// flight (the server serializes writes; the second overlaps encoding).
func (e *benchEnv) loadRecords(ctx context.Context, n int) error {
	stride := max(1, (n+maxSample-1)/maxSample)
	batches := make(chan int)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			for from := range batches {
				ids, err := e.loadBatch(ctx, rng, from, min(n, from+loadBatch))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for i, id := range ids {
					if (from+i)%stride == 0 {
						e.sample = append(e.sample, id)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for from := 0; from < n; from += loadBatch {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		batches <- from
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("load records: %w", firstErr)
	}
	return ctx.Err()
}

type batchCreate struct {
	Op     string      `json:"op"`
	Fields benchFields `json:"fields"`
}

// loadBatch creates records from..to-1 in one batch and returns their ids.
func (e *benchEnv) loadBatch(ctx context.Context, rng *rand.Rand, from, to int) ([]string, error) {
	ops := make([]batchCreate, 0, to-from)
	for i := from; i < to; i++ {
		ops = append(ops, batchCreate{Op: "create", Fields: newBenchFields(rng, i)})
	}
	var out struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := e.client.json(ctx, "POST", e.records+"/batch", map[string]any{"operations": ops}, http.StatusOK, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Results))
	for i, r := range out.Results {
		ids[i] = r.ID
	}
	return ids, nil
}

// The HTTP workloads. Each is the full server path: TCP, net/http,
// middleware (request id, log line, security headers, timeout), session
// lookup, notebook lookup, the SQL, and JSON in and out.

// getOp reads one random record by id.
func (e *benchEnv) getOp() opFunc { return e.getAs(e.client) }

// benchFilter, benchSort and benchLimit are the list workload's query.
const (
	benchFilter = `Age > 30 && Team = "red"`
	benchSort   = "-Age"
	benchLimit  = 50
)

// listURL is the list workload's request.
func (e *benchEnv) listURL() string {
	q := url.Values{"filter": {benchFilter}, "sort": {benchSort}, "limit": {strconv.Itoa(benchLimit)}}
	return e.records + "?" + q.Encode()
}

// listOp reads the first page of 50 of a filtered, sorted list (no count).
func (e *benchEnv) listOp() opFunc { return e.listAs(e.client) }

// createOp creates one record; bodies are prepared up front so that the
// load generator spends its CPU on requests, not on encoding.
func (e *benchEnv) createOp() opFunc {
	bodies := e.bodies(256, func(rng *rand.Rand, i int) any {
		return map[string]any{"fields": newBenchFields(rng, 10_000_000+i)}
	})
	return func(ctx context.Context, rng *rand.Rand) error {
		return e.client.do(ctx, "POST", e.records, bodies[rng.IntN(len(bodies))], http.StatusCreated, nil)
	}
}

// updateOp changes two fields of a random record (PATCH without If-Match).
func (e *benchEnv) updateOp() opFunc {
	bodies := e.bodies(256, func(rng *rand.Rand, i int) any {
		f := newBenchFields(rng, i)
		return map[string]any{"fields": map[string]any{"Score": f.Score, "Active": f.Active}}
	})
	return func(ctx context.Context, rng *rand.Rand) error {
		id := e.sample[rng.IntN(len(e.sample))]
		return e.client.do(ctx, "PATCH", e.records+"/"+id, bodies[rng.IntN(len(bodies))], http.StatusOK, nil)
	}
}

func (e *benchEnv) bodies(n int, gen func(rng *rand.Rand, i int) any) [][]byte {
	rng := rand.New(rand.NewPCG(2, 3))
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = json.Marshal(gen(rng, i))
	}
	return out
}

// minimalServer is limit L1: the least a Go HTTP server can do per request
// (net/http parsing and writing a fixed small JSON), on its own listener.
type minimalServer struct {
	hs  *http.Server
	url string
}

func startMinimalServer() (*minimalServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := []byte(`{"id":"rec_0000000000000000000000","status":"ok"}` + "\n")
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go hs.Serve(ln)
	return &minimalServer{hs: hs, url: "http://" + ln.Addr().String() + "/"}, nil
}

func (m *minimalServer) close() { m.hs.Close() }

// minimalOp sends one GET to the minimal handler with the same client.
func (c *benchClient) minimalOp(u string) opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		return c.do(ctx, "GET", u, nil, http.StatusOK, nil)
	}
}
