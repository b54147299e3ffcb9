package inbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/inbox"
)

// The inbound decisions (dedupe, ordering, unsend and reactions before their message, edits,
// the read watermark, duplicates after a resolution or an unsend), as one suite run against
// two stores: the in-memory memStore (TestDecisionsFake: no DynamoDB needed) and the
// emulator-backed adapter (TestDecisionsStore), which also runs every case on memStore and
// compares what both stored, so that the fake cannot drift from the adapter.

// decisionWorld is a service over one store, with the reads the checks need.
type decisionWorld struct {
	t             testing.TB
	svc           *inbox.Service
	resolve       func(conversationID string)
	erase         func(igsid string) // the contact, as the erasure job does
	contact       func(igsid string) domain.Contact
	conversations func(igsid string) []domain.Conversation // newest activity first
	messages      func(conversationID string) []domain.Message
}

func (w *decisionWorld) handle(items ...obj) {
	w.t.Helper()
	for _, e := range envs(w.t, acct, items...) {
		if err := w.svc.Handle(context.Background(), e); err != nil {
			w.t.Fatalf("handle %s: %v", e.Kind, err)
		}
	}
}

// state renders what the decisions stored for a contact. The contact's version counts its
// writes, which depends on the delivery order (a stale read watermark writes nothing), and so
// does its mirror of the conversation's times (messages appended without a read leave it):
// they are shown only with ver.
func (w *decisionWorld) state(igsid string, ver bool) string {
	c := w.contact(igsid)
	if !ver {
		c.Ver, c.ConvLastActivityMS, c.ConvLastIncomingMS = 0, 0, 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "contact ver=%d open=%s last=%s seq=%d activity=%d incoming=%d read=%d profile=%s\n",
		c.Ver, c.OpenConversationID, c.LastConversationID, c.ConversationSeq, c.ConvLastActivityMS, c.ConvLastIncomingMS, c.ReadWatermarkMS, c.ProfileStatus)
	b.WriteString(describe(w.conversations(igsid), w.messages))
	return b.String()
}

func newFakeWorld(t testing.TB) *decisionWorld {
	mem := newMemStore()
	mem.connect(domain.Channel{ID: acct, Username: "shop", AccessToken: testToken, TokenExpiresAt: t0.Add(60 * 24 * time.Hour), ConnectedAt: t0})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := inbox.New(mem, mem, newFakeProfiles(), inbox.Config{}, log, inbox.WithClock(func() time.Time { return t0 }))
	return &decisionWorld{t: t, svc: svc, resolve: mem.resolve, contact: mem.contact, conversations: mem.conversationsOf, messages: mem.messagesOf,
		erase: func(igsid string) { mem.erase(igsid, t0.Add(inbox.DefaultTombstoneTTL)) }}
}

func newStoreWorld(t *testing.T) *decisionWorld {
	f := newFixture(t)
	ctx := context.Background()
	w := &decisionWorld{t: t, svc: f.svc}
	w.resolve = func(id string) {
		if _, err := f.st.SetConversationStatus(ctx, id, domain.StatusResolved, nil, t0); err != nil {
			t.Fatalf("resolve: %v", err)
		}
	}
	w.erase = func(igsid string) {
		var ids []string
		for _, c := range w.conversations(igsid) {
			ids = append(ids, c.ID)
		}
		for done := false; !done; {
			res, err := f.st.EraseContactStep(ctx, acct, igsid, ids, t0.Add(inbox.DefaultTombstoneTTL), domain.Budget{Items: 1000, Deadline: time.Now().Add(time.Minute)})
			if err != nil {
				t.Fatalf("erase: %v", err)
			}
			done = res.Done
		}
	}
	w.contact = func(igsid string) domain.Contact {
		c, err := f.st.GetContact(ctx, acct, igsid)
		if err != nil {
			t.Fatalf("contact: %v", err)
		}
		return c
	}
	w.conversations = func(igsid string) []domain.Conversation {
		page, err := f.st.ListConversations(ctx, domain.ConversationQuery{ChannelID: acct, Limit: 100})
		if err != nil {
			t.Fatalf("list conversations: %v", err)
		}
		var out []domain.Conversation
		for _, c := range page.Conversations {
			if c.ContactIGSID == igsid {
				out = append(out, c)
			}
		}
		return out
	}
	w.messages = func(id string) []domain.Message {
		var out []domain.Message
		after := ""
		for {
			page, err := f.st.ListMessages(ctx, id, after, 100)
			if err != nil {
				t.Fatalf("list messages: %v", err)
			}
			out = append(out, page.Messages...)
			if page.Next == "" {
				return out
			}
			after = page.Next
		}
	}
	return w
}

const dc = "4001" // the contact of the decision cases

// decisionCase is one decision: items delivered in every order (then the items of after, in
// order), and what must hold whatever the order.
type decisionCase struct {
	name  string
	items []obj
	after func(w *decisionWorld) // optional, once items are delivered
	check func(t testing.TB, w *decisionWorld)
}

func decisionCases() []decisionCase {
	s := func(n int) int64 { return ms(time.Duration(n) * time.Second) }
	return []decisionCase{{
		name:  "same mid twice is stored once",
		items: []obj{text(dc, s(1), mid("d1"), "Olá 😂"), text(dc, s(1), mid("d1"), "Olá 😂")},
		check: func(t testing.TB, w *decisionWorld) {
			m := onlyMessages(t, w, 1)
			if m[0].Text != "Olá 😂" || m[0].Deleted {
				t.Errorf("message %+v", m[0])
			}
		},
	}, {
		name:  "an older message after a newer one: activity only moves forward, list by Meta time",
		items: []obj{text(dc, s(1), mid("o1"), "first"), text(dc, s(5), mid("o2"), "second"), echo(dc, s(3), mid("oe"), "between")},
		check: func(t testing.TB, w *decisionWorld) {
			m := onlyMessages(t, w, 3)
			if m[0].MID != mid("o1") || m[1].MID != mid("oe") || m[2].MID != mid("o2") {
				t.Errorf("order %s, %s, %s", m[0].MID, m[1].MID, m[2].MID)
			}
			c := w.conversations(dc)[0]
			if c.LastActivityMS != s(5) || c.LastIncomingMS != s(5) {
				t.Errorf("activity %d, incoming %d, want both %d", c.LastActivityMS, c.LastIncomingMS, s(5))
			}
			// The contact's mirror is a lower bound (appends without a read leave it), never
			// ahead of the conversation.
			if ct := w.contact(dc); ct.ConvLastActivityMS > s(5) || ct.ConvLastIncomingMS > s(5) || ct.ConvLastActivityMS == 0 {
				t.Errorf("contact mirror %d/%d, want at most %d", ct.ConvLastActivityMS, ct.ConvLastIncomingMS, s(5))
			}
		},
	}, {
		name:  "unsend before or after its message; a redelivery after the unsend stores nothing",
		items: []obj{text(dc, s(1), mid("u1"), "secret \u202eRTL"), unsend(dc, s(2), mid("u1"))},
		after: func(w *decisionWorld) { w.handle(text(dc, s(1), mid("u1"), "secret \u202eRTL")) },
		check: func(t testing.TB, w *decisionWorld) {
			for _, m := range allMessages(w) {
				if m.MID == mid("u1") && (!m.Deleted || m.Text != "") {
					t.Errorf("unsent message keeps content: %+v", m)
				}
			}
		},
	}, {
		name:  "a reaction before its message",
		items: []obj{text(dc, s(1), mid("r1"), "hi"), reaction(dc, s(2), mid("r1"), "react", "\u2764")},
		check: func(t testing.TB, w *decisionWorld) {
			m := onlyMessages(t, w, 1)
			if len(m[0].Reactions) != 1 || m[0].Reactions[0].Emoji != "\u2764" || m[0].Reactions[0].By != dc {
				t.Errorf("reactions %+v", m[0].Reactions)
			}
		},
	}, {
		name:  "an unreact before the react it undoes, before their message",
		items: []obj{text(dc, s(1), mid("x1"), "hi"), reaction(dc, s(2), mid("x1"), "react", "😂"), reaction(dc, s(3), mid("x1"), "unreact", "")},
		check: func(t testing.TB, w *decisionWorld) {
			if m := onlyMessages(t, w, 1); len(m[0].Reactions) != 0 {
				t.Errorf("reactions after unreact: %+v", m[0].Reactions)
			}
		},
	}, {
		name: "edits in every order converge on the latest",
		items: []obj{text(dc, s(1), mid("e1"), "v0"), edit(dc, s(2), mid("e1"), "v1 \ufffe", 1),
			edit(dc, s(3), mid("e1"), "v2 👟🏽 مرحبا", 2)},
		check: func(t testing.TB, w *decisionWorld) {
			m := onlyMessages(t, w, 1)[0]
			want := []domain.Edit{{Text: "v0", NumEdit: 0, MS: s(1)}, {Text: "v1 \ufffe", NumEdit: 1, MS: s(2)}}
			if m.Text != "v2 👟🏽 مرحبا" || fmt.Sprint(m.Edits) != fmt.Sprint(want) {
				t.Errorf("text %q, edits %v", m.Text, m.Edits)
			}
		},
	}, {
		name:  "the read watermark only moves forward",
		items: []obj{read(dc, s(5), mid("w1")), read(dc, s(3), mid("w0"))},
		check: func(t testing.TB, w *decisionWorld) {
			if c := w.contact(dc); c.ReadWatermarkMS != s(5) {
				t.Errorf("watermark %d, want %d", c.ReadWatermarkMS, s(5))
			}
		},
	}, {
		name:  "a duplicate after the conversation was resolved stores nothing; a new message opens the next",
		items: []obj{text(dc, s(1), mid("z1"), "one")},
		after: func(w *decisionWorld) {
			w.resolve(w.conversations(dc)[0].ID)
			w.handle(text(dc, s(1), mid("z1"), "one"))
			if cs := w.conversations(dc); len(cs) != 1 || cs[0].Status != domain.StatusResolved {
				w.t.Fatalf("after the duplicate: %+v", cs)
			}
			w.handle(text(dc, s(4), mid("z2"), "two"), text(dc, s(4), mid("z2"), "two"))
		},
		check: func(t testing.TB, w *decisionWorld) {
			cs := w.conversations(dc)
			if len(cs) != 2 || cs[0].Status != domain.StatusOpen || cs[0].Seq != 2 || cs[1].Status != domain.StatusResolved {
				t.Fatalf("conversations %+v", cs)
			}
			if n, o := w.messages(cs[0].ID), w.messages(cs[1].ID); len(n) != 1 || n[0].MID != mid("z2") || len(o) != 1 || o[0].MID != mid("z1") {
				t.Errorf("new %+v, old %+v", n, o)
			}
			if c := w.contact(dc); c.OpenConversationID != cs[0].ID {
				t.Errorf("open conversation %q, want %q", c.OpenConversationID, cs[0].ID)
			}
		},
	}, {
		name:  "a duplicate after the contact was erased stores nothing; a new message opens the next conversation",
		items: []obj{text(dc, s(1), mid("k1"), "apagar 😂"), reaction(dc, s(2), mid("k1"), "react", "\u2764"), text(dc, s(3), mid("k2"), "\u202eتم")},
		after: func(w *decisionWorld) {
			w.erase(dc)
			w.handle(text(dc, s(1), mid("k1"), "apagar 😂"), text(dc, s(3), mid("k2"), "\u202eتم"), reaction(dc, s(4), mid("k1"), "react", "😂"))
			if cs := w.conversations(dc); len(cs) != 0 {
				w.t.Fatalf("redeliveries after the erasure stored %+v", cs)
			}
			w.handle(text(dc, s(5), mid("k3"), "de novo"))
		},
		check: func(t testing.TB, w *decisionWorld) {
			cs := w.conversations(dc)
			if len(cs) != 1 || cs[0].Seq != 2 {
				t.Fatalf("conversations %+v, want the second one only", cs)
			}
			if m := w.messages(cs[0].ID); len(m) != 1 || m[0].MID != mid("k3") {
				t.Errorf("messages %+v", m)
			}
		},
	}}
}

// onlyMessages returns the messages of the contact's only conversation, n of them.
func onlyMessages(t testing.TB, w *decisionWorld, n int) []domain.Message {
	t.Helper()
	cs := w.conversations(dc)
	if len(cs) != 1 {
		t.Fatalf("%d conversations, want 1", len(cs))
	}
	m := w.messages(cs[0].ID)
	if len(m) != n {
		t.Fatalf("%d messages, want %d: %+v", len(m), n, m)
	}
	return m
}

func allMessages(w *decisionWorld) []domain.Message {
	var out []domain.Message
	for _, c := range w.conversations(dc) {
		out = append(out, w.messages(c.ID)...)
	}
	return out
}

// runDecision delivers the case's items in one order into a fresh world and checks it; it
// returns the state stored (with the contact's version when ver).
func runDecision(t testing.TB, w *decisionWorld, c decisionCase, order []int, ver bool) string {
	t.Helper()
	for _, i := range order {
		w.handle(c.items[i])
	}
	if c.after != nil {
		c.after(w)
	}
	c.check(t, w)
	return w.state(dc, ver)
}

func TestDecisionsFake(t *testing.T) {
	t.Parallel()
	for _, c := range decisionCases() {
		t.Run(c.name, func(t *testing.T) {
			var first string
			for _, order := range permutations(len(c.items)) {
				got := runDecision(t, newFakeWorld(t), c, order, false)
				if first == "" {
					first = got
				} else if got != first {
					t.Errorf("order %v stored\n%s\nwhere the first order stored\n%s", order, got, first)
				}
			}
		})
	}
}

// TestDecisionsStore runs the cases against the adapter on DynamoDB Local, and each order
// against memStore too: both must store the same.
func TestDecisionsStore(t *testing.T) {
	t.Parallel()
	for _, c := range decisionCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, order := range permutations(len(c.items)) {
				got := runDecision(t, newStoreWorld(t), c, order, true)
				fake := runDecision(t, newFakeWorld(t), c, order, true)
				if got != fake {
					t.Errorf("order %v: the adapter stored\n%s\nmemStore stored\n%s", order, got, fake)
				}
			}
		})
	}
}
