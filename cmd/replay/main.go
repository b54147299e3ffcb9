// Command replay signs recorded Instagram webhook bodies with the app secret and POSTs them to
// a webhook URL, as Meta would. Run it with --help for the options.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/replay"
	"github.com/iginbox/iginbox/shared/archive"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := replay.CLI{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Getenv:   os.Getenv,
		Terminal: replay.IsTerminal(os.Stderr),
		Archive:  func(ctx context.Context) (archive.QueryAPI, error) { return archiveClient(ctx, os.Getenv) },
	}
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// archiveClient returns the DynamoDB client --from-archive reads with, from the standard AWS
// configuration (it honours AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE, AWS_REGION...). Against a
// loopback endpoint without credentials (make dev's DynamoDB Local) it uses the emulator's
// test credentials.
func archiveClient(ctx context.Context, getenv func(string) string) (archive.QueryAPI, error) {
	var opts []func(*config.LoadOptions) error
	if loopback(getenv("AWS_ENDPOINT_URL_DYNAMODB")) && getenv("AWS_ACCESS_KEY_ID") == "" && getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(emulator.Credentials()))
		if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, config.WithRegion(emulator.Region))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg), nil
}

func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		return false
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}
