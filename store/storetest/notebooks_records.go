package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

func testRecords(t *testing.T, open Opener) {
	s := open(t)

	t.Run("Lifecycle", func(t *testing.T) {
		testRecordsLifecycle(t, s)
	})

	t.Run("MissingAndGarbageIDs", func(t *testing.T) {
		testRecordsMissingAndGarbageIDs(t, s)
	})
}

// testRecordsLifecycle is the subtest Lifecycle of testRecords.
func testRecordsLifecycle(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Records")
	tb := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText), col("Age", coffer.TypeNumber))
	ageID := tb.Column("Age").ID
	r := MustRecord(t, e.ctx, s, e.nb, "people", map[string]any{"Name": "Ada", ageID: 36})
	if !coffer.ValidID(coffer.PrefixRecord, r.ID) || r.Version != 1 || r.CreatedBy != e.u.ID || r.UpdatedBy != e.u.ID ||
		r.CreatedAt.IsZero() || !r.UpdatedAt.Equal(r.CreatedAt) {
		t.Errorf("CreateRecord = %+v", r)
	}
	if want := map[string]any{"Name": "Ada", "Age": json.Number("36")}; !reflect.DeepEqual(r.Fields, want) {
		t.Errorf("Fields = %v, want %v (named by column name)", r.Fields, want)
	}
	got := MustFindRecord(t, e.ctx, s, e.nb, tb.ID, r.ID)
	if a, b := mustJSON(t, got), mustJSON(t, r); a != b {
		t.Errorf("FindRecord =\n%s\nwant what CreateRecord returned:\n%s", a, b)
	}

	// Updates with the right version succeed and bump it.
	u, err := s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 37}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 2 || u.Fields["Age"] != json.Number("37") || u.Fields["Name"] != "Ada" || !u.CreatedAt.Equal(r.CreatedAt) || u.UpdatedAt.Before(r.UpdatedAt) {
		t.Errorf("UpdateRecord = %+v, want version 2, Age 37, Name kept", u)
	}
	// A stale version is refused and changes nothing.
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 99}, 1)
	wantCode(t, err, coffer.EVERSION)
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 99}, 3)
	wantCode(t, err, coffer.EVERSION)
	if got := MustFindRecord(t, e.ctx, s, e.nb, "People", r.ID); got.Version != 2 || got.Fields["Age"] != json.Number("37") {
		t.Errorf("record after stale update = %v (version %d), want Age 37 version 2", got.Fields, got.Version)
	}
	// Version 0 means any version.
	u, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Name": nil}, 0)
	if err != nil || u.Version != 3 || u.Fields["Name"] != nil {
		t.Errorf("UpdateRecord with version 0 = %+v, %v; want version 3, Name cleared", u, err)
	}
	// An update without fields would change nothing: it is refused and
	// makes no new version.
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, nil, 3)
	wantCode(t, err, coffer.EINVALID)
	u, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 38}, 3)
	if err != nil || u.Version != 4 {
		t.Errorf("UpdateRecord after a refused empty one = %+v, %v; want version 4", u, err)
	}

	// Unknown fields are refused and named.
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Nope": 1, "Age": 1}, 0)
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "Nope")
	}
	_, err = s.CreateRecord(e.ctx, e.nb, "People", map[string]any{"id": "x"})
	if wantCode(t, err, coffer.EINVALID) {
		wantOnlyFields(t, err, "id")
	}
	_, err = s.CreateRecord(e.ctx, e.nb, "People", map[string]any{"Age": 1, ageID: 2})
	wantCode(t, err, coffer.EINVALID)

	// Deletes check the version too.
	wantCode(t, s.DeleteRecord(e.ctx, e.nb, "People", r.ID, 1), coffer.EVERSION)
	if _, err := s.FindRecord(e.ctx, e.nb, "People", r.ID); err != nil {
		t.Errorf("FindRecord after a refused delete: %v", err)
	}
	if err := s.DeleteRecord(e.ctx, e.nb, "People", r.ID, 4); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindRecord(e.ctx, e.nb, "People", r.ID)
	wantCode(t, err, coffer.ENOTFOUND)
	wantCode(t, s.DeleteRecord(e.ctx, e.nb, "People", r.ID, 0), coffer.ENOTFOUND)
	wantCode(t, s.DeleteRecord(e.ctx, e.nb, "People", r.ID, 4), coffer.ENOTFOUND)
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 1}, 0)
	wantCode(t, err, coffer.ENOTFOUND)
	_, err = s.UpdateRecord(e.ctx, e.nb, "People", r.ID, map[string]any{"Age": 1}, 4)
	wantCode(t, err, coffer.ENOTFOUND)
	if n := MustCount(t, e.ctx, s, e.nb, "People"); n != 0 {
		t.Errorf("count after delete = %d, want 0", n)
	}
}

// testRecordsMissingAndGarbageIDs is the subtest MissingAndGarbageIDs of testRecords.
func testRecordsMissingAndGarbageIDs(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Missing")
	MustTable(t, e.ctx, s, e.nb, "A", col("Name", coffer.TypeText))
	MustTable(t, e.ctx, s, e.nb, "B", col("Name", coffer.TypeText))
	inB := MustRecord(t, e.ctx, s, e.nb, "B", map[string]any{"Name": "b"})
	badIDs := []string{
		"", "x", coffer.NewID(coffer.PrefixRecord), coffer.NewID(coffer.PrefixTable), inB.ID, // a record of another table
		"rec_' OR '1'='1", "rec_00000000000000000000000000; DROP TABLE x", "REC_" + inB.ID[4:], inB.ID + "0", "../../etc/passwd",
	}
	for _, id := range badIDs {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, err := s.FindRecord(e.ctx, e.nb, "A", id)
			wantCode(t, err, coffer.ENOTFOUND)
			_, err = s.UpdateRecord(e.ctx, e.nb, "A", id, map[string]any{"Name": "x"}, 0)
			wantCode(t, err, coffer.ENOTFOUND)
			wantCode(t, s.DeleteRecord(e.ctx, e.nb, "A", id, 0), coffer.ENOTFOUND)
			wantCode(t, s.DeleteRecord(e.ctx, e.nb, "A", id, 1), coffer.ENOTFOUND)
		})
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "B", inB.ID); got.Version != 1 {
		t.Errorf("record of B changed: version %d", got.Version)
	}
	for _, table := range []string{"", "Nope", coffer.NewID(coffer.PrefixTable), "A; DROP TABLE x"} {
		_, err := s.FindRecord(e.ctx, e.nb, table, inB.ID)
		wantCode(t, err, coffer.ENOTFOUND)
		_, err = s.CreateRecord(e.ctx, e.nb, table, map[string]any{"Name": "x"})
		wantCode(t, err, coffer.ENOTFOUND)
	}
}

func testBatch(t *testing.T, open Opener) {
	s := open(t)

	t.Run("MixInOrder", func(t *testing.T) {
		testBatchMixInOrder(t, s)
	})

	t.Run("CreationOrder", func(t *testing.T) {
		testBatchCreationOrder(t, s)
	})

	t.Run("NothingToChange", func(t *testing.T) {
		testBatchNothingToChange(t, s)
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		testBatchAllOrNothing(t, s)
	})

	t.Run("MaxBatch", func(t *testing.T) {
		testBatchMaxBatch(t, s)
	})
}

// testBatchMixInOrder is the subtest MixInOrder of testBatch.
func testBatchMixInOrder(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "Batch")
	MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber))
	x := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "x", "N": 1})
	y := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "y"})
	z := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "z"})
	res, err := s.Batch(e.ctx, e.nb, "T", []coffer.BatchOp{
		{Op: coffer.OpCreate, Fields: map[string]any{"Name": "a", "N": 10}},
		{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"N": 2}, Version: 1},
		{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"Name": "x2"}, Version: 2}, // sees the previous operation
		{Op: coffer.OpDelete, ID: y.ID, Version: 1},
		{Op: coffer.OpCreate, Fields: map[string]any{"Name": "b"}},
		{Op: coffer.OpUpdate, ID: z.ID, Fields: map[string]any{"N": 5}},
		{Op: coffer.OpDelete, ID: z.ID, Version: 2},
	})
	if err != nil {
		t.Fatalf("Batch: %v (fields %v)", err, coffer.ErrorFields(err))
	}
	if len(res.Results) != 7 {
		t.Fatalf("Batch gives %d results, want 7", len(res.Results))
	}
	r := res.Results
	if r[0].Fields["Name"] != "a" || r[0].Fields["N"] != json.Number("10") || r[0].Version != 1 || !coffer.ValidID(coffer.PrefixRecord, r[0].ID) {
		t.Errorf("result 0 = %+v, want the created record a", r[0])
	}
	if r[1].ID != x.ID || r[2].ID != x.ID || r[2].Version != 3 || r[2].Fields["Name"] != "x2" || r[2].Fields["N"] != json.Number("2") {
		t.Errorf("results 1, 2 = %+v, %+v; want x at version 3 named x2 with N 2", r[1], r[2])
	}
	// Each result is the record as its own operation left it.
	if r[1].Version != 2 || r[1].Fields["Name"] != "x" || r[1].Fields["N"] != json.Number("2") {
		t.Errorf("result 1 = %+v; want x at version 2 with N 2, as the first update left it", r[1])
	}
	if r[5].Version != 2 || r[5].Fields["N"] != json.Number("5") || r[5].CreatedAt.IsZero() {
		t.Errorf("result 5 = %+v; want z at version 2 with N 5, as the update left it before the delete", r[5])
	}
	if r[3].ID != y.ID || r[6].ID != z.ID || r[5].ID != z.ID {
		t.Errorf("delete results = %q, %q; want %s, %s", r[3].ID, r[6].ID, y.ID, z.ID)
	}
	if r[4].Fields["Name"] != "b" || r[4].ID == r[0].ID {
		t.Errorf("result 4 = %+v, want a second new record b", r[4])
	}
	all := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{Sort: "Name"})
	if got, want := names(all), []string{"a", "b", "x2"}; !equalStrings(got, want) {
		t.Errorf("records after batch = %q, want %q", got, want)
	}
	for _, id := range []string{r[0].ID, r[4].ID} {
		MustFindRecord(t, e.ctx, s, e.nb, "T", id)
	}
}

// testBatchCreationOrder is the subtest CreationOrder of testBatch.
func testBatchCreationOrder(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "CreationOrder")
	MustTable(t, e.ctx, s, e.nb, "T", col("N", coffer.TypeNumber))
	ops := make([]coffer.BatchOp, 200)
	for i := range ops {
		ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"N": i}}
	}
	if _, err := s.Batch(e.ctx, e.nb, "T", ops); err != nil {
		t.Fatal(err)
	}
	// Most of them share a millisecond: with no sort they still list in
	// the order they were created.
	all := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{})
	for i, r := range all {
		if r.Fields["N"] != json.Number(fmt.Sprint(i)) {
			t.Fatalf("record %d of the unsorted list has N %v, want %d", i, r.Fields["N"], i)
		}
	}
}

// testBatchNothingToChange is the subtest NothingToChange of testBatch.
func testBatchNothingToChange(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "NothingToChange")
	MustTable(t, e.ctx, s, e.nb, "T", col("N", coffer.TypeNumber))
	x := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"N": 1})
	for _, f := range []map[string]any{nil, {}} {
		_, err := s.UpdateRecord(e.ctx, e.nb, "T", x.ID, f, 0)
		if coffer.ErrorCode(err) != coffer.EINVALID || !slices.Contains(errFields(err), "fields") {
			t.Errorf("UpdateRecord(%v) = %v (fields %v), want invalid naming fields", f, err, coffer.ErrorFields(err))
		}
	}
	_, err := s.Batch(e.ctx, e.nb, "T", []coffer.BatchOp{{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{}}})
	if coffer.ErrorCode(err) != coffer.EINVALID || !slices.Contains(errFields(err), "operations[0].fields") {
		t.Errorf("batch update without fields = %v (fields %v), want invalid naming operations[0].fields", err, coffer.ErrorFields(err))
	}
	if got := MustFindRecord(t, e.ctx, s, e.nb, "T", x.ID); got.Version != 1 {
		t.Errorf("version %d after writes that change nothing, want 1", got.Version)
	}
}

// testBatchAllOrNothing is the subtest AllOrNothing of testBatch.
func testBatchAllOrNothing(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "AllOrNothing")
	MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber))
	x := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "x", "N": 1})
	y := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "y", "N": 1})
	creates := func(n int) []coffer.BatchOp {
		ops := make([]coffer.BatchOp, n)
		for i := range ops {
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Name": fmt.Sprint("new ", i), "N": i}}
		}
		return ops
	}
	with := func(ops []coffer.BatchOp, i int, op coffer.BatchOp) []coffer.BatchOp {
		ops[i] = op
		return ops
	}
	tests := []struct {
		name   string
		ops    []coffer.BatchOp
		code   string
		fields []string
	}{
		{"one invalid value among many", with(creates(20), 13, coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"N": "many"}}),
			coffer.EINVALID, []string{"operations[13].fields.N"}},
		{"an unknown field at the end", with(creates(5), 4, coffer.BatchOp{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"Nope": 1}}),
			coffer.EINVALID, []string{"operations[4].fields.Nope"}},
		{"an unknown operation", with(creates(3), 1, coffer.BatchOp{Op: "upsert", Fields: map[string]any{"N": 1}}),
			coffer.EINVALID, []string{"operations[1].op"}},
		{"fields on a delete", with(creates(3), 2, coffer.BatchOp{Op: coffer.OpDelete, ID: y.ID, Fields: map[string]any{"N": 1}}),
			coffer.EINVALID, []string{"operations[2].fields"}},
		{"a stale version", with(creates(5), 2, coffer.BatchOp{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"N": 7}, Version: 5}),
			coffer.EVERSION, []string{"operations[2].version"}},
		{"a stale version on delete", with(creates(5), 0, coffer.BatchOp{Op: coffer.OpDelete, ID: y.ID, Version: 2}),
			coffer.EVERSION, []string{"operations[0].version"}},
		{"a missing record", with(creates(5), 3, coffer.BatchOp{Op: coffer.OpUpdate, ID: coffer.NewID(coffer.PrefixRecord), Fields: map[string]any{"N": 7}}),
			coffer.ENOTFOUND, []string{"operations[3].id"}},
		{"a garbage id", with(creates(5), 3, coffer.BatchOp{Op: coffer.OpDelete, ID: "garbage"}),
			coffer.ENOTFOUND, []string{"operations[3].id"}},
		{"a record deleted earlier in the batch", []coffer.BatchOp{
			{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"N": 5}},
			{Op: coffer.OpDelete, ID: y.ID},
			{Op: coffer.OpUpdate, ID: y.ID, Fields: map[string]any{"N": 5}},
		}, coffer.ENOTFOUND, []string{"operations[2].id"}},
		{"two invalid operations", with(with(creates(4), 0, coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"N": true}}), 3,
			coffer.BatchOp{Op: coffer.OpUpdate, ID: x.ID, Fields: map[string]any{"Name": "a\nb"}}),
			coffer.EINVALID, []string{"operations[0].fields.N", "operations[3].fields.Name"}},
		{"1001 operations", creates(1001), coffer.ETOOLARGE, []string{"operations"}},
		{"no operations", []coffer.BatchOp{}, coffer.EINVALID, []string{"operations"}},
		{"nil operations", nil, coffer.EINVALID, []string{"operations"}},
	}
	before := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Batch(e.ctx, e.nb, "T", tt.ops)
			if wantCode(t, err, tt.code) {
				wantOnlyFields(t, err, tt.fields...)
			}
			if res != nil {
				t.Errorf("failed Batch returns results: %+v", res)
			}
			after := MustListAll(t, e.ctx, s, e.nb, "T", coffer.ListQuery{})
			if a, b := mustJSON(t, after), mustJSON(t, before); a != b {
				t.Errorf("records changed after a failed batch:\n%s\nwant\n%s", a, b)
			}
		})
	}
}

// testBatchMaxBatch is the subtest MaxBatch of testBatch.
func testBatchMaxBatch(t *testing.T, s *all.Store) {
	t.Parallel()
	e := newSetup(t, s, "MaxBatch")
	MustTable(t, e.ctx, s, e.nb, "T", col("N", coffer.TypeNumber))
	ops := make([]coffer.BatchOp, coffer.MaxBatch)
	for i := range ops {
		ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"N": i}}
	}
	res, err := s.Batch(e.ctx, e.nb, "T", ops)
	if err != nil {
		t.Fatalf("Batch of %d operations: %v", coffer.MaxBatch, err)
	}
	if len(res.Results) != coffer.MaxBatch || res.Results[999].Fields["N"] != json.Number("999") {
		t.Errorf("Batch results: %d, want %d in order", len(res.Results), coffer.MaxBatch)
	}
	if n := MustCount(t, e.ctx, s, e.nb, "T"); n != coffer.MaxBatch {
		t.Errorf("count = %d, want %d", n, coffer.MaxBatch)
	}
}

// errFields returns the fields named by err's field errors.
func errFields(err error) []string {
	var out []string
	for _, f := range coffer.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return out
}
