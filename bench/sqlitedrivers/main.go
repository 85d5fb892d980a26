// Command sqlitedrivers compares pure-Go SQLite drivers through database/sql
// and prints a Markdown report. Run from this directory:
//
//	go run . [-scale 1] [-dir /path/on/real/disk]
//
// The same workloads are available as Go benchmarks in bench_test.go.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	ops   int
	el    time.Duration
	nsOp  float64
	opsPS float64
}

func main() {
	scale := flag.Float64("scale", 1, "multiply every workload's iteration count by this")
	dir := flag.String("dir", "", "directory for temporary databases (default: os.TempDir); must be a real disk for fsync numbers")
	memChild := flag.String("memchild", "", "internal: measure memory for this driver and print JSON")
	sizes := flag.Bool("sizes", true, "build ./sizecheck/* and report binary sizes (needs the go tool)")
	flag.Parse()
	if *dir != "" {
		BaseDir = *dir
	}
	if *memChild != "" {
		if err := runMemChild(*memChild); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*scale, *sizes); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// run measures every workload on every driver, then memory and binary
// sizes, and prints the report on stdout (progress on stderr).
func run(scale float64, sizes bool) error {
	ctx := context.Background()
	start := time.Now()
	GetDataset()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()

	writeEnvironment(out)
	out.Flush()
	loads := map[string][]time.Duration{}
	results := map[string]map[string]result{} // workload key -> driver -> result
	for wi, w := range Workloads {
		r, err := runWorkload(ctx, wi, w, scale, loads)
		if err != nil {
			return err
		}
		results[w.Key] = r
	}
	writeSpeedTable(out, results, loads)
	out.Flush()
	writeMemory(out)
	out.Flush()
	if sizes {
		writeSizes(out)
	}
	fmt.Fprintf(out, "Total run time: %v\n", time.Since(start).Round(time.Second))
	return nil
}

// writeEnvironment writes the Go version, machine and drivers measured.
func writeEnvironment(out io.Writer) {
	fmt.Fprintf(out, "Environment: %s %s/%s, %d CPUs, GOMAXPROCS=%d; temp dir %s\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), BaseDir)
	for _, d := range Drivers {
		fmt.Fprintf(out, "- %s: `%s` %s (SQLite %s) %s\n", d.Name, d.Module, modVersion(d.Module), SQLiteVersion(d), d.Note())
	}
	fmt.Fprintln(out)
}

// rounds is the number of interleaved rounds of a workload's timed ops.
const rounds = 5

// contender is one driver's side of a workload: its loaded database, the
// prepared op, and the time its timed ops took so far.
type contender struct {
	d       Driver
	f       *Fixture
	op      Op
	cleanup func()
	el      time.Duration
}

// runWorkload runs workload w (the wi-th) on every driver and returns
// the results by driver name; the load time of each fresh database is
// added to loads.
//
// Every driver gets its own fresh, loaded database; the timed ops are
// then run in interleaved rounds (rotating which driver goes first) so
// that drift in disk or CPU speed on a shared VM hits all drivers alike
// instead of whichever happened to run during a slow patch.
func runWorkload(ctx context.Context, wi int, w Workload, scale float64, loads map[string][]time.Duration) (map[string]result, error) {
	n := int(float64(w.Iterations) * scale)
	n = max(n, w.Parallel*rounds)
	var cs []*contender
	defer func() {
		for _, c := range cs {
			c.cleanup()
			c.f.Close()
		}
	}()
	for _, d := range Drivers {
		c, err := prepareContender(ctx, d, w, n, loads)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	// Flush the loads' dirty pages so background writeback does not
	// compete with the timed fsyncs.
	syncDisks()
	for r := 0; r < rounds; r++ {
		for k := range cs {
			c := cs[(k+r+wi)%len(cs)]
			el, err := RunOps(ctx, c.op, n/rounds, w.Parallel, uint64(r*1000+7))
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", w.Key, c.d.Name, err)
			}
			c.el += el
		}
	}
	results := map[string]result{}
	for _, c := range cs {
		ops := (n / rounds) * rounds
		r := result{ops: ops, el: c.el, nsOp: float64(c.el.Nanoseconds()) / float64(ops), opsPS: float64(ops) / c.el.Seconds()}
		results[c.d.Name] = r
		fmt.Fprintf(os.Stderr, "%-38s %-17s %8d ops %12.0f ops/s  (load %v)\n", w.Name, c.d.Name, ops, r.opsPS, c.f.LoadTime.Round(time.Millisecond))
	}
	return results, nil
}

// prepareContender loads a fresh database of driver d for workload w
// (its load time added to loads), prepares the op and warms it up with
// a twentieth of the n timed ops: statements get prepared on every
// pooled connection. The caller cleans up and closes what it returns.
func prepareContender(ctx context.Context, d Driver, w Workload, n int, loads map[string][]time.Duration) (*contender, error) {
	f, err := NewFixture(d, w.Synchronous, w.MaxConns())
	if err != nil {
		return nil, err
	}
	loads[d.Name] = append(loads[d.Name], f.LoadTime)
	op, cleanup, err := w.Prepare(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s/%s: %w", w.Key, d.Name, err)
	}
	if _, err := RunOps(ctx, op, max(n/20, w.Parallel*10), w.Parallel, 99); err != nil {
		cleanup()
		f.Close()
		return nil, fmt.Errorf("%s/%s warm-up: %w", w.Key, d.Name, err)
	}
	return &contender{d: d, f: f, op: op, cleanup: cleanup}, nil
}

// writeSpeedTable writes the table of speeds: every workload for the
// first two drivers with their ratio and the faster one, the others
// against the second, then the bulk load from loads.
func writeSpeedTable(out io.Writer, results map[string]map[string]result, loads map[string][]time.Duration) {
	a, b := Drivers[0], Drivers[1]
	extra := Drivers[2:]
	fmt.Fprintf(out, "| Workload | %s ops/s | %s ns/op | %s ops/s | %s ns/op | %s ÷ %s | faster |", a.Name, a.Name, b.Name, b.Name, b.Name, a.Name)
	for _, x := range extra {
		fmt.Fprintf(out, " %s ops/s | %s ÷ %s |", x.Name, x.Name, b.Name)
	}
	fmt.Fprint(out, "\n|---|---:|---:|---:|---:|---:|---|")
	for range extra {
		fmt.Fprint(out, "---:|---:|")
	}
	fmt.Fprintln(out)
	for _, w := range Workloads {
		ra, rb := results[w.Key][a.Name], results[w.Key][b.Name]
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %.2f | %s |", w.Name,
			human(ra.opsPS), human(ra.nsOp), human(rb.opsPS), human(rb.nsOp), rb.opsPS/ra.opsPS, faster(a.Name, b.Name, ra.opsPS, rb.opsPS))
		for _, x := range extra {
			rx := results[w.Key][x.Name]
			fmt.Fprintf(out, " %s | %.2f |", human(rx.opsPS), rx.opsPS/rb.opsPS)
		}
		fmt.Fprintln(out)
	}
	// Bulk load: median over the fresh databases created above.
	rps := func(d Driver) (float64, float64) {
		m := median(loads[d.Name])
		return float64(NumRows) / m.Seconds(), float64(m.Nanoseconds()) / NumRows
	}
	rpsA, nsA := rps(a)
	rpsB, nsB := rps(b)
	fmt.Fprintf(out, "| Bulk load 100k rows in 1 tx (rows/s, ns/row; median of %d loads) | %s | %s | %s | %s | %.2f | %s |",
		len(loads[a.Name]), human(rpsA), human(nsA), human(rpsB), human(nsB), rpsB/rpsA, faster(a.Name, b.Name, rpsA, rpsB))
	for _, x := range extra {
		rpsX, _ := rps(x)
		fmt.Fprintf(out, " %s | %.2f |", human(rpsX), rpsX/rpsB)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out)
}

// writeMemory measures each driver's memory in its own child process, so
// that RSS is not shared, and writes the table.
func writeMemory(out io.Writer) {
	fmt.Fprintln(os.Stderr, "measuring memory in child processes...")
	fmt.Fprintln(out, "Memory after loading 100k rows and running 2,000 reads (separate process per driver, 1 connection):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| Driver | Peak RSS (VmHWM) | RSS after | Go heap in use after | Peak Go heap objects | Go heap allocated during load | Go runtime Sys |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|")
	for _, d := range Drivers {
		m, err := memInChild(d)
		if err != nil {
			fmt.Fprintf(out, "| %s | error: %v | | | | | |\n", d.Name, err)
			continue
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s |\n", d.Name, mib(m.VmHWM), mib(m.VmRSS), mib(m.HeapInuse), mib(m.PeakHeapObjects), mib(m.LoadAlloc), mib(m.Sys))
	}
	fmt.Fprintln(out)
}

// writeSizes builds ./sizecheck/* and writes the table of binary sizes.
func writeSizes(out io.Writer) {
	fmt.Fprintln(os.Stderr, "building size-check binaries...")
	fmt.Fprintln(out, "Binary size of a minimal program (open, one query) per driver, and the delta over database/sql alone:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| Program | default build | -ldflags=\"-s -w\" | delta vs none (default) |")
	fmt.Fprintln(out, "|---|---:|---:|---:|")
	var base int64
	for _, name := range []string{"none", "modernc", "ncruces", "ncruces-adiantum"} {
		full, err1 := buildSize(name, false)
		stripped, err2 := buildSize(name, true)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(out, "| %s | n/a (%v) | n/a (%v) | |\n", name, err1, err2)
			continue
		}
		if name == "none" {
			base = full
		}
		fmt.Fprintf(out, "| %s | %s | %s | +%s |\n", name, mib(uint64(full)), mib(uint64(stripped)), mib(uint64(full-base)))
	}
	fmt.Fprintln(out)
}

func faster(an, bn string, a, b float64) string {
	if a >= b {
		return fmt.Sprintf("%s %.2f×", an, a/b)
	}
	return fmt.Sprintf("%s %.2f×", bn, b/a)
}

func human(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func modVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			return m.Version
		}
	}
	return "?"
}

// memStats is what a child process reports.
type memStats struct {
	VmHWM, VmRSS    uint64
	HeapInuse, Sys  uint64
	PeakHeapObjects uint64
	LoadAlloc       uint64
}

func memInChild(d Driver) (*memStats, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-memchild="+d.Name, "-dir="+BaseDir)
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var m memStats
	if err := json.Unmarshal(outb, &m); err != nil {
		return nil, fmt.Errorf("parse child output %q: %w", outb, err)
	}
	return &m, nil
}

func runMemChild(name string) error {
	d, ok := DriverByName(name)
	if !ok {
		return fmt.Errorf("unknown driver %q", name)
	}
	ds := GetDataset()
	runtime.GC()

	// Sample live heap objects to get a peak value without stopping the world.
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			mu.Lock()
			peak = max(peak, samples[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	db, dir, err := OpenFresh(d, "FULL", 1)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f := &Fixture{DB: db, Dir: dir, Data: ds}
	if f.LoadTime, err = Load(db, ds); err != nil {
		return err
	}
	var afterLoad runtime.MemStats
	runtime.ReadMemStats(&afterLoad)
	for _, prep := range []func(*Fixture) (Op, func(), error){prepareGet, preparePage} {
		op, cleanup, err := prep(f)
		if err != nil {
			return err
		}
		if _, err := RunOps(context.Background(), op, 1000, 1, 3); err != nil {
			return err
		}
		cleanup()
	}
	close(stop)
	<-done
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	hwm, rss := procStatus()
	m := memStats{
		VmHWM: hwm, VmRSS: rss,
		HeapInuse: after.HeapInuse, Sys: after.Sys,
		PeakHeapObjects: peak,
		LoadAlloc:       afterLoad.TotalAlloc - before.TotalAlloc,
	}
	db.Close()
	return json.NewEncoder(os.Stdout).Encode(m)
}

// procStatus returns VmHWM and VmRSS in bytes (Linux only; zero elsewhere).
func procStatus() (hwm, rss uint64) {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer fh.Close()
	data, _ := io.ReadAll(fh)
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "VmHWM:":
			hwm = v << 10
		case "VmRSS:":
			rss = v << 10
		}
	}
	return hwm, rss
}

func buildSize(name string, strip bool) (int64, error) {
	if _, err := os.Stat(filepath.Join("sizecheck", name)); err != nil {
		return 0, fmt.Errorf("run from the module directory")
	}
	tmp, err := os.MkdirTemp("", "sizecheck-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, name)
	args := []string{"build", "-o", bin}
	if strip {
		args = append(args, "-ldflags=-s -w")
	}
	args = append(args, "./sizecheck/"+name)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
