package main

// The encrypted column workload of coffer bench: the owner's page of 50
// records of a table reading only its text column, against the same page
// reading only its encrypted column (the same text, sealed), unlocked by
// the client's session, measured back to back (text, encrypted,
// encrypted, text) so both see the same machine.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
)

// Names of the encrypted column workloads and their target (issue 16,
// "Performance"): a page of an unlocked encrypted column takes at most
// 1.2× the time of the same page of a text column.
const (
	wlPagePlain     = "page of 50, text column"
	wlPageEncrypted = "page of 50, unlocked encrypted column"
	encryptedMaxX   = 1.2
	secretRecords   = 1000
	secretPassword  = "bench column password"
)

// runSecretBench fills a table of a text and an encrypted column holding
// the same values, unlocks the encrypted one for the client's session and
// measures a page of each.
func runSecretBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: env.userID, Email: env.email, SessionID: "bench"})
	tbl, err := env.st.CreateTable(owner, env.notebook, coffer.TableInput{Name: "Secret bench", Columns: []coffer.ColumnInput{
		{Name: "Plain", Type: coffer.TypeText},
		{Name: "Sealed", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: secretPassword}},
	}})
	if err != nil {
		return err
	}
	keyed := colkey.WithRequest(owner, map[string]string{tbl.Column("Sealed").ID: secretPassword}, nil)
	rng := rand.New(rand.NewPCG(16, 16))
	for done := 0; done < secretRecords; done += loadBatch {
		ops := make([]coffer.BatchOp, 0, loadBatch)
		for i := done; i < min(done+loadBatch, secretRecords); i++ {
			v := benchText(rng, 80)
			ops = append(ops, coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Plain": v, "Sealed": v}})
		}
		if _, err := env.st.Batch(keyed, env.notebook, tbl.ID, ops); err != nil {
			return err
		}
	}
	records := env.base + "/notebooks/" + env.notebook + "/tables/" + tbl.ID
	unlock := func() error {
		return env.client.json(ctx, "POST", records+"/columns/Sealed/unlock", map[string]string{"password": secretPassword}, http.StatusOK, nil)
	}
	page := func(col string) opFunc {
		u := records + "/records?limit=50&fields=" + url.QueryEscape(col)
		return func(ctx context.Context, _ *rand.Rand) error {
			return env.client.do(ctx, "GET", u, nil, http.StatusOK, nil)
		}
	}
	// Check once that the page reads plaintext: a locked page would be
	// cheaper and prove nothing.
	if err := unlock(); err != nil {
		return err
	}
	var got struct {
		Records []struct {
			Fields map[string]any `json:"fields"`
		} `json:"records"`
	}
	if err := env.client.do(ctx, "GET", records+"/records?limit=50&fields=Sealed", nil, http.StatusOK, &got); err != nil {
		return err
	}
	if len(got.Records) != 50 {
		return fmt.Errorf("bench: encrypted page has %d records", len(got.Records))
	}
	if _, ok := got.Records[0].Fields["Sealed"].(string); !ok {
		return fmt.Errorf("bench: the unlocked encrypted column reads %v", got.Records[0].Fields["Sealed"])
	}
	g := loadGen{concurrency: cfg.concurrency, duration: max(cfg.duration/2, 100*time.Millisecond)}
	for _, enc := range []bool{false, true, true, false} {
		name, op := wlPagePlain, page("Plain")
		if enc {
			name, op = wlPageEncrypted, page("Sealed")
			if err := unlock(); err != nil { // a fixed 5 minutes from each unlock
				return err
			}
		}
		if err := runSteps(ctx, cfg, g, rep, []benchStep{{name, op, &rep.workloads}}); err != nil {
			return err
		}
	}
	rep.workloads = mergeRuns(rep.workloads)
	rep.secret = true
	return nil
}

// benchText is n random lowercase letters and spaces.
func benchText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		if rng.IntN(6) == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
	}
	return b.String()
}

// printSecret prints the page of the encrypted column against the text one.
func (r *benchReport) printSecret(w io.Writer) {
	if !r.secret {
		return
	}
	plain, ok1 := r.find(r.workloads, wlPagePlain)
	enc, ok2 := r.find(r.workloads, wlPageEncrypted)
	if !ok1 || !ok2 || enc.rate() == 0 {
		return
	}
	fmt.Fprintf(w, "\nEncrypted column (%d records of 80 characters, the owner's page of 50 of one column, back to back: text, encrypted, encrypted, text):\n", secretRecords)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "request\tops/s\tp50\tp99\terrors")
	for _, x := range []result{plain, enc} {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\n", x.name, x.rate(), fmtDur(x.p50), fmtDur(x.p99), x.errors)
	}
	tw.Flush()
	ratio := plain.rate() / enc.rate()
	fmt.Fprintf(w, "time of an encrypted page vs a text page: %.2f× (target ≤ %.1f×: %s)\n", ratio, encryptedMaxX, yesNo(ratio <= encryptedMaxX))
}
