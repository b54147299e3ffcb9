// Package streams reads DynamoDB Streams (DynamoDB Local serves the API) the way Lambda's event
// source mapping does for the local stack and the tests: records of every shard, in order,
// rendered as the event a stream-triggered function receives.
package streams

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// LambdaEvent renders stream records as the DynamoDB event Lambda's event source mapping
// invokes a function with (marshal it to JSON; it decodes into aws-lambda-go's
// events.DynamoDBEvent).
func LambdaEvent(streamARN string, batch []streamtypes.Record) map[string]any {
	recs := make([]any, 0, len(batch))
	for _, r := range batch {
		d := r.Dynamodb
		change := map[string]any{
			"Keys": attrMap(d.Keys), "SequenceNumber": aws.ToString(d.SequenceNumber),
			"SizeBytes": aws.ToInt64(d.SizeBytes), "StreamViewType": string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			change["ApproximateCreationDateTime"] = d.ApproximateCreationDateTime.Unix()
		}
		if d.NewImage != nil {
			change["NewImage"] = attrMap(d.NewImage)
		}
		if d.OldImage != nil {
			change["OldImage"] = attrMap(d.OldImage)
		}
		recs = append(recs, map[string]any{
			"eventID": aws.ToString(r.EventID), "eventName": string(r.EventName), "eventVersion": aws.ToString(r.EventVersion),
			"eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "eventSourceARN": streamARN, "dynamodb": change,
		})
	}
	return map[string]any{"Records": recs}
}

// attrMap renders stream attribute values as DynamoDB JSON ({"S": "..."}, {"M": {...}}, ...).
func attrMap(m map[string]streamtypes.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = attrJSON(m[k])
	}
	return out
}

func attrJSON(v streamtypes.AttributeValue) map[string]any {
	switch x := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]any{"S": x.Value}
	case *streamtypes.AttributeValueMemberN:
		return map[string]any{"N": x.Value}
	case *streamtypes.AttributeValueMemberB:
		return map[string]any{"B": x.Value} // []byte marshals as base64
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": x.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": x.Value}
	case *streamtypes.AttributeValueMemberSS:
		return map[string]any{"SS": x.Value}
	case *streamtypes.AttributeValueMemberNS:
		return map[string]any{"NS": x.Value}
	case *streamtypes.AttributeValueMemberBS:
		return map[string]any{"BS": x.Value}
	case *streamtypes.AttributeValueMemberL:
		l := make([]any, 0, len(x.Value))
		for _, e := range x.Value {
			l = append(l, attrJSON(e))
		}
		return map[string]any{"L": l}
	case *streamtypes.AttributeValueMemberM:
		return map[string]any{"M": attrMap(x.Value)}
	}
	return map[string]any{"NULL": true}
}

// Reader reads a stream from its trim horizon: every call of Next returns the records added
// since the previous call, shard by shard (parents first, as DynamoDB lists them).
type Reader struct {
	api       *dynamodbstreams.Client
	StreamARN string
	iters     map[string]*string // shard → next iterator (nil: closed and read)
}

// NewReader returns a Reader of the table's latest stream.
func NewReader(ctx context.Context, db *dynamodb.Client, api *dynamodbstreams.Client, table string) (*Reader, error) {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	arn := aws.ToString(out.Table.LatestStreamArn)
	if arn == "" {
		return nil, fmt.Errorf("table %s has no stream", table)
	}
	return &Reader{api: api, StreamARN: arn, iters: map[string]*string{}}, nil
}

// Next returns the records added since the last call.
func (r *Reader) Next(ctx context.Context) ([]streamtypes.Record, error) {
	d, err := r.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(r.StreamARN)})
	if err != nil {
		return nil, fmt.Errorf("describe stream: %w", err)
	}
	var out []streamtypes.Record
	for _, s := range d.StreamDescription.Shards {
		id := aws.ToString(s.ShardId)
		it, seen := r.iters[id]
		if !seen {
			gi, err := r.api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(r.StreamARN), ShardId: aws.String(id), ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				return nil, fmt.Errorf("shard iterator %s: %w", id, err)
			}
			it = gi.ShardIterator
		}
		for it != nil {
			rec, err := r.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it})
			if err != nil {
				return nil, fmt.Errorf("get records of %s: %w", id, err)
			}
			out = append(out, rec.Records...)
			if len(rec.Records) == 0 {
				it = rec.NextShardIterator
				break
			}
			it = rec.NextShardIterator
		}
		r.iters[id] = it
	}
	return out, nil
}
