// Command oauth is the Lambda function behind GET /instagram/callback: it finishes Instagram
// Business Login and redirects the browser to FRONTEND_URL with the outcome.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

// Config is the function's environment.
type Config struct {
	TableName     string // TABLE_NAME
	AppID         string // INSTAGRAM_APP_ID
	AppSecret     string // INSTAGRAM_APP_SECRET
	GraphAPIURL   string // GRAPH_API_URL (empty = Meta's hosts)
	FrontendURL   string // FRONTEND_URL
	PublicBaseURL string // PUBLIC_BASE_URL (optional redirect base)
}

// LoadConfig parses the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:     getenv("TABLE_NAME"),
		AppID:         getenv("INSTAGRAM_APP_ID"),
		AppSecret:     getenv("INSTAGRAM_APP_SECRET"),
		GraphAPIURL:   getenv("GRAPH_API_URL"),
		FrontendURL:   getenv("FRONTEND_URL"),
		PublicBaseURL: getenv("PUBLIC_BASE_URL"),
	}
	var missing []error
	for name, v := range map[string]string{"TABLE_NAME": c.TableName, "INSTAGRAM_APP_ID": c.AppID, "INSTAGRAM_APP_SECRET": c.AppSecret, "FRONTEND_URL": c.FrontendURL} {
		if v == "" {
			missing = append(missing, fmt.Errorf("%s is required", name))
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("oauth config: %w", errors.Join(missing...))
	}
	return c, nil
}

func main() {
	log := lambdacontext.NewLogger()
	svc, err := setup(context.Background(), log)
	if err != nil {
		log.Error("oauth init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(svc.HandleCallback)
}

func setup(ctx context.Context, log *slog.Logger) (*oauth.Service, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	gc := graph.New(graph.Config{BaseURL: cfg.GraphAPIURL, AppID: cfg.AppID, AppSecret: cfg.AppSecret})
	return oauth.New(oauth.Config{
		AppID: cfg.AppID, AppSecret: cfg.AppSecret, FrontendURL: cfg.FrontendURL, PublicBaseURL: cfg.PublicBaseURL,
	}, gc, st, log)
}
