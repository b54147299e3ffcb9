// Command oauth is the Lambda function behind the /instagram/* routes: GET /instagram/callback
// finishes Instagram Business Login and redirects the browser to FRONTEND_URL with the
// outcome; Meta's deauthorize and data-deletion callbacks and the deletion status page are
// served by shared/callbacks.
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

	"github.com/iginbox/iginbox/shared/callbacks"
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
	TableName string // TABLE_NAME
	AppID     string // INSTAGRAM_APP_ID
	// Secrets locates the secret holding INSTAGRAM_APP_SECRET (code exchange, OAuth state
	// key): SECRETS_ARN, SECRETS_CACHE_TTL.
	Secrets       secrets.Config
	GraphAPIURL   string // GRAPH_API_URL (empty = Meta's hosts)
	FrontendURL   string // FRONTEND_URL
	PublicBaseURL string // PUBLIC_BASE_URL (optional redirect base)
	QueueURL      string // EVENTS_QUEUE_URL: purges requested by Meta
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	c := Config{
		TableName:     e.Required("TABLE_NAME"),
		AppID:         e.Required("INSTAGRAM_APP_ID"),
		Secrets:       secrets.LoadConfig(e),
		GraphAPIURL:   e.String("GRAPH_API_URL"),
		FrontendURL:   e.Required("FRONTEND_URL"),
		PublicBaseURL: e.String("PUBLIC_BASE_URL"),
		QueueURL:      e.Required("EVENTS_QUEUE_URL"),
	}
	if err := e.Err("oauth config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("oauth init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return h.Get(ctx)(ctx, ev)
	})
}

// setup builds the service from the current secrets (read at cold start, then at most every
// SECRETS_CACHE_TTL: a rotated secret rebuilds it).
func setup(ctx context.Context, log *slog.Logger) (*secrets.Built[callbacks.LambdaHandler], error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	pub := queue.NewPublisher(sqs.NewFromConfig(awsCfg), cfg.QueueURL, queue.Options{})
	cache := secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), cfg.Secrets, log)
	return secrets.Build(ctx, cache, func(v secrets.Values) (callbacks.LambdaHandler, error) {
		if err := v.Require(secrets.KeyAppSecret); err != nil {
			return nil, err
		}
		gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL, AppID: cfg.AppID, AppSecret: v.AppSecret})
		login, err := oauth.New(oauth.Config{
			AppID: cfg.AppID, AppSecret: v.AppSecret, FrontendURL: cfg.FrontendURL, PublicBaseURL: cfg.PublicBaseURL,
		}, gc, st, log)
		if err != nil {
			return nil, err
		}
		cb, err := callbacks.New(callbacks.Config{AppSecret: v.AppSecret, PublicBaseURL: cfg.PublicBaseURL, PublicURL: oauth.PublicURL},
			st, erasure.Starter{Store: st, Pub: pub}, log)
		if err != nil {
			return nil, err
		}
		return cb.Route(login.HandleCallback), nil
	})
}
