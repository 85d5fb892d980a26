package main

// coffer bench measures Coffer's HTTP throughput and latency against the
// limits measured in the same run with the same load generator: a minimal
// Go HTTP handler (what net/http and the client cost) and the same SQL
// statements run in process through database/sql (what SQLite costs).
// The files bench_*.go hold its parts: bench_env.go starts the server and
// loads data, bench_load.go drives load, bench_sql.go runs the in-process
// SQL limits, bench_mem.go samples memory, bench_report.go prints.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/backup/ship"
)

// benchConfig holds the flags of coffer bench.
type benchConfig struct {
	records     int
	duration    time.Duration
	concurrency int
	dir         string
	profileDir  string
	db          string
	nodes       int
	peers       bool          // side by side with PocketBase (bench_peers.go)
	jsonFile    string        // with peers: where to write the table as JSON
	pbSync      string        // with peers: PocketBase's synchronous pragma
	fileSize    int64         // bytes of the file uploaded and downloaded (bench_files.go); 0: none
	backupSize  int64         // bytes of the notebook snapshotted and restored (bench_backup.go); 0: none
	backupFiles int64         // bytes of the file store backed up twice (bench_backup.go); 0: none
	backupOnly  bool          // run only the backup workloads
	shipEvery   time.Duration // with the backup workloads on SQLite: WAL shipping interval of the RPO measure
}

func parseBenchFlags(args []string, stderr io.Writer) (benchConfig, error) {
	var c benchConfig
	fs := newFlagSet("bench", stderr)
	fs.IntVar(&c.records, "records", 100_000, "records loaded into the table before the workloads")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time of each workload and of each limit")
	fs.IntVar(&c.concurrency, "concurrency", 32, "concurrent clients (goroutines) of each workload")
	fs.StringVar(&c.dir, "dir", ".", "where to create the temporary data directory (keep it on the filesystem you serve from: fsync costs differ)")
	fs.StringVar(&c.db, "db", "", "PostgreSQL URL (postgres://…): run on PostgreSQL, in a schema of the bench's own that is dropped at the end; empty = SQLite")
	fs.IntVar(&c.nodes, "nodes", 1, "with --db: 2 also measures the get by id spread over two nodes (stores and servers) on the same database")
	fs.BoolVar(&c.peers, "peers", false, "measure side by side with PocketBase (built from bench/pocketbase; run from the repository), each server in its own process")
	fs.StringVar(&c.jsonFile, "json", "", "with --peers: also write the table to `FILE` as JSON")
	fs.StringVar(&c.pbSync, "pb-synchronous", "FULL", "with --peers: PocketBase's SQLite synchronous setting, FULL (Coffer's durability) or NORMAL (PocketBase's default)")
	fileSize := fs.String("file-size", "1GB", "size of the file uploaded and downloaded over HTTP against a plain copy on the same disk (KB, MB, GB; 0 skips it; the run needs about 4× this on the disk of --dir)")
	backupSize := fs.String("backup-size", "1GB", "size of the notebook snapshotted and restored while a writer runs (KB, MB, GB; 0 skips the notebook backup workloads; the run needs about 5× this on the disk of --dir)")
	backupFiles := fs.String("backup-files", "1GB", "size of the file store backed up twice, to measure what an unchanged store adds (KB, MB, GB; 0 skips it; needs about 2× this on the disk of --dir)")
	fs.DurationVar(&c.shipEvery, "ship-interval", ship.DefaultInterval, "with the backup workloads on SQLite: the WAL shipping interval under which the RPO is measured (the run takes about 2.5× it)")
	fs.BoolVar(&c.backupOnly, "backup-only", false, "run only the backup workloads (no records loaded, no HTTP workloads)")
	fs.StringVar(&c.profileDir, "cpuprofile", "", "if set, write a CPU profile of each HTTP workload to this directory (<workload>.pprof)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if *fileSize != "0" {
		if c.fileSize, err = parseSize("file-size", *fileSize); err != nil {
			return c, fmt.Errorf("bench: %w", err)
		}
	}
	if *backupSize != "0" {
		if c.backupSize, err = parseSize("backup-size", *backupSize); err != nil {
			return c, fmt.Errorf("bench: %w", err)
		}
	}
	if *backupFiles != "0" {
		if c.backupFiles, err = parseSize("backup-files", *backupFiles); err != nil {
			return c, fmt.Errorf("bench: %w", err)
		}
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	case c.records < 1:
		return c, errors.New("bench: --records must be at least 1")
	case c.duration <= 0:
		return c, errors.New("bench: --duration must be positive")
	case c.concurrency < 1:
		return c, errors.New("bench: --concurrency must be at least 1")
	case c.nodes != 1 && (c.nodes != 2 || c.db == ""):
		return c, errors.New("bench: --nodes is 1, or 2 with --db postgres://…")
	case c.peers && (c.nodes != 1 || c.profileDir != ""):
		return c, errors.New("bench: --peers runs the servers in processes of their own: no --nodes or --cpuprofile")
	case c.jsonFile != "" && !c.peers:
		return c, errors.New("bench: --json is for --peers")
	case c.pbSync != "FULL" && c.pbSync != "NORMAL":
		return c, errors.New("bench: --pb-synchronous is FULL or NORMAL")
	case c.shipEvery <= 0:
		return c, errors.New("bench: --ship-interval must be positive")
	case c.backupOnly && (c.peers || c.backupSize == 0 && c.backupFiles == 0):
		return c, errors.New("bench: --backup-only needs --backup-size or --backup-files above 0, and no --peers")
	}
	return c, nil
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.peers {
		return cmdBenchPeers(ctx, cfg, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}

	mem := startMemSampler(50 * time.Millisecond)
	defer mem.stop()

	fmt.Fprintf(stdout, "coffer bench: %d records, %s per workload, concurrency %d, GOMAXPROCS %d\n",
		cfg.records, cfg.duration, cfg.concurrency, runtime.GOMAXPROCS(0))
	env, err := startBenchEnv(ctx, cfg.dir, cfg.concurrency, cfg.db, func(w string) { fmt.Fprintln(stdout, "WARNING:", w) })
	if err != nil {
		return err
	}
	defer func() {
		if cerr := env.close(); cerr != nil {
			fmt.Fprintln(stderr, "coffer bench: cleanup:", cerr)
		}
	}()
	fmt.Fprintf(stdout, "data directory: %s (removed at the end)\n", env.dataDir)
	if cfg.db != "" {
		fmt.Fprintf(stdout, "storage: PostgreSQL, schema %s and its notebook schemas (dropped at the end)\n", env.store.dbSchema)
	}

	if cfg.backupOnly {
		rep := &benchReport{postgres: cfg.db != ""}
		if err := runBackupBench(ctx, cfg, env, rep, stdout); err != nil { // bench_backup.go
			return err
		}
		rep.printBackup(stdout)
		return nil
	}
	start := time.Now()
	if err := env.loadRecords(ctx, cfg.records); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "loaded %d records in %s (%.0f records/s) over HTTP: POST …/records/batch, %d per batch\n",
		cfg.records, took.Round(time.Millisecond), float64(cfg.records)/took.Seconds(), loadBatch)
	loadPeak := mem.peak()

	rep, err := runBench(ctx, cfg, env)
	if err != nil {
		return err
	}
	rep.memLoad = loadPeak
	rep.memAll = mem.peak()
	if err := runHistoryBench(ctx, cfg, env, rep); err != nil {
		return err
	}
	if err := runAccessBench(ctx, cfg, env, rep); err != nil {
		return err
	}
	if err := runAsOfBench(ctx, cfg, env, rep); err != nil { // bench_asof.go
		return err
	}
	if err := runHistoryPageBench(ctx, cfg, env, rep); err != nil { // bench_asof.go
		return err
	}
	if err := runAccessLogBench(ctx, cfg, env, rep); err != nil {
		return err
	}
	if err := runSecretBench(ctx, cfg, env, rep); err != nil { // bench_secret.go
		return err
	}
	if cfg.nodes == 2 {
		if err := runNodesBench(ctx, cfg, env, rep); err != nil {
			return err
		}
	}
	if err := runIdentityBench(ctx, cfg, env, rep); err != nil {
		return err
	}
	rep.memLogin = mem.peak()
	if err := runFilesBench(ctx, cfg, env, rep); err != nil { // bench_files.go, after the memory peaks: its RSS is its own
		return err
	}
	if err := runBackupBench(ctx, cfg, env, rep, stdout); err != nil { // bench_backup.go, last: it fills a notebook of its own
		return err
	}
	rep.records = cfg.records
	rep.postgres = cfg.db != ""
	rep.print(stdout)
	return nil
}

// runBench runs each HTTP workload next to its limits, so that both see
// the same machine (shared and noisy) at about the same time.
func runBench(ctx context.Context, cfg benchConfig, env *benchEnv) (*benchReport, error) {
	lim, err := openSQLLimits(env)
	if err != nil {
		return nil, err
	}
	defer lim.close()
	if err := lim.checkSameList(ctx, env); err != nil {
		return nil, err
	}
	minimal, err := startMinimalServer()
	if err != nil {
		return nil, err
	}
	defer minimal.close()

	g := loadGen{concurrency: cfg.concurrency, duration: cfg.duration}
	rep := &benchReport{}
	steps := []benchStep{
		{limMinimal, env.client.minimalOp(minimal.url), &rep.limits},
		{"get", env.getOp(), &rep.workloads},
		{limSQLGet, lim.getOp(env.sample), &rep.limits},
		{"list", env.listOp(), &rep.workloads},
		{limSQLList, lim.listOp(), &rep.limits},
		{"create", env.createOp(), &rep.workloads},
		{limInsertFull, lim.insertOp(lim.full), &rep.limits},
		{limInsertNormal, lim.insertOp(lim.normal), &rep.limits},
		{"update", env.updateOp(), &rep.workloads},
		{limUpdateFull, lim.updateOp(env.sample), &rep.limits},
	}
	return rep, runSteps(ctx, cfg, g, rep, steps)
}

// benchStep is one measured workload or limit and where its result goes.
type benchStep = struct {
	name string
	op   opFunc
	dst  *[]result
}

func runSteps(ctx context.Context, cfg benchConfig, g loadGen, rep *benchReport, steps []benchStep) error {
	var err error
	for _, s := range steps {
		var stopProfile func()
		if cfg.profileDir != "" && s.dst == &rep.workloads {
			if stopProfile, err = startCPUProfile(cfg.profileDir, s.name); err != nil {
				return err
			}
		}
		r, err := g.run(ctx, s.name, s.op)
		if stopProfile != nil {
			stopProfile()
		}
		if err != nil {
			return err
		}
		r.rssPeak = procStatusBytes("VmHWM")
		*s.dst = append(*s.dst, r)
	}
	return nil
}

// runIdentityBench measures logins and key validation. It runs after the
// data workloads so that their memory peak is not mixed with argon2id's
// (19 MiB per hash in flight).
func runIdentityBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	argon, err := argonOp(env.password)
	if err != nil {
		return err
	}
	apiKey, err := env.newBenchAPIKey(ctx)
	if err != nil {
		return err
	}
	login, err := env.loginOp(ctx, min(cfg.concurrency, 254))
	if err != nil {
		return err
	}
	g := loadGen{concurrency: cfg.concurrency, duration: cfg.duration}
	return runSteps(ctx, cfg, g, rep, []benchStep{
		{wlLogin, login, &rep.workloads},
		{limArgon, argon, &rep.limits},
		{wlAuthKey, env.authOp(env.session), &rep.workloads},
		{wlAuthAPIKey, env.authOp(apiKey), &rep.workloads},
	})
}
