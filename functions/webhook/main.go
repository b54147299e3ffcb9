// Command webhook is the Lambda function behind GET and POST /webhooks/instagram: it answers
// Meta's verification handshake and splits signed webhook bodies into the events FIFO queue.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/secrets"
	"github.com/iginbox/iginbox/shared/webhook"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("webhook init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return h.Get(ctx).Handle(ctx, req)
	})
}

// setup builds the handler from the current secrets (read at cold start, then at most every
// SECRETS_CACHE_TTL: a rotated secret rebuilds it).
func setup(ctx context.Context, log *slog.Logger) (*secrets.Built[*webhook.Handler], error) {
	cfg, err := webhook.LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_SQS / _DYNAMODB
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	pub := queue.NewPublisher(sqs.NewFromConfig(awsCfg), cfg.QueueURL, queue.Options{})
	opts := []webhook.Option{webhook.WithMetrics(metrics.NewWriter(os.Stdout, cfg.Stage, "webhook"))}
	if cfg.ArchiveDays > 0 {
		// The archive write must never hold the answer long: bounded attempts and time.
		db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
			o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 2)
			o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(webhook.ArchiveTimeout)
		})
		opts = append(opts, webhook.WithArchive(archive.NewWriter(db, cfg.TableName, cfg.ArchiveDays)))
	}
	cache := secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), cfg.Secrets, log)
	built, err := secrets.Build(ctx, cache, func(v secrets.Values) (*webhook.Handler, error) {
		if err := v.Require(secrets.KeyAppSecret, secrets.KeyVerifyToken); err != nil {
			return nil, err
		}
		return webhook.NewHandler(v.AppSecret, v.VerifyToken, pub, log, opts...), nil
	})
	if err != nil {
		return nil, err
	}
	log.Info("webhook ready", "config", cfg)
	return built, nil
}
