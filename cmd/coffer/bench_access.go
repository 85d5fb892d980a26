package main

// The access workloads of coffer bench: the same get by id and filtered
// page as the owner's, by a caller whose grant has a row condition and
// hides three columns, measured back to back with the owner's so both see
// the same machine.

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
)

// Names of the access workloads and their targets (issue 4, "Performance"):
// the restricted caller's request may cost at most this many times the
// owner's.
const (
	wlGetOwner   = "get by id, owner"
	wlGetGrant   = "get by id, grant"
	wlListOwner  = "filtered page of 50, owner"
	wlListGrant  = "filtered page of 50, grant"
	getCostLimit = 1.1
	// listCostLimit: a filtered page of 50.
	listCostLimit = 1.2
	// benchGrantRows is the row condition of the restricted caller. It
	// holds for every record (ages are 18 to 80), so both callers get the
	// same page and the ratio measures what the engine adds (the
	// condition evaluated per row, masks, the subquery), not a smaller
	// result.
	benchGrantRows = "Age >= 18"
)

// benchHidden are the columns the restricted caller may not see.
var benchHidden = []string{"Email", "Born", "Seen"}

// newGrantClient creates a second account with a grant on the bench table
// (row condition, three hidden columns) and a client logged in as it.
func (e *benchEnv) newGrantClient(ctx context.Context) (*benchClient, error) {
	pw := make([]byte, 16)
	crand.Read(pw)
	password := "reader-" + hex.EncodeToString(pw)
	const email = "reader@example.com"
	u, err := e.st.CreateUser(ctx, coffer.UserInput{Email: email, Name: "Reader", Password: password})
	if err != nil {
		return nil, err
	}
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: e.userID, Email: e.email, SessionID: "bench"})
	cols := map[string]string{"*": string(access.Read)}
	for _, c := range benchHidden {
		cols[c] = string(access.None)
	}
	table := e.table.ID
	if _, err := e.st.CreateGrant(owner, e.notebook, coffer.GrantInput{
		Principal: coffer.Principal{Type: access.PrincipalUser, ID: u.ID},
		Table:     &table, Rows: benchGrantRows, Columns: cols,
	}); err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	c := &benchClient{hc: e.client.hc}
	var sess coffer.Session
	if err := c.json(ctx, "POST", e.base+"/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK, &sess); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	c.auth = "Bearer " + sess.Key
	// The restricted caller sees the records, without the hidden columns.
	var rec map[string]any
	if err := c.do(ctx, "GET", e.records+"/"+e.sample[0], nil, http.StatusOK, &rec); err != nil {
		return nil, fmt.Errorf("restricted get: %w", err)
	}
	fields, _ := rec["fields"].(map[string]any)
	for _, h := range benchHidden {
		if _, ok := fields[h]; ok {
			return nil, fmt.Errorf("restricted get shows the hidden column %s", h)
		}
	}
	return c, nil
}

// getAs reads one random record by id as client c; listAs reads the list
// workload's page as c.
func (e *benchEnv) getAs(c *benchClient) opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		id := e.sample[rng.IntN(len(e.sample))]
		return c.do(ctx, "GET", e.records+"/"+id, nil, http.StatusOK, nil)
	}
}

func (e *benchEnv) listAs(c *benchClient) opFunc {
	u := e.listURL()
	return func(ctx context.Context, rng *rand.Rand) error {
		return c.do(ctx, "GET", u, nil, http.StatusOK, nil)
	}
}

// runAccessBench measures the owner's and the restricted caller's gets and
// pages back to back.
func runAccessBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	reader, err := env.newGrantClient(ctx)
	if err != nil {
		return err
	}
	// Each pair runs in the order A B B A, half the duration each, and
	// each side's rate is taken over its two runs: a machine whose speed
	// drifts during the pair favours neither side.
	g := loadGen{concurrency: cfg.concurrency, duration: max(cfg.duration/2, 100*time.Millisecond)}
	var steps []benchStep
	for _, p := range []struct {
		owner, grant string
		ownerOp      opFunc
		grantOp      opFunc
	}{
		{wlGetOwner, wlGetGrant, env.getAs(env.client), env.getAs(reader)},
		{wlListOwner, wlListGrant, env.listAs(env.client), env.listAs(reader)},
	} {
		steps = append(steps,
			benchStep{p.owner, p.ownerOp, &rep.workloads},
			benchStep{p.grant, p.grantOp, &rep.workloads},
			benchStep{p.grant, p.grantOp, &rep.workloads},
			benchStep{p.owner, p.ownerOp, &rep.workloads})
	}
	if err := runSteps(ctx, cfg, g, rep, steps); err != nil {
		return err
	}
	rep.workloads = mergeRuns(rep.workloads)
	return nil
}

// mergeRuns combines results of the same name: operations and time add up,
// latencies are those of the slower half.
func mergeRuns(list []result) []result {
	var out []result
	idx := map[string]int{}
	for _, r := range list {
		i, ok := idx[r.name]
		if !ok {
			idx[r.name] = len(out)
			out = append(out, r)
			continue
		}
		m := &out[i]
		m.ops += r.ops
		m.errors += r.errors
		m.elapsed += r.elapsed
		m.p50, m.p99 = max(m.p50, r.p50), max(m.p99, r.p99)
		m.rssPeak = max(m.rssPeak, r.rssPeak)
	}
	return out
}

// printAccess prints the cost of access rules against the owner's.
func (r *benchReport) printAccess(w io.Writer) {
	fmt.Fprintf(w, "\nAccess rules (a caller with a grant: rows %q, columns %v hidden) against the owner, measured back to back (owner, grant, grant, owner):\n", benchGrantRows, benchHidden)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "request\towner ops/s\tgrant ops/s\tgrant p50\tcost vs owner\ttarget\tmet")
	for _, p := range []struct {
		owner, grant string
		limit        float64
	}{{wlGetOwner, wlGetGrant, getCostLimit}, {wlListOwner, wlListGrant, listCostLimit}} {
		o, ok1 := r.find(r.workloads, p.owner)
		g, ok2 := r.find(r.workloads, p.grant)
		if !ok1 || !ok2 || g.rate() == 0 {
			continue
		}
		cost := o.rate() / g.rate()
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%.2f×\t≤ %.1f×\t%s\n", p.grant[:len(p.grant)-len(", grant")], o.rate(), g.rate(), fmtDur(g.p50), cost, p.limit, yesNo(cost <= p.limit))
	}
	tw.Flush()
}
