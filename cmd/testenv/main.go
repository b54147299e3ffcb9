// Command testenv starts the local emulators once (DynamoDB Local and fauxqs on free 127.0.0.1
// ports), runs a command with AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS and test
// credentials pointing at them, stops the emulators and exits with the command's status. It is
// how `make test` shares one pair of emulators across every test binary.
//
//	go run ./cmd/testenv -- go test -race ./...
//
// When both endpoint variables are already set, it runs the command against those.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/iginbox/iginbox/local/emulator"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := os.Environ()
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" || os.Getenv("AWS_ENDPOINT_URL_SQS") == "" {
		s, err := emulator.Start(ctx, emulator.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		defer func() {
			if err := s.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "testenv: stop emulators:", err)
			}
		}()
		fmt.Fprintf(os.Stderr, "testenv: DynamoDB Local %s, fauxqs %s\n", s.DynamoDBURL, s.SQSURL)
		env = append(env, s.Env()...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		return 1
	default:
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
}
