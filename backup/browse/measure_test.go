package browse_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/browse"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestMeasureRestore prints how long browsing (loading a snapshot into a
// sandbox) and restoring take on SQLite for a notebook of
// COFFER_MEASURE_ROWS records (skipped unless set): a measurement, not a
// pass/fail check.
func TestMeasureRestore(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("COFFER_MEASURE_ROWS"))
	if n <= 0 {
		t.Skip("set COFFER_MEASURE_ROWS to measure")
	}
	st := all.New(openSQLite(t), keyring.ForTests())
	primary := location.New("primary", mustLocal(t))
	svc := backup.New(st, backup.Config{Primary: primary, TempDir: t.TempDir()})
	st.SetSnapshots(browse.Source(svc), nil)
	t.Cleanup(st.CloseSnapshots)
	ctx, _ := storetest.MustUser(t, st)
	nb := storetest.MustNotebook(t, ctx, st, "Measure")
	storetest.MustTable(t, ctx, st, nb.ID, "T", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText}, coffer.ColumnInput{Name: "N", Type: coffer.TypeNumber})
	pad := strings.Repeat("x", 200)
	var first string
	for i := 0; i < n; i += coffer.MaxBatch {
		var ops []coffer.BatchOp
		for j := i; j < min(n, i+coffer.MaxBatch); j++ {
			ops = append(ops, coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"Name": fmt.Sprintf("r%d %s", j, pad), "N": j}})
		}
		res, err := st.Batch(ctx, nb.ID, "T", ops)
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = res.Results[0].ID
		}
	}
	t0 := time.Now()
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
	if err != nil {
		t.Fatal(err)
	}
	snapTook := time.Since(t0)
	if _, err := st.UpdateRecord(ctx, nb.ID, "T", first, map[string]any{"Name": "changed"}, 0); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, err := st.RestoreRecords(ctx, nb.ID, "T", sn.ID, []string{first}, false); err != nil {
		t.Fatal(err)
	}
	cold := time.Since(t0)
	if _, err := st.UpdateRecord(ctx, nb.ID, "T", first, map[string]any{"Name": "changed again"}, 0); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, err := st.RestoreRecords(ctx, nb.ID, "T", sn.ID, []string{first}, false); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(t0)
	t0 = time.Now()
	res, err := st.RestoreNotebook(ctx, nb.ID, sn.ID, coffer.RestoreCopy)
	if err != nil {
		t.Fatal(err)
	}
	whole := time.Since(t0)
	// In place, one transaction (safety snapshot included), with one
	// record to set back.
	if _, err := st.UpdateRecord(ctx, nb.ID, "T", first, map[string]any{"Name": "changed a third time"}, 0); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, err := st.RestoreNotebook(ctx, nb.ID, sn.ID, coffer.RestoreReplace); err != nil {
		t.Fatal(err)
	}
	inPlace := time.Since(t0)
	t.Logf("%d records, image %d bytes: snapshot %v; one record restored cold (load into a sandbox) %v, warm %v; whole notebook as a copy %v (%s), in place %v",
		n, sn.ImageSize, snapTook.Round(time.Millisecond), cold.Round(time.Millisecond), warm.Round(time.Millisecond), whole.Round(time.Millisecond), res.Notebook.ID, inPlace.Round(time.Millisecond))
}
