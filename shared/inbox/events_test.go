package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/processor"
)

func TestIncomingMessageShapes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1001"
	atts := []obj{
		{"type": "image", "payload": obj{"url": "https://cdn/img"}},
		{"type": "video", "payload": obj{"url": "https://cdn/vid"}},
		{"type": "audio", "payload": obj{"url": "https://cdn/aud"}},
		{"type": "file", "payload": obj{"url": "https://cdn/file"}},
		{"type": "share", "payload": obj{"url": "https://cdn/share"}},
		{"type": "story_mention", "payload": obj{"url": "https://cdn/story"}},
		{"type": "ig_reel", "payload": obj{"url": "https://cdn/reel", "title": "t", "reel_video_id": "99"}},
		{"type": "reel", "payload": obj{"url": "https://cdn/reel2"}},
		{"type": "ig_post", "payload": obj{"url": "https://cdn/post", "ig_post_media_id": "55"}},
		{"type": "ig_story", "payload": obj{"story_media_id": "77", "story_media_url": "https://cdn/igstory"}},
		{"type": "brand_new_type", "payload": obj{"whatever": 1}},
	}
	f.handle(
		text(c, ms(1*time.Second), mid("a"), "hello"),
		incoming(c, ms(2*time.Second), mid("b"), obj{"attachments": atts}),
		incoming(c, ms(3*time.Second), mid("c"), obj{"text": "re", "reply_to": obj{"mid": mid("a")}}),
		incoming(c, ms(4*time.Second), mid("d"), obj{"text": "story!", "reply_to": obj{"story": obj{"id": "st1", "url": "https://cdn/st1"}}}),
		incoming(c, ms(5*time.Second), mid("e"), obj{"text": "Yes", "quick_reply": obj{"payload": "YES_PAYLOAD"}}),
		incoming(c, ms(6*time.Second), mid("f"), obj{"text": "from ad", "referral": obj{"ref": "ad1", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "123"}}),
		incoming(c, ms(7*time.Second), mid("g"), obj{"is_unsupported": true}),
		postback(c, ms(8*time.Second), mid("h"), "Get started", "START"),
	)
	conv := f.onlyConversation(c)
	msgs := f.messages(conv.ID)
	if len(msgs) != 8 {
		t.Fatalf("got %d messages, want 8", len(msgs))
	}
	byMID := map[string]int{}
	for i, m := range msgs {
		byMID[m.MID] = i
		if m.Direction != "incoming" || m.Status != "received" || m.Echo {
			t.Errorf("%s: direction %s status %s echo %v", m.MID, m.Direction, m.Status, m.Echo)
		}
	}
	if got := msgs[byMID[mid("a")]]; got.Text != "hello" || got.Timestamp != "2026-11-20T10:00:01.000Z" {
		t.Errorf("text message: %+v", got)
	}
	got := msgs[byMID[mid("b")]].Attachments
	if len(got) != len(atts) {
		t.Fatalf("attachments: %d, want %d", len(got), len(atts))
	}
	for i, a := range atts {
		if got[i].Type != a["type"] {
			t.Errorf("attachment %d type %s, want %s", i, got[i].Type, a["type"])
		}
	}
	if got[9].URL != "https://cdn/igstory" || got[0].URL != "https://cdn/img" {
		t.Errorf("attachment urls: %+v", got)
	}
	if r := msgs[byMID[mid("c")]].ReplyTo; r == nil || r.MID != mid("a") {
		t.Errorf("reply_to mid: %+v", r)
	}
	if r := msgs[byMID[mid("d")]].ReplyTo; r == nil || r.StoryID != "st1" || r.StoryURL != "https://cdn/st1" {
		t.Errorf("reply_to story: %+v", r)
	}
	if !msgs[byMID[mid("g")]].Unsupported {
		t.Error("is_unsupported lost")
	}
	if m := msgs[byMID[mid("h")]]; m.Text != "Get started" {
		t.Errorf("postback text %q", m.Text)
	}
	// Fields the API does not show are kept in the store.
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		mid   string
		check func(domain.Message) bool
	}{
		{"quick reply payload", mid("e"), func(m domain.Message) bool { return m.QuickReplyPayload == "YES_PAYLOAD" }},
		{"message referral", mid("f"), func(m domain.Message) bool {
			return m.Referral != nil && m.Referral.Ref == "ad1" && strings.Contains(m.Referral.Raw, `"ad_id":"123"`)
		}},
		{"postback payload", mid("h"), func(m domain.Message) bool { return m.PostbackPayload == "START" }},
		{"unknown attachment payload", mid("b"), func(m domain.Message) bool {
			return m.Attachments[10].Payload == `{"whatever":1}` && strings.Contains(m.Attachments[6].Payload, `"reel_video_id":"99"`)
		}},
	} {
		m, err := f.st.GetMessageByMID(ctx, acct, tc.mid)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !tc.check(m) {
			t.Errorf("%s not kept: %+v", tc.name, m)
		}
	}
	if conv.Contact.Name != "Name "+c || conv.Contact.Username != "user"+c || conv.Contact.Unknown {
		t.Errorf("contact %+v", conv.Contact)
	}
	if conv.LastActivityAt != "2026-11-20T10:00:08.000Z" || conv.LastIncomingAt == nil || *conv.LastIncomingAt != conv.LastActivityAt {
		t.Errorf("conversation times %s %v", conv.LastActivityAt, conv.LastIncomingAt)
	}
}

// One stored message per mid however often it is delivered.
func TestOneMessagePerMID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1002"
	item := text(c, ms(time.Second), mid("dup"), "once")
	for range 4 {
		f.handle(item)
	}
	// A redelivery with a different envelope timestamp (Meta retry) is still the same mid.
	f.handle(text(c, ms(time.Second), mid("dup"), "once"), echo(c, ms(2*time.Second), mid("e1"), "hi"), echo(c, ms(2*time.Second), mid("e1"), "hi"))
	conv := f.onlyConversation(c)
	msgs := f.messages(conv.ID)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if f.profiles.count(c) != 1 {
		t.Errorf("profile fetched %d times, want 1", f.profiles.count(c))
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1003"
	f.handle(text(c, ms(time.Second), mid("in"), "hi"))
	conv := f.onlyConversation(c)
	// Our own send, recorded by the outbound path before its echo is processed.
	ctx := context.Background()
	st, err := f.st.LoadEventState(ctx, acct, c, mid("own"))
	if err != nil {
		t.Fatal(err)
	}
	own := domain.Message{ID: "own-record", ConversationID: conv.ID, ChannelID: acct, ContactIGSID: c, MID: mid("own"),
		Direction: domain.DirectionOutgoing, Text: "from api", Status: domain.MessageSent, TimestampMS: ms(2 * time.Second)}
	tx := new(domain.Tx)
	tx.PutMessage(own)
	rec := st.MID
	rec.ConversationID, rec.MessageSK = conv.ID, own.SK()
	tx.PutMID(rec)
	if err := f.st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	f.handle(
		echo(c, ms(2*time.Second+5), mid("own"), "from api"),        // echo of our send: no change
		echo(c, ms(3*time.Second), mid("app"), "sent from the app"), // sent from the Instagram app
	)
	msgs := f.messages(conv.ID)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3: %+v", len(msgs), msgs)
	}
	if m := msgs[1]; m.ID != "own-record" || m.Echo || m.Timestamp != "2026-11-20T10:00:02.000Z" {
		t.Errorf("own send changed by its echo: %+v", m)
	}
	if m := msgs[2]; m.Direction != "outgoing" || !m.Echo || m.Status != "sent" || m.Text != "sent from the app" {
		t.Errorf("app echo: %+v", m)
	}
	got := f.onlyConversation(c)
	if got.LastActivityAt != "2026-11-20T10:00:03.000Z" || *got.LastIncomingAt != "2026-11-20T10:00:01.000Z" {
		t.Errorf("echo must move last_activity only: %+v", got)
	}
}

// An unsend wins even when it arrives before its message.
func TestUnsend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		order []int
	}{
		{"message then unsend", []int{0, 1}},
		{"unsend then message", []int{1, 0}},
		{"unsend, message, unsend again, message again", []int{1, 0, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			const c = "1004"
			items := []obj{
				incoming(c, ms(time.Second), mid("x"), obj{"text": "oops", "attachments": []obj{{"type": "image", "payload": obj{"url": "https://cdn/x"}}}}),
				unsend(c, ms(5*time.Second), mid("x")),
			}
			for _, i := range tc.order {
				f.handle(items[i])
			}
			m := f.message(c, mid("x"))
			if !m.Deleted || m.Text != "" || len(m.Attachments) != 0 {
				t.Errorf("message not deleted: %+v", m)
			}
			stored, err := f.st.GetMessageByMID(context.Background(), acct, mid("x"))
			if err != nil || stored.Text != "" || stored.Attachments != nil {
				t.Errorf("content kept in the store: %+v %v", stored, err)
			}
		})
	}
}

// Per reactor, the reaction event with the later Meta timestamp wins.
func TestReactionsConverge(t *testing.T) {
	t.Parallel()
	const c = "1005"
	msg := text(c, ms(time.Second), mid("r"), "react to me")
	react := reaction(c, ms(2*time.Second), mid("r"), "react", "❤")
	unreact := reaction(c, ms(3*time.Second), mid("r"), "unreact", "")
	react2 := reaction(c, ms(4*time.Second), mid("r"), "react", "😂")
	for _, tc := range []struct {
		name  string
		items []obj
		want  []string // emojis
	}{
		{"react", []obj{msg, react}, []string{"❤"}},
		{"react before message", []obj{react, msg}, []string{"❤"}},
		{"react then unreact", []obj{msg, react, unreact}, nil},
		{"unreact arrives first", []obj{unreact, msg, react}, nil},
		{"unreact before everything, then both", []obj{unreact, react, msg}, nil},
		{"re-react wins over unreact", []obj{msg, react2, unreact, react}, []string{"😂"}},
		{"duplicates", []obj{msg, react, react, unreact, unreact, react}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.handle(tc.items...)
			m := f.message(c, mid("r"))
			var got []string
			for _, r := range m.Reactions {
				got = append(got, r.Emoji)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("reactions %v, want %v", got, tc.want)
			}
		})
	}
}

// Invariants 5 and 7: a read covers every sent outgoing message at or before its timestamp,
// including ones stored later; it never moves back; failed stays failed.
func TestReadWatermark(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1006"
	f.handle(
		text(c, ms(1*time.Second), mid("in"), "hi"),
		echo(c, ms(5*time.Second), mid("o5"), "five"),
		read(c, ms(10*time.Second), mid("o5")),
		echo(c, ms(8*time.Second), mid("o8"), "eight, stored after the read"),
		echo(c, ms(12*time.Second), mid("o12"), "twelve, after the read"),
		read(c, ms(7*time.Second), mid("o5")), // late, older read: no downgrade
	)
	conv := f.onlyConversation(c)
	// A failed outgoing message before the watermark stays failed.
	ctx := context.Background()
	st, _ := f.st.LoadEventState(ctx, acct, c, mid("fail"))
	failed := domain.Message{ID: "failed", ConversationID: conv.ID, ChannelID: acct, ContactIGSID: c, MID: mid("fail"), Direction: domain.DirectionOutgoing,
		Status: domain.MessageFailed, Error: &domain.SendError{Code: 10, Subcode: 2534022, Message: "outside window"}, TimestampMS: ms(6 * time.Second)}
	tx := new(domain.Tx)
	tx.PutMessage(failed)
	rec := st.MID
	rec.ConversationID, rec.MessageSK = conv.ID, failed.SK()
	tx.PutMID(rec)
	if err := f.st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{mid("in"): "received", mid("o5"): "read", mid("fail"): "failed", mid("o8"): "read", mid("o12"): "sent"}
	for _, m := range f.messages(conv.ID) {
		if m.Status != want[m.MID] {
			t.Errorf("%s: status %s, want %s", m.MID, m.Status, want[m.MID])
		}
		if m.MID == mid("fail") && (m.Error == nil || m.Error.Code != 10 || m.Error.Subcode != 2534022) {
			t.Errorf("failed message error: %+v", m.Error)
		}
	}
	f.handle(read(c, ms(20*time.Second), mid("o12")))
	if m := f.message(c, mid("o12")); m.Status != "read" {
		t.Errorf("o12 after later read: %s", m.Status)
	}
}

// Messages ordered by Meta's timestamp, ties by mid, never by processing time.
func TestMessageOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1007"
	f.handle(
		text(c, ms(3*time.Second), mid("3"), "third"),
		text(c, ms(1*time.Second), mid("1"), "first"),
		text(c, ms(2*time.Second), mid("2b"), "tie b"),
		text(c, ms(2*time.Second), mid("2a"), "tie a"),
	)
	conv := f.onlyConversation(c)
	var got []string
	for _, m := range f.messages(conv.ID) {
		got = append(got, m.Text)
	}
	if strings.Join(got, "|") != "first|tie a|tie b|third" {
		t.Errorf("order %v", got)
	}
	if conv.LastActivityAt != "2026-11-20T10:00:03.000Z" {
		t.Errorf("last activity %s (processing order must not matter)", conv.LastActivityAt)
	}
}

// At most one open conversation per (channel, contact).
func TestConversationLifecycle(t *testing.T) {
	t.Parallel()
	const c = "1008"
	for _, tc := range []struct {
		name         string
		lock         bool
		wantConvs    int
		wantReopened bool
	}{
		{"resolved then new message opens a new conversation", false, 2, false},
		{"lock_to_single_conversation reopens the last one", true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tc.lock {
				f.connect(acct, true)
			}
			f.handle(text(c, ms(time.Second), mid("1"), "one"), text(c, ms(2*time.Second), mid("2"), "two"))
			first := f.onlyConversation(c)
			var resp api_conv
			if code := f.get(http.MethodPost, "/api/conversations/"+first.ID+"/status", nil, `{"status":"resolved"}`, &resp); code != http.StatusOK || resp.Status != "resolved" {
				t.Fatalf("resolve: %d %+v", code, resp)
			}
			// Our own reply after resolving does not reopen.
			f.handle(echo(c, ms(3*time.Second), mid("3"), "bye"))
			if got := f.onlyConversation(c); got.Status != "resolved" {
				t.Fatalf("echo reopened the conversation: %+v", got)
			}
			f.handle(text(c, ms(4*time.Second), mid("4"), "back again"))
			convs := f.contactConversations(c)
			if len(convs) != tc.wantConvs {
				t.Fatalf("%d conversations, want %d", len(convs), tc.wantConvs)
			}
			open := 0
			for _, cv := range convs {
				if cv.Status == "open" {
					open++
				}
			}
			if open != 1 {
				t.Errorf("%d open conversations", open)
			}
			if tc.wantReopened {
				if n := len(f.messages(first.ID)); n != 4 {
					t.Errorf("reopened conversation has %d messages, want 4", n)
				}
				return
			}
			// Re-opening the old conversation while the new one is open is refused.
			var e errorResp
			if code := f.get(http.MethodPost, "/api/conversations/"+first.ID+"/status", nil, `{"status":"open"}`, &e); code != http.StatusConflict || e.Error.Code != "conversation_open" {
				t.Errorf("reopen while another is open: %d %+v", code, e)
			}
			newest := convs[0]
			if newest.ID == first.ID || len(f.messages(newest.ID)) != 1 {
				t.Errorf("new conversation: %+v", newest)
			}
			// Resolve the new one; re-open the first one: its messages follow again.
			f.get(http.MethodPost, "/api/conversations/"+newest.ID+"/status", nil, `{"status":"resolved"}`, nil)
			if code := f.get(http.MethodPost, "/api/conversations/"+first.ID+"/status", nil, `{"status":"open"}`, &resp); code != http.StatusOK || resp.Status != "open" {
				t.Fatalf("reopen: %d %+v", code, resp)
			}
			f.handle(text(c, ms(5*time.Second), mid("5"), "five"))
			if n := len(f.messages(first.ID)); n != 4 {
				t.Errorf("reopened conversation has %d messages, want 4", n)
			}
		})
	}
}

type api_conv struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// One open conversation under concurrency: two first messages of one contact processed at the same time
// (not even serialised by the FIFO group) still create one conversation.
func TestConcurrentFirstMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1009"
	var items []obj
	for i := range 8 {
		items = append(items, text(c, ms(time.Duration(i)*time.Millisecond), mid("cc"+string(rune('a'+i))), "hi"))
	}
	es := envs(t, acct, items...)
	var wg sync.WaitGroup
	errs := make(chan error, len(es)*2)
	for _, e := range append(es, es...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.svc.Handle(context.Background(), e)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			// A conflict exhausted under heavy contention is a retry via the queue; redeliver.
			t.Logf("retryable: %v", err)
		}
	}
	f.handle(items...) // the queue's redelivery of anything that failed
	conv := f.onlyConversation(c)
	if n := len(f.messages(conv.ID)); n != 8 {
		t.Errorf("%d messages, want 8", n)
	}
}

func TestPostbackAndReferral(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		items []obj
	}{
		{"referral into an open thread", []obj{text("1010", ms(time.Second), mid("m"), "hi"), referralItem("1010", ms(2*time.Second), "summer")}},
		{"referral before the first message", []obj{referralItem("1010", ms(2*time.Second), "summer"), text("1010", ms(time.Second), mid("m"), "hi")}},
		{"older referral loses", []obj{text("1010", ms(time.Second), mid("m"), "hi"), referralItem("1010", ms(2*time.Second), "summer"), referralItem("1010", ms(time.Second), "old")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.handle(tc.items...)
			conv := f.onlyConversation("1010")
			got, err := f.st.GetConversation(context.Background(), conv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Referral == nil || got.Referral.Ref != "summer" || got.Referral.Source != "SHORTLINK" {
				t.Errorf("conversation referral %+v", got.Referral)
			}
			// One entry per referral event (kind referral, no mid), besides the message.
			msgs := f.messages(conv.ID)
			refs := 0
			for _, m := range msgs {
				if m.Kind == "referral" {
					refs++
					if m.MID != "" || m.Text != "" || !strings.Contains(string(m.Referral), `"SHORTLINK"`) {
						t.Errorf("referral entry %+v", m)
					}
				}
			}
			if refs != len(tc.items)-1 || len(msgs) != len(tc.items) {
				t.Errorf("%d messages, %d referral entries: %+v", len(msgs), refs, msgs)
			}
			if conv.UnreadCount == nil || *conv.UnreadCount != 1 {
				t.Errorf("unread_count %v: referral entries are not unread messages", conv.UnreadCount)
			}
		})
	}
}

func TestChangeStandbyAndUnknownEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	change := envelope.Envelope{V: 1, Kind: envelope.KindChange, Source: envelope.SourceChanges, AccountID: acct, Key: acct + "|change|1",
		Raw: json.RawMessage(`{"field":"messages","value":{"event":"test"}}`)}
	if err := f.svc.Handle(ctx, change); err != nil {
		t.Errorf("change: %v", err)
	}
	unknown := envelope.Envelope{V: 1, Kind: envelope.KindUnknown, Source: envelope.SourceMessaging, AccountID: acct, ContactID: "1011", Key: acct + "|unknown|abc",
		Raw: json.RawMessage(`{"sender":{"id":"1011"},"recipient":{"id":"` + acct + `"},"timestamp":1,"brand_new_event":{"x":1}}`)}
	if err := f.svc.Handle(ctx, unknown); err != nil {
		t.Errorf("unknown: %v", err)
	}
	if !strings.Contains(f.logs.String(), "event of an unknown shape kept") {
		t.Error("unknown event not logged")
	}
	// Kept, never dropped: the item has no ttl.
	kept, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.st.Table()), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "EVT#" + acct + "#" + envelope.DedupID(unknown.Key)[:32]},
			"sk": &ddbtypes.AttributeValueMemberS{Value: "UNKNOWN"},
		}})
	if err != nil || kept.Item == nil {
		t.Fatalf("unknown event not stored: %v", err)
	}
	if _, ok := kept.Item["ttl"]; ok {
		t.Errorf("unknown event stored with a ttl: %v", kept.Item["ttl"])
	}
	if raw, _ := kept.Item["raw"].(*ddbtypes.AttributeValueMemberS); raw == nil || !strings.Contains(raw.Value, "brand_new_event") {
		t.Errorf("unknown event raw %v", kept.Item["raw"])
	}
	standby := envs(t, acct, text("1011", ms(time.Second), mid("sb"), "via standby"))[0]
	standby.Source = envelope.SourceStandby
	if err := f.svc.Handle(ctx, standby); err != nil {
		t.Fatal(err)
	}
	if m := f.message("1011", mid("sb")); m.Text != "via standby" {
		t.Errorf("standby message %+v", m)
	}
}

func TestUnknownAccountIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, e := range envs(t, "17841499999999999",
		text("1012", ms(time.Second), mid("u1"), "hello"),
		read("1012", ms(2*time.Second), mid("u1")),
		reaction("1012", ms(2*time.Second), mid("u1"), "react", "❤"),
		unsend("1012", ms(3*time.Second), mid("u1")),
	) {
		if err := f.svc.Handle(ctx, e); err != nil {
			t.Errorf("%s: %v", e.Kind, err)
		}
	}
	if n := len(f.conversations(nil)); n != 0 {
		t.Errorf("%d conversations stored for an unknown account", n)
	}
	if f.profiles.count("1012") != 0 {
		t.Error("profile fetched for an unknown account")
	}
	logs, metrics := f.logs.String(), f.metrics.String()
	if strings.Count(logs, `"level":"WARN","msg":"event for an account with no connected channel ignored"`) != 4 {
		t.Errorf("want 4 WARN lines, logs:\n%s", logs)
	}
	lines := strings.Split(strings.TrimSpace(metrics), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 metric lines, got %q", metrics)
	}
	var emf struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Kind  string
		Count int `json:"UnknownAccountEvents"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &emf); err != nil {
		t.Fatal(err)
	}
	if len(emf.AWS.CloudWatchMetrics) != 1 || emf.AWS.CloudWatchMetrics[0].Metrics[0].Name != "UnknownAccountEvents" || emf.Count != 1 || emf.Kind != "message" ||
		fmt.Sprint(emf.AWS.CloudWatchMetrics[0].Dimensions) != "[[Stage Function Kind]]" {
		t.Errorf("EMF line %s", lines[0])
	}
}

// Secrets stay out (processor side): the channel's token never reaches logs or metrics.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.profiles.setErr("1013", errTransient())
	e := envs(t, acct, text("1013", ms(time.Second), mid("s"), "hi"))[0]
	err := f.svc.Handle(context.Background(), e)
	if err == nil {
		t.Fatal("want a retry error")
	}
	f.profiles.setErr("1014", errCode(190, 463))
	f.handle(text("1014", ms(time.Second), mid("s2"), "hi"))
	for name, out := range map[string]string{"logs": f.logs.String(), "metrics": f.metrics.String(), "error": err.Error()} {
		if strings.Contains(out, testToken) {
			t.Errorf("token in %s", name)
		}
	}
}

func TestProcessorPassesReceiveCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *inbox.Config) { c.MaxReceiveCount = 3 })
	f.profiles.setErr("1015", errTransient())
	e := envs(t, acct, text("1015", ms(time.Second), mid("rc"), "hi"))[0]
	h := processor.NewHandler(f.svc, f.svcLog())
	for rc := 1; rc <= 3; rc++ {
		resp, err := h.Handle(context.Background(), sqsEvent(sqsRecord(e, rc)))
		if err != nil {
			t.Fatal(err)
		}
		failed := len(resp.BatchItemFailures) == 1
		if want := rc < 3; failed != want {
			t.Errorf("receive %d: failed=%v, want %v", rc, failed, want)
		}
	}
	conv := f.onlyConversation("1015")
	if conv.Contact.Name != "" || conv.Contact.IGSID != "1015" {
		t.Errorf("minimal contact %+v", conv.Contact)
	}
}

// A business unsend (an echo with is_deleted) erases the outgoing message in every delivery
// order, also when the unsend comes within seconds of its echo (distinct event key: SQS
// deduplication does not drop it) and when the message was our own API send.
func TestBusinessUnsend(t *testing.T) {
	t.Parallel()
	const c = "1010"
	items := []obj{
		text(c, ms(time.Second), mid("q"), "preço?"),
		echo(c, ms(2*time.Second), mid("bu"), "R$ 10 😂"),
		businessUnsend(c, ms(3*time.Second), mid("bu")),
	}
	all := envs(t, acct, items...)
	if all[1].DedupID() == all[2].DedupID() {
		t.Fatal("the unsend shares the echo's deduplication id")
	}
	for _, order := range permutations(len(items)) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for _, i := range order {
				f.handle(items[i])
			}
			m := f.message(c, mid("bu"))
			if !m.Deleted || m.Text != "" || m.Direction != "outgoing" {
				t.Errorf("business unsend lost: %+v", m)
			}
			if q := f.message(c, mid("q")); q.Deleted || q.Text != "preço?" {
				t.Errorf("customer message touched: %+v", q)
			}
		})
	}
	t.Run("own API send", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.handle(text(c, ms(time.Second), mid("in"), "hi"))
		conv := f.onlyConversation(c)
		ctx := context.Background()
		st, err := f.st.LoadEventState(ctx, acct, c, mid("own"))
		if err != nil {
			t.Fatal(err)
		}
		own := domain.Message{ID: "own-record", ConversationID: conv.ID, ChannelID: acct, ContactIGSID: c, MID: mid("own"),
			Direction: domain.DirectionOutgoing, Text: "from api 👋", Status: domain.MessageSent, TimestampMS: ms(2 * time.Second)}
		tx := new(domain.Tx)
		tx.PutMessage(own)
		rec := st.MID
		rec.ConversationID, rec.MessageSK = conv.ID, own.SK()
		tx.PutMID(rec)
		if err := f.st.Commit(ctx, tx); err != nil {
			t.Fatal(err)
		}
		f.handle(echo(c, ms(2*time.Second+5), mid("own"), "from api 👋"), businessUnsend(c, ms(2*time.Second+900), mid("own")))
		if m := f.message(c, mid("own")); !m.Deleted || m.Text != "" || m.ID != "own-record" {
			t.Errorf("own send not erased: %+v", m)
		}
	})
}

// Meta's examples send some timestamps (and ids) as strings: the message is stored at that time.
func TestStringTimestampsAndIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1011"
	f.handle(
		obj{"sender": obj{"id": c}, "recipient": obj{"id": acct}, "timestamp": fmt.Sprint(ms(time.Second)), "postback": obj{"mid": mid("sp"), "title": "Começar 🚀", "payload": "START"}},
		obj{"sender": obj{"id": json.Number(c)}, "recipient": obj{"id": json.Number(acct)}, "timestamp": fmt.Sprint(ms(2 * time.Second)), "message": obj{"mid": mid("sm"), "text": "ok", "is_echo": "false"}},
	)
	if m := f.message(c, mid("sp")); m.Text != "Começar 🚀" || m.Timestamp != "2026-11-20T10:00:01.000Z" {
		t.Errorf("postback with a string timestamp: %+v", m)
	}
	if m := f.message(c, mid("sm")); m.Text != "ok" || m.Timestamp != "2026-11-20T10:00:02.000Z" || m.Direction != "incoming" {
		t.Errorf("message with numeric ids: %+v", m)
	}
}

// Edits converge in every delivery order: the highest num_edit wins, the earlier versions are
// kept (the original first), an edit before its message is applied when it comes, and an edit
// of a deleted message leaves it deleted.
func TestEditsConverge(t *testing.T) {
	t.Parallel()
	const c = "1012"
	items := []obj{
		text(c, ms(time.Second), mid("e"), "preço 10 😂"),
		edit(c, ms(2*time.Second), mid("e"), "preço 12 👨‍👩‍👧", 1),
		edit(c, ms(3*time.Second), mid("e"), "preço 15 \ufffe", 2),
		edit(c, ms(3*time.Second), mid("e"), "preço 15 \ufffe", 2), // Meta's retry
	}
	var snaps []string
	for _, order := range permutations(len(items)) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			f := newFixture(t)
			for _, i := range order {
				f.handle(items[i])
			}
			m := f.message(c, mid("e"))
			if m.Text != "preço 15 \ufffe" {
				t.Errorf("text %q, want the highest num_edit", m.Text)
			}
			want := []api.EditJSON{
				{Text: "preço 10 😂", NumEdit: 0, Timestamp: "2026-11-20T10:00:01.000Z"},
				{Text: "preço 12 👨‍👩‍👧", NumEdit: 1, Timestamp: "2026-11-20T10:00:02.000Z"},
			}
			if fmt.Sprint(m.Edits) != fmt.Sprint(want) {
				t.Errorf("edits %+v, want %+v", m.Edits, want)
			}
			snaps = append(snaps, f.snapshot())
		})
	}
	for i := range snaps {
		if snaps[i] != snaps[0] {
			t.Fatalf("order %d diverged:\n%s\nfirst:\n%s", i, snaps[i], snaps[0])
		}
	}

	deleted := []obj{
		text(c, ms(time.Second), mid("d"), "secret"),
		edit(c, ms(2*time.Second), mid("d"), "secret v2", 1),
		unsend(c, ms(3*time.Second), mid("d")),
	}
	for _, order := range permutations(len(deleted)) {
		t.Run(fmt.Sprint("deleted ", order), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for _, i := range order {
				f.handle(deleted[i])
			}
			m := f.message(c, mid("d"))
			if !m.Deleted || m.Text != "" || len(m.Edits) != 0 {
				t.Errorf("edited then deleted message: %+v", m)
			}
			stored, err := f.st.GetMessageByMID(context.Background(), acct, mid("d"))
			if err != nil || stored.Text != "" || stored.Edits != nil {
				t.Errorf("content kept in the store: %+v %v", stored, err)
			}
		})
	}
}

// The conversation list shows the last message and the unread count (incoming messages after
// the business's read mark, unsent ones excluded), the same whatever the delivery order;
// POST /api/conversations/{id}/read marks everything stored as read.
func TestLastMessageAndUnreadCount(t *testing.T) {
	t.Parallel()
	const c = "1013"
	items := []obj{
		text(c, ms(time.Second), mid("u1"), "um"),
		text(c, ms(2*time.Second), mid("u2"), "dois 😂"),
		echo(c, ms(3*time.Second), mid("u3"), "ok"),
		incoming(c, ms(4*time.Second), mid("u4"), obj{"attachments": []obj{{"type": "image", "payload": obj{"url": "https://cdn/u4"}}}}),
		unsend(c, ms(5*time.Second), mid("u2")),
	}
	for n, order := range permutations(len(items)) {
		if n%6 != 0 { // 20 of the 120 orders, the unsend first and last among them
			continue
		}
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for _, i := range order {
				f.handle(items[i])
			}
			conv := f.onlyConversation(c)
			if conv.UnreadCount == nil || *conv.UnreadCount != 2 {
				t.Errorf("unread_count %v, want 2 (u1, u4; u2 unsent, u3 outgoing)", conv.UnreadCount)
			}
			lm := conv.LastMessage
			if lm == nil || lm.Attachment != "image" || lm.Direction != "incoming" || lm.Timestamp != "2026-11-20T10:00:04.000Z" {
				t.Errorf("last_message %+v", lm)
			}
		})
	}
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.handle(items...)
		id := f.onlyConversation(c).ID
		var got api.ConversationJSON
		if code := f.get(http.MethodPost, "/api/conversations/"+id+"/read", nil, "", &got); code != http.StatusOK {
			t.Fatalf("read: %d", code)
		}
		if got.UnreadCount == nil || *got.UnreadCount != 0 || got.ReadAt == nil || *got.ReadAt != "2026-11-20T10:00:04.000Z" {
			t.Errorf("after read: %+v", got)
		}
		f.handle(
			text(c, ms(6*time.Second), mid("u6"), "mais 👋"),
			text(c, ms(3500*time.Millisecond), mid("u5"), "late, before the read mark"),
		)
		conv := f.onlyConversation(c)
		if conv.UnreadCount == nil || *conv.UnreadCount != 1 || conv.LastMessage == nil || conv.LastMessage.Text != "mais 👋" {
			t.Errorf("after a new message: unread %v, last %+v", conv.UnreadCount, conv.LastMessage)
		}
		if code := f.get(http.MethodPost, "/api/conversations/0123456789abcdef01234567/read", nil, "", nil); code != http.StatusNotFound {
			t.Errorf("read of an unknown conversation: %d", code)
		}
	})
}

// Fields of an unexpected shape never lose a message: only an item whose event object is not
// an object is kept as unknown (and counted).
func TestLenientDecoding(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "1014"
	f.handle(
		incoming(c, ms(time.Second), mid("l1"), obj{"text": "still here 😂", "quick_reply": "not an object", "reply_to": []any{1},
			"attachments": obj{"type": "image", "payload": obj{"url": "https://cdn/l1"}}, "is_echo": "false", "brand_new_field": obj{"x": 1}}),
		incoming(c, ms(2*time.Second), mid("l2"), obj{"text": 42, "attachments": []any{"junk", obj{"type": "never_seen", "payload": "scalar"}}}),
		obj{"sender": obj{"id": c}, "recipient": obj{"id": acct}, "timestamp": "not a number", "postback": obj{"mid": mid("l3"), "title": true, "payload": 7}},
		obj{"sender": obj{"id": c}, "recipient": obj{"id": acct}, "timestamp": ms(4 * time.Second), "message": "not an object"},
	)
	if m := f.message(c, mid("l1")); m.Text != "still here 😂" || len(m.Attachments) != 1 || m.Attachments[0].URL != "https://cdn/l1" || m.QuickReply != nil || m.ReplyTo != nil {
		t.Errorf("l1: %+v", m)
	}
	if m := f.message(c, mid("l2")); m.Text != "42" || len(m.Attachments) != 1 || m.Attachments[0].Type != "never_seen" {
		t.Errorf("l2: %+v", m)
	}
	if m := f.message(c, mid("l3")); m.Postback == nil || m.Postback.Payload != "7" {
		t.Errorf("l3: %+v", m)
	}
	if !strings.Contains(f.metrics.String(), `"UnknownEvents"`) || !strings.Contains(f.logs.String(), "event of an unknown shape kept") {
		t.Errorf("the undecodable item is not visible to operators:\n%s", f.metrics.String())
	}
}
