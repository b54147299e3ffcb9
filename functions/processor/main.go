// Command processor is the Lambda function that consumes the events FIFO queue: it turns each
// Instagram event into conversation state (shared/inbox) and sends agents' replies
// (shared/outbound).
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
	ProfileMaxAge   time.Duration // PROFILE_MAX_AGE (default 168h)
	MaxReceiveCount int           // MAX_RECEIVE_COUNT (default 5: the queue's maxReceiveCount)
	EventsQueueURL  string        // EVENTS_QUEUE_URL: send checks and re-sends are enqueued here
	HumanAgent      bool          // HUMAN_AGENT_ENABLED (default true)
	SendEchoGrace   time.Duration // SEND_ECHO_GRACE (default 60s): wait for an echo before re-sending
	SendRetryBase   time.Duration // SEND_RETRY_BASE (default 10s): first back-off of a transient send failure
	Stage           string        // STAGE (metric dimension)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:       getenv("TABLE_NAME"),
		GraphAPIURL:     getenv("GRAPH_API_URL"),
		ProfileMaxAge:   inbox.DefaultProfileMaxAge,
		MaxReceiveCount: processor.DefaultMaxReceiveCount,
		EventsQueueURL:  getenv("EVENTS_QUEUE_URL"),
		HumanAgent:      true,
		SendEchoGrace:   outbound.DefaultGrace,
		SendRetryBase:   outbound.DefaultRetryBase,
		Stage:           getenv("STAGE"),
	}
	var problems []error
	if c.TableName == "" {
		problems = append(problems, errors.New("TABLE_NAME is required"))
	}
	if c.EventsQueueURL == "" {
		problems = append(problems, errors.New("EVENTS_QUEUE_URL is required"))
	}
	if v := getenv("HUMAN_AGENT_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("HUMAN_AGENT_ENABLED %q is not a boolean", v))
		}
		c.HumanAgent = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"SEND_ECHO_GRACE", &c.SendEchoGrace}, {"SEND_RETRY_BASE", &c.SendRetryBase}} {
		if v := getenv(d.name); v != "" {
			p, err := time.ParseDuration(v)
			if err != nil || p <= 0 {
				problems = append(problems, fmt.Errorf("%s %q is not a positive duration", d.name, v))
			}
			*d.dst = p
		}
	}
	if v := getenv("PROFILE_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Errorf("PROFILE_MAX_AGE %q is not a positive duration (e.g. 168h)", v))
		}
		c.ProfileMaxAge = d
	}
	if v := getenv("MAX_RECEIVE_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, fmt.Errorf("MAX_RECEIVE_COUNT %q must be 1..1000", v))
		}
		c.MaxReceiveCount = n
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("processor config: %w", errors.Join(problems...))
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
	awsCfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB / _SQS
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	sqsClient := sqs.NewFromConfig(awsCfg)
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL})
	emf := metrics.Locked(os.Stdout) // one writer for both: lines never interleave
	sender := outbound.NewSender(st, st, gc, queue.NewPublisher(sqsClient, cfg.EventsQueueURL, queue.Options{}), outbound.Config{
		HumanAgent: cfg.HumanAgent, Grace: cfg.SendEchoGrace, RetryBase: cfg.SendRetryBase, MaxReceiveCount: cfg.MaxReceiveCount,
		Stage: cfg.Stage,
	}, log, outbound.WithMetricsWriter(emf))
	svc := inbox.New(st, st, gc, inbox.Config{ProfileMaxAge: cfg.ProfileMaxAge, MaxReceiveCount: cfg.MaxReceiveCount, Stage: cfg.Stage}, log,
		inbox.WithEchoReconciler(sender), inbox.WithMetricsWriter(emf))
	return processor.NewHandler(outbound.Router{Sender: sender, Next: svc}, log,
		processor.WithVisibility(sqsClient, cfg.EventsQueueURL)), nil
}
