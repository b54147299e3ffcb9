package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/iginbox/iginbox/shared/domain"
)

// TestAdvanceConversationActivity: a sent part's activity write moves last_activity_ms and
// both activity sort keys forward only, and leaves last_incoming_ms alone.
func TestAdvanceConversationActivity(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	const x, y = "00000000000000000000000a", "00000000000000000000000b"
	tx := new(domain.Tx)
	tx.CreateConversation(domain.Conversation{ID: x, ChannelID: acct, ContactIGSID: "c1", Status: domain.StatusOpen, Seq: 1, LastActivityMS: 1000, LastIncomingMS: 900})
	tx.CreateConversation(domain.Conversation{ID: y, ChannelID: acct, ContactIGSID: "c2", Status: domain.StatusOpen, Seq: 1, LastActivityMS: 1500, LastIncomingMS: 1500})
	if err := s.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		id       string
		ts       int64
		conflict bool
	}{
		{"older", x, 500, true},
		{"same time", x, 1000, true},
		{"missing conversation", "00000000000000000000000c", 5000, true},
		{"newer", x, 2000, false},
		{"back to the earlier newer time", x, 1999, true},
	} {
		tx := new(domain.Tx)
		tx.AdvanceConversationActivity(tc.id, tc.ts)
		err := s.Commit(ctx, tx)
		if got := errors.Is(err, domain.ErrConflict); got != tc.conflict || (!tc.conflict && err != nil) {
			t.Errorf("%s: err %v, want conflict=%v", tc.name, err, tc.conflict)
		}
	}
	c, err := s.GetConversation(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastActivityMS != 2000 || c.LastIncomingMS != 900 {
		t.Errorf("conversation %+v: want activity 2000, incoming 900", c)
	}
	if _, err := s.GetConversation(ctx, "00000000000000000000000c"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the write created a conversation: %v", err)
	}
	for _, q := range []domain.ConversationQuery{{ChannelID: acct, Limit: 10}, {Limit: 10}} {
		page, err := s.ListConversations(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range page.Conversations {
			ids = append(ids, c.ID)
		}
		if len(ids) != 2 || ids[0] != x || ids[1] != y {
			t.Errorf("channel %q: order %v, want [%s %s]", q.ChannelID, ids, x, y)
		}
	}
}

// TestHashIDIsStable: conversation, message and reply ids are HashIDs stored in items and
// returned by the API; they must never change.
func TestHashIDIsStable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"conversation", "17841400000000001", "1287461239847612", "1"}, "ba2b0d438bb194f750d15787"},
		{[]string{"outgoing", "0123456789abcdef01234567", "0"}, "f02152d9b8bd4651fe1e7df4"},
		{[]string{"request", "ba2b0d438bb194f750d15787", "00112233445566778899aabbccddeeff"}, "9022437f419c51925063f0f7"},
	} {
		if got := domain.HashID(tc.parts...); got != tc.want {
			t.Errorf("HashID(%q) = %s, want %s", tc.parts, got, tc.want)
		}
	}
}

// TestMarkSentMovesThePart: a part is keyed when queued; MarkSent moves it to the key of its
// send time (SentSK) in the same transaction as its per-mid record, keeping its id; the queued
// key is gone, a second MarkSent of the same attempt loses its condition, and GetOutgoingParts
// still finds every part by the keys it was created with, in the order asked.
func TestMarkSentMovesThePart(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	const conv, rid = "00000000000000000000000c", "0123456789abcdef01234567"
	created := int64(1795000000000)
	var parts []domain.OutgoingPart
	for i, text := range []string{"first", "second"} {
		p := domain.OutgoingPart{Message: domain.Message{ID: domain.HashID("outgoing", rid, fmt.Sprint(i)), ConversationID: conv, ChannelID: acct,
			ContactIGSID: "c1", Direction: domain.DirectionOutgoing, Text: text, Status: domain.MessageQueued, TimestampMS: created},
			Part: i, RequestID: rid}
		p.StoredSK = domain.OutgoingSK(created, rid, i)
		parts = append(parts, p)
	}
	if err := s.CreateOutgoing(ctx, parts, nil); err != nil {
		t.Fatal(err)
	}
	p := parts[0]
	if err := s.BeginAttempt(ctx, p, created+5); err != nil {
		t.Fatal(err)
	}
	p.SendAttempt, p.SendPending, p.AttemptMS = 1, true, created+5
	sentAt := created + 60_000
	tx := new(domain.Tx)
	sk := tx.MarkSent(p, 1, "mid.sent", sentAt)
	tx.PutMID(domain.MIDRecord{ChannelID: acct, MID: "mid.sent", ConversationID: conv, MessageSK: sk})
	if err := s.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if sk != domain.MessageSK(sentAt, "mid.sent") {
		t.Errorf("sent key %s, want %s", sk, domain.MessageSK(sentAt, "mid.sent"))
	}

	page, err := s.ListMessages(ctx, conv, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].ID != parts[1].ID || page.Messages[1].ID != p.ID {
		t.Fatalf("messages %+v, want the queued part then the sent one", page.Messages)
	}
	if m := page.Messages[1]; m.SK() != sk || m.Status != domain.MessageSent || m.MID != "mid.sent" || m.TimestampMS != sentAt || m.Text != "first" {
		t.Errorf("sent part %+v", m)
	}
	if m, err := s.GetMessageByMID(ctx, acct, "mid.sent"); err != nil || m.ID != p.ID {
		t.Errorf("message by mid: %+v %v", m, err)
	}

	again := new(domain.Tx)
	again.MarkSent(p, 1, "mid.sent", sentAt)
	if err := s.Commit(ctx, again); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("second MarkSent: %v, want ErrConflict", err)
	}

	got, err := s.GetOutgoingParts(ctx, conv, []string{parts[1].SK(), parts[0].SK()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != parts[1].ID || got[0].Status != domain.MessageQueued || got[1].ID != p.ID ||
		got[1].Status != domain.MessageSent || got[1].SK() != sk {
		t.Errorf("outgoing parts by creation key: %+v", got)
	}
}
