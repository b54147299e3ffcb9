// Command devstack is `make dev`: the whole iginbox system on this machine, in the foreground
// until Ctrl-C. The stack itself is package local/devstack, which documents the environment.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/iginbox/iginbox/local/devstack"
)

func main() {
	cfg, err := devstack.ConfigFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = devstack.Run(ctx, cfg, &devstack.LockedWriter{W: os.Stdout}, func() { stop() })
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}
