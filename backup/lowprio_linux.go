//go:build linux

package backup

import (
	"runtime"
	"syscall"
)

// lowestNice is the nice value a snapshot's own thread runs at.
const lowestNice = 19

// lowPriority runs fn on an OS thread of its own at the lowest CPU
// priority (nice 19), and returns when fn does: a snapshot's image and
// sealing then take the processor only when requests leave it idle. On
// Linux, priority is per thread; the thread is never unlocked, so it ends
// with fn, and its priority with it. A panic in fn is raised again in the
// caller.
func lowPriority(fn func()) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		runtime.LockOSThread()
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), lowestNice)
		fn()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}
