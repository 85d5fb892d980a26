package main

// The time-travel workload of coffer bench: a record with 1,000 revisions
// read as it was before all of them (GET …/records/{id}?as_of=…), so that
// every revision is walked back. Issue 13's target: median under 10 ms.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/cofferhq/coffer"
)

const (
	wlAsOf        = "as_of of one record, 1000 revisions"
	asOfRevisions = 1000
	asOfTarget    = 10 * time.Millisecond
)

// newAsOfRecord creates a record and changes it asOfRevisions times; it
// returns its id and a moment between its creation and the first change.
func (e *benchEnv) newAsOfRecord(ctx context.Context) (string, time.Time, error) {
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: e.userID, Email: e.email, SessionID: "bench"})
	rec, err := e.st.CreateRecord(owner, e.notebook, e.table.ID, map[string]any{"Name": "Revised", "Age": 18, "Score": 0})
	if err != nil {
		return "", time.Time{}, err
	}
	time.Sleep(2 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	for i := 1; i <= asOfRevisions; i++ {
		fields := map[string]any{"Score": i, "Age": 18 + i%60}
		if _, err := e.st.UpdateRecord(owner, e.notebook, e.table.ID, rec.ID, fields, 0); err != nil {
			return "", time.Time{}, err
		}
	}
	return rec.ID, at, nil
}

// runAsOfBench measures the as_of read of one record with a single client:
// its median is a latency, not a throughput under load.
func runAsOfBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	id, at, err := env.newAsOfRecord(ctx)
	if err != nil {
		return fmt.Errorf("as_of record: %w", err)
	}
	u := env.records + "/" + id + "?as_of=" + url.QueryEscape(at.Format(time.RFC3339Nano))
	var rec coffer.Record
	if err := env.client.do(ctx, "GET", u, nil, http.StatusOK, &rec); err != nil {
		return fmt.Errorf("as_of read: %w", err)
	}
	if rec.Fields["Score"] != float64(0) {
		return fmt.Errorf("as_of read: Score %v, want 0 (the value before every revision)", rec.Fields["Score"])
	}
	op := func(ctx context.Context, _ *rand.Rand) error {
		return env.client.do(ctx, "GET", u, nil, http.StatusOK, nil)
	}
	g := loadGen{concurrency: 1, duration: cfg.duration}
	return runSteps(ctx, cfg, g, rep, []benchStep{{wlAsOf, op, &rep.workloads}})
}

// printAsOf prints the time-travel workload against its target.
func (r *benchReport) printAsOf(w io.Writer) {
	x, ok := r.find(r.workloads, wlAsOf)
	if !ok {
		return
	}
	fmt.Fprintf(w, "\nTime travel (one client): %s: median %s, p99 %s, %.0f ops/s; target median < %s: %s\n",
		wlAsOf, fmtDur(x.p50), fmtDur(x.p99), x.rate(), asOfTarget, yesNo(x.p50 < asOfTarget))
}

// The history-page workload: the newest page of 50 entries of the table's
// history, as its owner, after the load and the write workloads (each
// loaded batch is one action of 1,000 changes, each later write one of a
// few). Issue 13's target: median under 20 ms.
const (
	wlHistoryPage     = "history page of 50 (owner)"
	historyPageTarget = 20 * time.Millisecond
)

// runHistoryPageBench measures reading the newest page of the table's
// history with a single client.
func runHistoryPageBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	u := env.base + "/notebooks/" + env.notebook + "/history?limit=50&table=" + url.QueryEscape(env.table.ID)
	var page coffer.HistoryPage
	if err := env.client.do(ctx, "GET", u, nil, http.StatusOK, &page); err != nil {
		return fmt.Errorf("history page: %w", err)
	}
	if len(page.Entries) != 50 {
		return fmt.Errorf("history page: %d entries, want 50", len(page.Entries))
	}
	op := func(ctx context.Context, _ *rand.Rand) error {
		return env.client.do(ctx, "GET", u, nil, http.StatusOK, nil)
	}
	g := loadGen{concurrency: 1, duration: cfg.duration}
	return runSteps(ctx, cfg, g, rep, []benchStep{{wlHistoryPage, op, &rep.workloads}})
}

// printHistoryPage prints the history-page workload against its target.
func (r *benchReport) printHistoryPage(w io.Writer) {
	x, ok := r.find(r.workloads, wlHistoryPage)
	if !ok {
		return
	}
	fmt.Fprintf(w, "History (one client): %s: median %s, p99 %s, %.0f ops/s; target median < %s: %s\n",
		wlHistoryPage, fmtDur(x.p50), fmtDur(x.p99), x.rate(), historyPageTarget, yesNo(x.p50 < historyPageTarget))
}
