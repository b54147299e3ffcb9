//go:build unix && !linux

package runtimeapi

import "syscall"

// sysProcAttr gives the bootstrap its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
