//go:build !linux

package procs

import "syscall"

// diesWithParent: only Linux can tie a child's life to the harness's.
func diesWithParent() *syscall.SysProcAttr { return nil }
