package replay

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/webhook"
)

// recordingPublisher is a webhook.Publisher that keeps what it accepted and can refuse the
// first calls, as an unavailable queue would.
type recordingPublisher struct {
	mu       sync.Mutex
	failures int
	envs     []envelope.Envelope
}

func (p *recordingPublisher) Publish(_ context.Context, envs []envelope.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		p.failures--
		return io.ErrUnexpectedEOF
	}
	p.envs = append(p.envs, envs...)
	return nil
}

// realWebhook serves the webhook function's handler over HTTP, as the local stack's front does.
func realWebhook(t *testing.T, pub webhook.Publisher) string {
	t.Helper()
	return serve(t, webhook.NewHandler(testSecret, "verify-token", pub, slog.New(slog.DiscardHandler)))
}

// TestReplayRecordedEventsIntoWebhook replays every recorded payload of events/meta into the
// real webhook handler: signatures verify, every event is accepted, and the events counted by
// replay are the envelopes the webhook queues.
func TestReplayRecordedEventsIntoWebhook(t *testing.T) {
	t.Parallel()
	const recorded = "../../events/meta"
	bodies, err := Load([]string{recorded}, nil)
	if err != nil {
		t.Skipf("no recorded payloads: %v", err)
	}
	events := 0
	for _, b := range bodies {
		events += b.Events
	}
	tests := []struct {
		name     string
		failures int
		args     []string
		repeat   int
	}{
		{name: "as recorded", repeat: 1},
		{name: "repeated, shuffled, concurrent, rewritten", args: []string{"--repeat", "3", "--shuffle", "--seed", "1", "--concurrency", "4", "--rewrite-timestamps"}, repeat: 3},
		{name: "queue unavailable at first: retried", failures: 2, repeat: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub := &recordingPublisher{failures: tc.failures}
			clock := newFakeClock()
			res := run(t, clock, "", append([]string{"--url", realWebhook(t, pub), "--quiet", recorded}, tc.args...)...)
			if res.code != ExitOK {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if got, want := len(pub.envs), events*tc.repeat; got != want {
				t.Errorf("webhook queued %d envelopes, replay counted %d events", got, want)
			}
			if tc.failures > 0 && !strings.Contains(res.stdout, "500×2") {
				t.Errorf("summary does not show the retried 500s:\n%s", res.stdout)
			}
			if len(tc.args) > 0 {
				checkShifted(t, bodies, clock.Now(), pub.envs, tc.repeat)
			}
		})
	}
}

// checkShifted asserts that the queued events carry the recorded timestamps, all moved by the
// shift that makes the newest recorded timestamp now (seconds values to within a second).
func checkShifted(t *testing.T, recorded []Body, now time.Time, got []envelope.Envelope, repeat int) {
	t.Helper()
	shift, err := RewriteTimestamps(slices.Clone(recorded), now)
	if err != nil {
		t.Fatal(err)
	}
	var want, have []int64
	for _, b := range recorded {
		batch, err := webhook.Parse(b.Data)
		if err != nil {
			t.Fatalf("%s: %v", b.Source, err)
		}
		for _, e := range batch.Events {
			for range repeat {
				want = append(want, e.Timestamp+shift.Milliseconds())
			}
		}
	}
	for _, e := range got {
		have = append(have, e.Timestamp)
		if e.Timestamp > now.UnixMilli() {
			t.Errorf("event %s moved into the future: %d > %d", e.Key, e.Timestamp, now.UnixMilli())
		}
	}
	slices.Sort(want)
	slices.Sort(have)
	if len(want) != len(have) {
		t.Fatalf("%d events queued, want %d", len(have), len(want))
	}
	for i := range want {
		if d := have[i] - want[i]; d < -500 || d > 500 {
			t.Errorf("event timestamp %d, want %d (shift %s): gaps not kept", have[i], want[i], shift)
		}
	}
}

func TestReplayWrongSecretIsNotRetried(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	url := realWebhook(t, pub)
	var out, errOut strings.Builder
	cli := CLI{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "not-the-app-secret" }}
	code := cli.Run(t.Context(), []string{"--url", url, "--quiet", "testdata/meta"})
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	if len(pub.envs) != 0 {
		t.Errorf("%d envelopes queued with a wrong signature", len(pub.envs))
	}
	for _, s := range []string{"statuses: 401×4", "retries:  0", "HTTP 401: Unauthorized"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), "not-the-app-secret") {
		t.Error("secret in output")
	}
}
