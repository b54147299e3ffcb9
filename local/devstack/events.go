package devstack

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/eventbus"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// StartEventBus serves the local EventBridge stand-in on a free loopback port. Every event is
// checked against docs/events (a mismatch is logged) and forwarded to forwardURL when set
// (LOCAL_EVENTS_URL).
func StartEventBus(root, forwardURL string, log *slog.Logger) (*eventbus.Server, error) {
	schemas, err := eventbus.LoadSchemas(filepath.Join(root, "docs", "events"))
	if err != nil {
		return nil, fmt.Errorf("event schemas: %w", err)
	}
	return eventbus.Start(eventbus.Options{ForwardURL: forwardURL, Validate: schemas.Validate, Log: log})
}

// NewStreamPoller builds the local event source mapping of a DynamoDB event of f.
func NewStreamPoller(f samtemplate.Function, e samtemplate.Event, prov *samtemplate.Provisioned, streams StreamsAPI, sq *sqs.Client, inv Invoker, log *slog.Logger) (*StreamPoller, error) {
	tid, attr, ok := samtemplate.RefName(e.Stream)
	arn := prov.Streams[tid]
	if !ok || attr != "StreamArn" || arn == "" {
		return nil, fmt.Errorf("%s.%s: stream %v is not the stream of a template table", f.LogicalID, e.Name, e.Stream)
	}
	p := &StreamPoller{
		Function: f.Name(), StreamARN: arn, Streams: streams, Invoker: inv, Log: log,
		BatchSize: e.BatchSize, BatchingWindow: time.Duration(e.BatchingWindow) * time.Second,
		ReportBatchItemFailures: containsString(e.FunctionResponseTypes, "ReportBatchItemFailures"),
		Bisect:                  e.BisectOnError, MaxRetries: e.MaxRetryAttempts,
		TrimHorizon: e.StartingPosition == "TRIM_HORIZON",
	}
	if e.OnFailureDestination != nil {
		qid, _, ok := samtemplate.RefName(e.OnFailureDestination)
		q, found := prov.Queues[qid]
		if !ok || !found {
			return nil, fmt.Errorf("%s.%s: on-failure destination %v is not a template queue", f.LogicalID, e.Name, e.OnFailureDestination)
		}
		p.OnFailure, p.OnFailureURL = sq, q.URL
	}
	return p, nil
}
