package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

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
// workload with recording off, then on, next to each other. Recording off
// is a switch for benchmarks only (a notebook whose history is switched
// off still records actions for undo).
func runHistoryBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	g := loadGen{concurrency: cfg.concurrency, duration: cfg.duration}
	steps := []struct {
		name     string
		op       opFunc
		recorded bool
	}{
		{wlCreateNoHistory, env.createOp(), false},
		{wlCreateHistory, env.createOp(), true},
		{wlUpdateNoHistory, env.updateOp(), false},
		{wlUpdateHistory, env.updateOp(), true},
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

// printHistory prints the history bench's ratios.
func (r *benchReport) printHistory(w io.Writer) {
	if len(r.history) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCost of history (same run; synchronous=FULL on SQLite, synchronous_commit on on PostgreSQL):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tops/s\tp50\tp99\terrors\tbaseline\tbaseline ops/s\tratio\ttarget\tmet")
	for _, t := range historyTargets {
		wl, ok1 := r.find(r.history, t.workload)
		base, ok2 := r.find(r.history, t.baseline)
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
