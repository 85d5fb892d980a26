//go:build !unix

package keyring

// lockPath does not lock on systems without flock: two rotations at once
// are then caught by Ring.Rotate's check of the file before it commits.
func lockPath(path string) (func(), error) { return func() {}, nil }
