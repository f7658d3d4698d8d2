package procs

import "syscall"

// diesWithParent: the kernel kills a started process when the harness
// dies, so that a harness killed mid-run leaves no servers behind.
func diesWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
