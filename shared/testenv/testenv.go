// Package testenv gives tests real AWS SDK clients connected to the local emulators
// (DynamoDB Local and fauxqs on 127.0.0.1), and fresh, uniquely named tables and queues created
// from template.yaml's definitions.
//
// TODO(localstack): start the emulators on demand when AWS_ENDPOINT_URL_* are unset, and build
// tables/queues from template.yaml instead of the definitions below.
package testenv

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

var seq atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
}

// AWSConfig returns an SDK config for the emulators (static test credentials, us-east-1).
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	for _, v := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run the tests with `make test`, which starts the emulators", v)
		}
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return cfg
}

// DynamoDB returns a client of the DynamoDB emulator.
func DynamoDB(t testing.TB) *dynamodb.Client {
	return dynamodb.NewFromConfig(AWSConfig(t))
}

// SQS returns a client of the SQS emulator.
func SQS(t testing.TB) *sqs.Client {
	return sqs.NewFromConfig(AWSConfig(t))
}

// Table creates a fresh table with the layout of template.yaml's Table and returns its name.
// It is deleted when the test ends.
func Table(t testing.TB, db *dynamodb.Client) string {
	t.Helper()
	name := unique("iginbox")
	s := ddbtypes.ScalarAttributeTypeS
	key := func(h, r string) []ddbtypes.KeySchemaElement {
		return []ddbtypes.KeySchemaElement{{AttributeName: aws.String(h), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String(r), KeyType: ddbtypes.KeyTypeRange}}
	}
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: s}, {AttributeName: aws.String("sk"), AttributeType: s},
			{AttributeName: aws.String("gsi1pk"), AttributeType: s}, {AttributeName: aws.String("gsi1sk"), AttributeType: s},
			{AttributeName: aws.String("gsi2pk"), AttributeType: s}, {AttributeName: aws.String("gsi2sk"), AttributeType: s},
		},
		KeySchema: key("pk", "sk"),
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{
			{IndexName: aws.String("gsi1"), KeySchema: key("gsi1pk", "gsi1sk"), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll}},
			{IndexName: aws.String("gsi2"), KeySchema: key("gsi2pk", "gsi2sk"), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll}},
		},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	return name
}

// Queues is a FIFO queue with its FIFO dead-letter queue.
type Queues struct {
	URL, DLQURL string
}

// FIFOQueues creates a fresh events FIFO queue and DLQ like template.yaml's (visibility timeout
// and maxReceiveCount can be lowered for tests) and deletes them when the test ends.
func FIFOQueues(t testing.TB, client *sqs.Client, visibilityTimeout, maxReceiveCount int) Queues {
	t.Helper()
	ctx := context.Background()
	base := unique("events")
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(base + "-dlq.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "MessageRetentionPeriod": "1209600"},
	})
	if err != nil {
		t.Fatalf("create dlq: %v", err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("dlq arn: %v", err)
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(base + ".fifo"),
		Attributes: map[string]string{
			"FifoQueue":         "true",
			"VisibilityTimeout": fmt.Sprint(visibilityTimeout),
			"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, attrs.Attributes["QueueArn"], maxReceiveCount),
		},
	})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
		_, _ = client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: dlq.QueueUrl})
	})
	return Queues{URL: aws.ToString(q.QueueUrl), DLQURL: aws.ToString(dlq.QueueUrl)}
}
