package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/store"
)

// unattemptedParts creates n never-attempted parts of one request, created at createdMS.
func unattemptedParts(t *testing.T, s *store.Store, conv, rid string, createdMS int64, n int) []domain.OutgoingPart {
	t.Helper()
	var parts []domain.OutgoingPart
	for i := range n {
		p := domain.OutgoingPart{Message: domain.Message{ID: domain.HashID("outgoing", rid, fmt.Sprint(i)), ConversationID: conv, ChannelID: acct,
			ContactIGSID: "c1", Direction: domain.DirectionOutgoing, Text: fmt.Sprintf("part %d \U0001F602 \u202eRTL", i),
			Status: domain.MessageQueued, TimestampMS: createdMS}, Part: i, RequestID: rid}
		p.StoredSK = domain.OutgoingSK(createdMS, rid, i)
		parts = append(parts, p)
	}
	if err := s.CreateOutgoing(context.Background(), parts, nil); err != nil {
		t.Fatal(err)
	}
	return parts
}

func shardOf(conv string) string { return conv[:1] }

func TestUnattemptedIndex(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	const conv = "a0000000000000000000000d"
	old := unattemptedParts(t, s, conv, "0123456789abcdef0123456a", 1795000000000, 3)
	young := unattemptedParts(t, s, conv, "0123456789abcdef0123456b", 1795000900000, 1)
	cutoff := int64(1795000600000)

	// The first attempt and a failure take a part out of the index.
	if err := s.BeginAttempt(ctx, old[1], 1795000000005); err != nil {
		t.Fatal(err)
	}
	tx := new(domain.Tx)
	tx.MarkFailed(conv, old[2].SK(), 0, domain.SendError{Code: 10, Subcode: 2534022, Message: "window closed"})
	if err := s.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnattemptedParts(ctx, shardOf(conv), cutoff, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != old[0].ID || got[0].SK() != old[0].SK() || got[0].Text != old[0].Text {
		t.Fatalf("due unattempted parts: %+v", got)
	}
	if all, _ := s.UnattemptedParts(ctx, shardOf(conv), cutoff+1_000_000, 100); len(all) != 2 || all[1].ID != young[0].ID {
		t.Fatalf("all unattempted parts, oldest first: %+v", all)
	}
	if other, _ := s.UnattemptedParts(ctx, "b", cutoff+1_000_000, 100); len(other) != 0 {
		t.Fatalf("other shard: %+v", other)
	}

	e := domain.SendError{Reason: domain.ReasonEnqueueFailed, Message: "never queued"}
	if err := s.FailUnattempted(ctx, conv, old[0].SK(), e); err != nil {
		t.Fatal(err)
	}
	for i, p := range old[:2] {
		if err := s.FailUnattempted(ctx, conv, p.SK(), e); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("part %d failed twice or after its attempt: %v", i, err)
		}
	}
	if err := s.FailUnattempted(ctx, conv, domain.OutgoingSK(1795000000000, "ffffffffffffffffffffffff", 0), e); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("missing part: %v", err)
	}
	page, err := s.ListMessages(ctx, conv, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{domain.MessageFailed, domain.MessageQueued, domain.MessageFailed, domain.MessageQueued}
	if len(page.Messages) != len(want) {
		t.Fatalf("%d messages", len(page.Messages))
	}
	for i, m := range page.Messages {
		if m.Status != want[i] {
			t.Errorf("message %d: status %s, want %s", i, m.Status, want[i])
		}
	}
	if m := page.Messages[0]; m.Error == nil || *m.Error != e {
		t.Errorf("swept part error: %+v", m.Error)
	}
	if m := page.Messages[2]; m.Error == nil || m.Error.Code != 10 {
		t.Errorf("window failure overwritten: %+v", m.Error)
	}
	if got, _ := s.UnattemptedParts(ctx, shardOf(conv), cutoff, 100); len(got) != 0 {
		t.Fatalf("swept part still indexed: %+v", got)
	}
}

// TestFailUnattemptedRacesTheSender: the sweeper and the sender's first attempt on the same
// part at once: exactly one wins, and the part is either failed and never attempted, or
// attempted and still queued.
func TestFailUnattemptedRacesTheSender(t *testing.T) {
	t.Parallel()
	s, _ := newInboxStore(t)
	ctx := context.Background()
	const conv = "c0000000000000000000000e"
	parts := unattemptedParts(t, s, conv, "0123456789abcdef0123456c", 1795000000000, 10)
	e := domain.SendError{Reason: domain.ReasonEnqueueFailed, Message: "never queued"}
	var wg sync.WaitGroup
	swept := make([]error, len(parts))
	begun := make([]error, len(parts))
	for i, p := range parts {
		wg.Add(2)
		go func() { defer wg.Done(); swept[i] = s.FailUnattempted(ctx, conv, p.SK(), e) }()
		go func() { defer wg.Done(); begun[i] = s.BeginAttempt(ctx, p, 1795000000005) }()
	}
	wg.Wait()
	got, err := s.GetOutgoingParts(ctx, conv, func() []string {
		var sks []string
		for _, p := range parts {
			sks = append(sks, p.SK())
		}
		return sks
	}())
	if err != nil || len(got) != len(parts) {
		t.Fatalf("parts: %d %v", len(got), err)
	}
	for i, p := range got {
		switch {
		case swept[i] == nil && errors.Is(begun[i], domain.ErrConflict):
			if p.Status != domain.MessageFailed || p.SendAttempt != 0 || p.Error == nil || p.Error.Reason != domain.ReasonEnqueueFailed {
				t.Errorf("part %d: swept, but %+v", i, p)
			}
		case begun[i] == nil && errors.Is(swept[i], domain.ErrConflict):
			if p.Status != domain.MessageQueued || p.SendAttempt != 1 || !p.SendPending || p.Error != nil {
				t.Errorf("part %d: attempted, but %+v", i, p)
			}
		default:
			t.Errorf("part %d: sweep %v, attempt %v: want exactly one to win", i, swept[i], begun[i])
		}
	}
}
