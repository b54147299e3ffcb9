package outbound_test

import (
	"context"
	"errors"
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

// conversations is an outbound.ConversationsReader over a map, counting its reads.
type conversations struct {
	m     map[string]domain.Conversation
	reads int
	ids   []string
}

func (c *conversations) GetConversations(_ context.Context, ids []string) ([]domain.Conversation, error) {
	c.reads++
	c.ids = ids
	var out []domain.Conversation
	for _, id := range ids {
		if cv, ok := c.m[id]; ok {
			out = append(out, cv)
		}
	}
	return out, nil
}

// TestContactLastIncomingMS: the reply's conversation and the contact's mirror when they
// allow a plain send or the contact has no other conversation; otherwise the latest time of
// the contact's other conversations too, read once (its last one, whose mirror lags, or a
// newer one than a reopened conversation).
func TestContactLastIncomingMS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	id := func(n int) string { return domain.ConversationID("acct", "c", n) }
	older := domain.Conversation{ID: id(1), LastIncomingMS: ago(50 * time.Hour)}
	for _, tc := range []struct {
		name      string
		conv      domain.Conversation
		mirror    int64
		seq       int
		stored    map[string]domain.Conversation
		want      int64
		wantReads int
	}{
		{"only conversation", older, ago(50 * time.Hour), 1, nil, ago(50 * time.Hour), 0},
		{"mirror already within 24 h", older, ago(time.Hour), 2, nil, ago(time.Hour), 0},
		{"mirror lags the last conversation", older, ago(30 * time.Hour), 2,
			map[string]domain.Conversation{id(2): {ID: id(2), LastIncomingMS: ago(time.Minute)}}, ago(time.Minute), 1},
		{"reopened older conversation is the last one", older, ago(50 * time.Hour), 3,
			map[string]domain.Conversation{id(2): {ID: id(2), LastIncomingMS: ago(2 * time.Hour)}, id(3): {ID: id(3), LastIncomingMS: ago(3 * time.Hour)}}, ago(2 * time.Hour), 1},
		{"other conversations erased", older, ago(30 * time.Hour), 2, nil, ago(30 * time.Hour), 1},
		{"never wrote", domain.Conversation{ID: id(1)}, 0, 0, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &conversations{m: tc.stored}
			c := domain.Contact{ChannelID: "acct", IGSID: "c", ConversationSeq: tc.seq, ConvLastIncomingMS: tc.mirror}
			got, err := outbound.ContactLastIncomingMS(context.Background(), r, tc.conv, c, now)
			if err != nil || got != tc.want || r.reads != tc.wantReads {
				t.Errorf("%d (%d reads) %v, want %d (%d reads)", got, r.reads, err, tc.want, tc.wantReads)
			}
			for _, read := range r.ids {
				if read == tc.conv.ID {
					t.Errorf("read the reply's own conversation again")
				}
			}
		})
	}
}
