package drill_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/drill"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

func TestSampleGoesRound(t *testing.T) {
	nbs := []string{"a", "b", "c", "d", "e", "f", "g"}
	seen := map[string]int{}
	for seq := range 3 { // ceil(7/3) drills cover all
		for _, nb := range drill.Sample(nbs, seq, 3) {
			seen[nb]++
		}
	}
	if len(seen) != len(nbs) {
		t.Errorf("3 drills of 3 restored %v of 7 notebooks", seen)
	}
	if got := drill.Sample(nbs[:2], 5, 3); len(got) != 2 || got[0] == got[1] {
		t.Errorf("sample of 3 among 2: %v", got)
	}
	if got := drill.Sample(nil, 1, 3); got != nil {
		t.Errorf("sample of none: %v", got)
	}
}

func TestEveryBlobOncePerCycle(t *testing.T) {
	for _, cycle := range []int{1, 4, 7} {
		for i := range 500 {
			cid := fmt.Sprintf("%064x", i*7919)
			n := 0
			for seq := 10; seq < 10+cycle; seq++ {
				if drill.InSlice(cid, seq, cycle) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("cycle %d: blob %s read %d times in a cycle", cycle, cid, n)
			}
		}
	}
}

// source is a backup service of two locations whose snapshots and blobs
// are listed in broken when they fail to check.
type source struct {
	mu       sync.Mutex
	targets  []drill.Target
	broken   map[string]bool // "snapshot@location" or "cid@location"
	restored []string
	dropped  int
	read     map[string]int
}

func (s *source) Targets(context.Context) ([]drill.Target, error) { return s.targets, nil }
func (s *source) Locations() []string                             { return []string{"primary", "second"} }
func (s *source) Verify(_ context.Context, snap, loc string) error {
	if s.broken[snap+"@"+loc] {
		return errors.New("image hash mismatch")
	}
	return nil
}
func (s *source) Restore(_ context.Context, snap, loc, sandbox string) (func(context.Context) error, error) {
	time.Sleep(2 * time.Millisecond)
	s.mu.Lock()
	s.restored = append(s.restored, snap+"@"+loc)
	s.mu.Unlock()
	return func(context.Context) error { s.mu.Lock(); s.dropped++; s.mu.Unlock(); return nil }, nil
}
func (s *source) CheckBlobs(_ context.Context, snap, loc string, entries []blobs.Entry) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := make([]error, len(entries))
	for i, e := range entries {
		s.read[e.ContentID+"@"+loc]++
		if s.broken[e.ContentID+"@"+loc] {
			bad[i] = errors.New("file fil_x: the blob does not decrypt")
		}
	}
	return bad, nil
}

func newSource() *source {
	s := &source{broken: map[string]bool{}, read: map[string]int{}}
	s.targets = append(s.targets, drill.Target{Snapshot: "si"})
	for i := range 5 {
		t := drill.Target{Notebook: fmt.Sprintf("nb%d", i), Snapshot: fmt.Sprintf("s%d", i)}
		for j := range 10 {
			t.Blobs = append(t.Blobs, blobs.Entry{ContentID: fmt.Sprintf("%02d%02d%060x", i, j, i*j), Object: "o", Offset: int64(i*100 + j), Length: 10})
		}
		s.targets = append(s.targets, t)
	}
	return s
}

func openCore(t *testing.T) *store.Core {
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return store.NewCore(b)
}

func TestDrillRecordsAndRotates(t *testing.T) {
	ctx := context.Background()
	core := openCore(t)
	l := schedule.NewLedger(core)
	src := newSource()
	alerts := 0
	cfg := drill.Config{Sample: 2, Cycle: 3, Alert: func(context.Context, *drill.Drill) { alerts++ }}
	for seq := range 3 {
		d, err := drill.Run(ctx, l, src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d.Seq != seq || d.Status != schedule.StatusGood || d.Notebooks != 4 || d.RestoreTime <= 0 {
			t.Fatalf("drill %d = %+v", seq, d)
		}
	}
	if alerts != 0 {
		t.Errorf("%d alerts for good drills", alerts)
	}
	// Three drills of a cycle of three read every blob once from each location.
	for _, tg := range src.targets {
		for _, e := range tg.Blobs {
			for _, loc := range []string{"primary", "second"} {
				if n := src.read[e.ContentID+"@"+loc]; n != 1 {
					t.Errorf("blob %s read %d times from %s", e.ContentID[:4], n, loc)
				}
			}
		}
	}
	if src.dropped != len(src.restored) || len(src.restored) != 12 {
		t.Errorf("restored %d sandboxes, dropped %d", len(src.restored), src.dropped)
	}
	last, err := drill.Last(ctx, core)
	if err != nil || last == nil || last.Seq != 2 || last.RestoreTime <= 0 || len(last.Checks) == 0 {
		t.Fatalf("last drill = %+v, %v", last, err)
	}
}

func TestDrillFailureAlerts(t *testing.T) {
	ctx := context.Background()
	core := openCore(t)
	src := newSource()
	src.broken["s0@second"] = true
	var alerted *drill.Drill
	d, err := drill.Run(ctx, schedule.NewLedger(core), src, drill.Config{Sample: 5, Alert: func(_ context.Context, d *drill.Drill) { alerted = d }})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != schedule.StatusFailed || !strings.Contains(d.Error, "verify second notebook nb0 snapshot s0: image hash mismatch") {
		t.Errorf("drill = %s %q", d.Status, d.Error)
	}
	if alerted == nil || alerted.ID != d.ID {
		t.Errorf("no alert")
	}
	msg := drill.AlertMessage("ops@example.com", d, "https://coffer.example.com")
	if !strings.Contains(msg.Text, "verify from location second, notebook nb0, snapshot s0: image hash mismatch") || msg.To != "ops@example.com" {
		t.Errorf("alert text:\n%s", msg.Text)
	}
	if last, _ := drill.Last(ctx, core); last == nil || last.Status != schedule.StatusFailed {
		t.Errorf("last drill %+v", last)
	}
}

// TestDrillBlobFailure: a bad blob fails only the drill whose slice holds
// it, naming the location, notebook and snapshot beside the file id.
func TestDrillBlobFailure(t *testing.T) {
	ctx := context.Background()
	core := openCore(t)
	l := schedule.NewLedger(core)
	src := newSource()
	cid := src.targets[2].Blobs[3].ContentID // notebook nb1, snapshot s1
	src.broken[cid+"@second"] = true
	const cycle = 3
	failed := 0
	for range cycle {
		d, err := drill.Run(ctx, l, src, drill.Config{Sample: 1, Cycle: cycle})
		if err != nil {
			t.Fatal(err)
		}
		if !drill.InSlice(cid, d.Seq, cycle) {
			if d.Status != schedule.StatusGood {
				t.Errorf("drill %d: %s %q", d.Seq, d.Status, d.Error)
			}
			continue
		}
		failed++
		if d.Status != schedule.StatusFailed || !strings.Contains(d.Error, "blobs second: notebook nb1 snapshot s1: file fil_x: the blob does not decrypt") {
			t.Errorf("drill %d over a bad blob: %s %q", d.Seq, d.Status, d.Error)
		}
		if d.Blobs != 2*len(slice(src, d.Seq, cycle))-1 {
			t.Errorf("drill %d counted %d good blobs", d.Seq, d.Blobs)
		}
	}
	if failed != 1 {
		t.Errorf("%d drills of a cycle failed, want 1", failed)
	}
}

// slice lists the blobs of src drill seq reads in each location.
func slice(src *source, seq, cycle int) []blobs.Entry {
	var out []blobs.Entry
	for _, tg := range src.targets {
		for _, e := range tg.Blobs {
			if drill.InSlice(e.ContentID, seq, cycle) {
				out = append(out, e)
			}
		}
	}
	return out
}
