package backup_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
)

// TestSnapshotWhileWriting, on each backend: a writer keeps committing
// pairs of records (both in one transaction) while snapshots are taken.
// Writes complete while the image is being made (writers are not
// blocked), none fails, and the image holds whole pairs only: the
// notebook at one moment.
func TestSnapshotWhileWriting(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			e := newEnv(t, b)
			nb, tb := e.notebook(t, 0, "writer")
			pad := strings.Repeat("x", 800)
			for range 4 {
				ops := make([]coffer.BatchOp, 1000)
				for i := range ops {
					ops[i] = coffer.BatchOp{Op: "create", Fields: map[string]any{"Name": "base " + pad}}
				}
				if _, err := e.st.Batch(e.ctx, nb.ID, "People", ops); err != nil {
					t.Fatal(err)
				}
			}
			var writes atomic.Int64
			var failed atomic.Value
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("w%06d", i)
					ops := []coffer.BatchOp{{Op: "create", Fields: map[string]any{"Name": name, "A": i}}, {Op: "create", Fields: map[string]any{"Name": name, "B": i}}}
					if _, err := e.st.Batch(e.ctx, nb.ID, "People", ops); err != nil {
						failed.Store(err)
						return
					}
					writes.Add(1)
				}
			}()
			// The window in which the image is made: from the "image"
			// phase to the first "seal" report.
			var atImage, atSeal atomic.Int64
			cfg := e.cfg
			cfg.Progress = func(p backup.Progress) {
				switch {
				case p.Phase == "image":
					atImage.Store(writes.Load())
					atSeal.Store(-1)
				case p.Phase == "seal" && atSeal.Load() == -1:
					atSeal.Store(writes.Load())
				}
			}
			svc := backup.New(e.st, cfg)
			var snaps []*backup.Snapshot
			overlapped := false
			for try := 0; try < 5 && !overlapped; try++ {
				sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
				if err != nil {
					t.Fatal(err)
				}
				snaps = append(snaps, sn)
				overlapped = atSeal.Load() > atImage.Load()
			}
			close(stop)
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				t.Fatalf("a write failed during the snapshot: %v", err)
			}
			if !overlapped {
				t.Errorf("no write completed while the image was being made (%d snapshots)", len(snaps))
			}
			tbl := "t_" + strings.TrimPrefix(tb.ID, coffer.PrefixTable)
			for _, sn := range snaps {
				path, cleanup, err := svc.Image(ctx, sn.ID, "")
				if err != nil {
					t.Fatal(err)
				}
				db := openSQL(t, path)
				var total, unpaired int
				if err := db.QueryRow("SELECT count(*) FROM " + tbl).Scan(&total); err != nil {
					t.Fatal(err)
				}
				name := "c_" + strings.TrimPrefix(tb.Columns[0].ID, coffer.PrefixColumn)
				if err := db.QueryRow("SELECT count(*) FROM (SELECT " + name + " FROM " + tbl + " WHERE " + name + " LIKE 'w%' GROUP BY " + name + " HAVING count(*) <> 2)").Scan(&unpaired); err != nil {
					t.Fatal(err)
				}
				db.Close()
				cleanup()
				if unpaired != 0 || total < 4000 {
					t.Errorf("snapshot %s: %d rows, %d torn pairs", sn.ID, total, unpaired)
				}
			}
			t.Logf("%d writes during %d snapshots", writes.Load(), len(snaps))
		})
	}
}

// TestCrossBackendLoad: a snapshot taken on SQLite loads into PostgreSQL,
// and one taken on PostgreSQL loads into SQLite, equal table by table to
// the notebook they were taken from.
func TestCrossBackendLoad(t *testing.T) {
	ctx := context.Background()
	lite, pg := openSQLite(t), openPostgres(t)
	el, ep := newEnv(t, lite), newEnv(t, pg)
	for _, c := range []struct {
		name     string
		from, to *env
	}{{"sqlite to postgres", el, ep}, {"postgres to sqlite", ep, el}} {
		nb, _ := c.from.notebook(t, 40, "cross")
		want := liveSums(t, c.from.st.Storage, nb.ID)
		sn, err := c.from.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
		if err != nil {
			t.Fatal(err)
		}
		path, cleanup, err := c.from.svc.Image(ctx, sn.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		storage := coffer.NewID(coffer.PrefixNotebook)
		if err := c.to.svc.Load(ctx, path, storage); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cleanup()
		sameSums(t, c.name, liveSums(t, c.to.st.Storage, storage), want)
	}
}
