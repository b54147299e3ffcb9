//go:build unix && !linux

package emulator

import "syscall"

// SysProcAttr puts a child in its own process group so that it and its children can be
// signalled together.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
