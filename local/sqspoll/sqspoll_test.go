package sqspoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/local/testenv"
)

// batchFunc is a fake SQS-triggered function: it records every batch and fails the records
// its fail function picks (FIFO rule: the first failure and everything after it).
type batchFunc struct {
	mu      sync.Mutex
	batches []events.SQSEvent
	failAt  func(ev events.SQSEvent) int // index of the first failed record, -1 for none
	err     error
}

func (f *batchFunc) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.batches = append(f.batches, ev)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var resp events.SQSEventResponse
	if at := f.failAt(ev); at >= 0 {
		for _, r := range ev.Records[at:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return json.Marshal(resp)
}

// send sends each body in its own message group "group-<body>" (fauxqs, like a conservative
// SQS, hands out one message per FIFO group per receive; a batch spans groups).
func send(t *testing.T, client *sqs.Client, url string, bodies ...string) {
	t.Helper()
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i, b := range bodies {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(b),
			MessageGroupId: aws.String("group-" + b), MessageDeduplicationId: aws.String("dedup-" + b),
		})
	}
	out, err := client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil || len(out.Failed) > 0 {
		t.Fatalf("send: %v %v", err, out)
	}
}

func bodies(ev events.SQSEvent) []string {
	var out []string
	for _, r := range ev.Records {
		out = append(out, r.Body)
	}
	return out
}

// pollUntil polls until it gets a non-empty batch or the deadline passes.
func pollUntil(t *testing.T, p *Poller, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		n, err := p.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return n
		}
	}
	return 0
}

func TestPollerPartialBatchAgainstFauxqs(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	q := testenv.FIFOQueues(t, client, 1, 2)
	send(t, client, q.URL, "m1", "m2", "m3", "m4")

	calls := 0
	fn := &batchFunc{failAt: func(ev events.SQSEvent) int {
		calls++
		if calls == 1 {
			return 2 // m3 fails on the first delivery: m3 and m4 come back
		}
		return -1
	}}
	p := &Poller{Function: "processor", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 10, SQS: client, Handler: Invoke(fn), WaitSeconds: 1, ReportBatchItemFailures: true}

	if n := pollUntil(t, p, 5*time.Second); n != 4 {
		t.Fatalf("first batch has %d records, want 4", n)
	}
	first := fn.batches[0]
	if got := fmt.Sprint(bodies(first)); got != "[m1 m2 m3 m4]" {
		t.Errorf("first batch = %s", got)
	}
	r0 := first.Records[0]
	if r0.EventSourceARN != q.ARN || r0.EventSource != "aws:sqs" || r0.Attributes["MessageGroupId"] != "group-m1" ||
		r0.Attributes["ApproximateReceiveCount"] != "1" || r0.ReceiptHandle == "" || r0.Attributes["MessageDeduplicationId"] == "" {
		t.Errorf("record = %+v", r0)
	}
	// The failed records return after the 1 s visibility timeout, in order, received twice.
	if n := pollUntil(t, p, 5*time.Second); n != 2 {
		t.Fatalf("second batch has %d records, want 2", n)
	}
	second := fn.batches[1]
	if got := fmt.Sprint(bodies(second)); got != "[m3 m4]" {
		t.Errorf("second batch = %s, want the failed records in order", got)
	}
	if second.Records[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("receive count = %s, want 2", second.Records[0].Attributes["ApproximateReceiveCount"])
	}
	// Everything was deleted: nothing comes back.
	time.Sleep(1200 * time.Millisecond)
	if n, err := p.Poll(context.Background()); err != nil || n != 0 {
		t.Errorf("after success: %d records, %v; want an empty queue", n, err)
	}
}

func TestPollerFunctionErrorKeepsBatchThenDLQ(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	q := testenv.FIFOQueues(t, client, 1, 2)
	send(t, client, q.URL, "a", "b")
	fn := &batchFunc{err: errors.New("crash")}
	p := &Poller{Function: "processor", QueueURL: q.URL, QueueARN: q.ARN, BatchSize: 10, SQS: client, Handler: Invoke(fn), WaitSeconds: 1, ReportBatchItemFailures: true}
	for i := range 2 {
		if n := pollUntil(t, p, 5*time.Second); n != 2 {
			t.Fatalf("delivery %d: %d records, want 2 (a function error fails the whole batch)", i+1, n)
		}
	}
	// maxReceiveCount 2 reached: fauxqs moves both to the DLQ.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 2 {
			break
		}
		// Receiving from the main queue triggers the redrive of expired messages.
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("DLQ has %d messages, want 2", len(out.Messages))
		}
	}
}

// invokerFunc is an Invoker answering with fixed bytes or an error.
type invokerFunc func() ([]byte, error)

func (f invokerFunc) Invoke(context.Context, []byte) ([]byte, error) { return f() }

func TestPollerInvalidItemIdentifierFailsBatch(t *testing.T) {
	t.Parallel()
	p := &Poller{ReportBatchItemFailures: true}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1"}, {MessageId: "2"}}}
	tests := []struct {
		name string
		res  string
		err  error
		want int
	}{
		{name: "none failed", res: `{"batchItemFailures":[]}`, want: 0},
		{name: "null response", res: `null`, want: 0},
		{name: "one failed", res: `{"batchItemFailures":[{"itemIdentifier":"2"}]}`, want: 1},
		{name: "unknown id fails all", res: `{"batchItemFailures":[{"itemIdentifier":"x"}]}`, want: 2},
		{name: "empty id fails all", res: `{"batchItemFailures":[{"itemIdentifier":""}]}`, want: 2},
		{name: "garbage fails all", res: `[1,2]`, want: 2},
		{name: "function error fails all", err: errors.New("x"), want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := Invoke(invokerFunc(func() ([]byte, error) { return []byte(tc.res), tc.err }))
			resp, err := h(context.Background(), ev)
			failed, _ := p.failures(ev, resp, err)
			if len(failed) != tc.want {
				t.Errorf("failed = %v, want %d", failed, tc.want)
			}
		})
	}
}

// A handler that panics is a function error: the whole batch stays on the queue.
func TestPollerPanicIsFunctionError(t *testing.T) {
	t.Parallel()
	p := &Poller{ReportBatchItemFailures: true, Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		panic("killed")
	}}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "1"}, {MessageId: "2"}}}
	resp, err := p.run(context.Background(), ev)
	if err == nil {
		t.Fatal("a panic was not reported as a function error")
	}
	if failed, _ := p.failures(ev, resp, err); len(failed) != 2 {
		t.Errorf("failed = %v, want the whole batch", failed)
	}
}
