// Command keys creates, lists and revokes the named API keys of agents, straight in the table
// (the API's POST/GET/DELETE /api/keys do the same for an admin key):
//
//	go run ./cmd/keys create --name alice [--channels 17841400000000001,…] [--admin]
//	go run ./cmd/keys list
//	go run ./cmd/keys revoke <key id>
//
// The table is TABLE_NAME (or --table); AWS credentials and region come from the usual AWS
// configuration, and AWS_ENDPOINT_URL_DYNAMODB points it at a local stack's DynamoDB Local. A
// created key is printed once and never again: only its hash is stored.
package main

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/local/keys"
	"github.com/iginbox/iginbox/shared/store"
)

func main() {
	ctx := context.Background()
	os.Exit(keys.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, func(table string) (keys.Store, error) {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load aws config: %w", err)
		}
		return store.New(dynamodb.NewFromConfig(cfg), table), nil
	}))
}
