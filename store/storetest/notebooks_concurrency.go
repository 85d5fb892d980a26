package storetest

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testConcurrency(t *testing.T, open Opener) {
	s := open(t)

	t.Run("OptimisticUpdates", func(t *testing.T) {
		testConcurrencyOptimisticUpdates(t, s)
	})

	// Writes racing with a change of the column they write must be
	// validated against the schema they are committed with: a value must
	// never be stored in the form of the previous type or precision.
	t.Run("SchemaChangesDuringWrites", func(t *testing.T) {
		testConcurrencySchemaChangesDuringWrites(t, s)
	})
	// Reads and writes racing with the deletion of a column answer as
	// before or after it, never with EINTERNAL.
	t.Run("ColumnDeletedDuringUse", func(t *testing.T) {
		testConcurrencyColumnDeletedDuringUse(t, s)
	})
}

// testConcurrencyOptimisticUpdates is the subtest OptimisticUpdates of testConcurrency.
func testConcurrencyOptimisticUpdates(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Optimistic")
	MustTable(t, e.ctx, s, e.nb, "T", col("N", coffer.TypeNumber))
	r := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"N": 0})
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = s.UpdateRecord(e.ctx, e.nb, "T", r.ID, map[string]any{"N": i + 1}, 1)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantCode(t, err, coffer.EVERSION)
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent updates of version 1 succeeded, want exactly 1", won, writers)
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "T", r.ID); got.Version != 2 {
		t.Errorf("version after concurrent updates = %d, want 2", got.Version)
	}
}

// testConcurrencySchemaChangesDuringWrites is the subtest SchemaChangesDuringWrites of testConcurrency.
func testConcurrencySchemaChangesDuringWrites(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Racing")
	MustTable(t, e.ctx, s, e.nb, "T", col("V", coffer.TypeNumber), col("W", coffer.TypeText))
	const rounds = 40
	var wg sync.WaitGroup
	var schemaErr error
	wg.Go(func() {
		for i := range rounds {
			p := 2 * ((i + 1) % 2)
			if _, err := s.UpdateColumn(e.ctx, e.nb, "T", "V", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Precision: p}}); err != nil && schemaErr == nil {
				schemaErr = err
			}
		}
	})
	var created []string
	for range rounds * 2 {
		r, err := s.CreateRecord(e.ctx, e.nb, "T", map[string]any{"V": 7, "W": "x"})
		if err != nil {
			t.Errorf("CreateRecord during schema changes: %v", err)
			continue
		}
		created = append(created, r.ID)
	}
	wg.Wait()
	if schemaErr != nil {
		t.Errorf("UpdateColumn between precisions 0 and 2 failed: %v (fields %v); only writes stored in the wrong precision can cause that",
			schemaErr, coffer.ErrorFields(schemaErr))
	}
	bad := 0
	for _, id := range created {
		v := MustFindRecord(t, e.ctx, s, e.nb, "T", id).Fields["V"]
		if v != json.Number("7") && v != json.Number("7.00") {
			if bad == 0 {
				t.Errorf("record %s holds V = %v, want 7 (written as 7 while the precision changed)", id, v)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records written during precision changes hold a wrong value", bad, len(created))
	}
}

// testConcurrencyColumnDeletedDuringUse is the subtest ColumnDeletedDuringUse of testConcurrency.
func testConcurrencyColumnDeletedDuringUse(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Deleting")
	MustTable(t, e.ctx, s, e.nb, "T", col("W", coffer.TypeText))
	const rounds = 30
	var wg sync.WaitGroup
	var schemaErr error
	wg.Go(func() {
		for range rounds {
			if _, err := s.CreateColumn(e.ctx, e.nb, "T", col("X", coffer.TypeText)); err != nil && schemaErr == nil {
				schemaErr = err
			}
			if err := s.DeleteColumn(e.ctx, e.nb, "T", "X"); err != nil && schemaErr == nil {
				schemaErr = err
			}
		}
	})
	internal := 0
	for range rounds * 3 {
		_, err := s.CreateRecord(e.ctx, e.nb, "T", map[string]any{"X": "x", "W": "w"})
		if code := coffer.ErrorCode(err); code != "" && code != coffer.EINVALID {
			if internal == 0 {
				t.Errorf("CreateRecord while a column is deleted: %v", err)
			}
			internal++
		}
		_, err = s.FindRecords(e.ctx, e.nb, "T", coffer.ListQuery{Limit: 5})
		if code := coffer.ErrorCode(err); code != "" {
			if internal == 0 {
				t.Errorf("FindRecords while a column is deleted: %v", err)
			}
			internal++
		}
	}
	wg.Wait()
	if schemaErr != nil {
		t.Errorf("CreateColumn or DeleteColumn: %v", schemaErr)
	}
	if internal > 0 {
		t.Errorf("%d calls failed with an unexpected code while a column was added and deleted", internal)
	}
}
