package main

// coffer bench --peers measures Coffer side by side with PocketBase (issue
// 15): both servers hold the same people records, each runs as its own
// process, and one load generator, a third process, drives them in the
// order PocketBase, Coffer, Coffer, PocketBase for each workload, with the
// minimal Go handler (its own process too) before and after. With --db,
// Coffer on PostgreSQL joins the rotation. The files bench_peers_*.go
// hold its parts: _proc (processes), _load (the load generator), _pb and
// _coffer (the servers), _report (the table).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The workloads of the peers bench, in the order they run. Creates come
// last, so that every read runs on the same records on every server.
const (
	wlPeerGetGrant  = "get by id, restricted"
	wlPeerPageGrant = "page of 50, restricted, no total"
	wlPeerPageTotal = "page of 50, restricted, with total"
	// wlPeerPageFresh asks for the same page and total with a filter that
	// differs at every request by an always-true term (age != a random
	// number no one's age is), so that no total can come from a cache
	// (Coffer keeps the totals it counted until the next write): what
	// counting costs.
	wlPeerPageFresh = "page of 50, restricted, with total, filter varies"
	wlPeerGetOwner  = "get by id, owner"
	wlPeerPageOwner = "page of 50, owner, no total"
	wlPeerCreate    = "create one record, owner"
)

var peerWorkloads = []string{wlPeerGetGrant, wlPeerPageGrant, wlPeerPageTotal, wlPeerPageFresh, wlPeerGetOwner, wlPeerPageOwner, wlPeerCreate}

// peerTimeout is the load generator's timeout per request: past it a
// request counts as answered at this latency. It is longer than Coffer's
// list time budget (--query-timeout, 10 s), so that a list Coffer gives
// up on shows as its 503.
const peerTimeout = 15 * time.Second

// peerIDSample bounds the ids each run picks from.
const peerIDSample = 20_000

// peerPerson is one record of the people table on both servers.
type peerPerson struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Team  string `json:"team"`
	Age   int    `json:"age"`
}

// peerTeams are the colours of team; a third of the people are red.
var peerTeams = []string{"red", "green", "blue", "yellow", "purple"}

// newPeerPerson generates person n: red one time in three, else another
// colour; age 18 to 80.
func newPeerPerson(rng *rand.Rand, n int) peerPerson {
	team := peerTeams[0]
	if rng.IntN(3) != 0 {
		team = peerTeams[1+rng.IntN(len(peerTeams)-1)]
	}
	s := strconv.Itoa(n)
	return peerPerson{Name: "Person " + s, Email: "person" + s + "@example.com", Team: team, Age: 18 + rng.IntN(63)}
}

// peerFilter and peerSort are the page's query, the same on both servers.
const (
	peerFilter = `team = "red" && age > 30`
	peerSort   = "-age"
	peerLimit  = 50
)

// peerPageURL is the page's request on records: limitParam names the
// page size; extra, when not empty, is one more parameter.
func peerPageURL(records, limitParam, extra, value string) string {
	q := url.Values{"filter": {peerFilter}, "sort": {peerSort}, limitParam: {strconv.Itoa(peerLimit)}}
	if extra != "" {
		q.Set(extra, value)
	}
	return records + "?" + q.Encode()
}

// peerVaryMark stands in a page URL for the load generator's random token.
const peerVaryMark = "QQVARYQQ"

// peerVariedPageURL is peerPageURL with the always-true term age != {id}
// added to the filter: the load generator puts one of peerTokens in place
// of {id} at each request.
func peerVariedPageURL(records, limitParam, extra, value string) string {
	q := url.Values{"filter": {peerFilter + ` && age != ` + peerVaryMark}, "sort": {peerSort}, limitParam: {strconv.Itoa(peerLimit)}}
	if extra != "" {
		q.Set(extra, value)
	}
	return strings.Replace(records+"?"+q.Encode(), peerVaryMark, "{id}", 1)
}

// peerTokens are the random numbers of the varied filter: no person is
// that old, and there are so many that one rarely comes twice in a run.
var peerTokens = func() []string {
	t := make([]string, 50_000)
	for i := range t {
		t[i] = strconv.Itoa(1000 + rand.IntN(1_000_000_000))
	}
	return t
}()

// checkPeerPage makes sure a page holds what the bench says it does: a
// full page of red people over 30, oldest first.
func checkPeerPage(server string, items []peerPerson) error {
	if len(items) != peerLimit {
		return fmt.Errorf("%s: the page holds %d records, not %d (use more --records)", server, len(items), peerLimit)
	}
	for i, p := range items {
		if p.Team != "red" || p.Age <= 30 || (i > 0 && p.Age > items[i-1].Age) {
			return fmt.Errorf("%s: the page's record %d is %+v: not red, not over 30 or out of order", server, i, p)
		}
	}
	return nil
}

// peerSide is one server in the rotation and what it measured.
type peerSide struct {
	name       string
	durability string
	pid        int
	proc       *peerProc
	specs      map[string]peerLoadSpec
	stop       func() error
	loaded     time.Duration
	loadRSS    uint64 // VmHWM once loaded: the peak since start
	runs       map[string][]peerRun
}

// peerRun is one measured run and the server's peak memory during it.
type peerRun struct {
	peerLoadResult
	PeakRSS uint64 `json:"peak_rss"`
}

func cmdBenchPeers(ctx context.Context, cfg benchConfig, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	say := func(s string) { fmt.Fprintln(stdout, s) }
	bin, err := buildPocketBase(ctx, say)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cfg.dir, "coffer-peers-")
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(tmp); err == nil {
		tmp = abs
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	say(fmt.Sprintf("coffer bench --peers: %d records, %s per run, %d keep-alive connections, request timeout %s; temporary directory %s (removed at the end)",
		cfg.records, cfg.duration, cfg.concurrency, peerTimeout, tmp))

	rng := rand.New(rand.NewPCG(15, 15))
	people := make([]peerPerson, cfg.records)
	for i := range people {
		people[i] = newPeerPerson(rng, i)
	}
	bodies := make([]string, 256)
	for i := range bodies {
		b, _ := json.Marshal(newPeerPerson(rng, 10_000_000+i))
		bodies[i] = string(b)
	}

	var sides []*peerSide
	defer func() {
		for _, s := range sides {
			err = errors.Join(err, s.stop())
		}
	}()
	minimal, minimalURL, err := startMinimalProc(tmp)
	if err != nil {
		return err
	}
	defer minimal.stop()

	pb, err := startPocketBase(ctx, bin, tmp, cfg.pbSync, cfg.concurrency)
	if err != nil {
		return err
	}
	side := &peerSide{name: "PocketBase " + pocketBaseVersion, durability: pbDurability(cfg.pbSync), pid: pb.proc.pid(), proc: pb.proc,
		stop: func() error { pb.proc.stop(); return nil }}
	sides = append(sides, side)
	if err := side.load(ctx, people, bodies, pb.loadBatch, pb.check, pb.specs); err != nil {
		return fmt.Errorf("PocketBase: %w", err)
	}
	say(fmt.Sprintf("%s: loaded in %s through POST /api/batch, %d per batch", side.name, side.loaded.Round(time.Millisecond), loadBatch))

	backends := []string{""}
	if cfg.db != "" {
		backends = append(backends, cfg.db)
	}
	cofferIndex := false
	for i, dbURL := range backends {
		sc := newCofferStore(tmp, "coffer-data-"+strconv.Itoa(i), dbURL)
		c, err := startCoffer(ctx, sc, filepath.Join(tmp, "coffer-"+strconv.Itoa(i)+".log"), cfg.concurrency)
		if err != nil {
			return err
		}
		if i == 0 {
			cofferIndex = c.index
		}
		side := &peerSide{name: "Coffer (SQLite)", durability: c.durability, pid: c.proc.pid(), proc: c.proc, stop: c.close}
		if dbURL != "" {
			side.name = "Coffer (PostgreSQL)"
		}
		sides = append(sides, side)
		if err := side.load(ctx, people, bodies, c.loadBatch, c.check, c.specs); err != nil {
			return fmt.Errorf("%s: %w", side.name, err)
		}
		where := "data directory " + sc.dataDir
		if dbURL != "" {
			where = "schema " + sc.dbSchema + " and its notebook schemas (dropped at the end)"
		}
		say(fmt.Sprintf("%s: loaded in %s through POST …/records/batch, %d per batch; %s", side.name, side.loaded.Round(time.Millisecond), loadBatch, where))
	}

	rep := &peerReport{Records: cfg.records, Duration: cfg.duration, Concurrency: cfg.concurrency, Timeout: peerTimeout}
	rep.Semantics = peerSemantics(cofferIndex)
	for _, s := range sides {
		s.loadRSS = peakRSS(s.pid)
	}
	// The peak memory is per run where the kernel resets it (VmHWM).
	rep.RSSPerRun = resetPeakRSS(pb.proc.pid()) == nil
	minimalSpec := peerLoadSpec{Method: "GET", URL: minimalURL, Status: 200}
	if rep.MinimalBefore, err = runLoadProc(ctx, cfg.peerSpec(minimalSpec)); err != nil {
		return fmt.Errorf("minimal handler: %w", err)
	}
	order := peerOrder(len(sides))
	for _, wl := range peerWorkloads {
		for _, i := range order {
			s := sides[i]
			if err := s.run(ctx, cfg, wl); err != nil {
				return err
			}
		}
	}
	if rep.MinimalAfter, err = runLoadProc(ctx, cfg.peerSpec(minimalSpec)); err != nil {
		return fmt.Errorf("minimal handler: %w", err)
	}
	rep.collect(sides)
	rep.print(stdout)
	if cfg.jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
		say("table written to " + cfg.jsonFile)
	}
	return nil
}

// peerOrder is the rotation of n servers: each forward, then backward
// (A B B A; A B C C B A).
func peerOrder(n int) []int {
	out := make([]int, 0, 2*n)
	for i := range n {
		out = append(out, i)
	}
	for i := n - 1; i >= 0; i-- {
		out = append(out, i)
	}
	return out
}

// peerSpec completes a request into a run of the configured size.
func (c benchConfig) peerSpec(s peerLoadSpec) peerLoadSpec {
	s.Concurrency, s.Duration, s.Timeout = c.concurrency, c.duration, peerTimeout
	s.Warmup = min(c.duration/10, 500*time.Millisecond)
	return s
}

// load loads people through batch (two batches in flight), checks the
// restricted caller's view with check, and keeps the server's requests.
func (s *peerSide) load(ctx context.Context, people []peerPerson, bodies []string,
	batch func(context.Context, []peerPerson) ([]string, error),
	check func(ctx context.Context, red, other string) error,
	specs func(all, red, bodies []string) map[string]peerLoadSpec) error {
	start := time.Now()
	ids := make([]string, len(people))
	froms := make(chan int)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range froms {
				to := min(len(people), from+loadBatch)
				got, err := batch(ctx, people[from:to])
				if err != nil {
					errc <- err
					return
				}
				copy(ids[from:to], got)
			}
		}()
	}
	var err error
feed:
	for from := 0; from < len(people); from += loadBatch {
		select {
		case froms <- from:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(froms)
	wg.Wait()
	if err == nil && len(errc) > 0 {
		err = <-errc
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	s.loaded = time.Since(start)
	var all, red []string
	other, nred := "", 0
	stride := max(1, len(people)/peerIDSample)
	for i, p := range people {
		switch {
		case p.Team == "red":
			if nred%stride == 0 {
				red = append(red, ids[i])
			}
			nred++
		case other == "":
			other = ids[i]
		}
		if i%stride == 0 {
			all = append(all, ids[i])
		}
	}
	if len(red) == 0 {
		return errors.New("no red record among the people (use more --records)")
	}
	if err := check(ctx, red[0], other); err != nil {
		return err
	}
	s.specs = specs(all, red, bodies)
	s.runs = map[string][]peerRun{}
	return nil
}

// run measures workload wl once, with the server's peak memory reset
// before (where the kernel allows it).
func (s *peerSide) run(ctx context.Context, cfg benchConfig, wl string) error {
	spec, ok := s.specs[wl]
	if !ok {
		return fmt.Errorf("%s: no request for %q", s.name, wl)
	}
	resetPeakRSS(s.pid) // without it VmHWM is the peak since start
	res, err := runLoadProc(ctx, cfg.peerSpec(spec))
	select {
	case <-s.proc.exited:
		return fmt.Errorf("%s exited during %s: %s", s.name, wl, s.proc.tail())
	default:
	}
	if err != nil {
		return fmt.Errorf("%s, %s: %w", s.name, wl, err)
	}
	s.runs[wl] = append(s.runs[wl], peerRun{peerLoadResult: res, PeakRSS: peakRSS(s.pid)})
	return nil
}
