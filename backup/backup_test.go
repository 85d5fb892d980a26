package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/store/storetest"
)

func sha256New() hash.Hash { return sha256.New() }

// TestSnapshotRoundTrip, on each backend: a snapshot is good, listed,
// verifies, lives in both locations; an unchanged notebook is not
// snapshotted again, a changed one is; its image loaded into new storage
// equals the notebook at snapshot time, table by table.
func TestSnapshotRoundTrip(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			b := be.open(t)
			e := newEnv(t, b)
			nb, _ := e.notebook(t, 30, "round")
			want := liveSums(t, b, nb.ID)
			sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
			if err != nil {
				t.Fatal(err)
			}
			if sn.Status != backup.StatusGood || sn.Notebook != nb.ID || sn.Size == 0 || sn.Rows == 0 || !slices.Equal(sn.Locations, []string{"primary", "second"}) {
				t.Fatalf("snapshot %+v", sn)
			}
			list, err := e.svc.List(ctx, nb.ID)
			if err != nil || len(list) != 1 || list[0].ID != sn.ID {
				t.Fatalf("List: %v %v", list, err)
			}
			for _, loc := range []string{"primary", "second"} {
				rep, err := e.svc.Verify(ctx, sn.ID, loc)
				if err != nil || !rep.OK {
					t.Fatalf("Verify %s: %+v %v", loc, rep, err)
				}
			}
			if got, _ := e.svc.Find(ctx, sn.ID); got.VerifiedAt == nil {
				t.Error("verification not recorded")
			}
			again, err := e.svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
			if err != nil || again.ID != sn.ID {
				t.Fatalf("unchanged notebook snapshotted again: %v %v", again, err)
			}
			storetest.MustRecord(t, e.ctx, e.st, nb.ID, "People", map[string]any{"Name": "later"})
			later, err := e.svc.Snapshot(ctx, nb.ID, backup.KindDaily, false)
			if err != nil || later.ID == sn.ID {
				t.Fatalf("changed notebook not snapshotted: %v %v", later, err)
			}

			path, cleanup, err := e.svc.Image(ctx, sn.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			storage := coffer.NewID(coffer.PrefixNotebook)
			if err := e.svc.Load(ctx, path, storage); err != nil {
				t.Fatal(err)
			}
			sameSums(t, "loaded image", liveSums(t, b, storage), want)
			// Load may take the image's file (SQLite): a second load
			// decrypts it again.
			path2, cleanup2, err := e.svc.Image(ctx, sn.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup2()
			if err := e.svc.Load(ctx, path2, storage); coffer.ErrorCode(err) != coffer.ECONFLICT {
				t.Errorf("Load over existing storage: %v", err)
			}
		})
	}
}

// TestInstanceSnapshot: the instance snapshot verifies and its image has
// no data key.
func TestInstanceSnapshot(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.open(t))
			e.notebook(t, 3, "inst")
			sn, err := e.svc.Snapshot(ctx, "", backup.KindManual, false)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := e.svc.Verify(ctx, sn.ID, "")
			if err != nil || !rep.OK {
				t.Fatalf("Verify: %+v %v", rep, err)
			}
			path, cleanup, err := e.svc.Image(ctx, sn.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			db := openSQL(t, path)
			var keys, users int
			if err := db.QueryRow("SELECT count(*) FROM data_keys").Scan(&keys); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("SELECT count(*) FROM users").Scan(&users); err != nil {
				t.Fatal(err)
			}
			if keys != 0 || users == 0 {
				t.Errorf("instance image: %d data keys (want 0), %d users", keys, users)
			}
			if _, err := e.svc.Snapshot(ctx, "", backup.KindManual, false); err != nil {
				t.Fatal(err)
			}
			if list, _ := e.svc.List(ctx, ""); len(list) != 2 {
				t.Errorf("instance snapshots: %d, want 2 (never skipped)", len(list))
			}
		})
	}
}

// TestCorruptionFound: one flipped byte in the image object, or in the
// manifest, anywhere, is reported by Verify, and Image refuses it.
func TestCorruptionFound(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, openSQLite(t))
	nb, _ := e.notebook(t, 10, "corrupt")
	sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "snapshots/" + nb.ID + "/" + sn.ID + "/"
	store := e.primary.Store
	for _, obj := range []struct {
		name string
		n    int // positions tried, spread evenly (first and last included)
	}{{"image", 16}, {"manifest", 64}} {
		size := len(readObject(t, store, prefix+obj.name))
		for i := range obj.n {
			off := i * (size - 1) / (obj.n - 1)
			obj := obj.name
			orig := readObject(t, store, prefix+obj)
			flip(t, store, prefix+obj, off)
			rep, err := e.svc.Verify(ctx, sn.ID, "primary")
			if err != nil {
				t.Fatalf("%s byte %d: Verify: %v", obj, off, err)
			}
			if rep.OK || len(rep.Problems) == 0 {
				t.Errorf("%s byte %d flipped: Verify found nothing", obj, off)
			}
			if _, _, err := e.svc.Image(ctx, sn.ID, "primary"); coffer.ErrorCode(err) != coffer.EINTEGRITY {
				t.Errorf("%s byte %d flipped: Image: %v, want EINTEGRITY", obj, off, err)
			}
			if _, err := store.Put(ctx, prefix+obj, bytes.NewReader(orig)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rep, err := e.svc.Verify(ctx, sn.ID, "primary"); err != nil || !rep.OK {
		t.Fatalf("restored objects: %+v %v", rep, err)
	}
	// The second location still holds a good copy after the first lost it.
	if err := store.Delete(ctx, prefix+"image"); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.svc.Verify(ctx, sn.ID, "primary"); err != nil || rep.OK {
		t.Errorf("Verify without the image: %+v %v", rep, err)
	}
	if rep, err := e.svc.Verify(ctx, sn.ID, "second"); err != nil || !rep.OK {
		t.Errorf("Verify in the second location: %+v %v", rep, err)
	}
}

// TestShreddedKeyUnreadable: deleting a notebook destroys its keys, and its
// old snapshots no longer open, in either location.
func TestShreddedKeyUnreadable(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.open(t))
			nb, _ := e.notebook(t, 5, "shred")
			sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.st.DeleteNotebook(e.ctx, nb.ID); err != nil {
				t.Fatal(err)
			}
			for _, loc := range []string{"primary", "second"} {
				if _, _, err := e.svc.Image(ctx, sn.ID, loc); coffer.ErrorCode(err) != coffer.EINTEGRITY {
					t.Errorf("%s: Image after shredding: %v, want EINTEGRITY", loc, err)
				}
				rep, err := e.svc.Verify(ctx, sn.ID, loc)
				if err != nil || rep.OK {
					t.Errorf("%s: Verify after shredding: %+v %v", loc, rep, err)
				}
			}
		})
	}
}

// TestNoPlaintextInBackups: a marker written into records, table and
// column names appears in no object of either location.
func TestNoPlaintextInBackups(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.open(t))
			const marker = "ZEBRA-MARKER-7731"
			nb, _ := e.notebook(t, 50, marker)
			storetest.MustTable(t, e.ctx, e.st, nb.ID, "Secret "+marker, coffer.ColumnInput{Name: "Col " + marker, Type: coffer.TypeText})
			sn, err := e.svc.Snapshot(ctx, nb.ID, backup.KindManual, false)
			if err != nil {
				t.Fatal(err)
			}
			// The scan would see the marker: the decrypted image holds it.
			path, cleanup, err := e.svc.Image(ctx, sn.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := os.ReadFile(path)
			cleanup()
			if !bytes.Contains(plain, []byte(marker)) {
				t.Fatal("the decrypted image does not hold the marker")
			}
			if _, err := e.svc.Snapshot(ctx, "", backup.KindManual, false); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.BackupKeyring(ctx); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, l := range []struct {
				name string
				keys []string
			}{{"primary", objects(t, e.primary.Store)}, {"second", objects(t, e.second.Store)}} {
				st := e.primary.Store
				if l.name == "second" {
					st = e.second.Store
				}
				for _, k := range l.keys {
					n++
					data := readObject(t, st, k)
					for _, m := range []string{marker, strings.ToLower(marker), "Backups", "People"} {
						if bytes.Contains(data, []byte(m)) {
							t.Errorf("%s %s holds %q in clear", l.name, k, m)
						}
					}
				}
			}
			if n < 5 {
				t.Errorf("only %d objects scanned", n)
			}
		})
	}
}
