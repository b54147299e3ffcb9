package outbound_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
)

const otherContact = "1287461239847699"

// conversations lists every conversation through GET /api/conversations (newest activity first).
func (w *world) conversations() []api.ConversationJSON {
	w.t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/conversations",
		Headers: map[string]string{"authorization": "Bearer " + apiToken}}
	ev.RequestContext.HTTP.Method = http.MethodGet
	resp, err := w.api.HandleRequest(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusOK {
		w.t.Fatalf("list conversations: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var out struct {
		Conversations []api.ConversationJSON `json:"conversations"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		w.t.Fatal(err)
	}
	return out.Conversations
}

// activity is what a test checks about a conversation's activity, in Meta milliseconds.
type activity struct {
	lastActivity, lastIncoming int64 // the conversation's
	mirrorActivity, mirrorIn   int64 // the contact's mirror (of its last conversation)
	status                     string
}

func (w *world) activity(conv string) activity {
	w.t.Helper()
	ctx := context.Background()
	c, err := w.st.GetConversation(ctx, conv)
	if err != nil {
		w.t.Fatal(err)
	}
	ct, err := w.st.GetContact(ctx, c.ChannelID, c.ContactIGSID)
	if err != nil {
		w.t.Fatal(err)
	}
	return activity{c.LastActivityMS, c.LastIncomingMS, ct.ConvLastActivityMS, ct.ConvLastIncomingMS, c.Status}
}

// lastOutgoingTS is the stored ts of the conversation's latest outgoing part (when Meta
// accepted it, or its echo's time).
func (w *world) lastOutgoingTS(conv string) int64 {
	w.t.Helper()
	page, err := w.st.ListMessages(context.Background(), conv, "", 100)
	if err != nil {
		w.t.Fatal(err)
	}
	var ts int64
	for _, m := range page.Messages {
		if m.Direction == domain.DirectionOutgoing {
			ts = max(ts, m.TimestampMS)
		}
	}
	if ts == 0 {
		w.t.Fatalf("no outgoing message in %s", conv)
	}
	return ts
}

func (w *world) firstConversation() api.ConversationJSON {
	w.t.Helper()
	list := w.conversations()
	if len(list) == 0 {
		w.t.Fatal("no conversations")
	}
	return list[0]
}

func apiTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// TestReplyMovesActivity: a sent reply moves its conversation's activity (and the contact's
// mirror) to the part's time, so the conversation sorts first; last_incoming_at does not
// change. An older inbound message then never moves it back, a later one moves it forward,
// and a part sent with an older time never moves it back either.
func TestReplyMovesActivity(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	start := time.Now()
	inA := start.Add(-2 * time.Hour).UnixMilli()
	convA := w.incoming(contact, time.UnixMilli(inA), "hi")
	convB := w.incoming(otherContact, start.Add(-time.Hour), "hello")
	if first := w.firstConversation(); first.ID != convB {
		t.Fatalf("before the reply the newest conversation is %s, want %s", first.ID, convB)
	}

	if s, b := w.reply(convA, "", replyBody("on it")); s != http.StatusAccepted {
		t.Fatalf("reply: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(convA, 1, domain.MessageSent))
	w.drain(20 * time.Second) // the echo of our own send changes nothing
	sentTS := w.lastOutgoingTS(convA)
	if sentTS < start.UnixMilli() {
		t.Fatalf("part ts %d is before the test started", sentTS)
	}
	if got, want := w.activity(convA), (activity{sentTS, inA, sentTS, inA, domain.StatusOpen}); got != want {
		t.Errorf("after the reply: %+v, want %+v", got, want)
	}
	first := w.firstConversation()
	if first.ID != convA || first.LastActivityAt != apiTime(sentTS) || first.LastIncomingAt == nil || *first.LastIncomingAt != apiTime(inA) {
		t.Errorf("after the reply the list starts with %+v, want %s active at %s, last incoming %s", first, convA, apiTime(sentTS), apiTime(inA))
	}

	for _, step := range []struct {
		name string
		// inbound: Meta time of an incoming message (0: none); replyOffset: the sender's clock
		// offset for a reply (0: none).
		inbound     int64
		replyOffset time.Duration
		want        func(a activity) activity
	}{
		// Inbound messages are appended without writing the contact (its mirror then lags,
		// checked below as a lower bound); the conversation's times are the exact ones.
		{"older inbound does not move activity back", sentTS - 30*60*1000, 0, func(a activity) activity {
			return activity{sentTS, sentTS - 30*60*1000, a.mirrorActivity, a.mirrorIn, domain.StatusOpen}
		}},
		{"later inbound moves it forward", sentTS + 1000, 0, func(a activity) activity {
			return activity{sentTS + 1000, sentTS + 1000, a.mirrorActivity, a.mirrorIn, domain.StatusOpen}
		}},
		{"part sent with an older time does not move it back", 0, -10 * time.Minute, func(a activity) activity { return a }},
	} {
		before := w.activity(convA)
		if step.inbound != 0 {
			w.incoming(contact, time.UnixMilli(step.inbound), step.name)
		} else {
			w.setOffset(step.replyOffset)
			n := len(outgoing(w.messages(convA)))
			if s, b := w.reply(convA, "", replyBody(step.name)); s != http.StatusAccepted {
				t.Fatalf("%s: reply: %d %v", step.name, s, b)
			}
			w.pump(1, 20*time.Second, w.allStatus(convA, n+1, domain.MessageSent))
			w.drain(20 * time.Second)
			w.setOffset(0)
		}
		got, want := w.activity(convA), step.want(before)
		if step.inbound != 0 {
			// Written without the contact, or with it (a read first): either way the mirror
			// never moves back nor past the conversation.
			if got.mirrorActivity < before.mirrorActivity || got.mirrorActivity > got.lastActivity ||
				got.mirrorIn < before.mirrorIn || got.mirrorIn > got.lastIncoming {
				t.Errorf("%s: contact mirror %+v out of [%+v, the conversation's times]", step.name, got, before)
			}
			want.mirrorActivity, want.mirrorIn = got.mirrorActivity, got.mirrorIn
		}
		if got != want {
			t.Errorf("%s: %+v, want %+v", step.name, got, want)
		}
		if first := w.firstConversation(); first.ID != convA {
			t.Errorf("%s: the list starts with %s, want %s", step.name, first.ID, convA)
		}
	}
	if got := w.activity(convB); got.lastActivity != start.Add(-time.Hour).UnixMilli() {
		t.Errorf("the other contact's conversation moved: %+v", got)
	}
}

// TestOnlySentPartsMoveActivity: a part that ends failed never moves the activity (nothing
// reached the customer); a part sent after transient failures moves it when it is sent.
func TestOnlySentPartsMoveActivity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fault      *metasim.Fault
		wantStatus string
		wantMoved  bool
	}{
		{"sent", nil, domain.MessageSent, true},
		{"rate limited then sent", &metasim.Fault{Code: 4, Times: 1}, domain.MessageSent, true},
		{"551 failed", &metasim.Fault{Code: 551}, domain.MessageFailed, false},
		{"190 failed", &metasim.Fault{Code: 190, Subcode: 463}, domain.MessageFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, defaultOpts())
			in := time.Now().Add(-2 * time.Hour).UnixMilli()
			conv := w.incoming(contact, time.UnixMilli(in), "hi")
			other := w.incoming(otherContact, time.Now().Add(-time.Hour), "hello")
			if tc.fault != nil {
				f := *tc.fault
				f.Path = sendPath
				w.sim.AddFault(f)
			}
			if s, b := w.reply(conv, "", replyBody("hello")); s != http.StatusAccepted {
				t.Fatalf("%d %v", s, b)
			}
			w.pump(1, 30*time.Second, w.allStatus(conv, 1, tc.wantStatus))
			w.drain(20 * time.Second)
			want := activity{in, in, in, in, domain.StatusOpen}
			wantFirst := other
			if tc.wantMoved {
				ts := w.lastOutgoingTS(conv)
				want.lastActivity, want.mirrorActivity, wantFirst = ts, ts, conv
			}
			if got := w.activity(conv); got != want {
				t.Errorf("activity %+v, want %+v", got, want)
			}
			if first := w.firstConversation(); first.ID != wantFirst {
				t.Errorf("the list starts with %s, want %s", first.ID, wantFirst)
			}
		})
	}
}

// TestReplyInOlderConversation: a reply in a resolved conversation that is no longer the
// contact's last one moves that conversation's activity only: it stays resolved, and the
// contact's mirror (of its newer conversation) does not change.
func TestReplyInOlderConversation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	ctx := context.Background()
	now := time.Now()
	conv1 := w.incoming(contact, now.Add(-3*time.Hour), "first")
	if _, err := w.st.SetConversationStatus(ctx, conv1, domain.StatusResolved, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	in2 := now.Add(-time.Hour).UnixMilli()
	conv2 := w.incoming(contact, time.UnixMilli(in2), "second")
	if conv2 == conv1 {
		t.Fatal("the second message reopened the first conversation")
	}
	if s, b := w.reply(conv1, "", replyBody("about your first question")); s != http.StatusAccepted {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv1, 1, domain.MessageSent))
	w.drain(20 * time.Second)
	ts := w.lastOutgoingTS(conv1)
	in1 := now.Add(-3 * time.Hour).UnixMilli()
	if got, want := w.activity(conv1), (activity{ts, in1, in2, in2, domain.StatusResolved}); got != want {
		t.Errorf("older conversation %+v, want %+v", got, want)
	}
	if got, want := w.activity(conv2), (activity{in2, in2, in2, in2, domain.StatusOpen}); got != want {
		t.Errorf("newer conversation %+v, want %+v", got, want)
	}
	if first := w.firstConversation(); first.ID != conv1 {
		t.Errorf("the list starts with %s, want %s", first.ID, conv1)
	}
	// The contact writes again: their open conversation moves ahead.
	w.incoming(contact, time.UnixMilli(ts+1000), "third")
	if first := w.firstConversation(); first.ID != conv2 {
		t.Errorf("after a new message the list starts with %s, want %s", first.ID, conv2)
	}
}

// TestReconciledEchoMovesActivity: a part whose send outcome was unknown becomes sent when
// its echo arrives; the conversation's activity moves to the echo's time.
func TestReconciledEchoMovesActivity(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.grace = time.Hour // no re-send during this test
	w := newWorld(t, o)
	in := time.Now().Add(-time.Hour).UnixMilli()
	conv := w.incoming(contact, time.UnixMilli(in), "hi")
	w.meta.set(func(m *messenger) { m.lose = 1 })
	if s, b := w.reply(conv, "", replyBody("did it go?")); s != http.StatusAccepted {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(1, 10*time.Second, func() bool { return w.logCount(`"outcome":"unknown_outcome"`) == 1 })
	if got := w.activity(conv); got.lastActivity != in {
		t.Fatalf("activity moved before the send was known: %+v", got)
	}
	w.echoFromMeta("meta-mid-of-the-part", "did it go?")
	out := outgoing(w.messages(conv))
	if len(out) != 1 || out[0].Status != domain.MessageSent {
		t.Fatalf("after the echo: %+v", out)
	}
	ts := w.lastOutgoingTS(conv)
	if got, want := w.activity(conv), (activity{ts, in, ts, in, domain.StatusOpen}); got != want || ts <= in {
		t.Errorf("activity %+v, want %+v", got, want)
	}
}

// TestSentWriteSurvivesAContactChange: the contact changes between the sender's read and its
// sent write (an agent resolves the conversation while Meta answers): the versioned contact
// write loses, the sender reads again and records the send with the activity.
func TestSentWriteSurvivesAContactChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	in := time.Now().Add(-time.Hour).UnixMilli()
	conv := w.incoming(contact, time.UnixMilli(in), "hi")
	w.meta.set(func(m *messenger) { m.delayAfterAccept = 1500 * time.Millisecond })
	if s, b := w.reply(conv, "", replyBody("while you resolve")); s != http.StatusAccepted {
		t.Fatalf("%d %v", s, b)
	}
	var (
		wg         sync.WaitGroup
		resolveErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(10 * time.Second)
		for w.sim.SentTo(contact) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Meta accepted; the sender holds the answer 1.5 s before its write.
		_, resolveErr = w.st.SetConversationStatus(context.Background(), conv, domain.StatusResolved, nil, time.Now())
	}()
	w.meter.Reset()
	w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	wg.Wait()
	if resolveErr != nil {
		t.Fatal(resolveErr)
	}
	// The first sent write lost its contact condition: two transactions, one re-read.
	if send := w.meter.Snapshot()["send"]; send.Ops["TransactWriteItems"] != 2 || send.Ops["BatchGetItem"] != 2 {
		t.Errorf("sender round trips %v, want 2 transactions and 2 reads (one after the lost condition)", send.Ops)
	}
	w.drain(20 * time.Second)
	ts := w.lastOutgoingTS(conv)
	if got, want := w.activity(conv), (activity{ts, in, ts, in, domain.StatusResolved}); got != want {
		t.Errorf("activity %+v, want %+v", got, want)
	}
	if n := w.sim.SentTo(contact); n != 1 {
		t.Errorf("simulator accepted %d, want 1", n)
	}
}
