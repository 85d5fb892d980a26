package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cofferhq/coffer/store/all"
)

// historyUsage is the help of `coffer history`.
const historyUsage = `Usage:
  coffer history prune [--data DIR | --db postgres://…]
      delete, in every notebook, the history older than the notebook's
      retention (history_retention_days) and the actions kept only for
      undo (history off) older than a day, in batches; the server does
      this every hour
`

// pruneEvery is how often the server prunes history.
const pruneEvery = time.Hour

// cmdHistory runs the history commands.
func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "prune":
		return cmdHistoryPrune(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, historyUsage)
		return nil
	}
	fmt.Fprint(stderr, historyUsage)
	return errUsage
}

// cmdHistoryPrune prunes every notebook's history once.
func cmdHistoryPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("history prune", stderr)
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("history prune: unexpected argument %q", fs.Arg(0))
	}
	st, closeStore, err := openCLIStore(ctx, sc, "history prune", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := st.PruneHistory(ctx)
	fmt.Fprintf(stdout, "pruned %d action(s) of history\n", n)
	return err
}

// startPruner prunes every notebook's history at once, then every period,
// in the background, until stop is called (stop waits for a prune in
// flight to end).
func startPruner(ctx context.Context, st *all.Store, log *slog.Logger, period time.Duration) (stop func()) {
	return every(ctx, period, func(ctx context.Context) {
		n, err := st.PruneHistory(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("pruning history failed", "pruned", n, "error", err.Error())
		case n > 0:
			log.Info("history pruned", "actions", n)
		}
	})
}

// every runs job at once, then every period, in the background, until
// stop is called; stop waits for a run in flight to end (its ctx is
// cancelled).
func every(ctx context.Context, period time.Duration, job func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			job(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
