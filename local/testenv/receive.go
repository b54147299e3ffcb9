package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ReceiveAll takes the messages of a queue, with their system attributes, deleting each one
// as it is received (a FIFO group's next message is held back while one is in flight). It
// returns once two receives in a row came back empty and at least want messages arrived, or
// once two came back empty after 30 s (on a loaded machine the emulator may answer a few
// empty long polls first): more than want is returned as received, so that a test sees
// extra messages.
func ReceiveAll(t testing.TB, client *sqs.Client, url string, want int) []sqstypes.Message {
	t.Helper()
	ctx := context.Background()
	var got []sqstypes.Message
	deadline := time.Now().Add(30 * time.Second)
	for empty := 0; empty < 2 || (len(got) < want && time.Now().Before(deadline)); {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, m := range out.Messages {
			got = append(got, m)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete from %s: %v", url, err)
			}
		}
	}
	return got
}
