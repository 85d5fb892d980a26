package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer/notebooks"
)

// The workloads of the history bench: the same creates and updates with
// nothing recorded (the baseline) and with full history, side by side.
const (
	wlCreateNoHistory = "create, nothing recorded"
	wlCreateHistory   = "create, full history"
	wlUpdateNoHistory = "update, nothing recorded"
	wlUpdateHistory   = "update, full history"
)

// historyTargets: with full history, writes keep this share of their rate
// with nothing recorded (issue 13, "Performance").
var historyTargets = []struct {
	workload, baseline string
	share              float64
}{
	{wlCreateHistory, wlCreateNoHistory, 0.8},
	{wlUpdateHistory, wlUpdateNoHistory, 0.8},
}

// runHistoryBench measures what recording history costs: each write
// workload with recording off and on, in the order off, on, on, off, so
// that what drifts during the run (the table's growth, the WAL's
// checkpoints) weighs on both alike. Recording off is a switch for
// benchmarks only (a notebook whose history is switched off still records
// actions for undo).
func runHistoryBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	g := loadGen{concurrency: cfg.concurrency, duration: cfg.duration}
	type step struct {
		name     string
		op       opFunc
		recorded bool
	}
	var steps []step
	for _, w := range []struct {
		off, on string
		op      opFunc
	}{{wlCreateNoHistory, wlCreateHistory, env.createOp()}, {wlUpdateNoHistory, wlUpdateHistory, env.updateOp()}} {
		steps = append(steps, step{w.off, w.op, false}, step{w.on, w.op, true}, step{w.on, w.op, true}, step{w.off, w.op, false})
	}
	defer notebooks.NoHistory.Store(false)
	for _, s := range steps {
		notebooks.NoHistory.Store(!s.recorded)
		if err := runSteps(ctx, cfg, g, rep, []benchStep{{s.name, s.op, &rep.history}}); err != nil {
			return err
		}
	}
	return nil
}

// merged sums the runs of one workload: its rate is their operations over
// their time, its p50 their mean p50, its p99 the worst.
func merged(list []result, name string) (result, bool) {
	out, n := result{name: name}, 0
	for _, x := range list {
		if x.name != name {
			continue
		}
		out.ops += x.ops
		out.errors += x.errors
		out.elapsed += x.elapsed
		out.p50 += x.p50
		out.p99 = max(out.p99, x.p99)
		n++
	}
	if n == 0 {
		return out, false
	}
	out.p50 /= time.Duration(n)
	return out, true
}

// printHistory prints the history bench's ratios.
func (r *benchReport) printHistory(w io.Writer) {
	if len(r.history) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCost of history (same run, each workload twice: nothing recorded, history, history, nothing recorded; synchronous=FULL on SQLite, synchronous_commit on on PostgreSQL):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tops/s\tp50\tp99\terrors\tbaseline\tbaseline ops/s\tratio\ttarget\tmet")
	for _, t := range historyTargets {
		wl, ok1 := merged(r.history, t.workload)
		base, ok2 := merged(r.history, t.baseline)
		if !ok1 || !ok2 {
			continue
		}
		ratio := 0.0
		if base.rate() > 0 {
			ratio = wl.rate() / base.rate()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%.0f\t%.2f\t≥ %.2f\t%s\n",
			wl.name, wl.rate(), fmtDur(wl.p50), fmtDur(wl.p99), wl.errors, base.name, base.rate(), ratio, t.share, yesNo(ratio >= t.share))
	}
	tw.Flush()
}
