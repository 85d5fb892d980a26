//go:build !unix

package toolbin

// buildLock does not lock here: concurrent test processes may each build
// the server (each into its own temporary file, renamed into place).
func buildLock(string) (func(), error) { return func() {}, nil }
