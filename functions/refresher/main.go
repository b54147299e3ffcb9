// Command refresher is the scheduled Lambda function that keeps Instagram tokens alive.
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
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/refresher"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	TableName   string        // TABLE_NAME
	GraphAPIURL string        // GRAPH_API_URL (empty = Meta's hosts)
	Horizon     time.Duration // TOKEN_REFRESH_HORIZON (default 720h)
	Concurrency int           // REFRESH_CONCURRENCY (default 8)
	MinAge      time.Duration // REFRESH_MIN_AGE (default 24h; Meta's minimum, lowered only for local demos)
	Stage       string        // STAGE (metric dimension)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		TableName:   e.Required("TABLE_NAME"),
		GraphAPIURL: e.String("GRAPH_API_URL"),
		Horizon:     e.Duration("TOKEN_REFRESH_HORIZON", refresher.DefaultHorizon),
		Concurrency: e.Int("REFRESH_CONCURRENCY", refresher.DefaultConcurrency, 1, 64),
		MinAge:      e.Duration("REFRESH_MIN_AGE", refresher.MinTokenAge),
		Stage:       e.String("STAGE"),
	}
	if err := e.Err("refresher config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	r, err := setup(context.Background(), log)
	if err != nil {
		log.Error("refresher init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(r.Run)
}

func setup(ctx context.Context, log *slog.Logger) (*refresher.Refresher, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL})
	return refresher.New(refresher.Config{Horizon: cfg.Horizon, Concurrency: cfg.Concurrency, MinAge: cfg.MinAge}, st, gc, log, metrics.NewWriter(os.Stdout, cfg.Stage, "refresher")), nil
}
