// Command publisher is the Lambda function behind the table's stream: it turns committed
// changes of channels, contacts, conversations and messages into domain events on the
// stack's EventBridge bus (shared/publisher; catalogue in docs/events.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/publisher"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	TableName    string // TABLE_NAME
	EventBusName string // EVENT_BUS_NAME
	Stage        string // STAGE (metric dimension)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		TableName:    e.Required("TABLE_NAME"),
		EventBusName: e.Required("EVENT_BUS_NAME"),
		Stage:        e.String("STAGE"),
	}
	if err := e.Err("publisher config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("publisher init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func setup(ctx context.Context, log *slog.Logger) (*publisher.Handler, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB / _EVENTBRIDGE
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	bus := publisher.NewBus(eventbridge.NewFromConfig(awsCfg), cfg.EventBusName)
	return publisher.NewHandler(publisher.NewTranslator(st, store.StreamItems{}), bus, log,
		publisher.WithMetrics(metrics.NewWriter(os.Stdout, cfg.Stage, "publisher"))), nil
}
