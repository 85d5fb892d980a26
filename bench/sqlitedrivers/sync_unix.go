//go:build unix

package main

import "syscall"

// syncDisks flushes dirty file data system-wide (sync(2)).
func syncDisks() { syscall.Sync() }
