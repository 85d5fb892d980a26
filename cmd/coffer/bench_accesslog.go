package main

// The access record workloads of coffer bench: the owner's get by id and
// filtered page with the notebook's access records off and on, measured
// back to back (off, on, on, off) so both see the same machine.

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer"
)

// Names of the access record workloads and their target (issue 13,
// "Performance"): reads with access records on at least this share of
// the same reads with them off.
const (
	wlGetLogOff      = "get by id, access records off"
	wlGetLogOn       = "get by id, access records on"
	wlListLogOff     = "filtered page of 50, access records off"
	wlListLogOn      = "filtered page of 50, access records on"
	accessLogMinRate = 0.9
)

// setAccessLog switches the bench notebook's access records through its
// settings, as its owner.
func (e *benchEnv) setAccessLog(ctx context.Context, on bool) error {
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: e.userID, Email: e.email, SessionID: "bench"})
	_, err := e.st.UpdateNotebookSettings(owner, e.notebook, coffer.NotebookSettingsUpdate{AccessLog: &on})
	return err
}

// runAccessLogBench measures reads with access records off and on.
func runAccessLogBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	g := loadGen{concurrency: cfg.concurrency, duration: max(cfg.duration/2, 100*time.Millisecond)}
	for _, p := range []struct {
		off, on string
		op      opFunc
	}{
		{wlGetLogOff, wlGetLogOn, env.getAs(env.client)},
		{wlListLogOff, wlListLogOn, env.listAs(env.client)},
	} {
		for _, on := range []bool{false, true, true, false} {
			if err := env.setAccessLog(ctx, on); err != nil {
				return err
			}
			name := p.off
			if on {
				name = p.on
			}
			if err := runSteps(ctx, cfg, g, rep, []benchStep{{name, p.op, &rep.workloads}}); err != nil {
				return err
			}
		}
	}
	env.st.FlushAccessLog()
	st := env.st.AccessLogStats()
	rep.accessLog = fmt.Sprintf("%d access records written in %d transactions, %d dropped (queue full)", st.Written, st.Transactions, st.Dropped)
	rep.workloads = mergeRuns(rep.workloads)
	return env.setAccessLog(ctx, false)
}

// printAccessLog prints reads with access records on against off.
func (r *benchReport) printAccessLog(w io.Writer) {
	if r.accessLog == "" {
		return
	}
	fmt.Fprintf(w, "\nAccess records (the owner's reads, records off and on, back to back: off, on, on, off; %s):\n", r.accessLog)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "request\toff ops/s\ton ops/s\ton p50\ton vs off\ttarget\tmet")
	for _, p := range [][2]string{{wlGetLogOff, wlGetLogOn}, {wlListLogOff, wlListLogOn}} {
		off, ok1 := r.find(r.workloads, p[0])
		on, ok2 := r.find(r.workloads, p[1])
		if !ok1 || !ok2 || off.rate() == 0 {
			continue
		}
		ratio := on.rate() / off.rate()
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%.2f×\t≥ %.1f×\t%s\n", p[0][:len(p[0])-len(", access records off")], off.rate(), on.rate(), fmtDur(on.p50), ratio, accessLogMinRate, yesNo(ratio >= accessLogMinRate))
	}
	tw.Flush()
}
