package processor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
)

// recordingService records the keys and receive counts it sees and fails the listed keys.
type recordingService struct {
	fail     map[string]bool
	keys     []string
	receives []int
}

func (r *recordingService) Handle(ctx context.Context, env envelope.Envelope) error {
	r.keys = append(r.keys, env.Key)
	r.receives = append(r.receives, processor.ReceiveCount(ctx))
	if r.fail[env.Key] {
		return errors.New("boom")
	}
	return nil
}

func record(t *testing.T, key string, receiveCount string, body string) events.SQSMessage {
	t.Helper()
	if body == "" {
		b, err := json.Marshal(envelope.Envelope{V: envelope.Version, Kind: envelope.KindRead, AccountID: "1", ContactID: "2", Key: key, Raw: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	attrs := map[string]string{"MessageGroupId": "1:2"}
	if receiveCount != "" {
		attrs["ApproximateReceiveCount"] = receiveCount
	}
	return events.SQSMessage{MessageId: "id-" + key, Body: body, Attributes: attrs}
}

func TestHandlerFIFOPartialFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		records    func(t *testing.T) []events.SQSMessage
		fail       map[string]bool
		wantFailed []string
		wantSeen   []string
		wantCounts []int
	}{
		{
			name: "all good, receive counts passed through",
			records: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{record(t, "a", "1", ""), record(t, "b", "4", ""), record(t, "c", "", "")}
			},
			wantSeen: []string{"a", "b", "c"}, wantCounts: []int{1, 4, 0},
		},
		{
			name: "failure fails every later record",
			records: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{record(t, "a", "1", ""), record(t, "b", "1", ""), record(t, "c", "1", "")}
			},
			fail:       map[string]bool{"b": true},
			wantFailed: []string{"id-b", "id-c"}, wantSeen: []string{"a", "b"}, wantCounts: []int{1, 1},
		},
		{
			name: "failure fails the later records of its group only",
			records: func(t *testing.T) []events.SQSMessage {
				other := func(r events.SQSMessage) events.SQSMessage { r.Attributes["MessageGroupId"] = "1:3"; return r }
				return []events.SQSMessage{record(t, "a", "1", ""), record(t, "b", "1", ""), other(record(t, "x", "1", "")), record(t, "c", "1", ""), other(record(t, "y", "1", ""))}
			},
			fail:       map[string]bool{"b": true},
			wantFailed: []string{"id-b", "id-c"}, wantSeen: []string{"a", "b", "x", "y"}, wantCounts: []int{1, 1, 1, 1},
		},
		{
			name: "a record without a group fails every later record",
			records: func(t *testing.T) []events.SQSMessage {
				nogroup := func(r events.SQSMessage) events.SQSMessage { delete(r.Attributes, "MessageGroupId"); return r }
				return []events.SQSMessage{nogroup(record(t, "a", "1", "")), record(t, "b", "1", "")}
			},
			fail:       map[string]bool{"a": true},
			wantFailed: []string{"id-a", "id-b"}, wantSeen: []string{"a"}, wantCounts: []int{1},
		},
		{
			name: "malformed envelope fails itself and the rest",
			records: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{record(t, "a", "2", ""), record(t, "bad", "1", "{not json"), record(t, "c", "1", "")}
			},
			wantFailed: []string{"id-bad", "id-c"}, wantSeen: []string{"a"}, wantCounts: []int{2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := &recordingService{fail: tc.fail}
			h := processor.NewHandler(svc, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: tc.records(t)})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if fmt.Sprint(failed) != fmt.Sprint(tc.wantFailed) || fmt.Sprint(svc.keys) != fmt.Sprint(tc.wantSeen) || fmt.Sprint(svc.receives) != fmt.Sprint(tc.wantCounts) {
				t.Errorf("failed %v seen %v counts %v; want %v %v %v", failed, svc.keys, svc.receives, tc.wantFailed, tc.wantSeen, tc.wantCounts)
			}
		})
	}
}
