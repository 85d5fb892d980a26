//go:build unix

package toolbin

import (
	"os"

	"golang.org/x/sys/unix"
)

// buildLock waits for an exclusive lock on path, so that test processes
// running at once (go test runs packages in parallel) build the server
// once; the returned function releases it.
func buildLock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
