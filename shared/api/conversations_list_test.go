package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

// TestListAllChannelsAtScale pages the conversation list without channel_id through a few
// thousand conversations of many channels (the store merges its index shards): every
// conversation once, newest activity first, the cursor opaque.
func TestListAllChannelsAtScale(t *testing.T) {
	t.Parallel()
	w := newConvWorld(t)
	const n, channels = 1000, 40
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	for start := 0; start < n; start += 100 {
		tx := new(domain.Tx)
		for i := start; i < min(start+100, n); i++ {
			ch, igsid := fmt.Sprintf("178414%011d", i%channels), fmt.Sprintf("77%013d", i)
			ms := base + int64((i*7919)%n)*1000 // every second of n, shuffled across channels
			tx.CreateConversation(domain.Conversation{ID: domain.HashID("conversation", ch, igsid, "1"), ChannelID: ch, ContactIGSID: igsid,
				Status: domain.StatusOpen, Seq: 1, LastActivityMS: ms, LastIncomingMS: ms, CreatedAt: time.Unix(0, 0)})
		}
		if err := w.st.Commit(context.Background(), tx); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}

	seen := map[string]bool{}
	last := ""
	q := map[string]string{"limit": "200"}
	for pages := 1; ; pages++ {
		code, body := w.call(http.MethodGet, "/api/conversations", q, "")
		if code != http.StatusOK {
			t.Fatalf("page %d: %d %v", pages, code, body)
		}
		for _, c := range body["conversations"].([]any) {
			conv := c.(map[string]any)
			id, at := conv["id"].(string), conv["last_activity_at"].(string)
			if seen[id] {
				t.Fatalf("page %d: conversation %s listed twice", pages, id)
			}
			seen[id] = true
			if last != "" && at >= last {
				t.Fatalf("page %d: %s after %s: not newest activity first", pages, at, last)
			}
			last = at
		}
		next, ok := body["next_cursor"].(string)
		if !ok {
			break
		}
		if pages > n/200 {
			t.Fatalf("more than %d pages", n/200)
		}
		q["cursor"] = next
	}
	if len(seen) != n {
		t.Fatalf("listed %d conversations, want %d", len(seen), n)
	}
}
