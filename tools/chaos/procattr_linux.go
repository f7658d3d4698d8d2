package main

import "syscall"

// childAttr makes the kernel kill a started process when the harness dies,
// so a harness killed mid-run leaves no servers behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
