//go:build !unix

package sqlite

import "os"

// tryLock does not lock on systems without flock: the data directory is
// not protected against a second server there.
func tryLock(f *os.File) (bool, error) { return true, nil }

func unlock(f *os.File) error { return nil }
