package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestSmoke(t *testing.T) {
	db := DynamoDB(t)
	if Table(t, db) == "" {
		t.Fatal("no table")
	}
	q := FIFOQueues(t, SQS(t), 30, 5)
	if q.URL == "" || q.DLQURL == "" {
		t.Fatal("no queue")
	}
}

// TestFromTemplate checks that the table and queues carry template.yaml's definitions.
func TestFromTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := DynamoDB(t)
	name := Table(t, db)
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(desc.Table.GlobalSecondaryIndexes); got != countGSIs(t) {
		t.Errorf("table has %d GSIs, template %d", got, countGSIs(t))
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ttl.TimeToLiveDescription.AttributeName) == "" {
		t.Errorf("TTL not enabled: %+v", ttl.TimeToLiveDescription)
	}

	client := SQS(t)
	q := FIFOQueues(t, client, 7, 6)
	tests := []struct {
		name, url string
		want      map[string]string
	}{
		{"queue", q.URL, map[string]string{"FifoQueue": "true", "VisibilityTimeout": "7", "DeduplicationScope": "messageGroup"}},
		{"dlq", q.DLQURL, map[string]string{"FifoQueue": "true", "MessageRetentionPeriod": "1209600"}},
	}
	for _, tc := range tests {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(tc.url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for k, v := range tc.want {
			if out.Attributes[k] != v {
				t.Errorf("%s %s = %q, want %q", tc.name, k, out.Attributes[k], v)
			}
		}
		if tc.name == "queue" && out.Attributes["RedrivePolicy"] == "" {
			t.Error("queue has no RedrivePolicy")
		}
	}
}

func countGSIs(t *testing.T) int {
	tp := Template(t)
	ids := tp.ResourcesOfType("AWS::DynamoDB::Table")
	l, _ := tp.Resources[ids[0]].Properties["GlobalSecondaryIndexes"].([]any)
	return len(l)
}
