package inbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/processor"
)

// scenario is a realistic multi-contact history: messages, echoes, reactions with unreact,
// reads, unsends, postbacks, attachments, replies, referrals.
func scenario() []obj {
	const a, b, c = "3001", "3002", "3003"
	s := func(n int) int64 { return ms(time.Duration(n) * time.Second) }
	img := []obj{{"type": "image", "payload": obj{"url": "https://cdn/a.jpg"}}}
	mixed := []obj{{"type": "share", "payload": obj{"url": "https://cdn/share"}}, {"type": "never_seen_before", "payload": obj{"k": "v"}}}
	return []obj{
		// Contact A: a conversation with everything.
		text(a, s(1), mid("a1"), "Olá! Vocês têm o tênis 42?"),
		incoming(a, s(2), mid("a2"), obj{"attachments": img}),
		echo(a, s(3), mid("ae1"), "Temos sim!"),
		reaction(a, s(4), mid("ae1"), "react", "❤"),
		reaction(a, s(5), mid("ae1"), "unreact", ""),
		reaction(a, s(6), mid("a1"), "react", "😮"),
		read(a, s(7), mid("ae1")),
		incoming(a, s(8), mid("a3"), obj{"text": "oops wrong chat", "reply_to": obj{"mid": mid("a1")}}),
		unsend(a, s(9), mid("a3")),
		echo(a, s(10), mid("ae2"), "Mais alguma coisa?"),
		postback(a, s(11), mid("ap1"), "Falar com atendente", "HUMAN"),
		edit(a, s(12), mid("a1"), "Olá! Vocês têm o tênis 43? 👟", 1),
		edit(a, s(13), mid("a1"), "Olá! Vocês têm o tênis 44? 👟🏽", 2),
		// Contact B: starts with a postback (ice breaker), ends with an unread reply.
		postback(b, s(1), mid("bp1"), "Ver catálogo", "CATALOG"),
		incoming(b, s(2), mid("b1"), obj{"text": "look", "attachments": mixed}),
		echo(b, s(3), mid("be1"), "Lindo!"),
		read(b, s(4), mid("be1")),
		echo(b, s(5), mid("be2"), "Posso ajudar?"),
		reaction(b, s(6), mid("be2"), "react", "👍"),
		reaction(b, s(7), mid("be2"), "react", "😂"),
		businessUnsend(b, s(8), mid("be1")),
		// Contact C: story reply, quick reply, referral, unsend of the first message.
		incoming(c, s(1), mid("c1"), obj{"text": "🔥", "reply_to": obj{"story": obj{"id": "st9", "url": "https://cdn/st9"}}}),
		incoming(c, s(2), mid("c2"), obj{"text": "Sim", "quick_reply": obj{"payload": "YES"}}),
		referralItem(c, s(3), "promo"),
		text(c, s(4), mid("c3"), "e o preço?"),
		unsend(c, s(5), mid("c1")),
		reaction(c, s(6), mid("c3"), "react", "❤"),
		reaction(c, s(7), mid("c3"), "unreact", ""),
		echo(c, s(8), mid("ce1"), "R$ 299"),
	}
}

// deliver sends every envelope three times, in a random order and random batches, through the
// processor's Lambda handler, redelivering what a batch reports as failed.
func deliver(t *testing.T, f *fixture, all []envelope.Envelope, rng *rand.Rand) {
	t.Helper()
	var queue []envelope.Envelope
	for range 3 {
		queue = append(queue, all...)
	}
	rng.Shuffle(len(queue), func(i, j int) { queue[i], queue[j] = queue[j], queue[i] })
	h := processor.NewHandler(f.svc, f.svcLog())
	receives := map[string]int{}
	for rounds := 0; len(queue) > 0; rounds++ {
		if rounds > 1000 {
			t.Fatal("delivery does not terminate")
		}
		n := min(1+rng.IntN(10), len(queue))
		batch := queue[:n]
		queue = queue[n:]
		var ev events.SQSEvent
		byID := map[string]envelope.Envelope{}
		for i, e := range batch {
			receives[e.Key]++
			rec := sqsRecord(e, receives[e.Key])
			rec.MessageId = fmt.Sprintf("r%d-%d", rounds, i)
			byID[rec.MessageId] = e
			ev.Records = append(ev.Records, rec)
		}
		resp, err := h.Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, fail := range resp.BatchItemFailures {
			queue = append(queue, byID[fail.ItemIdentifier])
		}
	}
}

// Invariants 2, 3 and 7: the same history delivered three times, in random orders and
// batchings, always converges to the same state.
func TestConvergence(t *testing.T) {
	t.Parallel()
	const seeds = 24
	all := envs(t, acct, scenario()...)
	snapshots := make([]string, seeds)
	db := newFixture(t).db
	t.Run("seeds", func(t *testing.T) {
		for seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				f := newFixtureDB(t, db)
				deliver(t, f, append([]envelope.Envelope(nil), all...), rand.New(rand.NewPCG(uint64(seed), 42)))
				snapshots[seed] = f.snapshot()
				if seed == 0 {
					checkScenario(t, f)
				}
			})
		}
	})
	for seed := 1; seed < seeds; seed++ {
		if snapshots[seed] != snapshots[0] {
			t.Errorf("seed %d diverged:\n%s\nseed 0:\n%s", seed, snapshots[seed], snapshots[0])
			break
		}
	}
	if !strings.Contains(snapshots[0], mid("a1")) {
		t.Fatal("empty snapshot")
	}
}

// checkScenario asserts the expected final state, so that a consistently wrong result fails too.
func checkScenario(t *testing.T, f *fixture) {
	t.Helper()
	convs := f.conversations(nil)
	if len(convs) != 3 {
		t.Fatalf("%d conversations, want 3", len(convs))
	}
	// Newest activity first: A (11 s), C (8 s), B (7 s → echo at 5 s; reactions do not count).
	var order []string
	for _, c := range convs {
		order = append(order, c.Contact.IGSID)
	}
	if strings.Join(order, ",") != "3001,3003,3002" {
		t.Errorf("conversation order %v", order)
	}
	count := 0
	msgs := map[string]api.MessageJSON{}
	for _, c := range convs {
		for _, m := range f.messages(c.ID) {
			msgs[m.MID] = m
			count++
		}
	}
	if count != 15 {
		t.Errorf("%d messages, want 15 (one per mid, and C's referral entry)", count)
	}
	emojis := func(m api.MessageJSON) string {
		var e []string
		for _, r := range m.Reactions {
			e = append(e, r.Emoji)
		}
		return strings.Join(e, ",")
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a3 unsent", msgs[mid("a3")].Deleted && msgs[mid("a3")].Text == "" && msgs[mid("a3")].ReplyTo == nil},
		{"c1 unsent", msgs[mid("c1")].Deleted && msgs[mid("c1")].ReplyTo == nil},
		{"ae1 unreacted", emojis(msgs[mid("ae1")]) == ""},
		{"a1 reacted", emojis(msgs[mid("a1")]) == "😮"},
		{"be2 last reaction wins", emojis(msgs[mid("be2")]) == "😂"},
		{"c3 unreacted", emojis(msgs[mid("c3")]) == ""},
		{"ae1 read", msgs[mid("ae1")].Status == "read"},
		{"ae2 sent (after the read)", msgs[mid("ae2")].Status == "sent"},
		{"be1 read", msgs[mid("be1")].Status == "read"},

		{"be2 sent", msgs[mid("be2")].Status == "sent"},
		{"postback text", msgs[mid("bp1")].Text == "Ver catálogo" && msgs[mid("bp1")].Postback != nil && msgs[mid("bp1")].Postback.Payload == "CATALOG"},
		{"a1 edited twice", msgs[mid("a1")].Text == "Olá! Vocês têm o tênis 44? 👟🏽" && len(msgs[mid("a1")].Edits) == 2 && msgs[mid("a1")].Edits[0].Text == "Olá! Vocês têm o tênis 42?"},
		{"be1 unsent by the business", msgs[mid("be1")].Deleted && msgs[mid("be1")].Text == ""},
		{"a1 reaction by the contact", len(msgs[mid("a1")].Reactions) == 1 && msgs[mid("a1")].Reactions[0].By == "contact"},
		{"c2 quick reply", msgs[mid("c2")].QuickReply != nil && msgs[mid("c2")].QuickReply.Payload == "YES"},
		{"attachments kept", len(msgs[mid("b1")].Attachments) == 2 && msgs[mid("b1")].Attachments[1].Type == "never_seen_before"},
	} {
		if !tc.ok {
			t.Errorf("%s: not as expected", tc.name)
		}
	}
}
