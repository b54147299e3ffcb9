package inbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/webhook"
)

var update = flag.Bool("update", false, "rewrite events/sqs from events/meta")

const (
	metaDir = "../../events/meta"
	sqsDir  = "../../events/sqs"
)

// sqsBatch turns a recorded webhook body into the SQS FIFO batch the processor receives, the
// way the webhook queues it (group = account:contact, dedup id = SHA-256 of the event key).
func sqsBatch(t *testing.T, body []byte) events.SQSEvent {
	t.Helper()
	b, err := webhook.Parse(body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var ev events.SQSEvent
	for i, e := range b.Events {
		msg, err := envelope.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(fmt.Sprint(e.Key, i)))
		id := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:     id,
			ReceiptHandle: "fixture-receipt-" + id,
			Body:          string(msg),
			Attributes: map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    "1763802001000",
				"SenderId":                         "AIDAEXAMPLE",
				"ApproximateFirstReceiveTimestamp": "1763802001000",
				"SequenceNumber":                   fmt.Sprintf("1889%016d", i+1),
				"MessageGroupId":                   e.GroupID(),
				"MessageDeduplicationId":           e.DedupID(),
			},
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
			EventSourceARN:    "arn:aws:sqs:us-east-1:123456789012:iginbox-dev-events.fifo",
			AWSRegion:         "us-east-1",
		})
	}
	return ev
}

// TestSQSFixtures keeps events/sqs (for `sam local invoke ProcessorFunction -e`) generated from
// events/meta, and replays every one through the processor twice: no failure, and the second
// delivery changes nothing.
func TestSQSFixtures(t *testing.T) {
	t.Parallel()
	names, err := filepath.Glob(filepath.Join(metaDir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in %s: %v", metaDir, err)
	}
	if *update {
		if err := os.MkdirAll(sqsDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t)
	h := processor.NewHandler(f.svc, f.svcLog())
	var batches []events.SQSEvent
	for _, name := range names {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		ev := sqsBatch(t, body)
		want, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		out := filepath.Join(sqsDir, filepath.Base(name))
		if *update {
			if err := os.WriteFile(out, want, 0o644); err != nil {
				t.Fatal(err)
			}
		} else if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (%v): run go test ./shared/inbox -run TestSQSFixtures -update", out, err)
		}
		batches = append(batches, ev)
	}
	replay := func() {
		for i, ev := range batches {
			resp, err := h.Handle(context.Background(), ev)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("%s: %v %v", names[i], err, resp.BatchItemFailures)
			}
		}
	}
	replay()
	first := f.snapshot()
	if !strings.Contains(first, `"mid"`) {
		t.Fatal("replaying the fixtures stored no message")
	}
	replay()
	if again := f.snapshot(); again != first {
		t.Errorf("delivering the fixtures again changed the state:\n%s\nwas:\n%s", again, first)
	}
}
