package outbound_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
)

// TestDuplicateSendCommandIsANoop: a send command delivered again once its part is settled
// (SQS redelivery, an API replay, a DLQ re-drive) completes without error and without
// calling Meta, and leaves the part as it was. A failed part stays under the key the command
// names, so only the sender's "part not queued" guard stops it; a sent part has moved to the
// key of its send time.
func TestDuplicateSendCommandIsANoop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  *metasim.Fault
		status string
	}{
		{"after sent", nil, domain.MessageSent},
		{"after failed (551)", &metasim.Fault{Path: sendPath, Code: 551}, domain.MessageFailed},
		{"after failed (190, channel flagged)", &metasim.Fault{Path: sendPath, Code: 190, Subcode: 463}, domain.MessageFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, defaultOpts())
			conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
			if tc.fault != nil {
				w.sim.AddFault(*tc.fault)
			}
			if s, b := w.reply(conv, "", replyBody("only once")); s != http.StatusAccepted {
				t.Fatalf("reply: %d %v", s, b)
			}
			w.pump(1, 20*time.Second, w.allStatus(conv, 1, tc.status))
			w.drain(20 * time.Second)
			before := outgoing(w.messages(conv))
			calls, accepted := w.meta.callCount(), w.sim.SentTo(contact)
			cmds := w.pub.commands(envelope.KindSend)
			if len(cmds) != 1 || calls != 1 {
				t.Fatalf("%d send commands and %d Graph calls before the duplicate, want 1 and 1", len(cmds), calls)
			}

			resp, err := w.handler.Handle(t.Context(), sqsEvent(t, cmds[0]))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("duplicate command: %v, failures %+v", err, resp.BatchItemFailures)
			}
			if n := w.meta.callCount(); n != calls {
				t.Errorf("the duplicate command called Meta: %d calls, want %d", n, calls)
			}
			if n := w.sim.SentTo(contact); n != accepted {
				t.Errorf("simulator accepted %d, want %d", n, accepted)
			}
			if n := w.logCount(`"kind":"send"`, `"outcome":"noop"`); n != 1 {
				t.Errorf("%d send commands handled as no-ops, want 1", n)
			}
			after := outgoing(w.messages(conv))
			if len(after) != 1 || after[0].ID != before[0].ID || after[0].Status != tc.status || after[0].MID != before[0].MID ||
				after[0].Timestamp != before[0].Timestamp {
				t.Errorf("part changed by the duplicate: %+v, was %+v", after, before)
			}
		})
	}
}
