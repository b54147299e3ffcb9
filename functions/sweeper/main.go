// Command sweeper is the scheduled Lambda function that fails reply parts never queued for
// sending (stored by the API, enqueue failed, never retried).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/sweeper"
)

// Config is the function's environment.
type Config struct {
	TableName string        // TABLE_NAME
	After     time.Duration // SWEEP_AFTER (default 1h)
	Stage     string        // STAGE (metric dimension)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		TableName: e.Required("TABLE_NAME"),
		After:     e.Duration("SWEEP_AFTER", sweeper.DefaultAfter),
		Stage:     e.String("STAGE"),
	}
	if err := e.Err("sweeper config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	s, err := setup(context.Background(), log)
	if err != nil {
		log.Error("sweeper init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(s.Run)
}

func setup(ctx context.Context, log *slog.Logger) (*sweeper.Sweeper, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	return sweeper.New(cfg.After, st, log, metrics.NewWriter(os.Stdout, cfg.Stage, "sweeper")), nil
}
