package inbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/inbox"
)

// The conditions each write of a domain.Tx documents, and AppendToOpenConversation's guards,
// step by step on one store: TestConditionsFake on memStore, TestConditionsStore on the
// adapter (DynamoDB Local). A step that must lose a condition must also write nothing.

type conditionStep struct {
	name   string
	tx     func(tx *domain.Tx)
	append *domain.Message // instead of tx: AppendToOpenConversation
	seen   *domain.Conversation
	// conflict: the step must fail with ErrConflict; refused additionally wants an
	// *domain.AppendRefused that knows the stored per-mid record (mid) or the open
	// conversation with its activity at 2000 (conversation), or the resolved conversation
	// (resolved); or a *domain.ConversationAhead alone with the activity at 3000 (ahead).
	conflict bool
	refused  string
	// probe, when set, must hold after the step.
	probe func(t *testing.T, st inbox.Store)
}

const (
	cc    = "5001" // the contact of the condition steps
	ccMID = "aWdfY29uZA"
)

func conditionSteps() []conditionStep {
	convID := domain.HashID(acct, cc, "1")
	msg := domain.Message{ID: domain.HashID(acct, ccMID), ConversationID: convID, ChannelID: acct, ContactIGSID: cc, MID: ccMID,
		Direction: domain.DirectionIncoming, Status: domain.MessageReceived, Text: "hé 😂", TimestampMS: 2000, CreatedAt: t0}
	older := msg
	older.MID, older.ID, older.TimestampMS = ccMID+"old", domain.HashID(acct, ccMID+"old"), 1000
	newer := msg
	newer.MID, newer.ID, newer.TimestampMS = ccMID+"new", domain.HashID(acct, ccMID+"new"), 3000
	latest := msg
	latest.MID, latest.ID, latest.TimestampMS = ccMID+"latest", domain.HashID(acct, ccMID+"latest"), 5000
	contact := func(ver int64) domain.Contact {
		return domain.Contact{ChannelID: acct, IGSID: cc, OpenConversationID: convID, LastConversationID: convID, ConversationSeq: 1,
			ConvLastActivityMS: 2000, ConvLastIncomingMS: 2000, Ver: ver}
	}
	conv := domain.Conversation{ID: convID, ChannelID: acct, ContactIGSID: cc, Status: domain.StatusOpen, Seq: 1, LastActivityMS: 2000, LastIncomingMS: 2000, CreatedAt: t0}
	contactVer := func(want int64) func(t *testing.T, st inbox.Store) {
		return func(t *testing.T, st inbox.Store) {
			t.Helper()
			es, err := st.LoadEventState(context.Background(), acct, cc, ccMID)
			if err != nil {
				t.Fatal(err)
			}
			if es.Contact.Ver != want {
				t.Errorf("contact version %d, want %d", es.Contact.Ver, want)
			}
		}
	}
	return []conditionStep{
		{name: "all or nothing: a new contact with an update of a missing conversation", conflict: true, tx: func(tx *domain.Tx) {
			tx.PutContact(contact(0))
			tx.UpdateConversation(domain.ConversationChange{ID: convID, LastActivityMS: 5})
		}, probe: contactVer(0)},
		{name: "an empty conversation change checks nothing", tx: func(tx *domain.Tx) {
			tx.UpdateConversation(domain.ConversationChange{ID: convID})
		}},
		{name: "the first message: contact, conversation, message, per-mid record", tx: func(tx *domain.Tx) {
			tx.PutContact(contact(0))
			tx.CreateConversation(conv)
			tx.PutMessage(msg)
			tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: ccMID, ConversationID: convID, MessageSK: msg.SK()})
		}, probe: contactVer(1)},
		{name: "a contact that must not exist", conflict: true, tx: func(tx *domain.Tx) { tx.PutContact(contact(0)) }},
		{name: "a contact at a stale version", conflict: true, tx: func(tx *domain.Tx) { tx.PutContact(contact(2)) }},
		{name: "a conversation that exists", conflict: true, tx: func(tx *domain.Tx) { tx.CreateConversation(conv) }},
		{name: "a message key that is taken", conflict: true, tx: func(tx *domain.Tx) { tx.PutMessage(msg) }},
		{name: "a per-mid record that must not exist", conflict: true, tx: func(tx *domain.Tx) {
			tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: ccMID})
		}},
		{name: "a duplicate through the fast path is refused knowing the stored record", append: &msg, conflict: true, refused: "mid"},
		{name: "an older message through the fast path is refused knowing the conversation", append: &older, conflict: true, refused: "conversation"},
		{name: "an older message through the fast path, with the conversation seen", append: &older, seen: &conv},
		{name: "a newer message through the fast path leaves the contact alone", append: &newer, probe: contactVer(1)},
		{name: "a conversation time older than the stored one is refused with the conversation", conflict: true, refused: "ahead", tx: func(tx *domain.Tx) {
			tx.UpdateConversation(domain.ConversationChange{ID: convID, LastActivityMS: 2500, LastIncomingMS: 2500})
		}},
		{name: "the text of a missing message", conflict: true, tx: func(tx *domain.Tx) { tx.SetMessageText(convID, "MSG#0000000000001#x", "t", nil) }},
		{name: "reactions of a missing message", conflict: true, tx: func(tx *domain.Tx) {
			tx.SetMessageReactions(convID, "MSG#0000000000001#x", []domain.MessageReaction{{By: cc, Reaction: "love"}})
		}},
		{name: "erasing a missing message", conflict: true, tx: func(tx *domain.Tx) { tx.EraseMessage(convID, "MSG#0000000000001#x") }},
		{name: "a new version of the contact", tx: func(tx *domain.Tx) {
			c := contact(1)
			c.ConvLastActivityMS, c.ConvLastIncomingMS = 3000, 3000
			tx.PutContact(c)
		}, probe: contactVer(2)},
		{name: "erasing a message", tx: func(tx *domain.Tx) { tx.EraseMessage(convID, msg.SK()) }},
		{name: "the text of a deleted message", conflict: true, tx: func(tx *domain.Tx) { tx.SetMessageText(convID, msg.SK(), "back", nil) }},
		{name: "activity that is not older", conflict: true, tx: func(tx *domain.Tx) { tx.AdvanceConversationActivity(convID, 3000) }},
		{name: "activity moving forward", tx: func(tx *domain.Tx) { tx.AdvanceConversationActivity(convID, 4000) }},
		{name: "resolving the conversation", tx: func(tx *domain.Tx) {
			tx.UpdateConversation(domain.ConversationChange{ID: convID, Status: domain.StatusResolved})
		}},
		{name: "the fast path into a resolved conversation is refused knowing it", append: &latest, conflict: true, refused: "resolved"},
	}
}

func runConditionSteps(t *testing.T, st inbox.Store) {
	ctx := context.Background()
	for _, s := range conditionSteps() {
		var err error
		if s.append != nil {
			err = st.AppendToOpenConversation(ctx, *s.append, s.seen)
		} else {
			var tx domain.Tx
			s.tx(&tx)
			err = st.Commit(ctx, &tx)
		}
		switch {
		case s.conflict && !errors.Is(err, domain.ErrConflict):
			t.Errorf("%s: %v, want a conflict", s.name, err)
		case !s.conflict && err != nil:
			t.Errorf("%s: %v", s.name, err)
		}
		var refused *domain.AppendRefused
		switch s.refused {
		case "mid":
			if !errors.As(err, &refused) || !refused.MIDKnown || !refused.MID.Stored() {
				t.Errorf("%s: %v, want a refusal knowing the stored per-mid record", s.name, err)
			}
		case "conversation":
			if !errors.As(err, &refused) || !refused.ConversationKnown || refused.Conversation.LastActivityMS != 2000 ||
				refused.Conversation.Status != domain.StatusOpen || !refused.MIDKnown || refused.MID.Ver != 0 {
				t.Errorf("%s: %v, want a refusal knowing the open conversation and no per-mid record", s.name, err)
			}
		case "resolved":
			if !errors.As(err, &refused) || !refused.ConversationKnown || refused.Conversation.Status != domain.StatusResolved {
				t.Errorf("%s: %v, want a refusal knowing the resolved conversation", s.name, err)
			}
		case "ahead":
			var ahead *domain.ConversationAhead
			if !errors.As(err, &ahead) || !ahead.Alone || ahead.Conversation.LastActivityMS != 3000 || ahead.Conversation.LastIncomingMS != 3000 {
				t.Errorf("%s: %v, want the conversation ahead at 3000, alone", s.name, err)
			}
		}
		if s.probe != nil {
			s.probe(t, st)
		}
	}
}

func TestConditionsFake(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	mem.connect(domain.Channel{ID: acct, AccessToken: testToken})
	runConditionSteps(t, mem)
}

func TestConditionsStore(t *testing.T) {
	t.Parallel()
	runConditionSteps(t, newFixture(t).st)
}
