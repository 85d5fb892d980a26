package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store/all"
)

// testHistorySettings reads and changes a notebook's settings: owners
// only; with history off, writes no longer enter the history.
func testHistorySettings(t *testing.T, open Opener) {
	s := open(t)
	st := newSetup(t, s, "Settings")
	ctx, nb := st.ctx, st.nb
	got, err := s.NotebookSettings(ctx, nb)
	if err != nil || *got != (coffer.NotebookSettings{History: true}) {
		t.Fatalf("default settings = %+v, %v; want history on, kept, no access records", got, err)
	}
	edCtx, ed := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, ed.ID, coffer.MemberInput{Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	stranger, _ := MustUser(t, s)
	off, days := false, 30
	if _, err := s.UpdateNotebookSettings(edCtx, nb, coffer.NotebookSettingsUpdate{History: &off}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("admin changes settings: %v, want forbidden", err)
	}
	if _, err := s.HistorySize(edCtx, nb); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("admin reads the history size: %v, want forbidden", err)
	}
	for _, err := range []error{
		func() error {
			_, err := s.UpdateNotebookSettings(stranger, nb, coffer.NotebookSettingsUpdate{History: &off})
			return err
		}(),
		func() error { _, err := s.NotebookSettings(stranger, nb); return err }(),
		func() error { _, err := s.HistorySize(stranger, nb); return err }(),
	} {
		if coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("stranger: %v, want not_found", err)
		}
	}
	for _, bad := range []int{-1, coffer.MaxHistoryRetentionDays + 1} {
		_, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{HistoryRetentionDays: &bad})
		if wantCode(t, err, coffer.EINVALID) {
			wantOnlyFields(t, err, "history_retention_days")
		}
	}
	if got, _ := s.NotebookSettings(ctx, nb); *got != (coffer.NotebookSettings{History: true}) {
		t.Errorf("after refused changes: %+v, want the defaults", got)
	}
	// An editor of a notebook without tables has history on every table: an empty page.
	editor, e := MustUser(t, s)
	if _, err := s.PutMember(ctx, nb, e.ID, coffer.MemberInput{Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.FindHistory(editor, nb, coffer.HistoryQuery{}); err != nil || len(p.Entries) != 0 || p.NextCursor != nil {
		t.Errorf("editor, no table yet: %+v, %v; want an empty page", p, err)
	}
	tbl := MustTable(t, ctx, s, nb, "T", col("X", coffer.TypeText))
	MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": "kept"})
	before := len(MustHistory(t, ctx, s, nb, coffer.HistoryQuery{}))
	size0, err := s.HistorySize(ctx, nb)
	if err != nil || size0.Actions != 2 || size0.Changes != 2 || size0.Bytes <= 0 {
		t.Fatalf("size = %+v, %v; want 2 actions with 2 changes", size0, err)
	}

	if got, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{History: &off, HistoryRetentionDays: &days}); err != nil || *got != (coffer.NotebookSettings{HistoryRetentionDays: 30}) {
		t.Fatalf("owner switches history off: %+v, %v", got, err)
	}
	if got, _ := s.NotebookSettings(edCtx, nb); *got != (coffer.NotebookSettings{HistoryRetentionDays: 30}) {
		t.Errorf("settings read by an admin = %+v", got)
	}
	MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": "undo only"})
	if n := len(MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})); n != before {
		t.Errorf("with history off: %d entries, want still %d", n, before)
	}
	if size, _ := s.HistorySize(ctx, nb); size.Actions != 3 || size.Bytes <= size0.Bytes {
		t.Errorf("size with history off = %+v: the action is kept for undo", size)
	}
	on := true
	if _, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{History: &on}); err != nil {
		t.Fatal(err)
	}
	MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": "again"})
	if n := len(MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})); n != before+1 {
		t.Errorf("history back on: %d entries, want %d", n, before+1)
	}
}

// testHistoryPrune prunes at an injected clock: actions kept only for undo
// after a day, the history after the notebook's retention, in batches.
func testHistoryPrune(t *testing.T, open Opener) {
	s := open(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	s.Now = clk.Now
	st := newSetup(t, s, "Prune")
	ctx, nb := st.ctx, st.nb
	tbl := MustTable(t, ctx, s, nb, "T", col("X", coffer.TypeText))
	MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": "old"})
	setHistory(t, s, ctx, nb, false)
	for i := range 5 {
		MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": fmt.Sprint("undo ", i)})
	}
	setHistory(t, s, ctx, nb, true)
	sizeOf := func() int64 {
		size, err := s.HistorySize(ctx, nb)
		if err != nil {
			t.Fatal(err)
		}
		return size.Actions
	}
	if n := sizeOf(); n != 7 {
		t.Fatalf("%d actions, want 7", n)
	}

	clk.Add(history.UndoWindow - time.Minute)
	if n, err := s.PruneHistory(context.Background()); err != nil || n != 0 {
		t.Errorf("prune within the undo window: %d, %v; want nothing", n, err)
	}
	clk.Add(2 * time.Minute)
	db, release, err := s.Storage.Notebook(context.Background(), nb)
	if err != nil {
		t.Fatal(err)
	}
	hb, ub := history.Cutoffs(s.Now(), 0)
	n, err := history.Prune(context.Background(), s.Core, db, hb, ub, 2)
	release()
	if err != nil || n != 5 || sizeOf() != 2 {
		t.Errorf("prune after the undo window, batches of 2: %d (%v), %d left; want the 5 undo-only actions gone", n, err, sizeOf())
	}
	if got := kinds(MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})); len(got) != 2 {
		t.Errorf("history kept without retention: %v", got)
	}

	days := 2
	if _, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{HistoryRetentionDays: &days}); err != nil {
		t.Fatal(err)
	}
	recent := MustRecord(t, ctx, s, nb, tbl.ID, map[string]any{"X": "recent"})
	clk.Add(24 * time.Hour) // t0 + 2 days and a minute: the first two actions are past retention
	if n, err := s.PruneHistory(context.Background()); err != nil || n != 2 {
		t.Errorf("prune past retention: %d, %v; want 2", n, err)
	}
	es := MustHistory(t, ctx, s, nb, coffer.HistoryQuery{})
	if len(es) != 1 || es[0].Changes[0].Record != recent.ID {
		t.Errorf("after retention: %v, want only the recent creation", kinds(es))
	}
}

func setHistory(t *testing.T, s *all.Store, ctx context.Context, nb string, on bool) {
	t.Helper()
	if _, err := s.UpdateNotebookSettings(ctx, nb, coffer.NotebookSettingsUpdate{History: &on}); err != nil {
		t.Fatal(err)
	}
}
