// Command invoke is `make invoke FN=<name> EVENT=events/<file>`: one function's bootstrap run
// with one event, as package local/invoke describes.
//
//	go run ./cmd/invoke -fn webhook -event events/apigw/webhook-verify.json
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/iginbox/iginbox/local/invoke"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := invoke.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
