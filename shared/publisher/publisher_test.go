package publisher_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/streams"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/publisher"
	"github.com/iginbox/iginbox/shared/store"
)

const (
	account = "17841400000000001"
	igsid   = "5550001234567"
)

// hostile is text Meta can send: emoji (a ZWJ sequence too), RTL, controls, U+FFFE.
const hostile = "hi 😂 مرحبا \u202e\t\u0001 \ufffe <&> \"q\" 👨‍👩‍👧"

// world is a fresh table with its stream, the publisher over it, and a local bus.
type world struct {
	t      *testing.T
	ctx    context.Context
	db     *dynamodb.Client
	table  string
	st     *store.Store
	stream *streams.Reader
	bus    *testenv.Bus
	h      *publisher.Handler
	seen   int // bus events already returned by flush
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	bus := testenv.EventBus(t)
	st := store.New(db, table)
	pb := publisher.NewBus(bus.Client(t), "iginbox-test")
	pb.Backoff = time.Millisecond
	w := &world{t: t, ctx: context.Background(), db: db, table: table, st: st, stream: testenv.Stream(t, db, table), bus: bus}
	w.h = publisher.NewHandler(publisher.NewTranslator(st, store.StreamItems{}), pb, slog.New(slog.DiscardHandler))
	return w
}

// batch reads the stream records written since the last call, as the Lambda event.
func (w *world) batch() events.DynamoDBEvent {
	w.t.Helper()
	recs, err := w.stream.Next(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := json.Marshal(streams.LambdaEvent(w.stream.StreamARN, recs))
	if err != nil {
		w.t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		w.t.Fatal(err)
	}
	return ev
}

type busEvent struct {
	DetailType string         `json:"detail-type"`
	Source     string         `json:"source"`
	Time       string         `json:"time"`
	Detail     map[string]any `json:"detail"`
}

// flush publishes the new stream records and returns the events put on the bus.
func (w *world) flush() []busEvent {
	w.t.Helper()
	ev := w.batch()
	resp, err := w.h.Handle(w.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		w.t.Fatalf("handle: %v %+v", err, resp)
	}
	return w.newEvents()
}

func (w *world) newEvents() []busEvent {
	w.t.Helper()
	all := w.bus.Events("", time.Time{})
	var out []busEvent
	for _, e := range all[w.seen:] {
		b, _ := json.Marshal(e)
		var be busEvent
		if err := json.Unmarshal(b, &be); err != nil {
			w.t.Fatal(err)
		}
		if be.Source != publisher.Source {
			w.t.Errorf("source %q", be.Source)
		}
		out = append(out, be)
	}
	w.seen = len(all)
	return out
}

func types_(evs []busEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.DetailType)
	}
	return out
}

func wantTypes(t *testing.T, evs []busEvent, want ...string) {
	t.Helper()
	if got := types_(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func (w *world) commit(fill func(tx *domain.Tx)) {
	w.t.Helper()
	tx := new(domain.Tx)
	fill(tx)
	if err := w.st.Commit(w.ctx, tx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) connect() {
	w.t.Helper()
	_, err := w.st.ConnectChannel(w.ctx, domain.Channel{ID: account, Username: "shop", Name: "Shop", AccessToken: "IGAA-secret-token", TokenExpiresAt: time.Now().Add(60 * 24 * time.Hour)}, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
}

var convID = "0123456789abcdef01234567"

// firstMessage writes what the processor writes for a contact's first message.
func (w *world) firstMessage(mid, text string, ts int64) domain.Message {
	w.t.Helper()
	m := domain.Message{
		ID: domain.HashID("msg", account, mid), ConversationID: convID, ChannelID: account, ContactIGSID: igsid,
		MID: mid, Direction: domain.DirectionIncoming, Text: text, Status: domain.MessageReceived, TimestampMS: ts, CreatedAt: time.Now(),
	}
	w.commit(func(tx *domain.Tx) {
		tx.PutContact(domain.Contact{ChannelID: account, IGSID: igsid, Name: "Ada", Username: "ada", ProfileStatus: domain.ProfileOK,
			OpenConversationID: convID, LastConversationID: convID, ConversationSeq: 1, ConvLastActivityMS: ts, ConvLastIncomingMS: ts})
		tx.CreateConversation(domain.Conversation{ID: convID, ChannelID: account, ContactIGSID: igsid, Status: domain.StatusOpen, Seq: 1,
			LastActivityMS: ts, LastIncomingMS: ts, CreatedAt: time.Now()})
		tx.PutMessage(m)
		tx.PutMID(domain.MIDRecord{ChannelID: account, MID: mid, ConversationID: convID, MessageSK: m.SK()})
	})
	return m
}

func TestInboundConversationEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	evs := w.flush()
	wantTypes(t, evs, publisher.ChannelConnected)
	if raw, _ := json.Marshal(evs); strings.Contains(string(raw), "IGAA-secret-token") {
		t.Fatal("an event carries the access token")
	}

	ts := int64(1767225600123)
	m := w.firstMessage("mid.first", hostile, ts)
	evs = w.flush()
	wantTypes(t, evs, publisher.ConversationCreated, publisher.MessageReceived) // the contact's INSERT and the mid record give none
	got := evs[1].Detail
	if str(got, "conversation_id") != convID || str(got, "message", "id") != m.ID || str(got, "message", "text") != hostile {
		t.Fatalf("message.received detail %v", got)
	}
	if str(got, "occurred_at") != "2026-01-01T00:00:00.123Z" || evs[1].Time != "2026-01-01T00:00:00Z" {
		t.Fatalf("occurred_at %q, time %q: want Meta's timestamp", str(got, "occurred_at"), evs[1].Time)
	}
	if str(evs[0].Detail, "conversation", "contact", "name") != "Ada" || str(evs[0].Detail, "channel_id") != account {
		t.Fatalf("conversation.created detail %v", evs[0].Detail)
	}

	// A reaction, an edit (text change), an unsend: one event each, in that order.
	w.commit(func(tx *domain.Tx) {
		tx.SetMessageReactions(convID, m.SK(), []domain.MessageReaction{{By: igsid, Reaction: "love", Emoji: "❤️"}})
	})
	wantTypes(t, w.flush(), publisher.ReactionChanged)
	w.commit(func(tx *domain.Tx) {
		tx.SetMessageText(convID, m.SK(), "edited: نعم 👍", []domain.Edit{{Text: hostile, NumEdit: 0, MS: ts}})
	})
	evs = w.flush()
	wantTypes(t, evs, publisher.MessageEdited)
	if str(evs[0].Detail, "message", "text") != "edited: نعم 👍" {
		t.Fatalf("message.edited detail %v", evs[0].Detail)
	}
	if e, _ := evs[0].Detail["message"].(map[string]any)["edits"].([]any); len(e) != 1 || e[0].(map[string]any)["text"] != hostile {
		t.Fatalf("edits %v", evs[0].Detail["message"])
	}
	w.commit(func(tx *domain.Tx) { tx.EraseMessage(convID, m.SK()) })
	evs = w.flush()
	wantTypes(t, evs, publisher.MessageDeleted)
	if str(evs[0].Detail, "message", "text") != "" {
		t.Fatal("message.deleted still carries the erased text")
	}

	// Resolve, then a profile change of the contact.
	if _, err := w.st.SetConversationStatus(w.ctx, convID, domain.StatusResolved, &domain.Actor{KeyID: "k1", Name: "Ada (agent) 👩‍💼"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	evs = w.flush()
	wantTypes(t, evs, publisher.ConversationStatusChanged)
	if str(evs[0].Detail, "previous_status") != "open" || str(evs[0].Detail, "status") != "resolved" ||
		str(evs[0].Detail, "conversation", "status_changed_by", "name") != "Ada (agent) 👩‍💼" {
		t.Fatalf("status change detail %v", evs[0].Detail)
	}
	c, err := w.st.GetContact(w.ctx, account, igsid)
	if err != nil {
		t.Fatal(err)
	}
	c.Name = "Ada ‮Lovelace"
	w.commit(func(tx *domain.Tx) { tx.PutContact(c) })
	evs = w.flush()
	wantTypes(t, evs, publisher.ContactUpdated)
	if str(evs[0].Detail, "contact", "name") != c.Name {
		t.Fatalf("contact.updated detail %v", evs[0].Detail)
	}
	// A write that changes nothing the API shows publishes nothing.
	c.Ver++
	c.ProfileFetchedAt = time.Now()
	w.commit(func(tx *domain.Tx) { tx.PutContact(c) })
	wantTypes(t, w.flush())
}

// reply queues a one-part reply and returns it.
func (w *world) reply(text string, created time.Time) domain.OutgoingPart {
	w.t.Helper()
	p := domain.OutgoingPart{
		Message: domain.Message{ID: domain.HashID("outgoing", text), ConversationID: convID, ChannelID: account, ContactIGSID: igsid,
			Direction: domain.DirectionOutgoing, Text: text, Status: domain.MessageQueued, TimestampMS: created.UnixMilli(), CreatedAt: created},
		RequestID: "req" + text,
	}
	p.StoredSK = domain.OutgoingSK(created.UnixMilli(), p.RequestID, 0)
	if err := w.st.CreateOutgoing(w.ctx, []domain.OutgoingPart{p}, nil); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) send(p domain.OutgoingPart, mid string, ts int64) {
	w.t.Helper()
	if err := w.st.BeginAttempt(w.ctx, p, ts); err != nil {
		w.t.Fatal(err)
	}
	w.commit(func(tx *domain.Tx) { tx.MarkSent(p, 1, mid, ts) })
}

func (w *world) read(ts int64) {
	w.t.Helper()
	if err := w.st.AdvanceReadWatermark(w.ctx, account, igsid, ts); err != nil {
		w.t.Fatal(err)
	}
}

func statuses(evs []busEvent) []string {
	var out []string
	for _, e := range evs {
		if e.DetailType == publisher.MessageStatusChanged {
			out = append(out, str(e.Detail, "previous_status")+">"+str(e.Detail, "status"))
		}
	}
	return out
}

// A reply's statuses: queued, sent, read, whatever order the read receipt and the send are
// recorded in; the read of one reply has one event id, whichever record announced it.
func TestReplyStatusEvents(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"send-then-read", "read-then-send", "same-batch"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			base := int64(1767225600000)
			w.firstMessage("mid.in", "hello", base)
			w.flush()
			p := w.reply("Yes 🚚 نعم", time.UnixMilli(base+1000))
			evs := w.flush()
			if got := statuses(evs); !slices.Equal(got, []string{">queued"}) {
				t.Fatalf("statuses %v", got)
			}
			sentAt := base + 2000
			var all []busEvent
			switch order {
			case "send-then-read":
				w.send(p, "mid.out", sentAt)
				all = append(all, w.flush()...)
				w.read(sentAt + 500)
				all = append(all, w.flush()...)
			case "read-then-send":
				w.read(sentAt + 500)
				all = append(all, w.flush()...)
				w.send(p, "mid.out", sentAt)
				all = append(all, w.flush()...)
			case "same-batch":
				w.send(p, "mid.out", sentAt)
				w.read(sentAt + 500)
				all = append(all, w.flush()...)
			}
			ids := map[string]bool{}
			var uniq []busEvent
			for _, e := range all {
				if id := str(e.Detail, "event_id"); !ids[id] {
					ids[id] = true
					uniq = append(uniq, e)
				}
			}
			if got := statuses(uniq); !slices.Equal(got, []string{"queued>sent", "sent>read"}) {
				t.Fatalf("statuses after dedupe by event_id %v (all: %v)", got, statuses(all))
			}
			last := uniq[len(uniq)-1].Detail
			if str(last, "message", "status") != "read" || str(last, "message", "text") != "Yes 🚚 نعم" || str(last, "message", "mid") != "mid.out" {
				t.Fatalf("read event message %v", last["message"])
			}
			// A later, older read receipt changes nothing.
			w.read(sentAt - 1)
			wantTypes(t, w.flush())
		})
	}
}

func TestFailedReplyCarriesMetaError(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.firstMessage("mid.in", "hello", 1767225600000)
	w.flush()
	p := w.reply("too late", time.UnixMilli(1767225601000))
	w.flush()
	w.commit(func(tx *domain.Tx) {
		tx.MarkFailed(convID, p.SK(), 0, domain.SendError{Code: 10, Subcode: 2534022, Message: "This message is sent outside of allowed window."})
	})
	evs := w.flush()
	if got := statuses(evs); !slices.Equal(got, []string{"queued>failed"}) {
		t.Fatalf("statuses %v", got)
	}
	e, _ := evs[0].Detail["message"].(map[string]any)["error"].(map[string]any)
	if e["code"] != float64(10) || e["subcode"] != float64(2534022) {
		t.Fatalf("error %v", e)
	}
}

func TestChannelEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	w.flush()
	if err := w.st.FlagReauth(w.ctx, account, "token revoked", time.Now()); err != nil {
		t.Fatal(err)
	}
	evs := w.flush()
	wantTypes(t, evs, publisher.ChannelReauthRequired)
	if evs[0].Detail["channel"].(map[string]any)["reauth_required"] != true {
		t.Fatalf("detail %v", evs[0].Detail)
	}
	w.connect() // re-connect clears the flag
	wantTypes(t, w.flush(), publisher.ChannelConnected)
	time.Sleep(1100 * time.Millisecond) // token times are whole seconds
	if err := w.st.UpdateToken(w.ctx, account, "IGAA-secret-token", "IGAA-new-secret", time.Now().Add(60*24*time.Hour), time.Now()); err != nil {
		t.Fatal(err)
	}
	evs = w.flush()
	wantTypes(t, evs, publisher.ChannelTokenRefreshed)
	if raw, _ := json.Marshal(evs); strings.Contains(string(raw), "IGAA-") {
		t.Fatal("an event carries a token")
	}
	if _, err := w.db.DeleteItem(w.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CH#" + account}, "sk": &types.AttributeValueMemberS{Value: "CHANNEL"},
	}}); err != nil {
		t.Fatal(err)
	}
	wantTypes(t, w.flush(), publisher.ChannelDisconnected)
}

// A disconnect publishes channel.disconnected; the purge that follows deletes every item of
// the account and publishes nothing more (no event per deleted item, none carrying erased data).
func TestPurgePublishesOneDisconnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	w.firstMessage("mid.p", "to be purged", 1767225600000)
	w.reply("bye", time.UnixMilli(1767225601000))
	w.flush()
	if _, err := w.st.Disconnect(w.ctx, account, "purge", time.Now()); err != nil {
		t.Fatal(err)
	}
	evs := w.flush()
	wantTypes(t, evs, publisher.ChannelDisconnected)
	if raw, _ := json.Marshal(evs); strings.Contains(string(raw), "IGAA-") {
		t.Fatal("an event carries a token")
	}
	for range 20 {
		res, err := w.st.PurgeAccountStep(w.ctx, account, domain.Budget{Items: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	ev := w.batch()
	if len(ev.Records) < 5 {
		t.Fatalf("%d stream records of the purge, want its deletions", len(ev.Records))
	}
	if resp, err := w.h.Handle(w.ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, resp)
	}
	wantTypes(t, w.newEvents())
}

// Items that are not domain state publish nothing: OAuth states, idempotency records, pending
// sends, per-mid records, archived bodies, unknown events; removing messages (a reply moving
// to its send-time key, an erasure) neither.
func TestNonDomainItemsPublishNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.st.UseOAuthState(w.ctx, "nonce1", time.Now().Add(time.Hour), time.Now()); err != nil {
		t.Fatal(err)
	}
	w.commit(func(tx *domain.Tx) {
		tx.PutMID(domain.MIDRecord{ChannelID: account, MID: "mid.x", Deleted: true, DeletedMS: 1})
	})
	if err := w.st.PutUnknownEvent(w.ctx, "k1", domain.UnknownEvent{ChannelID: account, Key: "k", TimestampMS: 1, Raw: "{}"}); err != nil {
		t.Fatal(err)
	}
	put := func(pk, sk string) {
		if _, err := w.db.PutItem(w.ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	put("ARCHIVE#2026-01-01-00", "1767225600000#0123")
	put("IDEM#"+convID+"#abc", "IDEM")
	put("OUTPEND#"+account+"#"+igsid, "MSG#1#x")
	ev := w.batch()
	if len(ev.Records) < 6 {
		t.Fatalf("%d stream records, want the 6 writes", len(ev.Records))
	}
	resp, err := w.h.Handle(w.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, resp)
	}
	wantTypes(t, w.newEvents())
}

// A record that cannot be translated fails the batch from that record on: the records before
// it are published, it and every later record are reported (they are retried from it).
func TestPoisonRecordIsTheBatchItemFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	// A message item whose timestamp is not a number: no message decodes from it.
	if _, err := w.db.PutItem(w.ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CONV#" + convID}, "sk": &types.AttributeValueMemberS{Value: "MSG#poison"},
		"ts": &types.AttributeValueMemberS{Value: "not a number"}, "direction": &types.AttributeValueMemberS{Value: "incoming"},
	}}); err != nil {
		t.Fatal(err)
	}
	w.firstMessage("mid.after", "after the poison", 1767225600000)
	ev := w.batch()
	poison := -1
	for i, r := range ev.Records {
		if r.Change.Keys["sk"].String() == "MSG#poison" {
			poison = i
		}
	}
	resp, err := w.h.Handle(w.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if poison < 1 || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[poison].Change.SequenceNumber {
		t.Fatalf("failures %+v, want the poison record (index %d)", resp.BatchItemFailures, poison)
	}
	wantTypes(t, w.newEvents(), publisher.ChannelConnected)
	// Retried from the record after the poison (as the event source mapping does once the
	// poison went to the on-failure destination), the rest is published.
	ev.Records = ev.Records[poison+1:]
	if resp, err = w.h.Handle(w.ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, resp)
	}
	wantTypes(t, w.newEvents(), publisher.ConversationCreated, publisher.MessageReceived)
}

// Entries EventBridge refuses are put again; none is dropped, and more than ten events go out
// in calls of at most ten.
func TestFailedEntriesAreRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	for i := range 12 {
		w.commit(func(tx *domain.Tx) {
			tx.PutMessage(domain.Message{ID: domain.HashID("m", strconv.Itoa(i)), ConversationID: convID, ChannelID: account, ContactIGSID: igsid,
				MID: "mid." + strconv.Itoa(i), Direction: domain.DirectionIncoming, Text: "n" + strconv.Itoa(i), Status: domain.MessageReceived,
				TimestampMS: 1767225600000 + int64(i)})
		})
	}
	w.bus.FailNext(4, "ThrottlingException")
	evs := w.flush()
	if len(evs) != 13 {
		t.Fatalf("%d events on the bus, want 13 (each once)", len(evs))
	}
	seen := map[string]bool{}
	for _, e := range evs {
		seen[str(e.Detail, "message", "text")] = true
	}
	for i := range 12 {
		if !seen["n"+strconv.Itoa(i)] {
			t.Fatalf("message n%d missing: %v", i, types_(evs))
		}
	}
}

// When the bus keeps refusing, the record is reported failed (retried by the event source
// mapping), never dropped.
func TestRefusedEventsFailTheRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.connect()
	w.firstMessage("mid.1", "one", 1767225600000)
	ev := w.batch()
	w.bus.FailNext(1000, "InternalException")
	resp, err := w.h.Handle(w.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[0].Change.SequenceNumber {
		t.Fatalf("failures %+v, want the first record", resp.BatchItemFailures)
	}
	w.bus.FailNext(0, "")
	if resp, err = w.h.Handle(w.ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, resp)
	}
	wantTypes(t, w.newEvents(), publisher.ChannelConnected, publisher.ConversationCreated, publisher.MessageReceived)
}

// The recorded stream batch of events/ (also `make invoke FN=publisher`) publishes the events
// its README lists, in order; the OAuth state publishes nothing.
func TestRecordedStreamBatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b, err := os.ReadFile("../../events/dynamodb/stream-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := w.h.Handle(w.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, resp)
	}
	evs := w.newEvents()
	wantTypes(t, evs, publisher.MessageReceived, publisher.ReactionChanged, publisher.ConversationStatusChanged)
	if got := str(evs[0].Detail, "message", "text"); got != "où? 😂 مرحبا \u202e\t<&>" {
		t.Fatalf("text %q", got)
	}
	// Redelivered, the same changes give the same event ids.
	if _, err := w.h.Handle(w.ctx, ev); err != nil {
		t.Fatal(err)
	}
	again := w.newEvents()
	for i := range evs {
		if str(again[i].Detail, "event_id") != str(evs[i].Detail, "event_id") {
			t.Fatalf("event %d: id %s, then %s", i, str(evs[i].Detail, "event_id"), str(again[i].Detail, "event_id"))
		}
	}
}
