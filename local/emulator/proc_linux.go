package emulator

import "syscall"

// SysProcAttr puts a child in its own process group (so that it and its children can be
// signalled together) and kills it when the parent dies.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
