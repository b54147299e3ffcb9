package erasure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

// Accounts and contacts of the tests. Account ids are distinct strings none of which is a
// substring of another, so that a full read of the table can look for each.
const (
	acctA = "17841400000000101"
	acctB = "17841400000000202"
	custX = "5550000000000111"
	custY = "5550000000000222"
	custZ = "5550000000000333" // a customer of account B
)

// profiles is a fake Graph profile reader (our own interface).
type profiles struct{}

func (profiles) GetProfile(_ context.Context, _, igsid string) (graph.Profile, error) {
	return graph.Profile{Name: "Customer \u202e" + igsid, Username: "u" + igsid}, nil
}

// queue records what a job enqueues (our own Publisher interface).
type queue struct {
	mu   sync.Mutex
	envs []envelope.Envelope
}

func (q *queue) Publish(_ context.Context, envs []envelope.Envelope) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.envs = append(q.envs, envs...)
	return nil
}

func (q *queue) take() []envelope.Envelope {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.envs
	q.envs = nil
	return out
}

type world struct {
	db     *dynamodb.Client
	table  string
	st     *store.Store
	inbox  *inbox.Service
	eraser *erasure.Service
	q      *queue
	emf    *bytes.Buffer
	arch   *archive.Writer
	now    time.Time
}

func newWorld(t *testing.T, stepItems int) *world {
	t.Helper()
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	st := store.New(db, table)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &world{db: db, table: table, st: st, q: &queue{}, emf: &bytes.Buffer{}, arch: archive.NewWriter(db, table, 7), now: time.Now()}
	w.inbox = inbox.New(st, st, profiles{}, inbox.Config{}, log, inbox.WithMetrics(metrics.NewWriter(w.emf, "test", "processor")), inbox.WithArchiveForgetter(st))
	w.eraser = erasure.New(st, w.q, erasure.Config{StepItems: stepItems, Settle: -1}, log, nil)
	for _, a := range []string{acctA, acctB} {
		if _, err := st.ConnectChannel(context.Background(), domain.Channel{ID: a, Username: "shop" + a, AccessToken: "tok-" + a,
			TokenExpiresAt: w.now.Add(50 * 24 * time.Hour)}, w.now); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// deliver parses a webhook body of account acct with the given messaging items and applies
// every event (archiving the body first, as the webhook does).
func (w *world) deliver(t *testing.T, acct string, items ...map[string]any) {
	t.Helper()
	w.deliverEntries(t, map[string][]map[string]any{acct: items})
}

func (w *world) deliverEntries(t *testing.T, entries map[string][]map[string]any) {
	t.Helper()
	var list []any
	accts := make([]string, 0, len(entries))
	for a := range entries {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	for _, a := range accts {
		list = append(list, map[string]any{"id": a, "time": w.now.UnixMilli(), "messaging": entries[a]})
	}
	body, err := json.Marshal(map[string]any{"object": "instagram", "entry": list})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := webhook.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	var ids, contacts []string
	for _, e := range batch.Events {
		if !slices.Contains(ids, e.AccountID) {
			ids = append(ids, e.AccountID)
		}
		if e.ContactID != "" && !slices.Contains(contacts, e.ContactID) {
			contacts = append(contacts, e.ContactID)
		}
	}
	if err := w.arch.Archive(context.Background(), archive.Record{Body: body, ReceivedAt: time.Now(), SignatureValid: true,
		AccountIDs: ids, ContactIDs: contacts}); err != nil {
		t.Fatal(err)
	}
	for _, e := range batch.Events {
		// Each event as the queue carries it (ASCII-only JSON).
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.inbox.Handle(context.Background(), env); err != nil {
			t.Fatalf("handle %s: %v", e.Kind, err)
		}
	}
}

// seq orders the fixtures' timestamps; tests run in parallel, so it is atomic.
var seq atomic.Int64

func msg(from, to, mid, text string, echo bool) map[string]any {
	m := map[string]any{"mid": mid, "text": text}
	if echo {
		m["is_echo"] = true
	}
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1), "message": m}
}

func reaction(from, to, mid string) map[string]any {
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1),
		"reaction":  map[string]any{"mid": mid, "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}}
}

func unsend(from, to, mid string) map[string]any {
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1), "message": map[string]any{"mid": mid, "is_deleted": true}}
}

func edit(from, to, mid, text string) map[string]any {
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1), "message_edit": map[string]any{"mid": mid, "text": text, "num_edit": 1}}
}

func referral(from, to, ref string) map[string]any {
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1), "referral": map[string]any{"ref": ref, "source": "ADS", "type": "OPEN_THREAD"}}
}

func strange(from, to string) map[string]any {
	return map[string]any{"sender": map[string]any{"id": from}, "recipient": map[string]any{"id": to},
		"timestamp": time.Now().UnixMilli() - 60_000 + seq.Add(1), "brand_new_kind": map[string]any{"x": "\U0001F602"}}
}

// run handles env and every step it enqueues, until the job is done; it returns the steps.
func (w *world) run(t *testing.T, env envelope.Envelope) int {
	t.Helper()
	steps := 0
	pending := []envelope.Envelope{env}
	for len(pending) > 0 {
		e := pending[0]
		pending = pending[1:]
		steps++
		if steps > 10_000 {
			t.Fatal("job does not end")
		}
		if err := w.eraser.Handle(context.Background(), e); err != nil {
			t.Fatalf("step %d: %v", steps, err)
		}
		pending = append(pending, w.q.take()...)
	}
	return steps
}

// seedA gives account A two customers with messages, an echo, a reaction, an unsend and a
// reaction for mids never stored, an unknown event, a reply with an idempotency record and
// a pending send, and archived bodies (one shared with account B, one split in parts).
func (w *world) seedA(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	w.deliver(t, acctA,
		msg(custX, acctA, "mA-x-1", "hello \U0001F602 from X \u202e", false),
		msg(custX, acctA, "mA-x-2", "second from X", false),
		msg(acctA, custX, "mA-x-echo", "reply to X", true),
		reaction(custX, acctA, "mA-x-echo"),
		unsend(custX, acctA, "mA-orphan-unsend"),
		reaction(custX, acctA, "mA-orphan-react"),
		strange(custX, acctA),
		msg(custY, acctA, "mA-y-1", "hi from Y", false),
		edit(custX, acctA, "mA-x-2", "second from X, edited"),
		edit(custX, acctA, "mA-orphan-edit", "orphan edit from X"),
		referral(custX, acctA, "ad from X"),
	)
	// A body with events of both accounts.
	w.deliverEntries(t, map[string][]map[string]any{
		acctA: {msg(custY, acctA, "mA-y-2", "shared body, A part", false)},
		acctB: {msg(custZ, acctB, "mB-z-1", "shared body, B part", false)},
	})
	// A body larger than one item.
	var big []map[string]any
	for i := range 5 {
		big = append(big, msg(custX, acctA, fmt.Sprintf("mA-x-big-%d", i), strings.Repeat("big ", 25_000), false))
	}
	w.deliver(t, acctA, big...)
	// A reply with an idempotency key, and a pending send marker.
	conv := inbox.ConversationID(acctA, custX, 1)
	now := time.Now()
	part := domain.OutgoingPart{Message: domain.Message{ID: "p1", ConversationID: conv, ChannelID: acctA, ContactIGSID: custX,
		Direction: domain.DirectionOutgoing, Text: "queued reply", Status: domain.MessageQueued, TimestampMS: now.UnixMilli(), CreatedAt: now,
		StoredSK: domain.OutgoingSK(now.UnixMilli(), "req1", 0)}, RequestID: "req1"}
	if err := w.st.CreateOutgoing(ctx, []domain.OutgoingPart{part}, &domain.IdempotencyRecord{ConversationID: conv, KeyHash: "kh1",
		BodyHash: "bh", RequestID: "req1", MessageSKs: []string{part.StoredSK}, CreatedAt: now, TTL: now.Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	tx := new(domain.Tx)
	tx.PutPendingSend(domain.PendingSend{ChannelID: acctA, ContactIGSID: custX, ConversationID: conv, MessageSK: part.StoredSK,
		MessageID: "p1", Attempt: 1, AttemptMS: now.UnixMilli(), Text: "queued reply"})
	if err := w.st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	// Account B has its own customer too.
	w.deliver(t, acctB, msg(custZ, acctB, "mB-z-2", "B only", false))
}

func (w *world) mentioning(t *testing.T, s string) []string {
	return testenv.ItemsMentioning(t, w.db, w.table, s)
}

func TestPurgeAccountRemovesEverythingAndOnlyIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 7) // tiny steps: many chunks, every phase split
	w.seedA(t)
	beforeA, beforeB := w.mentioning(t, acctA), w.mentioning(t, acctB)
	for _, want := range []string{"MID#" + acctA + "#mA-orphan-unsend", "EVT#" + acctA, "OUTPEND#" + acctA, "ARCHIVE#", "CONTACT#" + custY} {
		if !slices.ContainsFunc(beforeA, func(s string) bool { return strings.Contains(s, want) }) {
			t.Fatalf("seed lacks an item %q of account A:\n%s", want, strings.Join(beforeA, "\n"))
		}
	}

	starter := erasure.Starter{Store: w.st, Pub: w.q}
	code, err := starter.StartPurge(ctx, acctA, "data_deletion")
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.st.GetDeletionRequest(ctx, code)
	if err != nil || r.Status != domain.DeletionPending {
		t.Fatalf("request %+v %v, want pending", r, err)
	}
	first := w.q.take()
	if len(first) != 1 || first[0].Kind != envelope.KindPurge || first[0].GroupID() != "purge:"+acctA {
		t.Fatalf("enqueued %+v", first)
	}
	// A crash after the first step: the same message comes again.
	if err := w.eraser.Handle(ctx, first[0]); err != nil {
		t.Fatal(err)
	}
	next := w.q.take()
	steps := 1 + w.run(t, first[0]) // the redelivery enqueues the same next step (SQS drops the duplicate)
	for _, e := range next {
		steps += w.run(t, e)
	}
	t.Logf("purge of account A: %d steps of at most 7 items", steps)

	if left := w.mentioning(t, acctA); len(left) != 0 {
		t.Fatalf("after the purge %d items still name account A:\n%s", len(left), strings.Join(left, "\n"))
	}
	r, err = w.st.GetDeletionRequest(ctx, code)
	if err != nil || r.Status != domain.DeletionCompleted || r.CompletedAt.IsZero() || r.Deleted[domain.KindMessage] < 11 ||
		r.Deleted[domain.KindConversation] != 2 || r.Deleted[domain.KindContact] != 2 || r.Deleted[domain.KindChannel] != 1 ||
		r.Deleted[domain.KindArchivedBody] < 4 || r.Deleted[domain.KindUnknownEvent] != 1 || r.Deleted[domain.KindIdempotency] != 1 ||
		r.Deleted[domain.KindPendingSend] != 1 || r.Deleted[domain.KindMIDTombstones] != 3 {
		t.Errorf("request after the purge: %+v %v", r, err)
	}
	// Account B keeps everything but the body it shared with A (and B's reference to it).
	afterB := w.mentioning(t, acctB)
	lost := slices.DeleteFunc(slices.Clone(beforeB), func(s string) bool { return slices.Contains(afterB, s) })
	if len(lost) != 1 || !strings.HasPrefix(lost[0], "ARCHIVE#") {
		t.Errorf("account B lost %v, want only the body it shared with A", lost)
	}
	if msgs := w.messages(t, inbox.ConversationID(acctB, custZ, 1)); len(msgs) != 2 {
		t.Errorf("account B has %d messages, want 2", len(msgs))
	}

	// Events for the purged account afterwards store nothing (archive included), and a
	// second purge is a harmless no-op.
	w.deliver(t, acctA, msg(custX, acctA, "mA-late", "late retry", false), strange(custX, acctA))
	if left := w.mentioning(t, acctA); len(left) != 0 {
		t.Fatalf("a late event for the purged account stored %v", left)
	}
	if !strings.Contains(w.emf.String(), "UnknownAccountEvents") {
		t.Error("the ignored events were not counted")
	}
	code2, err := starter.StartPurge(ctx, acctA, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range w.q.take() {
		w.run(t, e)
	}
	if r, _ := w.st.GetDeletionRequest(ctx, code2); r.Status != domain.DeletionCompleted || r.Deleted[domain.KindMessage] != 0 {
		t.Errorf("second purge: %+v", r)
	}
}

func (w *world) messages(t *testing.T, conv string) []domain.Message {
	t.Helper()
	page, err := w.st.ListMessages(context.Background(), conv, "", 200)
	if err != nil {
		t.Fatal(err)
	}
	return page.Messages
}

func TestEraseContactLeavesOthersAndTombstonesMids(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 5)
	w.seedA(t)
	ys := w.messages(t, inbox.ConversationID(acctA, custY, 1))
	if len(ys) != 2 {
		t.Fatalf("Y has %d messages before, want 2", len(ys))
	}
	starter := erasure.Starter{Store: w.st, Pub: w.q}
	if err := starter.StartContactErasure(ctx, acctA, custX); err != nil {
		t.Fatal(err)
	}
	envs := w.q.take()
	if len(envs) != 1 || envs[0].GroupID() != envelope.GroupID(acctA, custX) {
		t.Fatalf("erasure enqueued %+v, want one command in the conversation's group", envs)
	}
	steps := w.run(t, envs[0])
	t.Logf("erasure of one contact: %d steps", steps)

	left := w.mentioning(t, custX)
	for _, it := range left {
		// Only the content-free contact (conversation counter) may still name X.
		if it != "CH#"+acctA+" CONTACT#"+custX {
			t.Errorf("after the erasure an item still names X: %s", it)
		}
	}
	for _, text := range []string{"from X", "reply to X", "big big"} {
		if got := w.mentioning(t, text); len(got) != 0 {
			t.Errorf("erased text %q still stored in %v", text, got)
		}
	}
	if got := w.messages(t, inbox.ConversationID(acctA, custY, 1)); len(got) != len(ys) {
		t.Errorf("Y has %d messages after X's erasure, want %d", len(got), len(ys))
	}
	// A body that mentioned X is deleted whole (the archive keeps exact bytes); a body
	// without X stays.
	if got := w.mentioning(t, "hi from Y"); len(got) != 1 || !strings.HasPrefix(got[0], "CONV#") {
		t.Errorf("Y's first message (archived with X's) is in %v, want only the message", got)
	}
	if got := w.mentioning(t, "shared body, A part"); len(got) != 2 {
		t.Errorf("Y's second message is in %v, want the message and its archived body", got)
	}

	// A late redelivery of an erased mid stores nothing; its reaction neither.
	w.deliver(t, acctA, msg(custX, acctA, "mA-x-1", "hello \U0001F602 from X \u202e", false), reaction(custX, acctA, "mA-x-1"))
	if got := w.mentioning(t, "from X"); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "CONV#") }) {
		t.Errorf("a redelivered erased mid was stored again: %v", got)
	}
	if got := w.messages(t, inbox.ConversationID(acctA, custX, 1)); len(got) != 0 {
		t.Errorf("the erased conversation has %d messages again", len(got))
	}
	var rec domain.MIDRecord
	if st, err := w.st.LoadEventState(ctx, acctA, "", "mA-x-1"); err != nil || !st.MID.Erased || st.MID.TTL == 0 || len(st.MID.Reactions) != 0 {
		t.Errorf("tombstone of an erased mid: %+v %v", st.MID, err)
	} else {
		rec = st.MID
		if until := time.Unix(rec.TTL, 0); until.Before(time.Now().Add(36 * time.Hour)) {
			t.Errorf("tombstone expires at %s, sooner than Meta's 36 h of retries", until)
		}
	}
	// A new message from X starts a fresh conversation.
	w.deliver(t, acctA, msg(custX, acctA, "mA-x-new", "I'm back", false))
	if got := w.messages(t, inbox.ConversationID(acctA, custX, 2)); len(got) != 1 || got[0].Text != "I'm back" {
		t.Errorf("new conversation of X: %+v", got)
	}
	if got := w.messages(t, inbox.ConversationID(acctA, custX, 1)); len(got) != 0 {
		t.Errorf("the erased conversation came back with %d messages", len(got))
	}
}

func TestDisconnectedChannelIgnoresEventsUntilReconnected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 100)
	ch, err := w.st.Disconnect(ctx, acctA, domain.DisconnectDeauthorized, time.Now())
	if _, terr := w.st.GetChannelToken(ctx, acctA); err != nil || !ch.Disconnected() || !errors.Is(terr, domain.ErrNotFound) {
		t.Fatalf("disconnect: %+v %v", ch, err)
	}
	again, err := w.st.Disconnect(ctx, acctA, domain.DisconnectAPI, time.Now().Add(time.Hour))
	if err != nil || !again.DisconnectedAt.Equal(ch.DisconnectedAt) || again.DisconnectReason != domain.DisconnectDeauthorized {
		t.Errorf("second disconnect changed the first one's time or reason: %+v %v", again, err)
	}
	if _, err := w.st.Disconnect(ctx, "17841400000000999", domain.DisconnectAPI, time.Now()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("disconnect of an unknown account: %v", err)
	}
	due, _, err := w.st.DueChannels(ctx, time.Now(), 100*24*time.Hour, 0)
	if err != nil || slices.ContainsFunc(due, func(c domain.Channel) bool { return c.ID == acctA }) {
		t.Errorf("a disconnected channel is due for refresh: %v", err)
	}
	w.deliver(t, acctA, msg(custX, acctA, "mA-while-off", "while disconnected", false), strange(custX, acctA))
	if got := w.mentioning(t, "while disconnected"); len(got) != 0 {
		t.Errorf("an event of a disconnected channel was stored: %v", got)
	}
	if n := len(slices.DeleteFunc(strings.Split(w.emf.String(), "\n"), func(l string) bool { return !strings.Contains(l, "DisconnectedAccountEvents") })); n != 2 {
		t.Errorf("DisconnectedAccountEvents counted %d times, want 2", n)
	}
	if _, err := w.st.ConnectChannel(ctx, domain.Channel{ID: acctA, AccessToken: "new-token", TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ch, err = w.st.GetChannel(ctx, acctA)
	if tok, terr := w.st.GetChannelToken(ctx, acctA); err != nil || terr != nil || ch.Disconnected() || !ch.DisconnectedAt.IsZero() || tok != "new-token" {
		t.Errorf("after re-connecting: %+v %v", ch, err)
	}
	w.deliver(t, acctA, msg(custX, acctA, "mA-back", "back online", false))
	if got := w.mentioning(t, "back online"); !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "CONV#") }) {
		t.Errorf("after re-connecting, a message was not stored: %v", got)
	}
}

func TestPurgeWaitsForInFlightEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 100)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eraser := erasure.New(w.st, w.q, erasure.Config{Settle: time.Minute}, log, nil)
	env, err := envelope.NewPurge(acctA, envelope.Job{RequestedMS: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	err = eraser.Handle(ctx, env)
	var retry *processor.Retry
	if !errors.As(err, &retry) || retry.After < 50*time.Second || !retry.Isolated {
		t.Fatalf("first step: %v, want a deferral of about a minute", err)
	}
	if ch, err := w.st.GetChannel(ctx, acctA); err != nil || !ch.Disconnected() || !errors.Is(tokenErr(ctx, w.st, acctA), domain.ErrNotFound) {
		t.Errorf("the channel is not disconnected while the purge waits: %+v %v", ch, err)
	}
}

func TestRetentionTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	st := store.New(db, table, store.WithRetention(30, 10))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := inbox.New(st, st, profiles{}, inbox.Config{}, log)
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: acctA, AccessToken: "t", TokenExpiresAt: time.Now().Add(time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Add(-time.Hour).UnixMilli()
	item := map[string]any{"sender": map[string]any{"id": custX}, "recipient": map[string]any{"id": acctA}, "timestamp": ts,
		"message": map[string]any{"mid": "m-ret", "text": "kept 30 days"}}
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": acctA, "time": ts, "messaging": []any{item, strange(custX, acctA)}}}})
	batch, err := webhook.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range batch.Events {
		if err := svc.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	want := time.UnixMilli(ts).Add(30 * 24 * time.Hour).Unix()
	ttls := map[string]int64{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			var v struct {
				PK  string `dynamodbav:"pk"`
				TTL int64  `dynamodbav:"ttl"`
			}
			if err := unmarshal(it, &v); err != nil {
				t.Fatal(err)
			}
			ttls[strings.SplitN(v.PK, "#", 2)[0]] = v.TTL
		}
	}
	page, err := st.ListMessages(ctx, inbox.ConversationID(acctA, custX, 1), "", 10)
	if err != nil || len(page.Messages) != 1 {
		t.Fatalf("messages %v %v", page, err)
	}
	msgTTL := itemTTL(t, db, table, "CONV#"+inbox.ConversationID(acctA, custX, 1), page.Messages[0].SK())
	if msgTTL != want {
		t.Errorf("message ttl %d, want %d (Meta time + 30 days)", msgTTL, want)
	}
	if got := itemTTL(t, db, table, "MID#"+acctA+"#m-ret", "MID"); got <= want {
		t.Errorf("per-mid record ttl %d, want after the message's %d", got, want)
	}
	if ttls["EVT"] < time.Now().Add(9*24*time.Hour).Unix() || ttls["EVT"] > time.Now().Add(11*24*time.Hour).Unix() {
		t.Errorf("unknown event ttl %d, want about now + 10 days", ttls["EVT"])
	}
	if ttls["CH"] != 0 {
		t.Errorf("channel/contact got a ttl %d", ttls["CH"])
	}
}

func unmarshal(it map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMap(it, v)
}

func itemTTL(t *testing.T, db *dynamodb.Client, table, pk, sk string) int64 {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil || out.Item == nil {
		t.Fatalf("get %s %s: %v", pk, sk, err)
	}
	var v struct {
		TTL int64 `dynamodbav:"ttl"`
	}
	if err := unmarshal(out.Item, &v); err != nil {
		t.Fatal(err)
	}
	return v.TTL
}

// tokenErr is the error of reading the channel's token item (ErrNotFound once it is deleted).
func tokenErr(ctx context.Context, st *store.Store, id string) error {
	_, err := st.GetChannelToken(ctx, id)
	return err
}

func TestUnsendDropsTheArchivedBodyInEveryOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 100)
	// Message then unsend.
	w.deliver(t, acctA, msg(custX, acctA, "mA-unsent/1", "regret \U0001F602 this", false))
	w.deliver(t, acctA, msg(custX, acctA, "mA-kept", "keep this one", false))
	if got := w.mentioning(t, "regret"); len(got) != 2 {
		t.Fatalf("before the unsend the text is in %v, want the message and its body", got)
	}
	w.deliver(t, acctA, unsend(custX, acctA, "mA-unsent/1"))
	if got := w.mentioning(t, "regret"); len(got) != 0 {
		t.Errorf("after the unsend the text is still in %v", got)
	}
	if got := w.mentioning(t, "keep this one"); len(got) != 2 {
		t.Errorf("another message of the contact lost its archived body: %v", got)
	}
	// Unsend first, then the message (Meta's retries can reorder them).
	w.deliver(t, acctA, unsend(custY, acctA, "mA-early-unsend"))
	w.deliver(t, acctA, msg(custY, acctA, "mA-early-unsend", "too late \u202e text", false))
	if got := w.mentioning(t, "too late"); len(got) != 0 {
		t.Errorf("a message unsent before it arrived is still in %v", got)
	}
}

// A message of the customer that arrives between two steps of their erasure, after the step
// that deleted their open conversation, is stored (in a new conversation) and then erased
// with the rest; the erasure still completes and the customer's next message after it opens
// a new conversation.
func TestEraseContactMessageBetweenSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 3)
	w.deliver(t, acctA,
		msg(custX, acctA, "mA-x-w1", "first \U0001F602 from X \u202e", false),
		msg(custX, acctA, "mA-x-w2", "second from X", false))
	conv1 := inbox.ConversationID(acctA, custX, 1)
	starter := erasure.Starter{Store: w.st, Pub: w.q}
	if err := starter.StartContactErasure(ctx, acctA, custX); err != nil {
		t.Fatal(err)
	}
	pending := w.q.take()
	// Run steps until the open conversation is gone while the contact still has its profile.
	for steps := 0; ; steps++ {
		if len(pending) != 1 || steps > 100 {
			t.Fatalf("the erasure ended (or forked: %d steps queued) before reaching the state under test", len(pending))
		}
		if err := w.eraser.Handle(ctx, pending[0]); err != nil {
			t.Fatalf("step %d: %v", steps, err)
		}
		pending = w.q.take()
		_, err := w.st.GetConversation(ctx, conv1)
		c, cerr := w.st.GetContact(ctx, acctA, custX)
		if cerr != nil {
			t.Fatal(cerr)
		}
		if errors.Is(err, domain.ErrNotFound) && c.Name != "" {
			break
		}
	}
	// The customer writes now (same message group: between two steps).
	midEnv := msg(custX, acctA, "mA-x-during", "written \u05e9\u05dc\u05d5\u05dd during the erasure", false)
	w.deliver(t, acctA, midEnv)
	conv2 := inbox.ConversationID(acctA, custX, 2)
	if got := w.messages(t, conv2); len(got) != 1 || got[0].MID != "mA-x-during" {
		t.Fatalf("the message written during the erasure is in %+v, want it alone in a new conversation", got)
	}
	for len(pending) > 0 {
		w.run(t, pending[0])
		pending = pending[1:]
	}
	for _, it := range w.mentioning(t, custX) {
		if it != "CH#"+acctA+" CONTACT#"+custX {
			t.Errorf("after the erasure an item still names X: %s", it)
		}
	}
	if got := w.mentioning(t, "during the erasure"); len(got) != 0 {
		t.Errorf("the message written during the erasure survived it: %v", got)
	}
	// Its redelivery stores nothing (tombstone), and it comes back in no conversation.
	w.deliver(t, acctA, midEnv)
	if st, err := w.st.LoadEventState(ctx, acctA, "", "mA-x-during"); err != nil || !st.MID.Erased || st.MID.Stored() {
		t.Errorf("per-mid record of the message written during the erasure: %+v %v", st.MID, err)
	}
	c, err := w.st.GetContact(ctx, acctA, custX)
	if err != nil {
		t.Fatal(err)
	}
	if c.OpenConversationID != "" || c.LastConversationID != "" || c.Name != "" || c.ConversationSeq != 2 {
		t.Errorf("contact after the erasure: %+v, want only its counter (2)", c)
	}
	w.deliver(t, acctA, msg(custX, acctA, "mA-x-after", "after the erasure", false))
	if got := w.messages(t, inbox.ConversationID(acctA, custX, 3)); len(got) != 1 || got[0].MID != "mA-x-after" {
		t.Errorf("the first message after the erasure is in %+v, want it in conversation 3", got)
	}
}
