package main

// The table of coffer bench --peers, printed and (with --json) written.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// peerReport is one run of the peers bench.
type peerReport struct {
	Records       int              `json:"records"`
	Duration      time.Duration    `json:"duration_ns"`
	Concurrency   int              `json:"concurrency"`
	Timeout       time.Duration    `json:"timeout_ns"`
	RSSPerRun     bool             `json:"rss_per_run"` // false: the peak since the server started
	Servers       []peerServerInfo `json:"servers"`
	Semantics     []string         `json:"semantics"`
	MinimalBefore peerLoadResult   `json:"minimal_before"`
	MinimalAfter  peerLoadResult   `json:"minimal_after"`
	Rows          []peerRow        `json:"rows"`
}

type peerServerInfo struct {
	Name        string  `json:"name"`
	Durability  string  `json:"durability"`
	LoadSeconds float64 `json:"load_seconds"`
	LoadPeakRSS uint64  `json:"load_peak_rss"` // VmHWM from start to the end of loading
}

// peerRow is one workload on every server.
type peerRow struct {
	Workload string     `json:"workload"`
	Cells    []peerCell `json:"cells"` // in the order of Servers
	// CofferVsPocketBase is Coffer's (SQLite) ops/s over PocketBase's.
	CofferVsPocketBase float64 `json:"coffer_vs_pocketbase"`
	// PostgresVsSQLite is Coffer on PostgreSQL over Coffer on SQLite (with --db).
	PostgresVsSQLite float64 `json:"postgres_vs_sqlite,omitempty"`
}

// peerCell is one workload on one server: the median of its runs, the
// worse p99 and every failure.
type peerCell struct {
	Server    string        `json:"server"`
	Runs      []peerRun     `json:"runs"`
	OpsPerSec float64       `json:"ops_per_sec"` // median of the runs
	P50       time.Duration `json:"p50_ns"`      // median of the runs
	P99       time.Duration `json:"p99_ns"`      // the worse run's
	Errors    int           `json:"errors"`
	Timeouts  int           `json:"timeouts"`
	PeakRSS   uint64        `json:"peak_rss"` // the server's VmHWM, the higher run
}

// peerSemantics are the differences between what the two servers answer
// and hold; index tells whether Coffer declared the (team, age) index.
func peerSemantics(index bool) []string {
	idx := "indexes: both declare (team, age); PocketBase also team and age, which Coffer indexes by itself (each column with id)"
	if !index {
		idx = "indexes: PocketBase's collection declares team, age and (team, age); Coffer has its own index on each column, and no index over several columns (this build has no API to declare one)"
	}
	return []string{
		`Coffer's grantee: grant with row condition team = "red" and email hidden; PocketBase's user: list/view rule team = "red", which shows every field (a PocketBase rule cannot hide one field for one user)`,
		"Coffer's page returns a keyset cursor (next_cursor); PocketBase's returns page numbers (page, perPage) and, without skipTotal, totalItems and totalPages",
		"owner: Coffer's notebook owner; PocketBase's superuser (it creates the records: the collection has no create rule, and reads past the rules)",
		idx,
		`totals: Coffer keeps a total it counted until the next write to the notebook (SQLite backend), so the repeated "with total" runs are served from that cache after their first request; "filter varies" adds an always-true age != <random number over 1000> at each request on both servers, so every total is counted`,
	}
}

// peerTargets are issue 15's targets on Coffer/PocketBase ratios.
var peerTargets = map[string]float64{wlPeerGetGrant: 3, wlPeerPageGrant: 3, wlPeerPageTotal: 3, wlPeerPageFresh: 3, wlPeerCreate: 3}

// peerPGTargets are issue 15's targets on PostgreSQL/SQLite ratios.
var peerPGTargets = map[string]float64{wlPeerGetGrant: 0.5, wlPeerGetOwner: 0.5, wlPeerPageGrant: 0.5, wlPeerPageOwner: 0.5}

// median returns the median of xs (the mean of the middle two when even).
func median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// collect builds the rows from what each side measured.
func (r *peerReport) collect(sides []*peerSide) {
	for _, s := range sides {
		r.Servers = append(r.Servers, peerServerInfo{Name: s.name, Durability: s.durability, LoadSeconds: s.loaded.Seconds(), LoadPeakRSS: s.loadRSS})
	}
	for _, wl := range peerWorkloads {
		row := peerRow{Workload: wl}
		for _, s := range sides {
			c := peerCell{Server: s.name, Runs: s.runs[wl]}
			var ops []float64
			var p50 []time.Duration
			for _, run := range c.Runs {
				ops = append(ops, run.OpsPerSec)
				p50 = append(p50, run.P50)
				c.P99 = max(c.P99, run.P99)
				c.Errors += run.Errors
				c.Timeouts += run.Timeouts
				c.PeakRSS = max(c.PeakRSS, run.PeakRSS)
			}
			c.OpsPerSec, c.P50 = median(ops), median(p50)
			row.Cells = append(row.Cells, c)
		}
		if len(row.Cells) > 1 && row.Cells[0].OpsPerSec > 0 {
			row.CofferVsPocketBase = row.Cells[1].OpsPerSec / row.Cells[0].OpsPerSec
		}
		if len(row.Cells) > 2 && row.Cells[1].OpsPerSec > 0 {
			row.PostgresVsSQLite = row.Cells[2].OpsPerSec / row.Cells[1].OpsPerSec
		}
		r.Rows = append(r.Rows, row)
	}
}

func (r *peerReport) print(w io.Writer) {
	fmt.Fprintf(w, "\nSide by side: %d people records on each server; each server, the minimal handler and the load generator are processes of their own;\n"+
		"%d keep-alive connections, %s per run after a warm-up, each workload in the order %s.\n",
		r.Records, r.Concurrency, r.Duration, r.orderText())
	fmt.Fprintln(w, "Durability, and loading (batches of 1000, two in flight):")
	for _, s := range r.Servers {
		fmt.Fprintf(w, "  %s: %s; loaded in %.1f s, peak memory %.0f MB up to then\n", s.Name, s.Durability, s.LoadSeconds, float64(s.LoadPeakRSS)/1e6)
	}
	fmt.Fprintln(w, "Semantics:")
	for _, s := range r.Semantics {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	fmt.Fprintf(w, "Minimal Go handler (same load generator): %.0f ops/s before, %.0f ops/s after (p99 %s, %s).\n",
		r.MinimalBefore.OpsPerSec, r.MinimalAfter.OpsPerSec, fmtDur(r.MinimalBefore.P99), fmtDur(r.MinimalAfter.P99))
	fmt.Fprintf(w, "ops/s and p50: median of the runs; p99: the worse run, requests past %s counted at %s; failed: errors + timeouts.\n\n", r.Timeout, r.Timeout)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tPocketBase ops/s\tp50\tp99\tfailed\tCoffer ops/s\tp50\tp99\tfailed\tCoffer/PB\ttarget\tmet\tp99 ≤ ⅓ PB's")
	for _, row := range r.Rows {
		if len(row.Cells) < 2 {
			continue
		}
		pb, c := row.Cells[0], row.Cells[1]
		target, met := "", ""
		if t, ok := peerTargets[row.Workload]; ok {
			target, met = fmt.Sprintf("≥ %.0f×", t), yesNo(row.CofferVsPocketBase >= t)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.0f\t%s\t%s\t%d\t%.2f×\t%s\t%s\t%s\n", row.Workload,
			pb.OpsPerSec, fmtDur(pb.P50), fmtDur(pb.P99), pb.Errors+pb.Timeouts,
			c.OpsPerSec, fmtDur(c.P50), fmtDur(c.P99), c.Errors+c.Timeouts,
			row.CofferVsPocketBase, target, met, yesNo(3*c.P99 <= pb.P99))
	}
	tw.Flush()

	if len(r.Servers) > 2 {
		fmt.Fprintln(w, "\nCoffer on PostgreSQL against Coffer on SQLite (same run):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "workload\tPostgreSQL ops/s\tp50\tp99\tfailed\tPG/SQLite\ttarget\tmet")
		for _, row := range r.Rows {
			c := row.Cells[2]
			target, met := "", ""
			if t, ok := peerPGTargets[row.Workload]; ok {
				target, met = fmt.Sprintf("≥ %.1f×", t), yesNo(row.PostgresVsSQLite >= t)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.2f×\t%s\t%s\n", row.Workload,
				c.OpsPerSec, fmtDur(c.P50), fmtDur(c.P99), c.Errors+c.Timeouts, row.PostgresVsSQLite, target, met)
		}
		tw.Flush()
	}

	if r.RSSPerRun {
		fmt.Fprintln(w, "\nPeak memory of each server process (VmHWM, reset before each run; the higher of the two runs):")
	} else {
		fmt.Fprintln(w, "\nPeak memory of each server process (VmHWM since it started, loading included: this kernel does not reset it):")
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"workload"}
	for _, s := range r.Servers {
		head = append(head, s.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range r.Rows {
		line := []string{row.Workload}
		for _, c := range row.Cells {
			line = append(line, fmt.Sprintf("%.0f MB", float64(c.PeakRSS)/1e6))
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	tw.Flush()
	for _, row := range r.Rows {
		for _, c := range row.Cells {
			for _, run := range c.Runs {
				if run.FirstError != "" {
					fmt.Fprintf(w, "%s, %s: %d errors, %d timeouts; first error: %s\n", c.Server, row.Workload, run.Errors, run.Timeouts, run.FirstError)
					break
				}
			}
		}
	}
}

// orderText names the rotation, e.g. "PocketBase, Coffer, Coffer, PocketBase".
func (r *peerReport) orderText() string {
	var names []string
	for _, i := range peerOrder(len(r.Servers)) {
		names = append(names, r.Servers[i].Name)
	}
	return strings.Join(names, ", ")
}
