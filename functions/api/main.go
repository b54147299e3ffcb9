// Command api is the Lambda function behind the authenticated /api/* routes of the HTTP API.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/secrets"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	// Secrets locates the secret holding API_TOKEN and INSTAGRAM_APP_SECRET (signs OAuth
	// states and session cookies): SECRETS_ARN, SECRETS_CACHE_TTL.
	Secrets       secrets.Config
	TableName     string // TABLE_NAME
	AppID         string // INSTAGRAM_APP_ID
	GraphAPIURL   string // GRAPH_API_URL (empty = Meta's hosts)
	PublicBaseURL string // PUBLIC_BASE_URL (optional redirect base)
	QueueURL      string // EVENTS_QUEUE_URL: replies' send commands
	HumanAgent    bool   // HUMAN_AGENT_ENABLED (default true)
	RetentionDays int    // MESSAGE_RETENTION_DAYS (0 = forever): ttl of reply parts
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		Secrets:       secrets.LoadConfig(e),
		TableName:     e.Required("TABLE_NAME"),
		AppID:         e.Required("INSTAGRAM_APP_ID"),
		GraphAPIURL:   e.String("GRAPH_API_URL"),
		PublicBaseURL: e.String("PUBLIC_BASE_URL"),
		QueueURL:      e.Required("EVENTS_QUEUE_URL"),
		HumanAgent:    e.Bool("HUMAN_AGENT_ENABLED", true),
		RetentionDays: e.Int("MESSAGE_RETENTION_DAYS", 0, 0, 36500),
	}
	if err := e.Err("api config"); err != nil {
		return Config{}, err
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
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return srv.Get(ctx).HandleRequest(ctx, ev)
	})
}

// setup builds the server from the current secrets (read at cold start, then at most every
// SECRETS_CACHE_TTL: a rotated secret rebuilds it).
func setup(ctx context.Context, log *slog.Logger) (*secrets.Built[*api.Server], error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_DYNAMODB / _SQS
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName, store.WithRetention(cfg.RetentionDays, 0))
	pub := queue.NewPublisher(sqs.NewFromConfig(awsCfg), cfg.QueueURL, queue.Options{})
	cache := secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), cfg.Secrets, log)
	return secrets.Build(ctx, cache, func(v secrets.Values) (*api.Server, error) {
		if err := v.Require(secrets.KeyAPIToken, secrets.KeyAppSecret); err != nil {
			return nil, err
		}
		gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL, AppID: cfg.AppID, AppSecret: v.AppSecret})
		login, err := oauth.New(oauth.Config{AppID: cfg.AppID, AppSecret: v.AppSecret, PublicBaseURL: cfg.PublicBaseURL}, gc, st, log)
		if err != nil {
			return nil, err
		}
		// The session cookies' key derives from the app secret: rotating it signs everyone out.
		return api.New(v.APIToken, log, api.WithIdentities(st, api.IdentityConfig{SessionSecret: v.AppSecret}),
			api.WithChannels(st, login), api.WithConversations(st),
			api.WithReplies(st, pub, api.ReplyConfig{HumanAgent: cfg.HumanAgent}),
			api.WithErasure(st, erasure.Starter{Store: st, Pub: pub}, api.ErasureConfig{PublicBaseURL: cfg.PublicBaseURL, StatusURL: oauth.PublicURL})), nil
	})
}
