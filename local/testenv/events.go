package testenv

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/iginbox/iginbox/local/eventbus"
	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/streams"
)

// Bus is a local EventBridge bus for one test.
type Bus struct {
	*eventbus.Bus
	URL string
}

// EventBus starts the local EventBridge stand-in (local/eventbus) for the test. Every event put
// on it is checked against its JSON Schema in docs/events: the test fails at its end when one
// did not match, so every event a test emits is validated.
func EventBus(t testing.TB) *Bus {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := samtemplate.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := eventbus.LoadSchemas(filepath.Join(root, "docs", "events"))
	if err != nil {
		t.Fatalf("event schemas: %v", err)
	}
	b := eventbus.New(eventbus.Options{Validate: schemas.Validate})
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		srv.Close()
		b.Close()
		for _, err := range b.SchemaErrors() {
			t.Errorf("event does not match its schema: %v", err)
		}
	})
	return &Bus{Bus: b, URL: srv.URL}
}

// Client returns a real EventBridge SDK client pointed at the bus.
func (b *Bus) Client(t testing.TB) *eventbridge.Client {
	return eventbridge.NewFromConfig(AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(b.URL) })
}

// Stream turns the table's stream on (NEW_AND_OLD_IMAGES, as template.yaml's; Table creates
// tables without it) and returns a reader of it (DynamoDB Local serves DynamoDB Streams). Call
// it before the writes it should see.
func Stream(t testing.TB, db *dynamodb.Client, table string) *streams.Reader {
	t.Helper()
	if _, err := db.UpdateTable(context.Background(), &dynamodb.UpdateTableInput{
		TableName:           aws.String(table),
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages},
	}); err != nil {
		t.Fatalf("turn the stream on: %v", err)
	}
	r, err := streams.NewReader(context.Background(), db, StreamsAPI(t), table)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// StreamsAPI returns a client of the DynamoDB Streams API DynamoDB Local serves.
func StreamsAPI(t testing.TB) *dynamodbstreams.Client {
	t.Helper()
	return dynamodbstreams.NewFromConfig(AWSConfig(t), func(o *dynamodbstreams.Options) {
		o.BaseEndpoint = aws.String(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	})
}
