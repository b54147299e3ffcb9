// Command processor is the Lambda function that consumes the events FIFO queue: it turns each
// Instagram event into conversation state (shared/inbox) and sends agents' replies
// (shared/outbound).
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/outbound"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	TableName       string        // TABLE_NAME
	GraphAPIURL     string        // GRAPH_API_URL (empty = Meta's hosts)
	GraphTimeout    time.Duration // GRAPH_TIMEOUT (default 10s): bounds each Graph call, and with it one record's work
	ProfileMaxAge   time.Duration // PROFILE_MAX_AGE (default 168h)
	MaxReceiveCount int           // MAX_RECEIVE_COUNT (default 5: the queue's maxReceiveCount)
	EventsQueueURL  string        // EVENTS_QUEUE_URL: send checks and re-sends are enqueued here
	HumanAgent      bool          // HUMAN_AGENT_ENABLED (default true)
	SendEchoGrace   time.Duration // SEND_ECHO_GRACE (default 15m): wait for an echo before re-sending
	SendRetryBase   time.Duration // SEND_RETRY_BASE (default 10s): first back-off of a transient send failure
	Stage           string        // STAGE (metric dimension)
	// MESSAGE_RETENTION_DAYS (0 = forever) and UNKNOWN_EVENT_RETENTION_DAYS (default 30).
	MessageRetentionDays, UnknownEventRetentionDays int
	PurgeSettle                                     time.Duration // PURGE_SETTLE (default 35s)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		TableName:       e.Required("TABLE_NAME"),
		GraphAPIURL:     e.String("GRAPH_API_URL"),
		GraphTimeout:    e.Duration("GRAPH_TIMEOUT", graph.DefaultTimeout),
		ProfileMaxAge:   e.Duration("PROFILE_MAX_AGE", inbox.DefaultProfileMaxAge),
		MaxReceiveCount: e.Int("MAX_RECEIVE_COUNT", processor.DefaultMaxReceiveCount, 1, 1000),
		EventsQueueURL:  e.Required("EVENTS_QUEUE_URL"),
		HumanAgent:      e.Bool("HUMAN_AGENT_ENABLED", true),
		SendEchoGrace:   e.Duration("SEND_ECHO_GRACE", outbound.DefaultGrace),
		SendRetryBase:   e.Duration("SEND_RETRY_BASE", outbound.DefaultRetryBase),
		Stage:           e.String("STAGE"),

		MessageRetentionDays:      e.Int("MESSAGE_RETENTION_DAYS", 0, 0, 36500),
		UnknownEventRetentionDays: e.Int("UNKNOWN_EVENT_RETENTION_DAYS", store.DefaultUnknownEventRetentionDays, 0, 36500),
		PurgeSettle:               e.Duration("PURGE_SETTLE", erasure.DefaultSettle),
	}
	if err := e.Err("processor config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("processor init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func setup(ctx context.Context, log *slog.Logger) (*processor.Handler, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB / _SQS
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName, store.WithRetention(cfg.MessageRetentionDays, cfg.UnknownEventRetentionDays))
	sqsClient := sqs.NewFromConfig(awsCfg)
	pub := queue.NewPublisher(sqsClient, cfg.EventsQueueURL, queue.Options{})
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL, Timeout: cfg.GraphTimeout})
	emf := metrics.NewWriter(os.Stdout, cfg.Stage, "processor") // one writer for all: lines never interleave
	sender := outbound.NewSender(st, st, gc, pub, outbound.Config{
		HumanAgent: cfg.HumanAgent, Grace: cfg.SendEchoGrace, RetryBase: cfg.SendRetryBase, MaxReceiveCount: cfg.MaxReceiveCount,
	}, log, outbound.WithMetrics(emf))
	svc := inbox.New(st, st, gc, inbox.Config{ProfileMaxAge: cfg.ProfileMaxAge, MaxReceiveCount: cfg.MaxReceiveCount}, log,
		inbox.WithEchoReconciler(sender), inbox.WithMetrics(emf), inbox.WithArchiveForgetter(st))
	eraser := erasure.New(st, pub, erasure.Config{Settle: cfg.PurgeSettle}, log, emf)
	return processor.NewHandler(erasure.Router{Erasure: eraser, Unsubscriber: erasure.NewUnsubscriber(st, gc, log), Next: outbound.Router{Sender: sender, Next: svc}}, log,
		processor.WithVisibility(sqsClient, cfg.EventsQueueURL),
		processor.WithRecordBudget(cfg.GraphTimeout+processor.DeadlineMargin)), nil
}
