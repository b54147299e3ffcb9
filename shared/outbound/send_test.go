package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/webhook"
)

const sendPath = "/" + graph.Version + "/me/messages"

func TestReplyValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	long := strings.Repeat("é", 501) // 1002 bytes
	eleven := make([]map[string]string, 11)
	for i := range eleven {
		eleven[i] = map[string]string{"type": "image", "url": "https://cdn.example.com/x.jpg"}
	}
	for _, tc := range []struct {
		name     string
		conv     string
		body     any
		status   int
		wantCode string
	}{
		{"empty", conv, map[string]any{}, 400, "empty_message"},
		{"blank text", conv, map[string]any{"text": "  \n"}, 400, "invalid_text"},
		{"text over 1000 bytes", conv, map[string]any{"text": long}, 400, "text_too_long"},
		{"text of exactly 1000 bytes", conv, map[string]any{"text": strings.Repeat("a", 1000)}, 202, ""},
		{"bad type", conv, map[string]any{"attachments": []map[string]string{{"type": "sticker", "url": "https://x.example/a"}}}, 400, "invalid_attachment"},
		{"http url", conv, map[string]any{"attachments": []map[string]string{{"type": "image", "url": "http://x.example/a"}}}, 400, "invalid_attachment"},
		{"relative url", conv, map[string]any{"attachments": []map[string]string{{"type": "file", "url": "/a.pdf"}}}, 400, "invalid_attachment"},
		{"11 attachments", conv, map[string]any{"attachments": eleven}, 400, "too_many_attachments"},
		{"unknown field", conv, map[string]any{"text": "x", "tag": "HUMAN_AGENT"}, 400, "invalid_json"},
		{"unknown conversation", strings.Repeat("ab", 12), map[string]any{"text": "x"}, 404, "not_found"},
		{"malformed conversation id", "nope", map[string]any{"text": "x"}, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := w.reply(tc.conv, "", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.wantCode != "" {
				if code := body["error"].(map[string]any)["code"]; code != tc.wantCode {
					t.Errorf("code %v, want %s", code, tc.wantCode)
				}
			}
		})
	}
}

func TestPartsAreQueuedInOrderInTheConversationGroup(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	status, body := w.reply(conv, "", map[string]any{"text": "caption", "attachments": []map[string]string{
		{"type": "video", "url": "https://cdn.example.com/v.mp4"},
		{"type": "image", "url": "https://cdn.example.com/i.jpg"},
		{"type": "file", "url": "https://cdn.example.com/f.pdf"},
	}})
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, body)
	}
	recs := body["messages"].([]any)
	wantTypes := []string{"", "video", "image", "file"}
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		m := r.(map[string]any)
		_, hasMID := m["mid"] // absent until Meta gives one
		if m["status"] != "queued" || m["direction"] != "outgoing" || hasMID {
			t.Errorf("record %d: %v", i, m)
		}
		atts := m["attachments"].([]any)
		if wantTypes[i] == "" && (m["text"] != "caption" || len(atts) != 0) {
			t.Errorf("record %d is not the text part: %v", i, m)
		}
		if wantTypes[i] != "" && (len(atts) != 1 || atts[0].(map[string]any)["type"] != wantTypes[i]) {
			t.Errorf("record %d: want one %s attachment: %v", i, wantTypes[i], m)
		}
	}
	// The listing shows them in the same order, queued.
	out := outgoing(w.messages(conv))
	for i, m := range out {
		if m.ID != recs[i].(map[string]any)["id"] {
			t.Errorf("listing position %d is %s", i, m.ID)
		}
	}
	// Meta receives them in order, one message per part.
	w.pump(1, 20*time.Second, w.allStatus(conv, 4, domain.MessageSent))
	sends := w.sim.Sends()
	if len(sends) != 4 || sends[0].Text != "caption" || sends[1].AttachmentType != "video" || sends[2].AttachmentType != "image" || sends[3].AttachmentType != "file" {
		t.Errorf("sends out of order: %+v", sends)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	body := replyBody("hello", "https://cdn.example.com/a.jpg")
	s1, b1 := w.reply(conv, "key-1", body)
	s2, b2 := w.reply(conv, "key-1", body)
	if s1 != 202 || s2 != 202 {
		t.Fatalf("statuses %d %d", s1, s2)
	}
	ids := func(b map[string]any) []string {
		var out []string
		for _, m := range b["messages"].([]any) {
			out = append(out, m.(map[string]any)["id"].(string))
		}
		return out
	}
	if a, b := ids(b1), ids(b2); len(a) != 2 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("replay returned other records: %v vs %v", a, b)
	}
	s3, b3 := w.reply(conv, "key-1", replyBody("hello!"))
	if s3 != http.StatusConflict || b3["error"].(map[string]any)["code"] != "idempotency_conflict" {
		t.Errorf("different body: %d %v", s3, b3)
	}
	w.drain(20 * time.Second)
	// A replay after the send returns the sent records and sends nothing again.
	s4, b4 := w.reply(conv, "key-1", body)
	if s4 != 202 || b4["messages"].([]any)[0].(map[string]any)["status"] != "sent" {
		t.Errorf("late replay: %d %v", s4, b4)
	}
	w.drain(20 * time.Second)
	if n := w.sim.SentTo(contact); n != 2 {
		t.Errorf("simulator accepted %d messages, want 2", n)
	}
	if n := len(outgoing(w.messages(conv))); n != 2 {
		t.Errorf("%d outgoing records, want 2", n)
	}
	// The same key in another conversation is another request.
	conv2 := w.incoming("1287461239847699", time.Now().Add(-time.Hour), "hi")
	if s, b := w.reply(conv2, "key-1", body); s != 202 {
		t.Errorf("same key, other conversation: %d %v", s, b)
	}
}

func TestEnqueueFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")

	// With a key: 503, then the retry with the same key finishes the job.
	w.pub.failNext(1)
	if s, b := w.reply(conv, "k", replyBody("one")); s != http.StatusServiceUnavailable || b["error"].(map[string]any)["code"] != "enqueue_failed" {
		t.Fatalf("want 503 enqueue_failed, got %d %v", s, b)
	}
	if s, b := w.reply(conv, "k", replyBody("one")); s != 202 {
		t.Fatalf("retry: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	w.drain(20 * time.Second) // the echo uses the publisher too

	// Without a key: 503 and the records are failed, never left queued.
	w.pub.failNext(1)
	if s, _ := w.reply(conv, "", replyBody("two")); s != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d", s)
	}
	out := outgoing(w.messages(conv))
	if len(out) != 2 || out[1].Status != domain.MessageFailed || out[1].Error == nil {
		t.Fatalf("unqueued part: %+v", out)
	}
	w.drain(20 * time.Second)
	if n := w.sim.SentTo(contact); n != 1 {
		t.Errorf("simulator accepted %d, want 1", n)
	}
}

func TestWindowBoundaries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		age        time.Duration
		humanAgent bool
		status     int
		wantTag    string
	}{
		{"23h59m plain", 23*time.Hour + 59*time.Minute, true, 202, ""},
		{"24h1m tagged HUMAN_AGENT", 24*time.Hour + time.Minute, true, 202, graph.TagHumanAgent},
		{"6d23h tagged HUMAN_AGENT", 7*24*time.Hour - time.Hour, true, 202, graph.TagHumanAgent},
		{"7d1m refused", 7*24*time.Hour + time.Minute, true, 422, ""},
		{"24h1m refused without HUMAN_AGENT", 24*time.Hour + time.Minute, false, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := defaultOpts()
			o.humanAgent = tc.humanAgent
			w := newWorld(t, o)
			last := time.Now()
			conv := w.incoming(contact, last, "hi")
			w.setOffset(tc.age) // the clock of the API and the sender
			status, body := w.reply(conv, "", replyBody("late reply"))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if status != 202 {
				if code := body["error"].(map[string]any)["code"]; code != "outside_window" {
					t.Errorf("code %v", code)
				}
				return
			}
			w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
			sends := w.sim.Sends()
			if len(sends) != 1 || sends[0].Tag != tc.wantTag {
				t.Fatalf("sends %+v, want tag %q", sends, tc.wantTag)
			}
			wantType := ""
			if tc.wantTag != "" {
				wantType = graph.MessagingTypeTag
			}
			if sends[0].MessagingType != wantType {
				t.Errorf("messaging_type %q, want %q", sends[0].MessagingType, wantType)
			}
		})
	}
}

func TestWindowClosedWhileQueued(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now(), "hi")
	w.setOffset(7*24*time.Hour - time.Minute)
	status, body := w.reply(conv, "", replyBody("just in time?"))
	if status != 202 {
		t.Fatalf("%d %v", status, body)
	}
	w.setOffset(7*24*time.Hour + time.Minute) // the queue was slow
	w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageFailed))
	m := outgoing(w.messages(conv))[0]
	if m.Error == nil || m.Error.Code != 10 || m.Error.Subcode != 2534022 || !strings.Contains(m.Error.Message, "7 days") {
		t.Errorf("error %+v", m.Error)
	}
	if n := w.sim.SentTo(contact); n != 0 {
		t.Errorf("simulator accepted %d", n)
	}
}

// TestWindowAfterAppendWithoutRead: a message appended without a read moves its
// conversation's last incoming time and not the contact's mirror; the window of the API and
// of the sender counts it: a reply within 24 h of it is sent plainly, and one queued within
// the window but sent after it is refused (HUMAN_AGENT disabled).
func TestWindowAfterAppendWithoutRead(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.humanAgent = false
	w := newWorld(t, o)
	ctx := context.Background()
	old := time.Now().Add(-30 * time.Hour)
	conv := w.incoming(contact, old, "a day and more ago")
	recent := time.Now().Add(-time.Hour)
	w.meter.Reset()
	if got := w.incoming(contact, recent, "an hour ago"); got != conv {
		t.Fatalf("second message in %s, want %s", got, conv)
	}
	if u := w.meter.Snapshot()["message"]; u.RoundTrips != 1 || u.Ops["TransactWriteItems"] != 1 {
		t.Fatalf("second message: %+v, want one write without a read", u)
	}
	c, err := w.st.GetContact(ctx, acct, contact)
	if err != nil || c.ConvLastIncomingMS != old.UnixMilli() {
		t.Fatalf("contact mirror %d %v, want the first message's time (not written by the append)", c.ConvLastIncomingMS, err)
	}

	if s, b := w.reply(conv, "", replyBody("within the window")); s != 202 {
		t.Fatalf("reply within 24 h of the appended message: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	if sends := w.sim.Sends(); len(sends) != 1 || sends[0].Tag != "" || sends[0].MessagingType != "" {
		t.Fatalf("sends %+v, want one plain send", sends)
	}

	w.setOffset(22 * time.Hour)
	if s, b := w.reply(conv, "", replyBody("queued in time, sent too late")); s != 202 {
		t.Fatalf("reply at 23 h: %d %v", s, b)
	}
	w.setOffset(25 * time.Hour) // the queue was slow
	w.pump(1, 20*time.Second, func() bool {
		out := outgoing(w.messages(conv))
		return len(out) == 2 && out[0].Status == domain.MessageSent && out[1].Status == domain.MessageFailed
	})
	if m := outgoing(w.messages(conv))[1]; m.Error == nil || m.Error.Code != 10 || m.Error.Subcode != 2534022 {
		t.Errorf("late part's error %+v, want outside the window", m.Error)
	}
	if s, b := w.reply(conv, "", replyBody("too late")); s != 422 {
		t.Errorf("reply 25 h after the appended message: %d %v, want 422", s, b)
	}
	if n := w.sim.SentTo(contact); n != 1 {
		t.Errorf("simulator accepted %d, want 1", n)
	}
}

// TestWindowOfOlderConversationAfterAppend: a reply in an older conversation counts the
// contact's latest message, also one appended without a read to their newer conversation
// (which the contact's mirror of that conversation does not show): within 24 h of it the
// reply is accepted and sent plainly (HUMAN_AGENT disabled).
func TestWindowOfOlderConversationAfterAppend(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.humanAgent = false
	w := newWorld(t, o)
	ctx := context.Background()
	now := time.Now()
	conv1 := w.incoming(contact, now.Add(-50*time.Hour), "first \U0001F602")
	if _, err := w.st.SetConversationStatus(ctx, conv1, domain.StatusResolved, nil, now); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-30 * time.Hour)
	conv2 := w.incoming(contact, old, "second \u202eRTL")
	if conv2 == conv1 {
		t.Fatal("the second message reopened the first conversation")
	}
	w.meter.Reset()
	if got := w.incoming(contact, now.Add(-time.Hour), "an hour ago"); got != conv2 {
		t.Fatalf("third message in %s, want %s", got, conv2)
	}
	if u := w.meter.Snapshot()["message"]; u.RoundTrips != 1 || u.Ops["TransactWriteItems"] != 1 {
		t.Fatalf("third message: %+v, want one write without a read", u)
	}
	if c, err := w.st.GetContact(ctx, acct, contact); err != nil || c.ConvLastIncomingMS != old.UnixMilli() || c.LastConversationID != conv2 {
		t.Fatalf("contact %+v %v, want its mirror at the second message (not written by the append)", c, err)
	}

	if s, b := w.reply(conv1, "", replyBody("about your first question")); s != 202 {
		t.Fatalf("reply in the older conversation an hour after the contact wrote: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv1, 1, domain.MessageSent))
	if sends := w.sim.Sends(); len(sends) != 1 || sends[0].Tag != "" || sends[0].MessagingType != "" {
		t.Fatalf("sends %+v, want one plain send", sends)
	}
}

// TestWindowAfterReopeningAnOlderConversation: reopening an older conversation makes it the
// contact's last one, whose times are older than the newer conversation's; the window of a
// reply in it still counts the contact's latest message (an hour ago, in the newer
// conversation): accepted and sent plainly, where the reopened conversation's own time (8
// days) would refuse it.
func TestWindowAfterReopeningAnOlderConversation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	ctx := context.Background()
	now := time.Now()
	conv1 := w.incoming(contact, now.Add(-8*24*time.Hour), "old \U0001F602")
	if _, err := w.st.SetConversationStatus(ctx, conv1, domain.StatusResolved, nil, now); err != nil {
		t.Fatal(err)
	}
	conv2 := w.incoming(contact, now.Add(-time.Hour), "recent \u202eRTL")
	if conv2 == conv1 {
		t.Fatal("the second message reopened the first conversation")
	}
	if _, err := w.st.SetConversationStatus(ctx, conv2, domain.StatusResolved, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.SetConversationStatus(ctx, conv1, domain.StatusOpen, nil, now); err != nil {
		t.Fatal(err)
	}
	if s, b := w.reply(conv1, "", replyBody("following up")); s != 202 {
		t.Fatalf("reply in the reopened conversation an hour after the contact wrote: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, w.allStatus(conv1, 1, domain.MessageSent))
	if sends := w.sim.Sends(); len(sends) != 1 || sends[0].Tag != "" || sends[0].MessagingType != "" {
		t.Fatalf("sends %+v, want one plain send", sends)
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fault      metasim.Fault
		wantStatus string
		wantCode   int
		wantSub    int
		wantReauth bool
		wantSends  int
	}{
		{"190 token expired", metasim.Fault{Code: 190, Subcode: 463}, domain.MessageFailed, 190, 463, true, 0},
		{"200/2534041 DM access disabled", metasim.Fault{Code: 200, Subcode: 2534041}, domain.MessageFailed, 200, 2534041, true, 0},
		{"10/2534022 outside window", metasim.Fault{Code: 10, Subcode: 2534022}, domain.MessageFailed, 10, 2534022, false, 0},
		{"10/2018108 cannot receive", metasim.Fault{Code: 10, Subcode: 2018108}, domain.MessageFailed, 10, 2018108, false, 0},
		{"551 unavailable", metasim.Fault{Code: 551}, domain.MessageFailed, 551, 0, false, 0},
		{"100/2018047 upload failure", metasim.Fault{Code: 100, Subcode: 2018047}, domain.MessageFailed, 100, 2018047, false, 0},
		{"4 rate limited then sent", metasim.Fault{Code: 4, Times: 1}, domain.MessageSent, 0, 0, false, 1},
		{"613 rate limited then sent", metasim.Fault{Code: 613, Subcode: 2534040, Times: 2}, domain.MessageSent, 0, 0, false, 1},
		{"bare 429 rate limited then sent", metasim.Fault{Status: 429, Body: "Too Many Requests", Times: 1}, domain.MessageSent, 0, 0, false, 1},
		// Outcome unknown (Meta may have accepted): re-sent only after the grace without an echo.
		{"500 not accepted, re-sent after the grace", metasim.Fault{Code: 500, Times: 1}, domain.MessageSent, 0, 0, false, 1},
		{"2 not accepted, re-sent after the grace", metasim.Fault{Code: 2, Times: 1}, domain.MessageSent, 0, 0, false, 1},
		{"5xx on every attempt fails unconfirmed", metasim.Fault{Code: 503}, domain.MessageFailed, 0, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, defaultOpts())
			conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
			f := tc.fault
			f.Path = sendPath
			w.sim.AddFault(f)
			if s, b := w.reply(conv, "", replyBody("hello")); s != 202 {
				t.Fatalf("%d %v", s, b)
			}
			if tc.wantStatus == domain.MessageSent && tc.fault.Code != 500 && tc.fault.Code != 2 {
				// Rate limited: the part stays queued while the queue retries it.
				// (observed as soon as the failure is logged: the retry comes ≥ 1 s later)
				var m api.MessageJSON
				w.pump(1, 20*time.Second, func() bool {
					if w.logCount(`"msg":"event failed"`, `"kind":"send"`) == 0 {
						return false
					}
					m = outgoing(w.messages(conv))[0]
					return true
				})
				if m.Status != domain.MessageQueued || m.MID != "" {
					t.Errorf("after a transient failure: %+v", m)
				}
			}
			w.pump(1, 60*time.Second, w.allStatus(conv, 1, tc.wantStatus))
			m := outgoing(w.messages(conv))[0]
			if tc.wantStatus == domain.MessageFailed {
				if m.Error == nil || m.Error.Code != tc.wantCode || m.Error.Subcode != tc.wantSub || m.Error.Message == "" || m.MID != "" {
					t.Errorf("failed part %+v error %+v", m, m.Error)
				}
			} else if m.MID == "" || m.Error != nil {
				t.Errorf("sent part %+v", m)
			}
			ch, err := w.st.GetChannel(context.Background(), acct)
			if err != nil {
				t.Fatal(err)
			}
			if ch.ReauthRequired != tc.wantReauth {
				t.Errorf("reauth_required %v, want %v", ch.ReauthRequired, tc.wantReauth)
			}
			// A flag is counted with the metric ChannelsReauthAlarm reads.
			flags, err := metrics.Decode(w.metrics.String(), metrics.ChannelsFlaggedForReauth)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1}[tc.wantReauth]; len(flags) != want {
				t.Errorf("%d ChannelsFlaggedForReauth lines, want %d: %+v", len(flags), want, flags)
			}
			for _, l := range flags {
				if l.Namespace != "iginbox" || fmt.Sprint(l.Dimensions) != "[[Stage Function]]" || l.Fields["Stage"] != "test" ||
					l.Fields["Function"] != "processor" || l.Fields[metrics.ChannelsFlaggedForReauth] != float64(1) || l.Fields["account_id"] != acct {
					t.Errorf("ChannelsFlaggedForReauth line %+v", l)
				}
			}
			if n := w.sim.SentTo(contact); n != tc.wantSends {
				t.Errorf("simulator accepted %d, want %d", n, tc.wantSends)
			}
			if strings.Contains(w.logs.String(), w.token) {
				t.Error("the access token reached the logs")
			}
		})
	}
}

// TestTimeoutAfterAccept: Meta accepts the message but answers after the client gave up. The
// part is not re-sent: the echo is attached to it. Exactly one Instagram message, one record.
func TestTimeoutAfterAccept(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.graphTimeout = 300 * time.Millisecond
	o.grace = 3 * time.Second
	w := newWorld(t, o)
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.sim.AddFault(metasim.Fault{Path: sendPath, TimeoutAfterAccept: true, DelayMS: 1500, Times: 1})
	if s, b := w.reply(conv, "", replyBody("are you there?")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(2, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	w.drain(20 * time.Second) // the check command finds the part sent
	assertOneSend(t, w, conv)
	if n := w.logCount(`"outcome":"reconciled_with_send"`); n != 1 {
		t.Errorf("%d echoes reconciled, want 1", n)
	}
}

// TestCrashAfterAccept: the function dies after Meta accepted the message and before it
// recorded the mid; the redelivered command must not send it again.
func TestCrashAfterAccept(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.grace = 3 * time.Second
	w := newWorld(t, o)
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.meta.set(func(m *messenger) { m.crashAfterAccept = 1 })
	if s, b := w.reply(conv, "", replyBody("hello after a crash")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(2, 30*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	w.drain(20 * time.Second)
	assertOneSend(t, w, conv)
}

// TestLostSendIsResentAfterGrace: the request never reached Meta (no echo): after the grace
// period the check re-sends it, once.
func TestLostSendIsResentAfterGrace(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.grace = time.Second
	w := newWorld(t, o)
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.meta.set(func(m *messenger) { m.lose = 1 })
	if s, b := w.reply(conv, "", replyBody("second try")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(2, 30*time.Second, w.allStatus(conv, 1, domain.MessageSent))
	w.drain(20 * time.Second)
	assertOneSend(t, w, conv)
	if n := w.logCount(`"outcome":"resend_enqueued"`); n != 1 {
		t.Errorf("%d re-sends enqueued, want 1", n)
	}
}

// TestEchoCannotOvertakeTheSend: Meta's echo is posted at once and the sender is slow to
// record the mid; several workers poll the FIFO queue. The echo waits behind the send command
// in the conversation's group, so it always finds the mid recorded: no duplicate.
func TestEchoCannotOvertakeTheSend(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.echoDelay = time.Millisecond
	w := newWorld(t, o)
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.meta.set(func(m *messenger) { m.delayAfterAccept = 1500 * time.Millisecond })
	if s, b := w.reply(conv, "", replyBody("race", "https://cdn.example.com/r.jpg")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(4, 30*time.Second, w.allStatus(conv, 2, domain.MessageSent))
	w.drain(20 * time.Second)
	if n := w.logCount(`"kind":"echo"`, `"outcome":"duplicate"`); n != 2 {
		t.Errorf("%d echoes seen as duplicates, want 2", n)
	}
	if n := len(outgoing(w.messages(conv))); n != 2 {
		t.Errorf("%d outgoing records, want 2", n)
	}
}

func assertOneSend(t *testing.T, w *world, conv string) {
	t.Helper()
	if n := w.sim.SentTo(contact); n != 1 {
		t.Errorf("simulator accepted %d messages, want exactly 1", n)
	}
	out := outgoing(w.messages(conv))
	if len(out) != 1 {
		t.Fatalf("%d outgoing records, want 1: %+v", len(out), out)
	}
	sends := w.sim.Sends()
	if len(sends) != 1 || out[0].MID != sends[0].MID || out[0].Status != domain.MessageSent {
		t.Errorf("record %+v, sends %+v", out[0], sends)
	}
}

// TestEchoMatching: while a part's outcome is unknown, an echo of another message (sent from
// the Instagram app) is stored as its own message; the echo with the part's content settles
// the part; a stale marker never blocks an echo.
func TestEchoMatching(t *testing.T) {
	t.Parallel()
	o := defaultOpts()
	o.grace = time.Hour // no re-send during this test
	w := newWorld(t, o)
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	w.meta.set(func(m *messenger) { m.lose = 1 })
	if s, b := w.reply(conv, "", replyBody("the part")); s != 202 {
		t.Fatalf("%d %v", s, b)
	}
	w.pump(1, 10*time.Second, func() bool { return w.logCount(`"outcome":"unknown_outcome"`) == 1 })

	w.echoFromMeta("app-mid-1", "typed in the Instagram app")
	out := outgoing(w.messages(conv))
	if len(out) != 2 || out[0].Status != domain.MessageQueued || !out[1].Echo || out[1].MID != "app-mid-1" {
		t.Fatalf("after an unrelated echo: %+v", out)
	}
	w.echoFromMeta("meta-mid-of-the-part", "the part")
	out = outgoing(w.messages(conv))
	// Settled by its echo, the part takes the echo's time: it now lists after the app's message.
	if len(out) != 2 || out[1].Status != domain.MessageSent || out[1].MID != "meta-mid-of-the-part" || out[0].MID != "app-mid-1" {
		t.Fatalf("after the part's echo: %+v", out)
	}
	// The same echo again (Meta retries) is a duplicate.
	w.echoFromMeta("meta-mid-of-the-part", "the part")
	if n := len(outgoing(w.messages(conv))); n != 2 {
		t.Errorf("%d outgoing after a duplicate echo", n)
	}
}

// echoFromMeta runs an echo webhook item through the processor (as the webhook would queue it).
func (w *world) echoFromMeta(mid, text string) {
	w.t.Helper()
	item := map[string]any{"sender": map[string]any{"id": acct}, "recipient": map[string]any{"id": contact},
		"timestamp": time.Now().UnixMilli(), "message": map[string]any{"mid": mid, "text": text, "is_echo": true}}
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": acct, "time": 1, "messaging": []any{item}}}})
	b, err := webhook.Parse(body)
	if err != nil || len(b.Events) != 1 {
		w.t.Fatalf("parse: %v", err)
	}
	if resp, err := w.handler.Handle(context.Background(), sqsEvent(w.t, b.Events...)); err != nil || len(resp.BatchItemFailures) > 0 {
		w.t.Fatalf("echo not handled: %v %+v", err, resp)
	}
}

// TestUnknownOutcomeAfterAcceptSendsOnce: Meta accepts the message but its answer does not say
// so (a 5xx, code 1 or 2, a 2xx without message_id or not JSON, a timeout). The part waits for
// its echo instead of being sent again: exactly one Instagram message and one record, sent.
func TestUnknownOutcomeAfterAcceptSendsOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault metasim.Fault
	}{
		{"504 gateway timeout", metasim.Fault{AfterAccept: true, Status: 504, Body: "<html>Gateway Timeout</html>"}},
		{"500 with code 1", metasim.Fault{AfterAccept: true, Code: 1}},
		{"503 with code 2", metasim.Fault{AfterAccept: true, Code: 2}},
		{"200 with code 2 in the body", metasim.Fault{AfterAccept: true, Code: 2, Status: 200}},
		{"200 without message_id", metasim.Fault{AfterAccept: true, Body: `{"recipient_id":"` + contact + `"}`}},
		{"200 not JSON", metasim.Fault{AfterAccept: true, Body: "OK"}},
		{"timeout", metasim.Fault{TimeoutAfterAccept: true, DelayMS: 1500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := defaultOpts()
			o.graphTimeout = 500 * time.Millisecond
			o.grace = 3 * time.Second
			w := newWorld(t, o)
			conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
			f := tc.fault
			f.Path, f.Times = sendPath, 1
			w.sim.AddFault(f)
			if s, b := w.reply(conv, "", replyBody("only once, please \U0001F64F")); s != 202 {
				t.Fatalf("%d %v", s, b)
			}
			w.pump(2, 30*time.Second, w.allStatus(conv, 1, domain.MessageSent))
			w.drain(20 * time.Second) // the send check finds the part sent
			assertOneSend(t, w, conv)
			if n := w.logCount(`"send outcome unknown; waiting for its echo"`); n != 1 {
				t.Errorf("%d unknown outcomes logged, want 1", n)
			}
			if n := w.logCount(`"outcome":"resend_enqueued"`); n != 0 {
				t.Errorf("%d re-sends enqueued, want none", n)
			}
		})
	}
}
