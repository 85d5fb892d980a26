package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile and SocketFile are the names, in a data directory, of the lock
// file that the process owning the directory holds and of the unix socket
// on which a server takes requests from the command line.
const (
	LockFile   = "coffer.lock"
	SocketFile = "coffer.sock"
)

// Lock is an exclusive, advisory hold on a data directory: one process at
// a time owns it. The operating system releases it when the process ends,
// however it ends.
type Lock struct {
	f *os.File
}

// LockedError says that another process holds the data directory.
type LockedError struct {
	Dir  string
	PID  int    // 0 when the holder did not write it yet
	Role string // what the holder is ("serve", or a command), as it wrote
}

func (e *LockedError) Error() string {
	who := "another coffer process"
	if e.Role != "" {
		who = "`coffer " + e.Role + "`"
	}
	if e.PID > 0 {
		who += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("the data directory %s is in use by %s: one data directory is served by one process at a time", e.Dir, who)
}

// LockDir takes the data directory dir (creating it, 0700, if needed) for
// this process, recording its pid and role in the lock file. When another
// process holds it, the error is a *LockedError naming that process.
func LockDir(dir, role string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the lock file: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !held {
		f.Close()
		le := &LockedError{Dir: dir}
		le.PID, le.Role = readHolder(path)
		return nil, le
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"+role+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// readHolder reads the pid and role that the holder of a lock file wrote.
func readHolder(path string) (int, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	lines := strings.SplitN(string(b), "\n", 3)
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	role := ""
	if len(lines) > 1 {
		role = strings.TrimSpace(lines[1])
	}
	return pid, role
}

// Close releases the data directory.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := errors.Join(unlock(l.f), l.f.Close())
	l.f = nil
	return err
}
