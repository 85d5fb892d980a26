package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
)

// TestCheckpointerEveryN: the checkpointer signs a checkpoint once N
// entries are not covered (its interval being far away), and a last one
// at Final.
func TestCheckpointerEveryN(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := all.New(b, keyring.ForTests())
	log := s.Identity.Audit
	dir := t.TempDir()
	k, err := audit.LoadOrCreateKey(dir, "coffer.local/audit/test")
	if err != nil {
		t.Fatal(err)
	}
	c := &audit.Checkpointer{Log: log, Key: k, Sink: audit.Sink{Dir: dir}, Every: 3, Interval: time.Hour}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	appendN := func(n int) {
		for range n {
			if err := s.Write(ctx, s.Inst, "test", func(tx *store.WriteTx) error {
				return log.Append(ctx, tx, audit.Event{Kind: "test"})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(2)
	appendN(2) // the fourth append finds 3 (or 4) entries not covered
	var notes [][]byte
	for deadline := time.Now().Add(20 * time.Second); len(notes) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if notes, err = audit.ReadCheckpointsFile(dir); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if len(notes) != 1 {
		t.Fatalf("%d checkpoints after 4 entries with N = 3, want 1", len(notes))
	}
	first, err := audit.OpenCheckpoint(notes[0], k)
	if err != nil || first.Size < 3 {
		t.Fatalf("checkpoint %+v, %v", first, err)
	}
	appendN(1)
	if err := c.Final(ctx); err != nil {
		t.Fatal(err)
	}
	notes, _ = audit.ReadCheckpointsFile(dir)
	last, err := audit.OpenCheckpoint(notes[len(notes)-1], k)
	if err != nil || last.Size != 5 {
		t.Errorf("final checkpoint %+v, %v; want size 5", last, err)
	}
}

// TestClaimKey: the first key claimed is the instance's; the same key is
// accepted again, another refused.
func TestClaimKey(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := all.New(b, keyring.ForTests()).Identity.Audit
	k1, err := audit.LoadOrCreateKey(t.TempDir(), "coffer.local/audit/test")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := audit.LoadOrCreateKey(t.TempDir(), "coffer.local/audit/test")
	if err != nil {
		t.Fatal(err)
	}
	if err := log.ClaimKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := log.ClaimKey(ctx, k1); err != nil {
		t.Errorf("the same key again: %v", err)
	}
	if err := log.ClaimKey(ctx, k2); err == nil || !strings.Contains(err.Error(), audit.KeyFile) {
		t.Errorf("another key: %v, want a refusal naming %s", err, audit.KeyFile)
	}
}
