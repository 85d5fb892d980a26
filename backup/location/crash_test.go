package location_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
)

const crashEnv = "COFFER_TEST_REPLICATE_CRASH"

// slowOpen delays every Open, so that a replication takes long enough to
// be killed in the middle.
type slowOpen struct{ blob.Store }

func (s slowOpen) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	time.Sleep(20 * time.Millisecond)
	return s.Store.Open(ctx, key, off, n)
}

// TestReplicateCrashHelper is the process TestReplicateKilled kills: it
// replicates the directory named by crashEnv ("src|dst").
func TestReplicateCrashHelper(t *testing.T) {
	dirs := os.Getenv(crashEnv)
	if dirs == "" {
		t.Skip("run by TestReplicateKilled")
	}
	src, dst, _ := strings.Cut(dirs, "|")
	from := location.New("primary", slowOpen{mustLocal(t, src)})
	to := location.New("second", mustLocal(t, dst))
	if _, err := location.Replicate(context.Background(), from, to, ""); err != nil {
		t.Fatal(err)
	}
}

// TestReplicateKilled kills (SIGKILL) a process in the middle of a
// replication: the second location then holds only complete objects, no
// manifest before its snapshot's image, and a new run copies exactly what
// is missing; the sweep then clears the killed run's temporary files.
func TestReplicateKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: starts a process")
	}
	ctx := context.Background()
	srcDir, dstDir := t.TempDir(), t.TempDir()
	src := mustLocal(t, srcDir)
	for i := range 60 {
		blobtest.MustPut(t, src, fmt.Sprintf("snapshots/nb_1/s%03d/image", i), blobtest.Pattern(uint64(i), 256<<10))
		blobtest.MustPut(t, src, fmt.Sprintf("snapshots/nb_1/s%03d/manifest", i), blobtest.Pattern(uint64(1000+i), 1000))
	}
	all := contents(t, src, "")

	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicateCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+srcDir+"|"+dstDir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	dst := mustLocal(t, dstDir)
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		dst.List(ctx, "", func(blob.Info) error { n++; return nil })
		if n >= 10 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the replicating process ended before it was killed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the replicating process copied nothing in 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	if err := <-exited; err == nil {
		t.Fatal("the replicating process finished before it was killed")
	}

	got := contents(t, dst, "")
	if len(got) == len(all) {
		t.Fatal("everything was copied before the kill")
	}
	for k, v := range got {
		if all[k] != v {
			t.Fatalf("%s is incomplete after the kill", k)
		}
		if strings.HasSuffix(k, "/manifest") {
			if _, ok := got[strings.TrimSuffix(k, "manifest")+"image"]; !ok {
				t.Fatalf("%s is there without its image", k)
			}
		}
	}
	temps := 0
	filepath.Walk(dstDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			temps++
		}
		return nil
	})
	t.Logf("killed with %d of %d objects copied and %d temporary files", len(got), len(all), temps)
	from := location.New("primary", src)
	to := location.New("second", dst)
	n, err := location.Replicate(ctx, from, to, "")
	if err != nil || n != len(all)-len(got) {
		t.Fatalf("Replicate after the kill = %d, %v; want %d", n, err, len(all)-len(got))
	}
	if got := contents(t, dst, ""); !maps.Equal(got, all) {
		t.Fatal("after the new run the second location differs")
	}
	// The killed run may have left temporary files; a sweep (everything
	// live) removes them and nothing else.
	if n, err := location.Sweep(ctx, to, "", func(string) bool { return true }, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	filepath.Walk(dstDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if got := contents(t, dst, ""); !maps.Equal(got, all) {
		t.Fatal("the sweep changed the second location")
	}
}
