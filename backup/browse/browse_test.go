package browse_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/browse"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

func mustLocal(t *testing.T) blob.Store {
	t.Helper()
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openSQLite(t *testing.T) store.Backend {
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openPostgres(t *testing.T) store.Backend {
	url := os.Getenv("COFFER_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	base := "br_" + strings.ToLower(coffer.NewID("")[16:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := postgres.Open(ctx, url, postgres.Options{Schema: base, NotebookSchemaPrefix: base + "_n"})
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "postgres") {
			t.Fatalf("PostgreSQL is required: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	t.Cleanup(func() {
		defer b.Close()
		rows, err := b.Pool().Query(`SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)`, base, base+"_n")
		if err != nil {
			return
		}
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		for _, n := range names {
			b.Pool().Exec(`DROP SCHEMA "` + n + `" CASCADE`)
		}
	})
	return b
}

// TestBrowseWithBackupService: the backup service's own snapshots (sealed
// images in a location) browse and restore through the notebooks service:
// a record read in the snapshot, a record restore, a whole notebook in
// place after a safety snapshot, a read from the second location once the
// primary lost the snapshot, and a shredded key's snapshot unreadable.
func TestBrowseWithBackupService(t *testing.T) {
	for _, bk := range []struct {
		name string
		open func(*testing.T) store.Backend
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(bk.name, func(t *testing.T) {
			st := all.New(bk.open(t), keyring.ForTests())
			files := mustLocal(t)
			st.SetFiles(notebooks.FileConfig{Blobs: files, DeletedGrace: time.Nanosecond})
			primary, second := location.New("primary", mustLocal(t)), location.New("second", mustLocal(t))
			svc := backup.New(st, backup.Config{Primary: primary, Second: &second, Files: files, TempDir: t.TempDir()})
			src := browse.Source(svc)
			st.SetSnapshots(src, nil)
			t.Cleanup(st.CloseSnapshots)
			ctx, _ := storetest.MustUser(t, st)
			nb := storetest.MustNotebook(t, ctx, st, "Browse")
			storetest.MustTable(t, ctx, st, nb.ID, "People", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
			ada := storetest.MustRecord(t, ctx, st, nb.ID, "People", map[string]any{"Name": "Ada"})
			sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpdateRecord(ctx, nb.ID, "People", ada.ID, map[string]any{"Name": "Ada2"}, 0); err != nil {
				t.Fatal(err)
			}
			storetest.MustRecord(t, ctx, st, nb.ID, "People", map[string]any{"Name": "Since"})

			list, err := st.FindSnapshots(ctx, nb.ID, coffer.SnapshotQuery{Group: "month"})
			if err != nil || len(list) != 1 || list[0].ID != sn.ID {
				t.Fatalf("snapshots: %v, %v", list, err)
			}
			bctx, release, err := st.BrowseSnapshot(ctx, nb.ID, sn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r := storetest.MustFindRecord(t, bctx, st, nb.ID, "People", ada.ID); r.Fields["Name"] != "Ada" {
				t.Errorf("in the snapshot: %v", r.Fields)
			}
			release()
			if _, err := st.RestoreRecords(ctx, nb.ID, "People", sn.ID, []string{ada.ID}, false); err != nil {
				t.Fatal(err)
			}
			if r := storetest.MustFindRecord(t, ctx, st, nb.ID, "People", ada.ID); r.Fields["Name"] != "Ada" {
				t.Errorf("restored: %v", r.Fields)
			}
			res, err := st.RestoreNotebook(ctx, nb.ID, sn.ID, coffer.RestoreReplace)
			if err != nil {
				t.Fatal(err)
			}
			if n := storetest.MustCount(t, ctx, st, nb.ID, "People"); n != 1 || res.Safety == "" {
				t.Errorf("in place: %d records, safety %q; want 1 and a safety snapshot", n, res.Safety)
			}
			if safety, err := svc.Find(ctx, res.Safety); err != nil || safety.Kind != backup.KindSafety {
				t.Errorf("safety snapshot: %+v, %v", safety, err)
			}

			// The primary loses the snapshot: the second location serves.
			st.CloseSnapshots()
			var keys []string
			primary.Store.List(ctx, "snapshots/"+nb.ID+"/"+sn.ID+"/", func(i blob.Info) error { keys = append(keys, i.Key); return nil })
			if len(keys) == 0 {
				t.Fatal("no objects of the snapshot in the primary")
			}
			for _, k := range keys {
				if err := primary.Store.Delete(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
			cmp, err := st.CompareTable(ctx, nb.ID, "People", sn.ID, "", 0)
			if err != nil || cmp.Added+cmp.Removed+cmp.Changed != 0 {
				t.Errorf("compare from the second location: %+v, %v", cmp, err)
			}

			// A file removed for good comes back from the snapshot's blobs.
			testRestoreFile(t, st, svc, ctx)

			// A shredded key: the snapshot no longer opens.
			if err := st.DeleteNotebook(ctx, nb.ID); err != nil {
				t.Fatal(err)
			}
			err = src.Load(context.Background(), sn.ID, coffer.NewID(coffer.PrefixNotebook))
			if coffer.ErrorCode(err) != coffer.ESNAPSHOTUNREADABLE {
				b, _ := json.Marshal(err)
				t.Errorf("load after shredding: %v (%s), want %s", err, b, coffer.ESNAPSHOTUNREADABLE)
			}
		})
	}
}

// testRestoreFile: a file deleted and collected (row and blob gone) comes
// back from a snapshot: content, row and place in its cell, as one action.
func testRestoreFile(t *testing.T, st *all.Store, svc *backup.Service, ctx context.Context) {
	t.Helper()
	nb := storetest.MustNotebook(t, ctx, st, "Files")
	storetest.MustTable(t, ctx, st, nb.ID, "Docs", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText}, coffer.ColumnInput{Name: "Doc", Type: coffer.TypeFile})
	r := storetest.MustRecord(t, ctx, st, nb.ID, "Docs", map[string]any{"Name": "a"})
	content := strings.Repeat("the file's content ", 100)
	f, err := st.UploadFile(ctx, nb.ID, "Docs", r.ID, "Doc", coffer.FileUpload{Name: "a.txt", Type: "text/plain", Body: strings.NewReader(content)})
	if err != nil {
		t.Fatal(err)
	}
	sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := st.CollectFiles(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OpenFile(ctx, f.ID, 0, -1); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the file is not gone: %v", err)
	}
	job, err := st.Restore(ctx, nb.ID, coffer.RestoreInput{Snapshot: sn.ID, File: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if job.Kind != "file" || job.Status != "done" || len(job.Result.Updated) != 1 {
		t.Errorf("file restore job: %+v", job)
	}
	d, err := st.OpenFile(ctx, f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(d.Body)
	d.Body.Close()
	if string(b) != content {
		t.Errorf("restored content: %d bytes, want %d", len(b), len(content))
	}
	cell := storetest.MustFindRecord(t, ctx, st, nb.ID, "Docs", r.ID).Fields["Doc"]
	if js, _ := json.Marshal(cell); !strings.Contains(string(js), f.ID) {
		t.Errorf("the cell does not list the file again: %s", js)
	}
	_, err = st.Restore(ctx, nb.ID, coffer.RestoreInput{Snapshot: sn.ID, File: "fil_" + strings.Repeat("a", 26)})
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a file the snapshot lacks: %v", err)
	}
}
