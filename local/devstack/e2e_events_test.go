package devstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/api"
)

// localEvent is an event as GET /_local/events lists it.
type localEvent struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Detail     struct {
		EventID        string          `json:"event_id"`
		ConversationID string          `json:"conversation_id"`
		MessageID      string          `json:"message_id"`
		Status         string          `json:"status"`
		PreviousStatus string          `json:"previous_status"`
		Message        api.MessageJSON `json:"message"`
	} `json:"detail"`
}

// events lists the local bus's events of detailType received after since.
func (s *stack) events(t *testing.T, detailType string, since time.Time) []localEvent {
	t.Helper()
	q := url.Values{"detail_type": {detailType}, "since": {since.UTC().Format(time.RFC3339Nano)}}
	resp, err := s.client.Get(s.base + "/_local/events?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []localEvent
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("GET /_local/events: %d", resp.StatusCode)
	}
	return out
}

// Events out: a message posted to the webhook is on the local bus as message.received within
// 5 seconds, with the conversation id the API shows; the same body delivered three more
// times publishes nothing new; a reply publishes its statuses queued → sent → read; no event
// failed its JSON Schema (TestEndToEnd checks that again for the whole run at its end).
func testEventsOut(t *testing.T, s *stack) {
	const contact = "5550001234567895"
	since := time.Now()
	item := messageItem(contact, time.Now(), "events-1", "où est-il? 😂 مرحبا \u202e")
	mid := item["message"].(map[string]any)["mid"].(string)
	s.webhook(t, item)
	posted := time.Now()
	var received []localEvent
	s.waitFor(t, 5*time.Second, "message.received on the local bus", func() (bool, string) {
		received = s.events(t, "message.received", since)
		return len(received) > 0, fmt.Sprintf("%d events", len(received))
	})
	t.Logf("message.received listed %s after the webhook answered", time.Since(posted).Round(time.Millisecond))
	conv := s.waitConversation(t, contact)
	if len(received) != 1 || received[0].Detail.Message.MID != mid || received[0].Detail.ConversationID != conv ||
		received[0].Detail.Message.Text != "où est-il? 😂 مرحبا \u202e" || received[0].Source != "iginbox" {
		t.Fatalf("message.received = %+v, want mid %s in conversation %s", received, short(mid), conv)
	}

	// The same body three more times: nothing changes, nothing is published.
	for range 3 {
		s.webhook(t, item)
	}
	s.waitIdle(t)
	time.Sleep(3 * time.Second) // the stream's batching window, twice over
	if got := s.events(t, "message.received", since); len(got) != 1 {
		t.Fatalf("after 3 more deliveries: %d message.received, want 1", len(got))
	}

	// A reply: queued, sent, then read after a read receipt.
	id := s.replyText(t, conv, "Oui! 👍")
	statuses := func() ([]string, string) {
		var out []string
		sentMID := ""
		for _, e := range s.events(t, "message.status_changed", since) {
			if e.Detail.MessageID == id {
				out = append(out, e.Detail.PreviousStatus+">"+e.Detail.Status)
				if e.Detail.Status == "sent" {
					sentMID = e.Detail.Message.MID
				}
			}
		}
		return out, sentMID
	}
	var sentMID string
	s.waitFor(t, 15*time.Second, "message.status_changed to sent", func() (bool, string) {
		got, m := statuses()
		sentMID = m
		return sentMID != "", strings.Join(got, ",")
	})
	s.webhook(t, map[string]any{
		"sender": map[string]any{"id": contact}, "recipient": map[string]any{"id": e2eAccount},
		"timestamp": time.Now().UnixMilli(), "read": map[string]any{"mid": sentMID},
	})
	s.waitFor(t, 10*time.Second, "message.status_changed to read", func() (bool, string) {
		got, _ := statuses()
		return strings.Join(got, ",") == ">queued,queued>sent,sent>read", strings.Join(got, ",")
	})

	if n := s.logs.count(func(l string) bool { return strings.Contains(l, "does not match its schema") }); n != 0 {
		t.Errorf("%d events so far did not match their schema", n)
	}
}

// replyText posts a text-only reply and returns the id of its one queued record.
func (s *stack) replyText(t *testing.T, conv, text string) string {
	t.Helper()
	status, raw := s.do(t, http.MethodPost, "/api/conversations/"+conv+"/messages", map[string]any{"text": text})
	if status != http.StatusAccepted {
		t.Fatalf("reply: %d %s", status, raw)
	}
	var accepted struct {
		Messages []api.MessageJSON `json:"messages"`
	}
	if err := json.Unmarshal(raw, &accepted); err != nil || len(accepted.Messages) != 1 {
		t.Fatalf("reply body %s: %v", raw, err)
	}
	return accepted.Messages[0].ID
}
