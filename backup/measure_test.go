package backup_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
)

// TestMeasureSnapshot times the phases of a snapshot, a verification,
// an image and a load of a notebook of COFFER_BACKUP_MEASURE megabytes
// (skipped when unset; timing is reported, never checked).
func TestMeasureSnapshot(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("COFFER_BACKUP_MEASURE"))
	if mb <= 0 {
		t.Skip("set COFFER_BACKUP_MEASURE=<megabytes> to measure")
	}
	for _, be := range backends {
		if only := os.Getenv("COFFER_BACKUP_MEASURE_BACKEND"); only != "" && only != be.name {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			e := newEnv(t, b)
			nb, _ := e.notebook(t, 0, "measure")
			pad := strings.Repeat("y", 1000)
			start := time.Now()
			for i := range mb {
				ops := make([]coffer.BatchOp, 1000)
				for j := range ops {
					ops[j] = coffer.BatchOp{Op: "create", Fields: map[string]any{"Name": fmt.Sprintf("%d %d %s", i, j, pad), "A": j}}
				}
				if _, err := e.st.Batch(e.ctx, nb.ID, "People", ops); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("filled %d MB in %v", mb, time.Since(start).Round(time.Millisecond))
			var mu sync.Mutex
			phases := map[string]time.Time{}
			cfg := e.cfg
			cfg.Second = nil
			cfg.Progress = func(p backup.Progress) {
				mu.Lock()
				if _, ok := phases[p.Phase]; !ok {
					phases[p.Phase] = time.Now()
				}
				mu.Unlock()
			}
			svc := backup.New(e.st, cfg)
			start = time.Now()
			sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
			if err != nil {
				t.Fatal(err)
			}
			total := time.Since(start)
			t.Logf("snapshot: %v total; image %v, sums %v, seal %v; image %d MB, %d rows",
				total.Round(time.Millisecond), phases["sums"].Sub(phases["image"]).Round(time.Millisecond), phases["seal"].Sub(phases["sums"]).Round(time.Millisecond),
				phases["done"].Sub(phases["seal"]).Round(time.Millisecond), sn.ImageSize>>20, sn.Rows)
			start = time.Now()
			rep, err := svc.Verify(ctx, sn.ID, "")
			if err != nil || !rep.OK {
				t.Fatalf("%+v %v", rep, err)
			}
			t.Logf("verify: %v", time.Since(start).Round(time.Millisecond))
			start = time.Now()
			path, cleanup, err := svc.Image(ctx, sn.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			t.Logf("image (download, decrypt): %v", time.Since(start).Round(time.Millisecond))
			start = time.Now()
			if err := svc.Load(ctx, path, coffer.NewID(coffer.PrefixNotebook)); err != nil {
				t.Fatal(err)
			}
			t.Logf("load: %v", time.Since(start).Round(time.Millisecond))
		})
	}
}
