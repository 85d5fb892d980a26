package backup_test

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/transfer"
)

// TestDisasterRecovery: from the backup locations alone (the master key
// kept apart), an empty instance on the other backend gets back the
// keyring, the catalogue (Adopt), the instance and every notebook, equal
// table by table; the owner signs in and reads the notebook's records.
func TestDisasterRecovery(t *testing.T) {
	for _, c := range []struct{ name, from, to string }{{"sqlite to postgres", "sqlite", "postgres"}, {"postgres to sqlite", "postgres", "sqlite"}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var src, dst = openSQLite, openPostgres
			if c.from == "postgres" {
				src, dst = openPostgres, openSQLite
			}
			e := newEnv(t, src(t))
			nb, _ := e.notebook(t, 25, "disaster")
			want := liveSums(t, e.st.Storage, nb.ID)
			if _, err := e.svc.Snapshot(ctx, nb.ID, backup.KindDaily, false); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Snapshot(ctx, "", backup.KindDaily, false); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.BackupKeyring(ctx); err != nil {
				t.Fatal(err)
			}
			wantInst, err := transfer.InstanceSums(ctx, e.st.Dialect, e.st.Inst, sha256New, "data_keys", "backup_snapshots", "backup_runs", "backup_leases")
			if err != nil {
				t.Fatal(err)
			}

			// A new machine: empty storage, the same master key, the
			// second location only.
			b := dst(t)
			st := all.New(b, keyring.ForTests())
			svc := backup.New(st, backup.Config{Primary: e.second, TempDir: t.TempDir()})
			kb, err := svc.LatestKeyring(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Ring().Import(ctx, kb.Keys); err != nil {
				t.Fatal(err)
			}
			rep, err := svc.Adopt(ctx, "")
			if err != nil || rep.Adopted != 2 || len(rep.Unusable) != 0 {
				t.Fatalf("Adopt: %+v %v", rep, err)
			}
			inst, err := svc.List(ctx, "")
			if err != nil || len(inst) != 1 {
				t.Fatalf("instance snapshots: %v %v", inst, err)
			}
			path, cleanup, err := svc.Image(ctx, inst[0].ID, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.LoadInstance(ctx, path); err != nil {
				t.Fatal(err)
			}
			if err := svc.LoadInstance(ctx, path); coffer.ErrorCode(err) != coffer.ECONFLICT {
				t.Errorf("second LoadInstance: %v, want ECONFLICT", err)
			}
			cleanup()
			gotInst, err := transfer.InstanceSums(ctx, st.Dialect, st.Inst, sha256New, "data_keys", "backup_snapshots", "backup_runs", "backup_leases")
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantInst {
				if gotInst[i] != wantInst[i] {
					t.Errorf("instance table %s differs", wantInst[i].Name)
				}
			}
			snaps, err := svc.List(ctx, nb.ID)
			if err != nil || len(snaps) != 1 {
				t.Fatalf("notebook snapshots: %v %v", snaps, err)
			}
			path, cleanup, err = svc.Image(ctx, snaps[0].ID, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			if err := svc.Load(ctx, path, nb.ID); err != nil {
				t.Fatal(err)
			}
			sameSums(t, "recovered notebook", liveSums(t, b, nb.ID), want)
			// The owner signs in and reads the records.
			if _, err := st.Login(ctx, e.owner.Email, "correct horse battery staple"); err != nil {
				t.Fatalf("login after recovery: %v", err)
			}
			uctx := coffer.WithCaller(ctx, &coffer.Caller{UserID: e.owner.ID, Email: e.owner.Email})
			list, err := st.FindRecords(uctx, nb.ID, "People", coffer.ListQuery{Limit: 100})
			if err != nil || len(list.Records) != 25 {
				t.Fatalf("records after recovery: %v", err)
			}
			// And a snapshot of the recovered notebook verifies.
			sn, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := svc.Verify(ctx, sn.ID, ""); err != nil || !r.OK {
				t.Fatalf("verify after recovery: %+v %v", r, err)
			}
		})
	}
}
