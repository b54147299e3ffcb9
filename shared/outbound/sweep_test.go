package outbound_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/sweeper"
)

const sweepAfter = 15 * time.Minute

func (w *world) sweep() sweeper.Summary {
	w.t.Helper()
	log := slog.New(slog.NewJSONHandler(w.logs, nil))
	sum, err := sweeper.New(sweepAfter, w.st, log, metrics.NewWriter(w.metrics, "test", "sweeper")).Run(context.Background(), nil)
	if err != nil {
		w.t.Fatalf("sweep: %v", err)
	}
	return sum
}

// byText finds the outgoing parts of the API listing by text (attachments: by URL).
func byText(ms []api.MessageJSON, text string) []api.MessageJSON {
	var out []api.MessageJSON
	for _, m := range outgoing(ms) {
		if m.Text == text || (len(m.Attachments) > 0 && m.Attachments[0].URL == text) {
			out = append(out, m)
		}
	}
	return out
}

func wantSwept(t *testing.T, m api.MessageJSON) {
	t.Helper()
	if m.Status != domain.MessageFailed || m.Error == nil || m.Error.Reason != domain.ReasonEnqueueFailed || m.Error.Code != 0 ||
		!strings.Contains(m.Error.Message, "could not be queued") {
		t.Errorf("part %q: status %s error %+v, want failed with reason enqueue_failed", m.Text, m.Status, m.Error)
	}
}

// TestSweeperFailsPartsNeverQueued: parts stored but never enqueued (the client did not retry
// with its Idempotency-Key) become failed/enqueue_failed once older than SWEEP_AFTER; an
// attempted part, a sent part and a younger part are left alone.
func TestSweeperFailsPartsNeverQueued(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	ctx := context.Background()
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	const oldText, oldURL = "old \U0001F602 \u202eRTL\u202c", "https://cdn.example.com/old.jpg"

	w.setOffset(-sweepAfter - 5*time.Minute) // the parts below are 20 minutes old
	w.pub.failNext(1)
	if s, b := w.reply(conv, "k-old", replyBody(oldText, oldURL)); s != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d %v", s, b)
	}
	w.pub.failNext(1)
	if s, b := w.reply(conv, "k-attempted", replyBody("attempted")); s != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d %v", s, b)
	}
	if s, b := w.reply(conv, "k-sent", replyBody("sent")); s != http.StatusAccepted {
		t.Fatalf("want 202, got %d %v", s, b)
	}
	w.pump(1, 20*time.Second, func() bool {
		p := byText(w.messages(conv), "sent")
		return len(p) == 1 && p[0].Status == domain.MessageSent
	})
	// The sender began "attempted" (its outcome is not known yet): it is the sender's now.
	page, err := w.st.ListMessages(ctx, conv, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Messages {
		if m.Text == "attempted" {
			if err := w.st.BeginAttempt(ctx, domain.OutgoingPart{Message: m}, w.now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.setOffset(0)
	w.pub.failNext(1)
	if s, b := w.reply(conv, "k-young", replyBody("young")); s != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d %v", s, b)
	}
	w.drain(20 * time.Second)

	if sum := w.sweep(); sum.Failed != 2 {
		t.Errorf("swept %+v, want 2 failed", sum)
	}
	ms := w.messages(conv)
	for _, text := range []string{oldText, oldURL} {
		if p := byText(ms, text); len(p) != 1 {
			t.Errorf("part %q: %+v", text, p)
		} else {
			wantSwept(t, p[0])
		}
	}
	for text, status := range map[string]string{"attempted": domain.MessageQueued, "sent": domain.MessageSent, "young": domain.MessageQueued} {
		if p := byText(ms, text); len(p) != 1 || p[0].Status != status || p[0].Error != nil {
			t.Errorf("part %q: %+v, want %s untouched", text, p, status)
		}
	}
	if sum := w.sweep(); sum.Failed != 0 {
		t.Errorf("second sweep %+v, want nothing", sum)
	}
	if n := strings.Count(w.metrics.String(), `"PartsSweptEnqueueFailed":2`); n != 1 {
		t.Errorf("%d metric lines with 2 swept parts:\n%s", n, w.metrics.String())
	}

	// A late retry of the swept reply sends nothing; the young one is still sent on retry.
	w.reply(conv, "k-old", replyBody(oldText, oldURL))
	if s, b := w.reply(conv, "k-young", replyBody("young")); s != http.StatusAccepted {
		t.Fatalf("retry young: %d %v", s, b)
	}
	w.pump(1, 20*time.Second, func() bool {
		p := byText(w.messages(conv), "young")
		return len(p) == 1 && p[0].Status == domain.MessageSent
	})
	w.drain(20 * time.Second)
	for _, text := range []string{oldText, oldURL} {
		if p := byText(w.messages(conv), text); len(p) == 1 {
			wantSwept(t, p[0])
		}
	}
	if n := w.sim.SentTo(contact); n != 2 {
		t.Errorf("simulator accepted %d messages, want 2 (sent, young)", n)
	}
}

// TestSweeperRacesTheSender: replies stored 20 minutes ago are retried (enqueued) while the
// processor runs and the sweeper sweeps: every part ends sent exactly once or failed without
// ever being sent, never both, never left queued.
func TestSweeperRacesTheSender(t *testing.T) {
	t.Parallel()
	w := newWorld(t, defaultOpts())
	conv := w.incoming(contact, time.Now().Add(-time.Hour), "hi")
	texts := []string{"r0", "r1 \U0001F602", "r2", "r3 \u05e9\u05dc\u05d5\u05dd", "r4", "r5"}
	w.setOffset(-sweepAfter - 5*time.Minute)
	for _, text := range texts {
		w.pub.failNext(1)
		if s, b := w.reply(conv, "k-"+text, replyBody(text)); s != http.StatusServiceUnavailable {
			t.Fatalf("want 503, got %d %v", s, b)
		}
	}
	w.setOffset(0)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for _, text := range texts {
			w.reply(conv, "k-"+text, replyBody(text))
		}
	}()
	var sum sweeper.Summary
	go func() {
		defer wg.Done()
		time.Sleep(20 * time.Millisecond)
		sum = w.sweep()
	}()
	w.pump(2, 30*time.Second, func() bool {
		for _, m := range outgoing(w.messages(conv)) {
			if m.Status == domain.MessageQueued {
				return false
			}
		}
		return true
	})
	wg.Wait()
	w.drain(20 * time.Second)

	sent, failed := 0, 0
	for _, text := range texts {
		p := byText(w.messages(conv), text)
		if len(p) != 1 {
			t.Fatalf("part %q: %+v", text, p)
		}
		switch p[0].Status {
		case domain.MessageSent:
			sent++
		case domain.MessageFailed:
			failed++
			wantSwept(t, p[0])
		default:
			t.Errorf("part %q left %s", text, p[0].Status)
		}
	}
	if failed != sum.Failed {
		t.Errorf("%d parts failed, the sweeper failed %d", failed, sum.Failed)
	}
	if n := w.sim.SentTo(contact); n != sent {
		t.Errorf("simulator accepted %d messages, %d parts sent", n, sent)
	}
	t.Logf("race: %d sent, %d swept, %d conflicts", sent, failed, sum.Conflicts)
}
