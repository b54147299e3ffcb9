package webhook

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/metrics"

	"github.com/iginbox/iginbox/shared/archive"
)

// fakeArchiver records what it was asked to archive and fails when err is set.
type fakeArchiver struct {
	mu   sync.Mutex
	recs []archive.Record
	err  error
}

func (f *fakeArchiver) Prepare(r archive.Record) func(context.Context) error {
	return func(context.Context) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.recs = append(f.recs, r)
		return f.err
	}
}

func TestArchive(t *testing.T) {
	t.Parallel()
	mixed := readMeta(t, "batch-mixed.json")
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		body         []byte
		sig          string
		archiveErr   error
		pubErr       error
		wantStatus   int
		wantArchived bool
		wantAccounts []string
		wantLog      string
	}{
		{name: "accepted body archived with its accounts", body: mixed, wantStatus: 200, wantArchived: true,
			wantAccounts: []string{"17841400000000001", "17841400000000002"}, wantLog: `"archive":"archived"`},
		{name: "archive failure keeps the 200", body: mixed, archiveErr: errors.New("throttled"), wantStatus: 200, wantArchived: true,
			wantAccounts: []string{"17841400000000001", "17841400000000002"}, wantLog: `"archive_error":"throttled"`},
		{name: "publish failure still archived (Meta retries)", body: mixed, pubErr: errors.New("sqs down"), wantStatus: 500, wantArchived: true,
			wantAccounts: []string{"17841400000000001", "17841400000000002"}},
		{name: "bad signature not archived", body: mixed, sig: "sha256=" + strings.Repeat("0", 64), wantStatus: 401},
		{name: "malformed body not archived", body: []byte(`{"object":`), wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs, emf bytes.Buffer
			arch := &fakeArchiver{err: tc.archiveErr}
			h := NewHandler(testSecret, testToken, &fakePublisher{err: tc.pubErr}, slog.New(slog.NewJSONHandler(&logs, nil)),
				WithArchive(arch), WithClock(func() time.Time { return at }), WithMetrics(metrics.NewWriter(&emf, "prod", "webhook")))
			sig := tc.sig
			if sig == "" {
				sig = Sign([]byte(testSecret), tc.body)
			}
			resp, err := h.Handle(context.Background(), postRequest(string(tc.body), map[string]string{"x-hub-signature-256": sig}))
			if err != nil || resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, %v; want %d", resp.StatusCode, err, tc.wantStatus)
			}
			if got := len(arch.recs) == 1; got != tc.wantArchived {
				t.Fatalf("archived %d records, want archived=%t", len(arch.recs), tc.wantArchived)
			}
			if tc.wantArchived {
				r := arch.recs[0]
				if !bytes.Equal(r.Body, tc.body) || !r.SignatureValid || !r.ReceivedAt.Equal(at) || strings.Join(r.AccountIDs, ",") != strings.Join(tc.wantAccounts, ",") {
					t.Errorf("record = %+v", r)
				}
				// The body is named by the HMAC the signature check verified (no second hash).
				if want := Sign([]byte(testSecret), tc.body); "sha256="+hex.EncodeToString(r.Digest) != want {
					t.Errorf("digest %x, want the verified HMAC %s", r.Digest, want)
				}
			}
			wantFailures := int64(0)
			if tc.archiveErr != nil {
				wantFailures = 1
			}
			if h.ArchiveFailures() != wantFailures {
				t.Errorf("ArchiveFailures = %d, want %d", h.ArchiveFailures(), wantFailures)
			}
			lines, err := metrics.Decode(emf.String(), "WebhookArchiveFailures")
			if err != nil || int64(len(lines)) != wantFailures {
				t.Errorf("%d WebhookArchiveFailures lines (%v), want %d:\n%s", len(lines), err, wantFailures, emf.String())
			}
			for _, l := range lines {
				if fmt.Sprint(l.Dimensions) != "[[Stage Function]]" || l.Fields["Stage"] != "prod" || l.Fields["Function"] != "webhook" {
					t.Errorf("metric line %+v, want dimensions Stage=prod, Function=webhook", l)
				}
			}
			if !strings.Contains(logs.String(), tc.wantLog) || strings.Contains(logs.String(), testSecret) {
				t.Errorf("log lacks %q (or holds the secret):\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestLoadConfigArchive(t *testing.T) {
	t.Parallel()
	base := map[string]string{"SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", "EVENTS_QUEUE_URL": "q"}
	tests := []struct {
		name     string
		env      map[string]string
		wantDays int
		wantErr  string
	}{
		{name: "default 7 days needs the table", env: map[string]string{}, wantErr: "TABLE_NAME"},
		{name: "default 7 days", env: map[string]string{"TABLE_NAME": "t"}, wantDays: 7},
		{name: "off", env: map[string]string{"WEBHOOK_ARCHIVE_DAYS": "0"}, wantDays: 0},
		{name: "bad", env: map[string]string{"WEBHOOK_ARCHIVE_DAYS": "a week", "TABLE_NAME": "t"}, wantErr: "WEBHOOK_ARCHIVE_DAYS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(func(k string) string {
				if v, ok := tc.env[k]; ok {
					return v
				}
				return base[k]
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.ArchiveDays != tc.wantDays {
				t.Fatalf("days %d, %v; want %d", c.ArchiveDays, err, tc.wantDays)
			}
		})
	}
}

// TestArchivingRunsOnce drives the hand-off of one archive write both ways round: whichever of
// the goroutine (run) and the request (wait) claims it writes, exactly once, and wait returns
// that write's error.
func TestArchivingRunsOnce(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name      string
		runFirst  bool
		err       error
		wantByRun bool
	}{
		{name: "goroutine first", runFirst: true, wantByRun: true},
		{name: "goroutine first, failing write", runFirst: true, err: boom, wantByRun: true},
		{name: "request first (publish returned before the goroutine started)", runFirst: false},
		{name: "request first, failing write", runFirst: false, err: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var writes atomic.Int32
			var byRun atomic.Bool
			inRun := false
			a := &archiving{write: func(context.Context) error {
				writes.Add(1)
				byRun.Store(inRun)
				return tc.err
			}}
			a.done.Add(1)
			var got error
			if tc.runFirst {
				inRun = true
				a.run(context.Background())
				inRun = false
				got = a.wait(context.Background())
			} else {
				got = a.wait(context.Background())
				inRun = true
				a.run(context.Background())
			}
			if writes.Load() != 1 || byRun.Load() != tc.wantByRun || !errors.Is(got, tc.err) || (tc.err == nil) != (got == nil) {
				t.Fatalf("%d writes, by run %t, wait = %v; want 1 write, by run %t, %v", writes.Load(), byRun.Load(), got, tc.wantByRun, tc.err)
			}
		})
	}
}

// blockingPublisher holds every publish until the archive write of the same request has begun:
// it only returns if the write overlaps the publish.
type blockingPublisher struct{ started chan struct{} }

func (b *blockingPublisher) Publish(ctx context.Context, _ []envelope.Envelope) error {
	select {
	case <-b.started:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the archive write did not start during the publish")
	}
}

type signalArchiver struct{ started chan struct{} }

func (s *signalArchiver) Prepare(archive.Record) func(context.Context) error {
	return func(context.Context) error {
		s.started <- struct{}{}
		return nil
	}
}

// TestArchiveOverlapsPublish: while the publish waits (a network round trip in production),
// the archive write runs on its own goroutine.
func TestArchiveOverlapsPublish(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	body := readMeta(t, "message-text.json")
	h := NewHandler(testSecret, testToken, &blockingPublisher{started: started}, slog.New(slog.DiscardHandler),
		WithArchive(&signalArchiver{started: started}))
	for i := range 3 {
		resp, err := h.Handle(context.Background(), postRequest(string(body), signed(body)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, %v", i, resp.StatusCode, err)
		}
	}
}

// countingArchiver counts writes per body.
type countingArchiver struct {
	mu     sync.Mutex
	writes map[string]int
}

func (c *countingArchiver) Prepare(r archive.Record) func(context.Context) error {
	return func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.writes[string(r.Body)]++
		return nil
	}
}

// TestArchiveEveryBodyOnce sends many distinct bodies concurrently, with an instant publisher
// (the hand-off races both ways): every accepted body is archived exactly once.
func TestArchiveEveryBodyOnce(t *testing.T) {
	t.Parallel()
	arch := &countingArchiver{writes: map[string]int{}}
	h := NewHandler(testSecret, testToken, &fakePublisher{}, slog.New(slog.NewJSONHandler(io.Discard, nil)), WithArchive(arch))
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := []byte(fmt.Sprintf(`{"object":"instagram","entry":[{"id":"17841400000000001","time":1763802000500,"messaging":[{"sender":{"id":"1287461239847612"},"recipient":{"id":"17841400000000001"},"timestamp":1763802000000,"message":{"mid":"m%d","text":"hi"}}]}]}`, i))
			resp, err := h.Handle(context.Background(), postRequest(string(body), signed(body)))
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("body %d: status %d, %v", i, resp.StatusCode, err)
			}
		})
	}
	wg.Wait()
	if len(arch.writes) != n {
		t.Fatalf("%d bodies archived, want %d", len(arch.writes), n)
	}
	for b, k := range arch.writes {
		if k != 1 {
			t.Fatalf("body archived %d times: %s", k, b)
		}
	}
}
