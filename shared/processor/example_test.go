package processor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
)

// failingContact is a processor.Service that fails every event of one contact.
type failingContact string

func (f failingContact) Handle(_ context.Context, env envelope.Envelope) error {
	if env.ContactID == string(f) {
		return errors.New("profile lookup timed out")
	}
	fmt.Println("handled", env.Key)
	return nil
}

// A batch from the events FIFO queue mixes message groups (one per conversation). When a
// record fails, it and the later records of its group are reported failed, so they come back
// in order; the other groups go on.
func ExampleHandler_Handle() {
	var ev events.SQSEvent
	for i, e := range []struct{ contact, mid string }{{"111", "m1"}, {"222", "m2"}, {"111", "m3"}, {"222", "m4"}} {
		env := envelope.Envelope{V: envelope.Version, Kind: envelope.KindMessage, Source: envelope.SourceMessaging,
			AccountID: "17841400000000001", ContactID: e.contact, Timestamp: int64(1763802000000 + i),
			Key: "17841400000000001|message|" + e.mid, Raw: []byte(`{"message":{"mid":"` + e.mid + `"}}`)}
		body, err := envelope.Encode(env)
		if err != nil {
			fmt.Println(err)
			return
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("record-", i+1), Body: string(body),
			Attributes: map[string]string{"MessageGroupId": env.GroupID(), "ApproximateReceiveCount": "1"}})
	}

	h := processor.NewHandler(failingContact("111"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp, _ := h.Handle(context.Background(), ev)
	for _, f := range resp.BatchItemFailures {
		fmt.Println("failed", f.ItemIdentifier)
	}
	// Output:
	// handled 17841400000000001|message|m2
	// handled 17841400000000001|message|m4
	// failed record-1
	// failed record-3
}
