package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/store/all"
)

const auditUsage = `Usage:
  coffer audit key         print the verifier (public) key of the checkpoints
  coffer audit verify      recompute the log's tree, check every checkpoint (signature,
                           consistency, the file audit-checkpoints outside the database)
  coffer audit prove N     print the inclusion proof of entry N in the latest checkpoint
  coffer audit checkpoint  sign a checkpoint now (the server signs one every
                           --audit-checkpoint-entries entries or --audit-checkpoint-interval)
  coffer audit prune --before 2025-01-31T00:00:00Z
                           delete the entries before that time that a checkpoint covers
                           (their hashes stay; the next checkpoint records the range)
Each takes the storage flags --data DIR or --db postgres://… (and --db-schema). The
signing key (audit.key) and audit-checkpoints live in --data, for PostgreSQL too.
`

// cmdAudit runs "coffer audit …".
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, auditUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "key":
		return auditCommand(ctx, "audit key", args[1:], stderr, nil, func(a *auditEnv) error {
			fmt.Fprintln(stdout, a.key.VerifierKey)
			return nil
		})
	case "verify":
		return auditCommand(ctx, "audit verify", args[1:], stderr, nil, func(a *auditEnv) error { return auditVerify(ctx, a, stdout) })
	case "prove":
		return auditProve(ctx, args[1:], stdout, stderr)
	case "checkpoint":
		return auditCommand(ctx, "audit checkpoint", args[1:], stderr, nil, func(a *auditEnv) error {
			if err := a.log.ClaimKey(ctx, a.key); err != nil {
				return err
			}
			c, err := a.log.Checkpoint(ctx, a.key, a.sink)
			if err != nil {
				return err
			}
			if c == nil {
				fmt.Fprintln(stdout, "the latest checkpoint already covers every entry")
				return nil
			}
			fmt.Fprintf(stdout, "signed the checkpoint of %d entries:\n%s", c.Size, c.Note)
			return nil
		})
	case "prune":
		return auditPrune(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "coffer audit: unknown command %q\n\n%s", args[0], auditUsage)
	return errUsage
}

// auditEnv is what an audit command works on.
type auditEnv struct {
	st   *all.Store
	log  *audit.Log
	key  *audit.Key
	sink audit.Sink
	args []string // arguments left after the flags
}

// auditCommand parses the flags (define adds the command's own), opens
// the store, seals the log, loads the key (creating it in --data the
// first time) and runs fn.
func auditCommand(ctx context.Context, name string, args []string, stderr io.Writer, define func(*flag.FlagSet), fn func(*auditEnv) error) error {
	fs := newFlagSet(name, stderr)
	if define != nil {
		define(fs)
	}
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, closeStore, err := openCLIStore(cliCaller(ctx), sc, name, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	a := &auditEnv{st: st, log: st.Identity.Audit, sink: audit.Sink{Dir: sc.dataDir}, args: fs.Args()}
	if a.key, err = loadAuditKey(ctx, a.log, sc.dataDir); err != nil {
		return err
	}
	return fn(a)
}

// loadAuditKey seals the log and loads the key in dir, creating both
// the directory and the key (named after the log's origin) if needed.
func loadAuditKey(ctx context.Context, log *audit.Log, dir string) (*audit.Key, error) {
	if err := log.Seal(ctx); err != nil {
		return nil, err
	}
	origin, err := log.Origin(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return audit.LoadOrCreateKey(dir, origin)
}

// auditVerify prints what Verify found; it fails when the log does not verify.
func auditVerify(ctx context.Context, a *auditEnv, stdout io.Writer) error {
	notes, ferr := audit.ReadCheckpointsFile(a.sink.Dir)
	r, err := a.log.Verify(ctx, a.key, notes)
	if r == nil {
		return err
	}
	fmt.Fprintf(stdout, "audit log: %d entries (%d pruned), %d checkpoints in the database, %d in %s\n",
		r.Size, r.First, r.Checkpoints, r.FileCheckpoints, audit.CheckpointsFile)
	if ferr != nil {
		r.Problems = append(r.Problems, ferr.Error())
		if err == nil {
			err = fmt.Errorf("%w: %v", audit.ErrTampered, ferr)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintln(stdout, "  PROBLEM:", p)
	}
	if err != nil {
		if r.FirstBad >= 0 {
			fmt.Fprintf(stdout, "FAILED: entry %d is the first that does not fit\n", r.FirstBad)
		} else {
			fmt.Fprintln(stdout, "FAILED")
		}
		return err
	}
	fmt.Fprintln(stdout, "ok: every entry fits the tree; every checkpoint is signed by the audit key, matches the entries and is consistent with the one before")
	return nil
}

// auditProve prints the inclusion proof of one entry.
func auditProve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The entry may come before or after the flags.
	var entry string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		entry, args = args[0], args[1:]
	}
	return auditCommand(ctx, "audit prove", args, stderr, nil, func(a *auditEnv) error {
		if entry == "" && len(a.args) == 1 {
			entry = a.args[0]
		}
		n, err := strconv.ParseInt(entry, 10, 64)
		if err != nil || n < 0 {
			return errors.New("audit prove: give the index of an entry, a whole number (coffer audit prove 42)")
		}
		p, err := a.log.Prove(ctx, n, a.key)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, p.String())
		fmt.Fprintf(stdout, "ok: entry %d is in the checkpoint of %d entries\n", n, p.Checkpoint.Size)
		return nil
	})
}

// auditPrune deletes the checkpointed entries before a time.
func auditPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var before string
	return auditCommand(ctx, "audit prune", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&before, "before", "", "delete the entries recorded before this `time` (RFC 3339, e.g. 2025-01-31T00:00:00Z) that a checkpoint covers")
	}, func(a *auditEnv) error {
		t, err := time.Parse(time.RFC3339, before)
		if err != nil {
			return errors.New("audit prune: --before must be a time in RFC 3339 form, such as 2025-01-31T00:00:00Z")
		}
		from, to, err := a.log.Prune(ctx, t)
		if err != nil {
			return err
		}
		if from == to {
			fmt.Fprintln(stdout, "nothing to prune: no checkpointed entry is older than", t.Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(stdout, "pruned entries %d to %d (their hashes stay, so the log still verifies); the next checkpoint records the range\n", from, to-1)
		return nil
	})
}

// startAuditCheckpoints seals the log, loads (or creates) the signing key
// in dir and signs checkpoints until ctx ends; stop signs the last one
// (after the server has finished its requests).
func startAuditCheckpoints(ctx context.Context, st *all.Store, dir string, every int, interval time.Duration, log *slog.Logger) (stop func(), err error) {
	k, err := loadAuditKey(ctx, st.Identity.Audit, dir)
	if err == nil {
		err = st.Identity.Audit.ClaimKey(ctx, k)
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	c := &audit.Checkpointer{Log: st.Identity.Audit, Key: k, Sink: audit.Sink{Dir: dir, Logger: log}, Every: int64(every), Interval: interval, Logger: log}
	log.Info("audit log checkpoints", "verifier_key", k.VerifierKey, "every_entries", every, "every", interval.String())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		if err := c.Final(fctx); err != nil {
			log.Error("audit checkpoint at shutdown failed", "err", err)
		}
	}, nil
}
