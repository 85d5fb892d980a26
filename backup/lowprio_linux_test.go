//go:build linux

package backup

import (
	"runtime"
	"syscall"
	"testing"
)

// niceOfThread is the nice value of the calling OS thread (the raw
// getpriority answers 20 - nice).
func niceOfThread(t *testing.T) int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// TestLowPriority: fn runs at nice 19 on a thread of its own; the
// caller's thread keeps its priority; a panic reaches the caller.
func TestLowPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := niceOfThread(t)
	var inside int
	lowPriority(func() { inside = niceOfThread(t) })
	if inside != lowestNice {
		t.Errorf("fn ran at nice %d, want %d", inside, lowestNice)
	}
	if after := niceOfThread(t); after != before {
		t.Errorf("the caller's thread went from nice %d to %d", before, after)
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the panic of fn", p)
		}
	}()
	lowPriority(func() { panic("boom") })
}
