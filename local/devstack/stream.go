package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/streams"
)

// StreamsAPI is what the stream poller needs from DynamoDB Streams (DynamoDB Local serves it).
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// SQSSender sends the on-failure record of a batch the function gave up on.
type SQSSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// StreamPoller is a local DynamoDB stream event source mapping, with Lambda's rules: every
// shard is read in order (a child shard after its parent); records are batched (BatchSize,
// BatchingWindow); with ReportBatchItemFailures the records before the reported one are
// checkpointed and the batch is retried from it; a failing batch is halved (Bisect) until the
// bad record is alone; a batch that still fails after MaxRetries retries is described on the
// on-failure queue (like Lambda's OnFailure destination: shard and sequence numbers, not the
// records) and skipped.
type StreamPoller struct {
	Function  string
	StreamARN string
	Streams   StreamsAPI
	Invoker   Invoker
	Log       *slog.Logger

	BatchSize               int           // default 100
	BatchingWindow          time.Duration // wait up to this for a fuller batch
	ReportBatchItemFailures bool
	Bisect                  bool
	MaxRetries              int // -1: until it succeeds
	TrimHorizon             bool
	// OnFailure receives the batches given up on (nil: they are only logged).
	OnFailure    SQSSender
	OnFailureURL string

	// PollInterval is the wait between GetRecords of an idle shard (default 200ms);
	// RetryWait the first wait before a retry (default 200ms, doubled up to 5s).
	PollInterval time.Duration
	RetryWait    time.Duration

	mu   sync.Mutex
	done map[string]bool // closed shards read to their end
}

// Run reads the stream until ctx ends.
func (p *StreamPoller) Run(ctx context.Context) {
	if p.BatchSize <= 0 {
		p.BatchSize = 100
	}
	if p.PollInterval <= 0 {
		p.PollInterval = 200 * time.Millisecond
	}
	if p.RetryWait <= 0 {
		p.RetryWait = 200 * time.Millisecond
	}
	p.done = map[string]bool{}
	started := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		shards, err := p.shards(ctx)
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("describe stream failed", "function", p.Function, "error", err.Error())
		}
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			if started[id] {
				continue
			}
			if parent := aws.ToString(s.ParentShardId); parent != "" && p.known(shards, parent) && !p.isDone(parent) {
				continue // the parent's records come first
			}
			started[id] = true
			wg.Add(1)
			go func() { defer wg.Done(); p.readShard(ctx, id) }()
		}
		pause(ctx, 2*time.Second)
	}
}

func (p *StreamPoller) known(shards []streamtypes.Shard, id string) bool {
	for _, s := range shards {
		if aws.ToString(s.ShardId) == id {
			return true
		}
	}
	return false
}

func (p *StreamPoller) isDone(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done[id]
}

func (p *StreamPoller) shards(ctx context.Context) ([]streamtypes.Shard, error) {
	var out []streamtypes.Shard
	var start *string
	for {
		d, err := p.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(p.StreamARN), ExclusiveStartShardId: start})
		if err != nil {
			return out, err
		}
		out = append(out, d.StreamDescription.Shards...)
		start = d.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return out, nil
		}
	}
}

// readShard reads one shard to its end (or until ctx ends), delivering batches in order.
func (p *StreamPoller) readShard(ctx context.Context, shardID string) {
	typ := streamtypes.ShardIteratorTypeLatest
	if p.TrimHorizon {
		typ = streamtypes.ShardIteratorTypeTrimHorizon
	}
	it, err := p.Streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(p.StreamARN), ShardId: aws.String(shardID), ShardIteratorType: typ})
	if err != nil {
		p.Log.Warn("shard iterator failed", "function", p.Function, "shard", shardID, "error", err.Error())
		return
	}
	iter := it.ShardIterator
	var buf []streamtypes.Record
	var firstAt time.Time
	for ctx.Err() == nil {
		if iter != nil {
			out, err := p.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
			if err != nil {
				if ctx.Err() == nil {
					p.Log.Warn("get records failed", "function", p.Function, "shard", shardID, "error", err.Error())
					pause(ctx, time.Second)
				}
				continue
			}
			if len(out.Records) > 0 && len(buf) == 0 {
				firstAt = time.Now()
			}
			buf = append(buf, out.Records...)
			iter = out.NextShardIterator
		}
		closed := iter == nil
		for len(buf) > 0 && (len(buf) >= p.BatchSize || closed || time.Since(firstAt) >= p.BatchingWindow) {
			n := min(len(buf), p.BatchSize)
			p.deliver(ctx, shardID, buf[:n])
			buf = buf[n:]
			firstAt = time.Now()
		}
		if closed && len(buf) == 0 {
			p.mu.Lock()
			p.done[shardID] = true
			p.mu.Unlock()
			return
		}
		pause(ctx, p.PollInterval)
	}
}

// deliver invokes the function with batch until every record is either checkpointed or given
// up on.
func (p *StreamPoller) deliver(ctx context.Context, shardID string, batch []streamtypes.Record) {
	retries := 0
	wait := p.RetryWait
	for len(batch) > 0 && ctx.Err() == nil {
		failedAt, reason := p.invoke(ctx, batch)
		if failedAt >= len(batch) {
			return
		}
		batch = batch[failedAt:] // records before the failure are checkpointed
		if p.Bisect && len(batch) > 1 {
			half := len(batch) / 2
			p.Log.Info("stream batch bisected", "function", p.Function, "records", len(batch), "reason", reason)
			p.deliver(ctx, shardID, batch[:half])
			batch = batch[half:]
			retries, wait = 0, p.RetryWait
			continue
		}
		if p.MaxRetries >= 0 && retries >= p.MaxRetries {
			p.giveUp(ctx, shardID, batch, retries+1, reason)
			return
		}
		retries++
		pause(ctx, wait)
		wait = min(wait*2, 5*time.Second)
	}
}

// invoke runs the function once; it returns the index of the first failed record (len(batch)
// when none failed) and why.
func (p *StreamPoller) invoke(ctx context.Context, batch []streamtypes.Record) (int, string) {
	payload, err := json.Marshal(streams.LambdaEvent(p.StreamARN, batch))
	if err != nil {
		return 0, "marshal event: " + err.Error()
	}
	began := time.Now()
	res, err := p.Invoker.Invoke(ctx, payload)
	failedAt, reason := len(batch), ""
	switch {
	case err != nil:
		failedAt, reason = 0, "function error: "+err.Error()
	case p.ReportBatchItemFailures && len(res) > 0 && string(res) != "null":
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(res, &resp); err != nil {
			failedAt, reason = 0, "response is not a DynamoDBEventResponse"
			break
		}
		for _, f := range resp.BatchItemFailures {
			i := indexOfSequence(batch, f.ItemIdentifier)
			if i < 0 {
				failedAt, reason = 0, "invalid itemIdentifier "+strconv.Quote(f.ItemIdentifier)
				break
			}
			if i < failedAt {
				failedAt, reason = i, "batch item failure"
			}
		}
	}
	attrs := []any{"function", p.Function, "records", len(batch), "checkpointed", failedAt, "ms", time.Since(began).Milliseconds()}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	p.Log.Info("stream batch", attrs...)
	return failedAt, reason
}

func indexOfSequence(batch []streamtypes.Record, seq string) int {
	for i, r := range batch {
		if r.Dynamodb != nil && aws.ToString(r.Dynamodb.SequenceNumber) == seq && seq != "" {
			return i
		}
	}
	return -1
}

// giveUp sends Lambda's on-failure record for the batch and skips it.
func (p *StreamPoller) giveUp(ctx context.Context, shardID string, batch []streamtypes.Record, invokes int, reason string) {
	first, last := batch[0], batch[len(batch)-1]
	arrival := func(r streamtypes.Record) string {
		if r.Dynamodb != nil && r.Dynamodb.ApproximateCreationDateTime != nil {
			return r.Dynamodb.ApproximateCreationDateTime.UTC().Format(time.RFC3339Nano)
		}
		return ""
	}
	rec := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId": newRequestID(), "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:" + p.Function,
			"condition": "RetryAttemptsExhausted", "approximateInvokeCount": invokes,
		},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": reason},
		"DDBStreamBatchInfo": map[string]any{
			"shardId": shardID, "streamArn": p.StreamARN, "batchSize": len(batch),
			"startSequenceNumber":             aws.ToString(first.Dynamodb.SequenceNumber),
			"endSequenceNumber":               aws.ToString(last.Dynamodb.SequenceNumber),
			"approximateArrivalOfFirstRecord": arrival(first),
			"approximateArrivalOfLastRecord":  arrival(last),
		},
	}
	p.Log.Warn("stream records given up on", "function", p.Function, "records", len(batch), "first_sequence_number", aws.ToString(first.Dynamodb.SequenceNumber), "reason", reason)
	if p.OnFailure == nil || p.OnFailureURL == "" {
		return
	}
	body, _ := json.Marshal(rec)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := p.OnFailure.SendMessage(sctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.OnFailureURL), MessageBody: aws.String(string(body))}); err != nil {
		p.Log.Warn("on-failure destination refused the record", "function", p.Function, "error", err.Error())
	}
}

func newRequestID() string { return fmt.Sprintf("local-%d", time.Now().UnixNano()) }

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
