// Package toolbin builds the servers that tests start for real (mailpit,
// versitygw), each pinned as a Go tool dependency in a module of its own
// under tools/, so that their requirements stay out of Coffer's. A binary
// is built once per machine and version into the user cache directory;
// test processes that need it at the same time wait on a file lock and
// build it once.
package toolbin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Tool names a server pinned in tools/<Dir>/go.mod.
type Tool struct {
	Dir     string // the tool module's directory under tools/, and the binary's name
	Version string // the version pinned there (names the cached binary)
	Package string // the main package to build
}

type built struct {
	once sync.Once
	bin  string
	err  error
}

var builds sync.Map // Tool -> *built

// Binary returns the path of t's binary, building it first if no process
// has yet (up to ten minutes: a cold module cache downloads the sources).
func (t Tool) Binary() (string, error) {
	v, _ := builds.LoadOrStore(t, &built{})
	b := v.(*built)
	b.once.Do(func() { b.bin, b.err = t.build() })
	return b.bin, b.err
}

func (t Tool) build() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "coffer-test")
	bin := filepath.Join(dir, t.Dir+"-"+t.Version)
	ready := func() bool { fi, err := os.Stat(bin); return err == nil && fi.Mode().IsRegular() && fi.Size() > 0 }
	if ready() {
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := buildLock(bin + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if ready() {
		return bin, nil // another test process built it meanwhile
	}
	tmp, err := os.CreateTemp(dir, t.Dir+"-build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), t.Package)
	cmd.Dir = filepath.Join(root, "tools", t.Dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s in tools/%s: %v\n%s", t.Package, t.Dir, err, out.String())
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// moduleRoot finds the directory of Coffer's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/cofferhq/coffer\n")) {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("go.mod of github.com/cofferhq/coffer not found above the working directory")
		}
		dir = up
	}
}
