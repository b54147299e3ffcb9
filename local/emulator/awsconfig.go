package emulator

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Region and the static key pair every client of the emulators uses (they accept any
// signature).
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// Credentials returns the emulators' static credentials.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// AWSConfig is the SDK configuration of every emulator client: Region, Credentials and the
// endpoints the environment sets (AWS_ENDPOINT_URL_DYNAMODB / _SQS) unless a client sets its
// BaseEndpoint, as Stack.Clients does.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(Region), config.WithCredentialsProvider(Credentials()))
	if err != nil {
		return cfg, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}

// Clients returns a DynamoDB and an SQS client of this stack.
func (s *Stack) Clients(cfg aws.Config) (*dynamodb.Client, *sqs.Client) {
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.DynamoDBURL) })
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.SQSURL) })
	return db, sq
}
