// Package queue publishes envelopes to the events FIFO queue with SendMessageBatch: chunks of at
// most 10 entries and 256 KiB, sent in parallel (while keeping each message group's order),
// entries that SQS reports as failed retried with bounded backoff.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/webhook"
)

// SQS batch limits.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 << 10
)

// BatchSender is the part of *sqs.Client the publisher uses.
type BatchSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var (
	_ BatchSender       = (*sqs.Client)(nil)
	_ webhook.Publisher = (*Publisher)(nil)
)

// ErrNotAccepted is wrapped when SQS still refuses entries after every retry.
var ErrNotAccepted = errors.New("sqs did not accept every message")

// Options tunes a Publisher; zero values take the defaults.
type Options struct {
	// Attempts per entry (first try included); default 4.
	Attempts int
	// Backoff before the first retry, doubled after each; default 25 ms.
	Backoff time.Duration
	// Parallel bounds the chunks in flight; default 8.
	Parallel int
}

// Publisher sends envelopes to one FIFO queue.
type Publisher struct {
	api      BatchSender
	queueURL string
	opts     Options
}

// NewPublisher returns a Publisher sending to queueURL through api (a *sqs.Client created once
// per cold start).
func NewPublisher(api BatchSender, queueURL string, opts Options) *Publisher {
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 25 * time.Millisecond
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	return &Publisher{api: api, queueURL: queueURL, opts: opts}
}

// message is one encoded envelope.
type message struct {
	body, group, dedup string
}

// chunk is one SendMessageBatch worth of messages; it starts once every earlier chunk holding
// one of its message groups is done, so each group reaches the queue in envelope order.
type chunk struct {
	msgs []message
	deps []*chunk
	done chan struct{}
	err  error
}

// Publish sends every envelope; it returns nil only when SQS accepted all of them.
// MessageGroupId = env.GroupID(), MessageDeduplicationId = env.DedupID(), body =
// envelope.Encode(env) (ASCII-only JSON, so SQS accepts every character a webhook can carry).
func (p *Publisher) Publish(ctx context.Context, envs []envelope.Envelope) error {
	chunks, err := plan(envs)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, p.opts.Parallel)
	var wg sync.WaitGroup
	for _, c := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(c.done)
			for _, d := range c.deps {
				<-d.done
				if d.err != nil {
					c.err = fmt.Errorf("not sent: an earlier batch of the same message group failed")
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				c.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			c.err = p.send(ctx, c.msgs)
		}()
	}
	wg.Wait()
	var errs []error
	for i, c := range chunks {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("batch %d/%d: %w", i+1, len(chunks), c.err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("publish %d events: %w", len(envs), errors.Join(errs...))
	}
	return nil
}

// plan encodes the envelopes and cuts them into chunks of ≤ 10 entries and ≤ 256 KiB.
func plan(envs []envelope.Envelope) ([]*chunk, error) {
	var chunks []*chunk
	last := map[string]*chunk{} // message group → latest chunk holding it
	var cur *chunk
	size := 0
	for i, env := range envs {
		body, err := envelope.Encode(env)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if len(body) > MaxBatchBytes {
			return nil, fmt.Errorf("event %d (group %s) is %d bytes, over the SQS limit", i, env.GroupID(), len(body))
		}
		if cur == nil || len(cur.msgs) == MaxBatchEntries || size+len(body) > MaxBatchBytes {
			cur = &chunk{done: make(chan struct{})}
			chunks = append(chunks, cur)
			size = 0
		}
		m := message{body: string(body), group: env.GroupID(), dedup: env.DedupID()}
		if prev, ok := last[m.group]; ok && prev != cur && !contains(cur.deps, prev) {
			cur.deps = append(cur.deps, prev)
		}
		last[m.group] = cur
		cur.msgs = append(cur.msgs, m)
		size += len(body)
	}
	return chunks, nil
}

func contains(cs []*chunk, c *chunk) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// send delivers one chunk, retrying the entries SQS reports as failed (except sender faults,
// which no retry can fix) with exponential backoff.
func (p *Publisher) send(ctx context.Context, msgs []message) error {
	pending := make([]int, len(msgs)) // indexes into msgs still to send
	for i := range pending {
		pending[i] = i
	}
	backoff := p.opts.Backoff
	var lastFailures []string
	for attempt := 1; ; attempt++ {
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for j, i := range pending {
			entries[j] = types.SendMessageBatchRequestEntry{
				Id:                     aws.String(strconv.Itoa(i)),
				MessageBody:            aws.String(msgs[i].body),
				MessageGroupId:         aws.String(msgs[i].group),
				MessageDeduplicationId: aws.String(msgs[i].dedup),
			}
		}
		out, err := p.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: entries})
		if err != nil {
			// The SDK already retried transport and throttling errors.
			return fmt.Errorf("send message batch of %d: %w", len(entries), err)
		}
		var retry []int
		var fatal []string
		lastFailures = lastFailures[:0]
		for _, f := range out.Failed {
			i, convErr := strconv.Atoi(aws.ToString(f.Id))
			if convErr != nil || i < 0 || i >= len(msgs) {
				return fmt.Errorf("send message batch: unknown failed entry id %q", aws.ToString(f.Id))
			}
			desc := fmt.Sprintf("group %s: %s", msgs[i].group, aws.ToString(f.Code))
			if f.SenderFault {
				fatal = append(fatal, desc)
				continue
			}
			retry = append(retry, i)
			lastFailures = append(lastFailures, desc)
		}
		if len(fatal) > 0 {
			return fmt.Errorf("%w: rejected %s", ErrNotAccepted, strings.Join(fatal, "; "))
		}
		if len(retry) == 0 {
			return nil
		}
		if attempt >= p.opts.Attempts {
			return fmt.Errorf("%w after %d attempts: %s", ErrNotAccepted, attempt, strings.Join(lastFailures, "; "))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("retry failed entries: %w", ctx.Err())
		case <-t.C:
		}
		backoff *= 2
		pending = retry
	}
}
