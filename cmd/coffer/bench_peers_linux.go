package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd when the bench exits, so that an
// interrupted bench leaves no server running.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
