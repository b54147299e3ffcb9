// Command replay signs recorded Instagram webhook bodies with the app secret and POSTs them to
// a webhook URL, as Meta would. Run it with --help for the options.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/iginbox/iginbox/shared/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := replay.CLI{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Getenv:   os.Getenv,
		Terminal: replay.IsTerminal(os.Stderr),
	}
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
