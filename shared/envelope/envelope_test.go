package envelope_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/shared/envelope"
)

func TestSendCommands(t *testing.T) {
	t.Parallel()
	cmd := envelope.SendCommand{ConversationID: "c1", MessageID: "m1", MessageSK: "MSG#0000000000001#~out.r.00", Attempt: 0}
	send, err := envelope.NewSend("17841", "999", 1, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if send.GroupID() != "17841:999" {
		t.Errorf("send group %q, want the conversation's", send.GroupID())
	}
	check, err := envelope.NewSendCheck("17841", "999", 2, envelope.SendCommand{ConversationID: "c1", MessageID: "m1", MessageSK: cmd.MessageSK, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g := check.GroupID(); g == send.GroupID() || !strings.HasPrefix(g, "17841:999:check:") || len(g) > 128 {
		t.Errorf("check group %q must be its own", g)
	}
	if send.DedupID() == check.DedupID() {
		t.Error("send and check share a deduplication id")
	}
	again, _ := envelope.NewSend("17841", "999", 5, cmd)
	if again.DedupID() != send.DedupID() {
		t.Error("re-enqueueing the same attempt must deduplicate")
	}
	// Round trip through JSON (the queue body).
	b, _ := json.Marshal(check)
	got, err := envelope.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := got.Command()
	if err != nil || c.Attempt != 1 || got.GroupID() != check.GroupID() {
		t.Errorf("decoded %+v %+v %v", got, c, err)
	}
}

func TestValidateSendCommands(t *testing.T) {
	t.Parallel()
	valid := `{"conversation_id":"c","message_id":"m","message_sk":"MSG#1#x","attempt":0}`
	for _, tc := range []struct {
		name string
		env  envelope.Envelope
		want string
	}{
		{"valid", envelope.Envelope{V: 1, Kind: envelope.KindSend, AccountID: "a", ContactID: "c", Key: "k", Raw: json.RawMessage(valid)}, ""},
		{"no contact", envelope.Envelope{V: 1, Kind: envelope.KindSend, AccountID: "a", Key: "k", Raw: json.RawMessage(valid)}, "missing contact_id"},
		{"no message sk", envelope.Envelope{V: 1, Kind: envelope.KindSend, AccountID: "a", ContactID: "c", Key: "k", Raw: json.RawMessage(`{"conversation_id":"c","message_id":"m"}`)}, "message_sk"},
		{"unknown payload field", envelope.Envelope{V: 1, Kind: envelope.KindSend, AccountID: "a", ContactID: "c", Key: "k", Raw: json.RawMessage(`{"conversation_id":"c","message_id":"m","message_sk":"MSG#1","text":"x"}`)}, "unknown field"},
		{"negative attempt", envelope.Envelope{V: 1, Kind: envelope.KindSendCheck, AccountID: "a", ContactID: "c", Key: "k", Group: "g", Raw: json.RawMessage(`{"conversation_id":"c","message_id":"m","message_sk":"MSG#1","attempt":-1}`)}, "negative attempt"},
		{"group on a webhook event", envelope.Envelope{V: 1, Kind: envelope.KindMessage, AccountID: "a", ContactID: "c", Key: "k", Group: "g", Raw: json.RawMessage(`{}`)}, "group override"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.env.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, envelope.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
