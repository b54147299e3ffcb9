package runtimeapi

import "syscall"

// sysProcAttr gives the bootstrap its own process group and kills it when the harness dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
