// Package sqspoll is Lambda's SQS event source mapping on this machine: receive a batch, run
// the function, delete the records it did not report as failed. The local stack, the load
// scenario and the test rigs all poll through it.
package sqspoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is what the poller needs from SQS.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Handler runs the function on one batch. An error or a panic is a function error (a crash):
// the whole batch stays on the queue.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Invoker runs one Lambda invocation with a JSON payload (runtimeapi.Pool implements it).
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Invoke returns a Handler that sends the batch as JSON through inv. A response that is not
// an SQSEventResponse is a function error.
func Invoke(inv Invoker) Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		payload, err := json.Marshal(ev)
		if err != nil {
			return resp, err
		}
		res, err := inv.Invoke(ctx, payload)
		if err != nil {
			return resp, err
		}
		if len(res) > 0 && string(res) != "null" {
			if err := json.Unmarshal(res, &resp); err != nil {
				return resp, errors.New("response is not an SQSEventResponse")
			}
		}
		return resp, nil
	}
}

// Poller polls one queue for one function. Failed records come back after the queue's
// visibility timeout; SQS moves them to the DLQ after maxReceiveCount receives.
type Poller struct {
	Function  string // name in logs
	QueueURL  string
	QueueARN  string // the records' EventSourceARN
	BatchSize int    // 1..10 (default 10)
	SQS       SQSAPI
	Handler   Handler
	// Log gets one line per batch (nil: no logs).
	Log *slog.Logger
	// WaitSeconds is the long-poll wait (default 2).
	WaitSeconds int32
	// ReportBatchItemFailures is the FunctionResponseTypes setting; without it, any failure
	// fails the whole batch.
	ReportBatchItemFailures bool
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := p.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			p.log().Warn("poll failed", "function", p.Function, "queue", p.QueueURL, "error", err.Error())
			sleep(ctx, time.Second)
		} else if n == 0 {
			sleep(ctx, 50*time.Millisecond)
		}
	}
}

func (p *Poller) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return p.Log
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Poll receives one batch, runs the function and deletes the successful records. It returns
// the number of records received.
func (p *Poller) Poll(ctx context.Context) (int, error) {
	batch := p.BatchSize
	if batch < 1 || batch > 10 {
		batch = 10
	}
	wait := p.WaitSeconds
	if wait == 0 {
		wait = 2
	}
	out, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.QueueURL),
		MaxNumberOfMessages:         int32(batch),
		WaitTimeSeconds:             wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return 0, fmt.Errorf("receive from %s: %w", p.QueueURL, err)
	}
	if len(out.Messages) == 0 {
		return 0, nil
	}
	ev := p.event(out.Messages)
	began := time.Now()
	resp, handlerErr := p.run(ctx, ev)
	failed, reason := p.failures(ev, resp, handlerErr)
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		if failed[aws.ToString(m.MessageId)] {
			continue
		}
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	attrs := []any{"function", p.Function, "records", len(out.Messages), "failed", len(out.Messages) - len(del), "ms", time.Since(began).Milliseconds()}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	p.log().Info("sqs batch", attrs...)
	if len(del) == 0 {
		return len(out.Messages), nil
	}
	// Deleting must survive a shutdown that begins mid-batch, or the work is redone.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	dout, err := p.SQS.DeleteMessageBatch(delCtx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: del})
	if err != nil {
		return len(out.Messages), fmt.Errorf("delete from %s: %w", p.QueueURL, err)
	}
	if len(dout.Failed) > 0 {
		return len(out.Messages), errors.New("delete failed for " + strconv.Itoa(len(dout.Failed)) + " records: " + aws.ToString(dout.Failed[0].Message))
	}
	return len(out.Messages), nil
}

// run calls the Handler; a panic is a function error, as when the Lambda runtime reports a
// handler that panicked.
func (p *Poller) run(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("function panicked: %v", r)
		}
	}()
	return p.Handler(ctx, ev)
}

// DepthAPI is what Depth needs from SQS.
type DepthAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Depth returns the messages of a queue still to be handled: visible, in flight and delayed.
func Depth(ctx context.Context, client DepthAPI, queueURL string) (int, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		return 0, fmt.Errorf("attributes of %s: %w", queueURL, err)
	}
	n := 0
	for k, v := range out.Attributes {
		x, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("attribute %s of %s = %q: %w", k, queueURL, v, err)
		}
		n += x
	}
	return n, nil
}

// failures returns the message ids to keep (not delete), following Lambda's rules: a function
// error or an unknown/empty itemIdentifier fails the whole batch.
func (p *Poller) failures(ev events.SQSEvent, resp events.SQSEventResponse, handlerErr error) (map[string]bool, string) {
	all := func(reason string) (map[string]bool, string) {
		m := map[string]bool{}
		for _, r := range ev.Records {
			m[r.MessageId] = true
		}
		return m, reason
	}
	if handlerErr != nil {
		return all("function error: " + handlerErr.Error())
	}
	if !p.ReportBatchItemFailures {
		return nil, ""
	}
	known := map[string]bool{}
	for _, r := range ev.Records {
		known[r.MessageId] = true
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" || !known[f.ItemIdentifier] {
			return all("invalid itemIdentifier " + strconv.Quote(f.ItemIdentifier))
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, ""
}

func (p *Poller) event(msgs []sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		rec := events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             m.Attributes,
			EventSourceARN:         p.QueueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              "us-east-1",
		}
		if len(m.MessageAttributes) > 0 {
			rec.MessageAttributes = map[string]events.SQSMessageAttribute{}
			for k, v := range m.MessageAttributes {
				rec.MessageAttributes[k] = events.SQSMessageAttribute{
					StringValue:      v.StringValue,
					BinaryValue:      v.BinaryValue,
					StringListValues: v.StringListValues,
					BinaryListValues: v.BinaryListValues,
					DataType:         aws.ToString(v.DataType),
				}
			}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}
