package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
			wantAccounts: []string{"17841400000000001", "17841400000000002"}, wantLog: `"WebhookArchiveFailures":1`},
		{name: "publish failure still archived (Meta retries)", body: mixed, pubErr: errors.New("sqs down"), wantStatus: 500, wantArchived: true,
			wantAccounts: []string{"17841400000000001", "17841400000000002"}},
		{name: "bad signature not archived", body: mixed, sig: "sha256=" + strings.Repeat("0", 64), wantStatus: 401},
		{name: "malformed body not archived", body: []byte(`{"object":`), wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			arch := &fakeArchiver{err: tc.archiveErr}
			h := NewHandler(testSecret, testToken, &fakePublisher{err: tc.pubErr}, slog.New(slog.NewJSONHandler(&logs, nil)),
				WithArchive(arch), WithClock(func() time.Time { return at }))
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
			}
			wantFailures := int64(0)
			if tc.archiveErr != nil {
				wantFailures = 1
			}
			if h.ArchiveFailures() != wantFailures {
				t.Errorf("ArchiveFailures = %d, want %d", h.ArchiveFailures(), wantFailures)
			}
			if !strings.Contains(logs.String(), tc.wantLog) || strings.Contains(logs.String(), testSecret) {
				t.Errorf("log lacks %q (or holds the secret):\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestLoadConfigArchive(t *testing.T) {
	t.Parallel()
	base := map[string]string{"INSTAGRAM_APP_SECRET": "s", "INSTAGRAM_VERIFY_TOKEN": "v", "EVENTS_QUEUE_URL": "q"}
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
