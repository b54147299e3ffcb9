package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/store"
)

func newInboxStore(t *testing.T) (*store.Store, *store.Meter) {
	t.Helper()
	meter := store.NewMeter()
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, meter.APIOption) })
	return store.New(db, testenv.Table(t, db)), meter
}

const acct = "17841400000000001"

func TestTransactionConditions(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	msg := domain.Message{ID: "m", ConversationID: "000000000000000000000001", ChannelID: acct, ContactIGSID: "c", MID: "mid-1", Direction: domain.DirectionIncoming, Status: domain.MessageReceived, TimestampMS: 1763802000000}
	commit := func(build func(tx *domain.Tx)) error {
		tx := new(domain.Tx)
		build(tx)
		return s.Commit(ctx, tx)
	}
	for _, tc := range []struct {
		name     string
		build    func(tx *domain.Tx)
		conflict bool
	}{
		{"first message and record", func(tx *domain.Tx) {
			tx.PutMessage(msg)
			tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: "mid-1", ConversationID: msg.ConversationID, MessageSK: msg.SK()})
		}, false},
		{"same message again", func(tx *domain.Tx) { tx.PutMessage(msg) }, true},
		{"record created twice", func(tx *domain.Tx) { tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: "mid-1"}) }, true},
		{"record at a stale version", func(tx *domain.Tx) { tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: "mid-1", Ver: 7}) }, true},
		{"record at its version", func(tx *domain.Tx) {
			tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: "mid-1", ConversationID: msg.ConversationID, MessageSK: msg.SK(), Deleted: true, Ver: 1})
			tx.EraseMessage(msg.ConversationID, msg.SK())
		}, false},
		{"erase a message that does not exist", func(tx *domain.Tx) { tx.EraseMessage(msg.ConversationID, "MSG#0000000000001#nope") }, true},
		{"contact created", func(tx *domain.Tx) {
			tx.PutContact(domain.Contact{ChannelID: acct, IGSID: "c", OpenConversationID: "x"})
		}, false},
		{"contact created again", func(tx *domain.Tx) { tx.PutContact(domain.Contact{ChannelID: acct, IGSID: "c"}) }, true},
		{"update of a missing conversation", func(tx *domain.Tx) {
			tx.UpdateConversation(domain.ConversationChange{ID: "000000000000000000000009", LastActivityMS: 5})
		}, true},
	} {
		err := commit(tc.build)
		if got := errors.Is(err, domain.ErrConflict); got != tc.conflict || (!tc.conflict && err != nil) {
			t.Errorf("%s: err %v, want conflict=%v", tc.name, err, tc.conflict)
		}
	}
	m, err := s.GetMessageByMID(ctx, acct, "mid-1")
	if err != nil || !m.Deleted {
		t.Errorf("message by mid: %+v %v", m, err)
	}
	if _, err := s.GetMessageByMID(ctx, acct, "absent"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("absent mid: %v", err)
	}
}

func TestReadWatermarkOnlyMovesForward(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	for _, ts := range []int64{100, 300, 200, 300} {
		if err := s.AdvanceReadWatermark(ctx, acct, "c", ts); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.GetContact(ctx, acct, "c")
	if err != nil || c.ReadWatermarkMS != 300 || c.Ver != 2 {
		t.Errorf("contact %+v %v (want watermark 300, ver 2)", c, err)
	}
}

func TestLoadEventStateAndMeter(t *testing.T) {
	t.Parallel()
	s, meter := newInboxStore(t)
	ctx := metrics.WithLabel(context.Background(), "probe")
	st, err := s.LoadEventState(ctx, acct, "c", "m")
	if err != nil || st.ChannelFound || st.Contact.Ver != 0 || st.MID.Stored() || st.Contact.IGSID != "c" || st.MID.MID != "m" {
		t.Errorf("empty state %+v %v", st, err)
	}
	if _, err := s.ConnectChannel(ctx, domain.Channel{ID: acct, AccessToken: "tok", TokenExpiresAt: time.Now().Add(time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err = s.LoadEventState(ctx, acct, "c", ""); err != nil || !st.ChannelFound || st.Channel.ID != acct {
		t.Errorf("channel not loaded: %+v %v", st, err)
	}
	u := meter.Snapshot()["probe"]
	if u.Ops["BatchGetItem"] != 2 || u.RoundTrips < 3 {
		t.Errorf("meter %+v", u)
	}
	if _, err := s.ListMessages(ctx, "000000000000000000000001", "not-a-key", 10); !errors.Is(err, domain.ErrInvalidCursor) {
		t.Errorf("invalid message cursor: %v", err)
	}
	if _, err := s.ListConversations(ctx, domain.ConversationQuery{After: "123#abc"}); !errors.Is(err, domain.ErrInvalidCursor) {
		t.Errorf("invalid conversation cursor: %v", err)
	}
}

// TestAppendToOpenConversationRefusals: the write-first append stores a message in the
// contact's open conversation in one transaction without writing the contact, and when a
// condition refuses it, returns the per-mid record and the conversation as stored.
func TestAppendToOpenConversationRefusals(t *testing.T) {
	t.Parallel()
	s, meter := newInboxStore(t)
	ctx := context.Background()
	const conv, igsid = "00000000000000000000000a", "7001"
	if _, err := s.ConnectChannel(ctx, domain.Channel{ID: acct, AccessToken: "t", TokenExpiresAt: time.Now().Add(time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	tx := new(domain.Tx)
	tx.CreateConversation(domain.Conversation{ID: conv, ChannelID: acct, ContactIGSID: igsid, Status: domain.StatusOpen, Seq: 1, LastActivityMS: 1000, LastIncomingMS: 1000})
	tx.PutContact(domain.Contact{ChannelID: acct, IGSID: igsid, OpenConversationID: conv, LastConversationID: conv, ConversationSeq: 1, ConvLastActivityMS: 1000, ConvLastIncomingMS: 1000})
	if err := s.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	msg := func(mid string, ts int64) domain.Message {
		return domain.Message{ID: mid, ConversationID: conv, ChannelID: acct, ContactIGSID: igsid, MID: mid, Direction: domain.DirectionIncoming, Status: domain.MessageReceived, TimestampMS: ts}
	}
	meter.Reset()
	if err := s.AppendToOpenConversation(ctx, msg("m1", 2000), nil); err != nil {
		t.Fatalf("append: %v", err)
	}
	if u := meter.Snapshot()["-"]; u.RoundTrips != 1 || u.Ops["TransactWriteItems"] != 1 {
		t.Fatalf("append: %+v, want one TransactWriteItems", u)
	}
	// The conversation moved, the contact was not written.
	if cv, err := s.GetConversation(ctx, conv); err != nil || cv.LastActivityMS != 2000 || cv.LastIncomingMS != 2000 {
		t.Fatalf("conversation after append: %+v %v", cv, err)
	}
	c, err := s.GetContact(ctx, acct, igsid)
	if err != nil || c.ConvLastActivityMS != 1000 || c.Ver != 1 {
		t.Fatalf("contact after append: %+v %v", c, err)
	}

	// A duplicate: the per-mid record comes back, stored.
	var refused *domain.AppendRefused
	err = s.AppendToOpenConversation(ctx, msg("m1", 2000), nil)
	if !errors.Is(err, domain.ErrConflict) || !errors.As(err, &refused) || !refused.MIDKnown || !refused.MID.Stored() {
		t.Fatalf("duplicate: %v %+v", err, refused)
	}
	// Older than the conversation's activity: the conversation comes back.
	refused = nil
	err = s.AppendToOpenConversation(ctx, msg("m0", 1500), nil)
	if !errors.As(err, &refused) || !refused.ConversationKnown || refused.Conversation.LastActivityMS != 2000 || !refused.MIDKnown || refused.MID.Stored() {
		t.Fatalf("out of order: %v %+v", err, refused)
	}
	// Nothing of a refused append is stored.
	if _, err := s.GetMessageByMID(ctx, acct, "m0"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("refused message stored: %v", err)
	}
	// Appended again with what the refusal returned: stored, the activity stays at 2000.
	seen := refused.Conversation
	if err := s.AppendToOpenConversation(ctx, msg("m0", 1500), &seen); err != nil {
		t.Fatalf("out of order, appended with the conversation seen: %v", err)
	}
	if cv, err := s.GetConversation(ctx, conv); err != nil || cv.LastActivityMS != 2000 || cv.LastIncomingMS != 2000 {
		t.Fatalf("conversation after an older append: %+v %v", cv, err)
	}
	if _, err := s.GetMessageByMID(ctx, acct, "m0"); err != nil {
		t.Fatalf("older message: %v", err)
	}
	// A resolved conversation refuses, and comes back resolved.
	if _, err := s.SetConversationStatus(ctx, conv, domain.StatusResolved, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	refused = nil
	err = s.AppendToOpenConversation(ctx, msg("m2", 2500), nil)
	if !errors.As(err, &refused) || !refused.ConversationKnown || refused.Conversation.Status != domain.StatusResolved {
		t.Fatalf("append to a resolved conversation: %v %+v", err, refused)
	}
	if _, err := s.GetMessageByMID(ctx, acct, "m2"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("message stored in a resolved conversation: %v", err)
	}
	// A disconnected channel: refused, and nothing returned to decide on (read).
	if _, err := s.Disconnect(ctx, acct, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	refused = nil
	err = s.AppendToOpenConversation(ctx, msg("m3", 3000), nil)
	if !errors.Is(err, domain.ErrConflict) || errors.As(err, &refused) {
		t.Fatalf("append on a disconnected channel: %v %+v, want a plain conflict", err, refused)
	}
}

// TestGetConversations: one BatchGetItem returns the conversations that exist, with their
// times; a missing one is left out.
func TestGetConversations(t *testing.T) {
	t.Parallel()
	s, meter := newInboxStore(t)
	ctx := context.Background()
	tx := new(domain.Tx)
	for n := 1; n <= 2; n++ {
		tx.CreateConversation(domain.Conversation{ID: domain.ConversationID(acct, "c", n), ChannelID: acct, ContactIGSID: "c",
			Status: domain.StatusOpen, Seq: n, LastActivityMS: int64(n) * 1000, LastIncomingMS: int64(n) * 1000, CreatedAt: time.Unix(0, 0)})
	}
	if err := s.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	meter.Reset()
	got, err := s.GetConversations(metrics.WithLabel(ctx, "probe"), []string{domain.ConversationID(acct, "c", 3), domain.ConversationID(acct, "c", 2), domain.ConversationID(acct, "c", 1)})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]int64{}
	for _, c := range got {
		in[c.ID] = c.LastIncomingMS
	}
	if len(got) != 2 || in[domain.ConversationID(acct, "c", 1)] != 1000 || in[domain.ConversationID(acct, "c", 2)] != 2000 {
		t.Errorf("conversations %+v, want the two stored", got)
	}
	if u := meter.Snapshot()["probe"]; u.Ops["BatchGetItem"] != 1 || len(u.Ops) != 1 {
		t.Errorf("round trips %+v, want one BatchGetItem", meter.Snapshot())
	}
	if got, err := s.GetConversations(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v %v", got, err)
	}
}
