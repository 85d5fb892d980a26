package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestHistoryPruneCommand prunes a data directory whose notebook holds
// actions two days old: those kept only for undo go, the history (kept
// without retention) stays.
func TestHistoryPruneCommand(t *testing.T) {
	cli := newCLI(t)
	dir := os.Getenv("COFFER_DATA")
	ctx := context.Background()
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := all.New(b, keyring.ForTests())
	st.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	uctx, _ := storetest.MustUser(t, st)
	nb := storetest.MustNotebook(t, uctx, st, "Old")
	setHist := func(on bool) {
		if _, err := st.UpdateNotebookSettings(uctx, nb.ID, coffer.NotebookSettingsUpdate{History: &on}); err != nil {
			t.Fatal(err)
		}
	}
	setHist(false)
	tbl := storetest.MustTable(t, uctx, st, nb.ID, "T", coffer.ColumnInput{Name: "X", Type: coffer.TypeText})
	storetest.MustRecord(t, uctx, st, nb.ID, tbl.ID, map[string]any{"X": "undo only"})
	setHist(true)
	storetest.MustRecord(t, uctx, st, nb.ID, tbl.ID, map[string]any{"X": "history"})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	if out := cli(0, "", "history", "prune"); !strings.Contains(out, "pruned 2 action(s)") {
		t.Errorf("history prune printed %q", out)
	}
	if out := cli(0, "", "history", "prune"); !strings.Contains(out, "pruned 0 action(s)") {
		t.Errorf("second history prune printed %q", out)
	}
	cli(2, "", "history")
	if out := cli(0, "", "history", "--help"); !strings.Contains(out, "history prune") {
		t.Errorf("history --help printed %q", out)
	}

	b, err = sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st = all.New(b, keyring.ForTests())
	size, err := st.HistorySize(uctx, nb.ID)
	if err != nil || size.Actions != 1 {
		t.Errorf("after prune: %+v, %v; want the one action of the history", size, err)
	}
}
