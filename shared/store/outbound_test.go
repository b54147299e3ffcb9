package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/iginbox/iginbox/shared/store"
)

// TestAdvanceConversationActivity: a sent part's activity write moves last_activity_ms and
// both activity sort keys forward only, and leaves last_incoming_ms alone.
func TestAdvanceConversationActivity(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	const x, y = "00000000000000000000000a", "00000000000000000000000b"
	tx := s.NewTx()
	tx.CreateConversation(store.Conversation{ID: x, ChannelID: acct, ContactIGSID: "c1", Status: store.StatusOpen, Seq: 1, LastActivityMS: 1000, LastIncomingMS: 900})
	tx.CreateConversation(store.Conversation{ID: y, ChannelID: acct, ContactIGSID: "c2", Status: store.StatusOpen, Seq: 1, LastActivityMS: 1500, LastIncomingMS: 1500})
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
		tx := s.NewTx()
		tx.AdvanceConversationActivity(tc.id, tc.ts)
		err := s.Commit(ctx, tx)
		if got := errors.Is(err, store.ErrConflict); got != tc.conflict || (!tc.conflict && err != nil) {
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
	if _, err := s.GetConversation(ctx, "00000000000000000000000c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the write created a conversation: %v", err)
	}
	for _, q := range []store.ConversationQuery{{ChannelID: acct, Limit: 10}, {Limit: 10}} {
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
