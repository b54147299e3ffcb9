package processor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
)

// visibilityRecorder records ChangeMessageVisibility calls.
type visibilityRecorder struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (v *visibilityRecorder) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, fmt.Sprintf("%s %s %d", aws.ToString(in.QueueUrl), aws.ToString(in.ReceiptHandle), in.VisibilityTimeout))
	return &sqs.ChangeMessageVisibilityOutput{}, v.err
}

// retryService answers the error listed for a key.
type retryService struct {
	errs map[string]error
	seen []string
}

func (r *retryService) Handle(_ context.Context, env envelope.Envelope) error {
	r.seen = append(r.seen, env.Key)
	return r.errs[env.Key]
}

func TestRetryAndDefer(t *testing.T) {
	t.Parallel()
	withHandle := func(r events.SQSMessage, group string) events.SQSMessage {
		r.ReceiptHandle = "rh-" + r.MessageId
		r.Attributes["MessageGroupId"] = group
		return r
	}
	for _, tc := range []struct {
		name       string
		errs       map[string]error
		visErr     error
		noVis      bool
		wantFailed string
		wantSeen   string
		wantCalls  string
	}{
		{"retry after backs off and fails its group", map[string]error{"a": processor.RetryAfter(errors.New("rate limited"), 1500*time.Millisecond)}, nil, false,
			"[id-a id-b]", "[a c]", "[q rh-id-a 2]"},
		{"defer backs off the record alone and holds back its group", map[string]error{"a": processor.Defer(errors.New("not due"), 3*time.Second)}, nil, false,
			"[id-a id-b]", "[a c]", "[q rh-id-a 3]"},
		{"defer without visibility keeps the group rule", map[string]error{"a": processor.Defer(errors.New("not due"), time.Second)}, nil, true,
			"[id-a id-b]", "[a c]", "[]"},
		{"visibility failure keeps the group rule", map[string]error{"a": processor.Defer(errors.New("not due"), time.Second)}, errors.New("sqs down"), false,
			"[id-a id-b]", "[a c]", "[q rh-id-a 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vis := &visibilityRecorder{err: tc.visErr}
			var opts []processor.Option
			if !tc.noVis {
				opts = append(opts, processor.WithVisibility(vis, "q"))
			}
			svc := &retryService{errs: tc.errs}
			h := processor.NewHandler(svc, slog.New(slog.NewJSONHandler(io.Discard, nil)), opts...)
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
				withHandle(record(t, "a", "1", ""), "g1"), withHandle(record(t, "b", "1", ""), "g1"), withHandle(record(t, "c", "1", ""), "g2"),
			}})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if fmt.Sprint(failed) != tc.wantFailed || fmt.Sprint(svc.seen) != tc.wantSeen || fmt.Sprint(vis.calls) != tc.wantCalls {
				t.Errorf("failed %v seen %v calls %v; want %s %s %s", failed, svc.seen, vis.calls, tc.wantFailed, tc.wantSeen, tc.wantCalls)
			}
		})
	}
}
