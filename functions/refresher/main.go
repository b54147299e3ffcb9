// Command refresher is the scheduled Lambda function that keeps Instagram tokens alive.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/shared/graph"
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
	c := Config{
		TableName:   getenv("TABLE_NAME"),
		GraphAPIURL: getenv("GRAPH_API_URL"),
		Horizon:     refresher.DefaultHorizon,
		Concurrency: refresher.DefaultConcurrency,
		MinAge:      refresher.MinTokenAge,
		Stage:       getenv("STAGE"),
	}
	if c.TableName == "" {
		return Config{}, errors.New("refresher config: TABLE_NAME is required")
	}
	if v := getenv("TOKEN_REFRESH_HORIZON"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("refresher config: TOKEN_REFRESH_HORIZON %q is not a positive duration (e.g. 720h)", v)
		}
		c.Horizon = d
	}
	if v := getenv("REFRESH_MIN_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("refresher config: REFRESH_MIN_AGE %q is not a positive duration (e.g. 24h)", v)
		}
		c.MinAge = d
	}
	if v := getenv("REFRESH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return Config{}, fmt.Errorf("refresher config: REFRESH_CONCURRENCY %q must be 1..64", v)
		}
		c.Concurrency = n
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
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL})
	return refresher.New(refresher.Config{Horizon: cfg.Horizon, Concurrency: cfg.Concurrency, MinAge: cfg.MinAge, Stage: cfg.Stage}, st, gc, log, os.Stdout), nil
}
