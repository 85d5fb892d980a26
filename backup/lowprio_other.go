//go:build !linux

package backup

// lowPriority runs fn (at normal priority: lowering one thread's priority
// is Linux's).
func lowPriority(fn func()) { fn() }
