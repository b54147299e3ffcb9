// Command api is the Lambda function behind the authenticated /api/* routes of the HTTP API.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	APIToken      string // API_TOKEN
	TableName     string // TABLE_NAME
	AppID         string // INSTAGRAM_APP_ID
	AppSecret     string // INSTAGRAM_APP_SECRET (signs OAuth states)
	GraphAPIURL   string // GRAPH_API_URL (empty = Meta's hosts)
	PublicBaseURL string // PUBLIC_BASE_URL (optional redirect base)
	QueueURL      string // EVENTS_QUEUE_URL: replies' send commands
	HumanAgent    bool   // HUMAN_AGENT_ENABLED (default true)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		APIToken:      getenv("API_TOKEN"),
		TableName:     getenv("TABLE_NAME"),
		AppID:         getenv("INSTAGRAM_APP_ID"),
		AppSecret:     getenv("INSTAGRAM_APP_SECRET"),
		GraphAPIURL:   getenv("GRAPH_API_URL"),
		PublicBaseURL: getenv("PUBLIC_BASE_URL"),
		QueueURL:      getenv("EVENTS_QUEUE_URL"),
		HumanAgent:    true,
	}
	var missing []error
	for name, v := range map[string]string{"API_TOKEN": c.APIToken, "TABLE_NAME": c.TableName, "INSTAGRAM_APP_ID": c.AppID, "INSTAGRAM_APP_SECRET": c.AppSecret, "EVENTS_QUEUE_URL": c.QueueURL} {
		if v == "" {
			missing = append(missing, fmt.Errorf("%s is required", name))
		}
	}
	if v := getenv("HUMAN_AGENT_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			missing = append(missing, fmt.Errorf("HUMAN_AGENT_ENABLED %q is not a boolean", v))
		}
		c.HumanAgent = b
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("api config: %w", errors.Join(missing...))
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	srv, err := setup(context.Background(), log)
	if err != nil {
		log.Error("api init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(srv.HandleRequest)
}

func setup(ctx context.Context, log *slog.Logger) (*api.Server, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB / _SQS
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL, AppID: cfg.AppID, AppSecret: cfg.AppSecret})
	login, err := oauth.New(oauth.Config{AppID: cfg.AppID, AppSecret: cfg.AppSecret, PublicBaseURL: cfg.PublicBaseURL}, gc, st, log)
	if err != nil {
		return nil, err
	}
	pub := queue.NewPublisher(sqs.NewFromConfig(awsCfg), cfg.QueueURL, queue.Options{})
	return api.New(cfg.APIToken, log, api.WithChannels(st, login), api.WithConversations(st),
		api.WithReplies(st, pub, api.ReplyConfig{HumanAgent: cfg.HumanAgent})), nil
}
