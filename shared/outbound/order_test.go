package outbound_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
)

// messagePages lists a conversation through the API `limit` messages at a time, following
// next_cursor, and returns every page's messages in order.
func (w *world) messagePages(conv string, limit int) []api.MessageJSON {
	w.t.Helper()
	var all []api.MessageJSON
	cursor := ""
	for range 100 {
		ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/conversations/" + conv + "/messages",
			Headers:               map[string]string{"authorization": "Bearer " + apiToken},
			QueryStringParameters: map[string]string{"limit": strconv.Itoa(limit)}}
		if cursor != "" {
			ev.QueryStringParameters["cursor"] = cursor
		}
		ev.RequestContext.HTTP.Method = http.MethodGet
		resp, err := w.api.HandleRequest(context.Background(), ev)
		if err != nil || resp.StatusCode != http.StatusOK {
			w.t.Fatalf("list messages: %d %s %v", resp.StatusCode, resp.Body, err)
		}
		var page struct {
			Messages   []api.MessageJSON `json:"messages"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil {
			w.t.Fatal(err)
		}
		all = append(all, page.Messages...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	w.t.Fatal("more than 100 pages")
	return nil
}

// TestLateReplyIsOrderedBySendTime (messages list by Meta's time): incoming A (t1); a reply queued at
// t2 but sent only at t4, after incoming B (t3), lists A, B, reply — by the time it was sent,
// never by the time it was queued — with timestamp t4, once per listing and once when paging.
func TestLateReplyIsOrderedBySendTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// sendLate makes the queued reply go out after incoming B (arriving at t3) and
		// returns a lower bound of the reply's final time.
		sendLate func(w *world, conv string, t3 time.Time) time.Time
	}{
		{"held in the queue (retry back-off)", func(w *world, conv string, t3 time.Time) time.Time {
			// The sender's clock reads t3 + 4 s: the send happens after B.
			w.setOffset(time.Until(t3) + 4*time.Second)
			t4 := w.now()
			w.pump(1, 20*time.Second, w.allStatus(conv, 1, domain.MessageSent))
			return t4
		}},
		{"outcome unknown, settled by the echo", func(w *world, conv string, t3 time.Time) time.Time {
			// The attempt timed out before B arrived; Meta's echo (its time: now) settles it.
			time.Sleep(time.Until(t3) + 5*time.Millisecond)
			t4 := time.Now()
			w.echoFromMeta("meta-mid-of-the-late-reply", "late reply")
			return t4
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := defaultOpts()
			o.grace = time.Hour // no re-send during this test
			w := newWorld(t, o)
			t1 := time.Now().Add(-time.Hour)
			conv := w.incoming(contact, t1, "A")

			unknown := tc.name == "outcome unknown, settled by the echo"
			if unknown {
				w.meta.set(func(m *messenger) { m.lose = 1 })
			}
			t2 := w.now()
			s, b := w.reply(conv, "", replyBody("late reply"))
			if s != http.StatusAccepted {
				t.Fatalf("reply: %d %v", s, b)
			}
			replyID := b["messages"].([]any)[0].(map[string]any)["id"].(string)
			if unknown {
				w.pump(1, 10*time.Second, func() bool { return w.logCount(`"outcome":"unknown_outcome"`) == 1 })
			}
			t3 := t2.Add(time.Second)
			w.incoming(contact, t3, "B")
			t4 := tc.sendLate(w, conv, t3)
			if !unknown {
				w.drain(20 * time.Second) // the echo of the send changes nothing (the check of an unknown outcome waits an hour)
			}

			want := []string{"A", "B", "late reply"}
			check := func(how string, got []api.MessageJSON) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d messages, want %d: %+v", how, len(got), len(want), got)
				}
				for i, m := range got {
					if m.Text != want[i] {
						t.Errorf("%s: message %d is %q, want %q (order A, B, reply)", how, i, m.Text, want[i])
					}
				}
				r := got[len(got)-1]
				if r.ID != replyID || r.Status != domain.MessageSent || r.MID == "" {
					t.Errorf("%s: reply %+v, want id %s sent with a mid", how, r, replyID)
				}
				ts, err := time.Parse(time.RFC3339Nano, r.Timestamp)
				if err != nil || ts.Before(t4.Truncate(time.Millisecond)) || !ts.After(t3) {
					t.Errorf("%s: reply timestamp %s, want its send time (≥ %s, after B at %s)", how, r.Timestamp,
						t4.UTC().Format(time.RFC3339Nano), t3.UTC().Format(time.RFC3339Nano))
				}
			}
			check("one page", w.messages(conv))
			for _, limit := range []int{1, 2} {
				check("pages of "+strconv.Itoa(limit), w.messagePages(conv, limit))
			}
			if n := w.sim.SentTo(contact); n != 1 && !unknown {
				t.Errorf("simulator accepted %d, want 1", n)
			}
			// The per-mid record points at the moved part: the message is found by its mid.
			m, err := w.st.GetMessageByMID(context.Background(), acct, w.part(conv, replyID).MID)
			if err != nil || m.ID != replyID {
				t.Errorf("message by mid: %+v %v", m, err)
			}
		})
	}
}
