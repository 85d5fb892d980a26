package main

// The two-node workload of coffer bench (--nodes 2, PostgreSQL only): a
// second node (its own store, connection pool and HTTP server, as a
// second coffer serve would have) on the same database, and the get by id
// spread over both nodes against one node, back to back.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// Names and target of the two-node workloads (issue 5, "Performance").
const (
	wlGetOneNode  = "get by id, one node"
	wlGetTwoNodes = "get by id, two nodes"
	nodesTarget   = 1.6
)

// secondNode is another server on the bench's database.
type secondNode struct {
	backend store.Backend
	hs      *http.Server
	base    string
}

func (e *benchEnv) startSecondNode(ctx context.Context) (*secondNode, error) {
	cfg := e.store
	b, err := openBackend(ctx, &cfg, func(string) {})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		return nil, err
	}
	n := &secondNode{backend: b, base: "http://" + ln.Addr().String() + "/api/v1"}
	n.hs = &http.Server{
		Handler:           newAPI(all.New(b, e.st.Ring().Master()), api.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go n.hs.Serve(ln)
	return n, nil
}

func (n *secondNode) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.hs.Shutdown(ctx)
	if cerr := n.backend.Close(); err == nil {
		err = cerr
	}
	return err
}

// getOnNodes is getAs on random nodes: each request goes to one of bases.
func (e *benchEnv) getOnNodes(bases []string) opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		id := e.sample[rng.IntN(len(e.sample))]
		base := bases[rng.IntN(len(bases))]
		return e.client.do(ctx, "GET", base+e.records[len(e.base):]+"/"+id, nil, http.StatusOK, nil)
	}
}

// runNodesBench measures the get by id on one node and on two, in the
// order one, two, two, one.
func runNodesBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	n2, err := env.startSecondNode(ctx)
	if err != nil {
		return fmt.Errorf("second node: %w", err)
	}
	defer n2.close()
	one, two := env.getOnNodes([]string{env.base}), env.getOnNodes([]string{env.base, n2.base})
	if err := two(ctx, rand.New(rand.NewPCG(1, 2))); err != nil {
		return fmt.Errorf("second node: %w", err)
	}
	g := loadGen{concurrency: cfg.concurrency, duration: max(cfg.duration/2, 100*time.Millisecond)}
	if err := runSteps(ctx, cfg, g, rep, []benchStep{
		{wlGetOneNode, one, &rep.workloads},
		{wlGetTwoNodes, two, &rep.workloads},
		{wlGetTwoNodes, two, &rep.workloads},
		{wlGetOneNode, one, &rep.workloads},
	}); err != nil {
		return err
	}
	rep.workloads = mergeRuns(rep.workloads)
	return nil
}

// printNodes prints the two-node figure.
func (r *benchReport) printNodes(w io.Writer) {
	one, ok1 := r.find(r.workloads, wlGetOneNode)
	two, ok2 := r.find(r.workloads, wlGetTwoNodes)
	if !ok1 || !ok2 || one.rate() == 0 {
		return
	}
	ratio := two.rate() / one.rate()
	fmt.Fprintf(w, "\nTwo nodes on one PostgreSQL (get by id, requests spread over both; one, two, two, one):\n")
	fmt.Fprintf(w, "  one node %.0f ops/s, two nodes %.0f ops/s: %.2f× (target ≥ %.1f×: %s)\n", one.rate(), two.rate(), ratio, nodesTarget, yesNo(ratio >= nodesTarget))
	fmt.Fprintf(w, "  here both nodes, PostgreSQL and the load generator share GOMAXPROCS %d and the machine's cores: a second node adds no CPU, so this measures that nodes do not contend with each other, not scale-out\n", runtime.GOMAXPROCS(0))
}
