package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// benchReport holds the figures of one bench run.
type benchReport struct {
	records   int
	postgres  bool          // the run was on PostgreSQL
	accessLog string        // what the access record queue did, "" when not measured
	secret    bool          // the encrypted column workload ran
	workloads []result      // the HTTP workloads
	limits    []result      // L1 and L2, by name
	history   []result      // writes with and without history
	memLoad   memPeak       // peaks up to the end of loading
	memAll    memPeak       // peaks over the data workloads
	memLogin  memPeak       // peaks once the identity workloads ran too
	files     *filesResult  // the file transfers (bench_files.go), nil when not measured
	backup    *backupResult // the backup workloads (bench_backup.go), nil when not measured
}

// The limits, as printed.
const (
	limMinimal      = "L1 minimal Go handler (fixed JSON)"
	limSQLGet       = "L2 SQL get by id"
	limSQLList      = "L2 SQL filtered sorted page"
	limInsertFull   = "L2 SQL insert tx (FULL)"
	limInsertNormal = "L2 SQL insert tx (NORMAL)"
	limUpdateFull   = "L2 SQL update tx (FULL)"
)

// benchTargets names, for each HTTP workload, the limit it is held to and
// the share of that limit's rate it must reach (issue 2, "Performance").
var benchTargets = []struct {
	workload, limit string
	share           float64
}{
	{"get", limMinimal, 0.5},
	{"list", limSQLList, 0.5},
	{"create", limInsertFull, 0.5},
	{"update", limUpdateFull, 0.5},
}

// memTarget is the peak memory allowed with memTargetRecords records.
const (
	memTarget        = 200_000_000 // bytes (decimal MB: the stricter reading)
	memTargetRecords = 1_000_000
)

func (r *benchReport) find(list []result, name string) (result, bool) {
	for _, x := range list {
		if x.name == name {
			return x, true
		}
	}
	return result{}, false
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintln(w, "\nHTTP workloads against their limits (same run, same load generator and concurrency):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tops/s\tp50\tp99\terrors\tlimit\tlimit ops/s\tratio\ttarget\tmet")
	for _, t := range benchTargets {
		wl, ok1 := r.find(r.workloads, t.workload)
		lim, ok2 := r.find(r.limits, t.limit)
		if !ok1 || !ok2 {
			continue
		}
		ratio := 0.0
		if lim.rate() > 0 {
			ratio = wl.rate() / lim.rate()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%.0f\t%.2f\t≥ %.2f\t%s\n",
			wl.name, wl.rate(), fmtDur(wl.p50), fmtDur(wl.p99), wl.errors, r.label(lim.name), lim.rate(), ratio, t.share, yesNo(ratio >= t.share))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nLimits:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "limit\tops/s\tp50\tp99\terrors")
	for _, l := range r.limits {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\n", r.label(l.name), l.rate(), fmtDur(l.p50), fmtDur(l.p99), l.errors)
	}
	tw.Flush()

	r.printHistory(w)
	r.printAccess(w)
	r.printAsOf(w)
	r.printHistoryPage(w)
	r.printAccessLog(w)
	r.printSecret(w)
	r.printNodes(w)
	r.printIdentity(w)
	r.printFiles(w)
	r.printBackup(w)

	full, ok1 := r.find(r.limits, limInsertFull)
	normal, ok2 := r.find(r.limits, limInsertNormal)
	if ok1 && ok2 && normal.rate() > 0 && r.postgres {
		fmt.Fprintf(w, "\nCost of durability (single-row insert tx in process): synchronous_commit=on %.0f/s, off %.0f/s: on runs at %.2f× off's rate\n",
			full.rate(), normal.rate(), full.rate()/normal.rate())
	} else if ok1 && ok2 && normal.rate() > 0 {
		fmt.Fprintf(w, "\nCost of durability (single-row insert tx in process): synchronous=FULL %.0f/s, NORMAL %.0f/s: FULL runs at %.2f× NORMAL's rate\n",
			full.rate(), normal.rate(), full.rate()/normal.rate())
	}

	fmt.Fprintf(w, "\nPeak memory with %d records (whole process, load generator included):\n", r.records)
	fmt.Fprintf(w, "  resident set (VmHWM): %s after loading, %s over the data workloads, %s once logins ran (argon2id: 19 MiB per hash in flight)\n",
		fmtMB(r.memLoad.rssPeak), fmtMB(r.memAll.rssPeak), fmtMB(r.memLogin.rssPeak))
	if step, rise := r.largestRise(); rise > 0 {
		fmt.Fprintf(w, "  the resident set grew most during %s (+%s)\n", step, fmtMB(rise))
	}
	outside := "SQLite's own memory is outside these"
	if r.postgres {
		outside = "PostgreSQL runs in its own processes, outside all these figures"
	}
	fmt.Fprintf(w, "  Go heap in use: %s; Go runtime total: %s (%s)\n",
		fmtMB(r.memAll.heapInUse), fmtMB(r.memAll.goMapped), outside)
	verdict := fmt.Sprintf("run with --records %d to check it", memTargetRecords)
	if r.records >= memTargetRecords {
		verdict = "met: " + yesNo(r.memAll.rssPeak > 0 && r.memAll.rssPeak < memTarget)
	}
	fmt.Fprintf(w, "  target: < %s with %d records; %s\n", fmtMB(memTarget), memTargetRecords, verdict)
}

// label is the printed name of a limit: on PostgreSQL the insert and
// update limits run with synchronous_commit on (as the server) or off,
// not with SQLite's synchronous pragma.
func (r *benchReport) label(name string) string {
	if !r.postgres {
		return name
	}
	switch name {
	case limInsertFull:
		return "L2 SQL insert tx (sync commit on)"
	case limInsertNormal:
		return "L2 SQL insert tx (sync commit off)"
	case limUpdateFull:
		return "L2 SQL update tx (sync commit on)"
	}
	return name
}

// largestRise names the step during which the peak resident set rose most.
func (r *benchReport) largestRise() (string, uint64) {
	steps := append(append([]result(nil), r.workloads...), r.limits...)
	slices.SortFunc(steps, func(a, b result) int { return cmp.Compare(a.rssPeak, b.rssPeak) })
	prev, name, rise := r.memLoad.rssPeak, "", uint64(0)
	for _, s := range steps {
		if s.rssPeak > prev && s.rssPeak-prev > rise {
			name, rise = s.name, s.rssPeak-prev
		}
		prev = max(prev, s.rssPeak)
	}
	return name, rise
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func fmtMB(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// fmtDur prints a latency with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
