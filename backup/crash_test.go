package backup_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/storetest"
)

// crashChildEnv makes the test binary a process that starts a snapshot of
// the notebook it names ("dir notebook") and stops in the middle of
// sealing its image, waiting to be killed.
const crashChildEnv = "COFFER_BACKUP_CRASH_CHILD"

func TestMain(m *testing.M) {
	if arg := os.Getenv(crashChildEnv); arg != "" {
		crashChild(arg)
		return
	}
	os.Exit(m.Run())
}

// openCrashStore opens the SQLite instance under dir with the master key
// file beside it, and the backup service on dir/backups.
func openCrashStore(ctx context.Context, dir string, progress func(backup.Progress)) (*all.Store, *backup.Service, func(), error) {
	m, _, err := keyring.LoadOrCreate(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := sqlite.Open(ctx, filepath.Join(dir, "data"), sqlite.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	loc, err := local.Open(filepath.Join(dir, "backups"))
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	st := all.New(b, m)
	svc := backup.New(st, backup.Config{Primary: location.New("primary", loc), TempDir: filepath.Join(dir, "tmp"), Progress: progress})
	return st, svc, func() { loc.Close(); b.Close() }, nil
}

func crashChild(arg string) {
	dir, nb, _ := strings.Cut(arg, " ")
	ctx := context.Background()
	sealing := make(chan struct{}, 1)
	_, svc, _, err := openCrashStore(ctx, dir, func(p backup.Progress) {
		if p.Phase == "seal" {
			select {
			case sealing <- struct{}{}:
			default:
			}
			select {} // killed here, half way through writing the image
		}
	})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	go func() {
		<-sealing
		fmt.Println("SEALING")
	}()
	_, err = svc.Snapshot(ctx, nb, backup.KindManual, true)
	fmt.Println("ERROR snapshot returned", err)
	os.Exit(2)
}

// TestKilledSnapshotNeverGood: a process killed (SIGKILL) in the middle of
// a snapshot leaves it running, never good; the next start marks it
// failed once its heartbeat is stale (not before), its objects are never
// listed as a snapshot, and a new snapshot then succeeds.
func TestKilledSnapshotNeverGood(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a process; skipped with -short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, _, closeAll, err := openCrashStore(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	uctx, _ := storetest.MustUser(t, st)
	nb := storetest.MustNotebook(t, uctx, st, "Crash")
	storetest.MustTable(t, uctx, st, nb.ID, "T", coffer.ColumnInput{Name: "Name", Type: coffer.TypeText})
	for i := range 20 {
		storetest.MustRecord(t, uctx, st, nb.ID, "T", map[string]any{"Name": fmt.Sprint("row ", i)})
	}
	closeAll()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir+" "+nb.ID)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	got := ""
	done := make(chan struct{})
	go func() {
		defer close(done)
		for lines.Scan() {
			got = lines.Text()
			if got == "SEALING" || strings.HasPrefix(got, "ERROR") {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child never started sealing")
	}
	if got != "SEALING" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %s", got)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	st, svc, closeAll, err := openCrashStore(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	list, err := svc.List(ctx, nb.ID)
	if err != nil || len(list) != 1 || list[0].Status != backup.StatusRunning {
		t.Fatalf("after the kill: %+v %v", list, err)
	}
	if n, err := svc.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("Recover with a fresh heartbeat marked %d: %v", n, err)
	}
	// While its heartbeat is fresh, it may be another process's: no
	// second snapshot of the notebook starts.
	if _, err := svc.Snapshot(ctx, nb.ID, backup.KindManual, true); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("snapshot beside a running one: %v, want ECONFLICT", err)
	}
	// Later than StaleAfter: the heartbeat is stale.
	st.Core.Now = func() time.Time { return time.Now().UTC().Add(10 * time.Minute) }
	primary, err := svc.Location("primary")
	if err != nil {
		t.Fatal(err)
	}
	later := backup.New(st, backup.Config{Primary: primary, TempDir: filepath.Join(dir, "tmp")})
	if n, err := later.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	list, _ = later.List(ctx, nb.ID)
	if len(list) != 1 || list[0].Status != backup.StatusFailed || list[0].Error == "" {
		t.Fatalf("after Recover: %+v", list[0])
	}
	if _, err := primary.Store.Stat(ctx, "snapshots/"+nb.ID+"/"+list[0].ID+"/manifest"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("the killed snapshot has a manifest: %v", err)
	}
	if _, err := later.Verify(ctx, list[0].ID, ""); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("Verify of a failed snapshot: %v, want ENOTFOUND", err)
	}
	sn, err := later.Snapshot(ctx, nb.ID, backup.KindManual, false)
	if err != nil || sn.Status != backup.StatusGood {
		t.Fatalf("snapshot after the crash: %+v %v", sn, err)
	}
	if rep, err := later.Verify(ctx, sn.ID, ""); err != nil || !rep.OK {
		t.Fatalf("Verify: %+v %v", rep, err)
	}
}
