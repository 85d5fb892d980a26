package store

import (
	"fmt"
	"io"
	"os"
	"time"
)

// slowWrites is the time above which a group of writes is reported on
// traceOut: set by COFFER_TRACE_SLOW_WRITES (a Go duration, "50ms"); zero,
// the default, reports nothing. It shows where a slow write's time went:
// waiting for the writer's connection (held by something else, such as a
// statistics refresh), running the writes, or committing (the fsync, and a
// WAL checkpoint when the writer runs one).
var slowWrites, _ = time.ParseDuration(os.Getenv("COFFER_TRACE_SLOW_WRITES"))

// traceOut receives the reports of slow groups of writes.
var traceOut io.Writer = os.Stderr

// groupTimes are the moments of one group of writes.
type groupTimes struct {
	start, begun, ran, committed time.Time
}

// report writes one line about the group when it took longer than
// slowWrites.
func (g *groupTimes) report(writes int) {
	if slowWrites <= 0 || g.committed.Sub(g.start) <= slowWrites {
		return
	}
	fmt.Fprintf(traceOut, "coffer: slow group of %d writes: %s in all: %s waiting for the writer, %s running, %s committing\n",
		writes, g.committed.Sub(g.start).Round(time.Microsecond), g.begun.Sub(g.start).Round(time.Microsecond),
		g.ran.Sub(g.begun).Round(time.Microsecond), g.committed.Sub(g.ran).Round(time.Microsecond))
}
