package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
)

// graphCallingService makes one call to a (slow) Graph API per record, bounded by the client's
// timeout like the real Graph client, and records the keys whose work completed.
type graphCallingService struct {
	client *http.Client
	url    string

	mu   sync.Mutex
	done []string
}

func (s *graphCallingService) Handle(ctx context.Context, env envelope.Envelope) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("graph call: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	s.mu.Lock()
	s.done = append(s.done, env.Key)
	s.mu.Unlock()
	return nil
}

func groupRecord(t *testing.T, key, group string) events.SQSMessage {
	t.Helper()
	b, err := json.Marshal(envelope.Envelope{V: envelope.Version, Kind: envelope.KindRead, AccountID: "1", ContactID: group, Key: key, Raw: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSMessage{MessageId: "id-" + key, Body: string(b), Attributes: map[string]string{"MessageGroupId": "1:" + group, "ApproximateReceiveCount": "1"}}
}

// A batch of slow records against a short deadline: the handler stops starting records when
// less than one record's budget is left, returns before the deadline, reports exactly the
// records it did not finish (a suffix of the batch, so every group keeps its order), and the
// redelivery of those finishes the rest: nothing is lost and nothing is done twice.
func TestHandlerStopsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	const (
		graphDelay   = 100 * time.Millisecond
		graphTimeout = time.Second
		margin       = 50 * time.Millisecond
		deadlineIn   = 1600 * time.Millisecond
	)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(graphDelay):
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte(`{"id":"x"}`))
	}))
	t.Cleanup(slow.Close)
	svc := &graphCallingService{client: &http.Client{Timeout: graphTimeout}, url: slow.URL}
	h := processor.NewHandler(svc, slog.New(slog.NewJSONHandler(io.Discard, nil)), processor.WithRecordBudget(graphTimeout+margin))

	var batch []events.SQSMessage
	for i := range 10 {
		batch = append(batch, groupRecord(t, fmt.Sprintf("k%02d", i), []string{"a", "b", "c"}[i%3]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadlineIn)
	defer cancel()
	deadline, _ := ctx.Deadline()
	resp, err := h.Handle(ctx, events.SQSEvent{Records: batch})
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().After(deadline) {
		t.Fatalf("the handler returned after its deadline")
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	done := map[string]bool{}
	for _, k := range svc.done {
		done["id-"+k] = true
	}
	if len(done) == 0 || len(failed) == 0 {
		t.Fatalf("done %d, returned %d: want some of each (10 records of %s against %s)", len(done), len(failed), graphDelay, deadlineIn)
	}
	for i, rec := range batch {
		switch {
		case done[rec.MessageId] && failed[rec.MessageId]:
			t.Errorf("%s finished but is returned (it would be processed again)", rec.MessageId)
		case !done[rec.MessageId] && !failed[rec.MessageId]:
			t.Errorf("%s neither finished nor returned: lost", rec.MessageId)
		case failed[rec.MessageId] && i+1 < len(batch) && !failed[batch[i+1].MessageId]:
			t.Errorf("%s is returned but the later %s is not: a group could lose its order", rec.MessageId, batch[i+1].MessageId)
		}
	}

	// Redelivery of the returned records, with time enough.
	var again []events.SQSMessage
	for _, rec := range batch {
		if failed[rec.MessageId] {
			again = append(again, rec)
		}
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	resp, err = h.Handle(ctx2, events.SQSEvent{Records: again})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v, %d failures", err, len(resp.BatchItemFailures))
	}
	seen := map[string]int{}
	for _, k := range svc.done {
		seen[k]++
	}
	for _, rec := range batch {
		var env envelope.Envelope
		_ = json.Unmarshal([]byte(rec.Body), &env)
		if seen[env.Key] != 1 {
			t.Errorf("%s processed %d times, want once", env.Key, seen[env.Key])
		}
	}
}

// Without a budget (or without a deadline) every record is attempted, as before.
func TestHandlerWithoutBudgetIgnoresTheDeadline(t *testing.T) {
	t.Parallel()
	svc := &recordingService{}
	h := processor.NewHandler(svc, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	batch := []events.SQSMessage{groupRecord(t, "x", "a"), groupRecord(t, "y", "b")}
	resp, _ := h.Handle(ctx, events.SQSEvent{Records: batch})
	if len(svc.keys) != 2 || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("seen %v, failures %v", svc.keys, resp.BatchItemFailures)
	}
}
