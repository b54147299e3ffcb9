package outbound_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

func replyBody(text string, images ...string) map[string]any {
	b := map[string]any{}
	if text != "" {
		b["text"] = text
	}
	var atts []map[string]string
	for _, u := range images {
		atts = append(atts, map[string]string{"type": "image", "url": u})
	}
	if atts != nil {
		b["attachments"] = atts
	}
	return b
}

// TestEndToEndTextAndTwoImages: a reply with text + 2 images through the real queue → 3
// records, 3 distinct mids, the echoes add nothing, a read marks all 3 read.
func TestEndToEndTextAndTwoImages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "do you have it in blue?")

	status, body := w.reply(conv, "", replyBody("Yes! Here are two photos", "https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"))
	if status != http.StatusAccepted {
		t.Fatalf("reply: %d %v", status, body)
	}
	recs := body["messages"].([]any)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	w.pump(2, 20*time.Second, w.allStatus(conv, 3, domain.MessageSent))
	w.drain(20 * time.Second) // the 3 echoes come back through the webhook and the queue
	if n := w.logCount(`"kind":"echo"`, `"outcome":"duplicate"`); n != 3 {
		t.Errorf("%d echoes recognised as our own sends, want 3", n)
	}

	if got := w.sim.SentTo(contact); got != 3 {
		t.Errorf("simulator accepted %d messages, want 3", got)
	}
	out := outgoing(w.messages(conv))
	if len(out) != 3 {
		t.Fatalf("%d outgoing messages after echoes, want 3: %+v", len(out), out)
	}
	mids := map[string]bool{}
	for i, m := range out {
		if m.MID == "" || mids[m.MID] {
			t.Errorf("message %d mid %q is empty or repeated", i, m.MID)
		}
		mids[m.MID] = true
		if m.Echo {
			t.Errorf("message %d is an echo record", i)
		}
	}
	if out[0].Text != "Yes! Here are two photos" || len(out[1].Attachments) != 1 || out[1].Attachments[0].URL != "https://cdn.example.com/a.jpg" ||
		out[2].Attachments[0].URL != "https://cdn.example.com/b.jpg" {
		t.Errorf("parts out of order: %+v", out)
	}

	if err := w.sim.PostRead(acct, contact, out[2].MID); err != nil {
		t.Fatalf("post read: %v", err)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv, 3, domain.MessageRead))
}

// TestCostPerPart measures DynamoDB round trips and Graph calls per sent part in the happy path
// (store.Meter on the client, the simulator's request counter).
func TestCostPerPart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.meter.Reset()
	const parts = 3
	if s, b := w.reply(conv, "key", replyBody("text", "https://cdn.example.com/1.jpg", "https://cdn.example.com/2.jpg")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv, parts, domain.MessageSent))
	w.drain(20 * time.Second)
	snap := w.meter.Snapshot()
	send := snap["send"]
	writes := send.Ops["UpdateItem"] + send.Ops["TransactWriteItems"] + send.Ops["PutItem"]
	reads := send.Ops["BatchGetItem"] + send.Ops["GetItem"] + send.Ops["Query"]
	graphCalls := w.sim.Count("POST /{ver}/me/messages")
	t.Logf("per part: sender %.2f round trips (%.2f writes, %.2f reads), API %.2f round trips, Graph calls %.2f; echoes: %.2f round trips each\n%s",
		float64(send.RoundTrips)/parts, float64(writes)/parts, float64(reads)/parts, float64(snap["api"].RoundTrips)/parts,
		float64(graphCalls)/parts, float64(snap["echo"].RoundTrips)/parts, w.meter.Table())
	if writes != 2*parts || reads != parts {
		t.Errorf("sender: %d writes and %d reads for %d parts, want 2 and 1 per part (%v)", writes, reads, parts, send.Ops)
	}
	if graphCalls != parts {
		t.Errorf("%d Graph calls for %d parts", graphCalls, parts)
	}
	if api := snap["api"]; api.Ops["TransactWriteItems"] != 1 {
		t.Errorf("API: %v, want one transaction for the whole reply", api.Ops)
	}
	if echo := snap["echo"]; echo.RoundTrips != parts {
		t.Errorf("echoes of our own sends: %v, want one read each", echo.Ops)
	}
}
