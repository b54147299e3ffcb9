package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/outbound"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		age        time.Duration
		humanAgent bool
		wantTag    string
		wantErr    bool
	}{
		{"just now", time.Second, true, "", false},
		{"23h59m: never tagged", 23*time.Hour + 59*time.Minute, true, "", false},
		{"exactly 24h", 24 * time.Hour, true, "", false},
		{"24h1m: HUMAN_AGENT", 24*time.Hour + time.Minute, true, graph.TagHumanAgent, false},
		{"7d: HUMAN_AGENT", 7 * 24 * time.Hour, true, graph.TagHumanAgent, false},
		{"7d1m: refused", 7*24*time.Hour + time.Minute, true, "", true},
		{"24h1m without HUMAN_AGENT: refused", 24*time.Hour + time.Minute, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := outbound.Decide(last.UnixMilli(), last.Add(tc.age), tc.humanAgent)
			if tc.wantErr {
				if !errors.Is(err, outbound.ErrOutsideWindow) {
					t.Fatalf("err %v, want ErrOutsideWindow", err)
				}
				return
			}
			if err != nil || w.Tag != tc.wantTag || (w.Tag != "") != (w.MessagingType == graph.MessagingTypeTag) {
				t.Errorf("got %+v %v, want tag %q", w, err, tc.wantTag)
			}
		})
	}
	if _, err := outbound.Decide(0, last, true); !errors.Is(err, outbound.ErrOutsideWindow) {
		t.Errorf("a contact who never wrote: %v", err)
	}
}

// conversations is an outbound.ConversationReader over a map, counting its reads.
type conversations struct {
	m     map[string]domain.Conversation
	reads int
}

func (c *conversations) GetConversation(_ context.Context, id string) (domain.Conversation, error) {
	c.reads++
	cv, ok := c.m[id]
	if !ok {
		return cv, fmt.Errorf("conversation %s: %w", id, domain.ErrNotFound)
	}
	return cv, nil
}

// TestContactLastIncomingMS: the reply's conversation and the contact's mirror when they
// suffice (a reply in the last conversation, or a plain send already allowed); otherwise the
// last conversation's own time, read once.
func TestContactLastIncomingMS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	older := domain.Conversation{ID: "c1", LastIncomingMS: ago(50 * time.Hour)}
	for _, tc := range []struct {
		name      string
		conv      domain.Conversation
		mirror    int64
		last      string
		stored    map[string]domain.Conversation
		want      int64
		wantReads int
	}{
		{"reply in the last conversation", domain.Conversation{ID: "c2", LastIncomingMS: ago(30 * time.Hour)}, ago(40 * time.Hour), "c2", nil, ago(30 * time.Hour), 0},
		{"mirror already within 24 h", older, ago(time.Hour), "c2", nil, ago(time.Hour), 0},
		{"mirror lags its conversation", older, ago(30 * time.Hour), "c2",
			map[string]domain.Conversation{"c2": {ID: "c2", LastIncomingMS: ago(time.Minute)}}, ago(time.Minute), 1},
		{"last conversation erased", older, ago(30 * time.Hour), "c2", nil, ago(30 * time.Hour), 1},
		{"no last conversation", older, 0, "", nil, ago(50 * time.Hour), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &conversations{m: tc.stored}
			c := domain.Contact{LastConversationID: tc.last, ConvLastIncomingMS: tc.mirror}
			got, err := outbound.ContactLastIncomingMS(context.Background(), r, tc.conv, c, now)
			if err != nil || got != tc.want || r.reads != tc.wantReads {
				t.Errorf("%d (%d reads) %v, want %d (%d reads)", got, r.reads, err, tc.want, tc.wantReads)
			}
		})
	}
}
