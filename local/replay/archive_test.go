package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

const recordedDir = "../../events/meta"

// serve exposes a webhook handler over HTTP the way the local stack's front does.
func serve(t *testing.T, h *webhook.Handler) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		headers := map[string]string{}
		for k := range r.Header {
			headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		req := events.APIGatewayV2HTTPRequest{RawPath: r.URL.Path, Headers: headers, Body: string(raw)}
		req.RequestContext.HTTP.Method = r.Method
		req.RequestContext.HTTP.Path = r.URL.Path
		resp, err := h.Handle(r.Context(), req)
		if err != nil {
			http.Error(w, "handler error", http.StatusBadGateway)
			return
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks/instagram"
}

// queued is one message of the events queue as SQS holds it.
type queued struct {
	Group, Body string
}

// drain receives (and deletes) every message of a FIFO queue (testenv.ReceiveAll) and returns
// them by deduplication id, plus the SQS records in receive order.
func drain(t *testing.T, sq *sqs.Client, url string, want int) (map[string]queued, []events.SQSMessage) {
	t.Helper()
	got := map[string]queued{}
	var recs []events.SQSMessage
	for _, m := range testenv.ReceiveAll(t, sq, url, want) {
		dedup := m.Attributes["MessageDeduplicationId"]
		if _, dup := got[dedup]; dup {
			t.Errorf("deduplication id %s received twice", dedup)
		}
		got[dedup] = queued{Group: m.Attributes["MessageGroupId"], Body: aws.ToString(m.Body)}
		recs = append(recs, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes: m.Attributes, EventSource: "aws:sqs",
		})
	}
	return got, recs
}

// profiles answers every profile lookup.
type profiles struct{}

func (profiles) GetProfile(_ context.Context, _, igsid string) (graph.Profile, error) {
	return graph.Profile{Name: "Name " + igsid, Username: "user" + igsid}, nil
}

// inboxState processes records through the real processor into st and renders every
// conversation with its messages.
type inboxState struct {
	st *store.Store
	h  *processor.Handler
}

func newInboxState(t *testing.T, db *dynamodb.Client) *inboxState {
	t.Helper()
	st := store.New(db, testenv.Table(t, db))
	t0 := time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, acct := range []string{"17841400000000001", "17841400000000002"} {
		if _, err := st.ConnectChannel(context.Background(), domain.Channel{ID: acct, Username: "shop", AccessToken: "IGAAtoken", TokenExpiresAt: t0.Add(24 * 60 * time.Hour)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	svc := inbox.New(st, st, profiles{}, inbox.Config{}, log,
		inbox.WithClock(func() time.Time { return t0 }))
	return &inboxState{st: st, h: processor.NewHandler(svc, log)}
}

func (s *inboxState) process(t *testing.T, recs []events.SQSMessage) {
	t.Helper()
	// One record per batch, in receive order (which is per-group FIFO order).
	for _, r := range recs {
		resp, err := s.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{r}})
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("process %s: %v, failures %v", r.MessageId, err, resp.BatchItemFailures)
		}
	}
}

func (s *inboxState) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	page, err := s.st.ListConversations(ctx, domain.ConversationQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	type conv struct {
		Conversation domain.Conversation
		Messages     []domain.Message
	}
	var out []conv
	for _, c := range page.Conversations {
		msgs, err := s.st.ListMessages(ctx, c.ID, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, conv{c, msgs.Messages})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestArchiveRoundTrip sends every recorded body through the real webhook handler (SQS and
// DynamoDB emulators), which queues and archives it; then replays the archive into a second
// webhook and checks that the re-delivered events are the very same queue messages
// (deduplication ids, groups, bodies), and that processing them again leaves the stored
// conversations unchanged.
func TestArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	db, sq := testenv.DynamoDB(t), testenv.SQS(t)
	table := testenv.Table(t, db)
	first, second := testenv.FIFOQueues(t, sq, 60, 5), testenv.FIFOQueues(t, sq, 60, 5)

	clock := newFakeClock() // replay's clock; the webhook received everything 30 minutes earlier
	var mu sync.Mutex
	received := clock.Now().Add(-30 * time.Minute)
	webhookClock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		received = received.Add(time.Millisecond)
		return received
	}
	log := slog.New(slog.DiscardHandler)
	archiving := webhook.NewHandler(testSecret, "verify-token", queue.NewPublisher(sq, first.URL, queue.Options{}), log,
		webhook.WithArchive(archive.NewWriter(db, table, 7)), webhook.WithClock(webhookClock))
	res := run(t, clock, "", "--url", serve(t, archiving), "--quiet", recordedDir)
	if res.code != ExitOK {
		t.Fatalf("first delivery: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if n := archiving.ArchiveFailures(); n != 0 {
		t.Fatalf("%d archive failures", n)
	}
	bodies, err := Load([]string{recordedDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := 0
	for _, b := range bodies {
		wantEvents += b.Events
	}
	firstMsgs, firstRecs := drain(t, sq, first.URL, wantEvents)
	if len(firstMsgs) != wantEvents {
		t.Fatalf("first delivery queued %d events, want %d", len(firstMsgs), wantEvents)
	}

	plain := webhook.NewHandler(testSecret, "verify-token", queue.NewPublisher(sq, second.URL, queue.Options{}), log)
	cli := func(args ...string) runResult {
		var out, errOut bytes.Buffer
		c := CLI{
			Stdout: &out, Stderr: &errOut,
			Getenv:  func(k string) string { return map[string]string{SecretEnv: testSecret}[k] },
			Now:     clock.Now,
			Sleep:   clock.Sleep,
			Archive: func(context.Context) (archive.QueryAPI, error) { return db, nil },
		}
		code := c.Run(context.Background(), args)
		return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
	}
	res = cli("--from-archive", "--since", "1h", "--table", table, "--url", serve(t, plain), "--quiet")
	if res.code != ExitOK {
		t.Fatalf("replay --from-archive: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if want := fmt.Sprintf("sent %d/%d bodies", len(bodies), len(bodies)); !strings.Contains(res.stdout, want) {
		t.Errorf("unexpected output:\n%s%s", res.stdout, res.stderr)
	}
	secondMsgs, secondRecs := drain(t, sq, second.URL, wantEvents)
	if !maps.Equal(firstMsgs, secondMsgs) {
		for id, m := range firstMsgs {
			if secondMsgs[id] != m {
				t.Errorf("event %s: first %+v, re-delivered %+v", id, m, secondMsgs[id])
			}
		}
		t.Fatalf("re-delivered queue differs: %d vs %d messages", len(secondMsgs), len(firstMsgs))
	}

	// The selection: one account, and a window before the deliveries.
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantLines int
		wantErr   string
	}{
		{name: "account in one mixed batch only", args: []string{"--account", "17841400000000002", "--since", "1h"}, wantLines: 1},
		{name: "dev account", args: []string{"--account", "17841400000000001", "--since", "1h"}, wantLines: len(bodies)},
		{name: "window before the deliveries", args: []string{"--since", "3h", "--until", "2h"}, wantCode: ExitUsage, wantErr: "no archived bodies"},
		{name: "since missing", args: nil, wantCode: ExitUsage, wantErr: "needs --since"},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantCode: ExitUsage, wantErr: "neither an RFC 3339 time"},
		{name: "inputs too", args: []string{"--since", "1h", recordedDir}, wantCode: ExitUsage, wantErr: "drop the inputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := cli(append([]string{"--from-archive", "--dry-run", "--table", table}, tc.args...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", res.code, tc.wantCode, res.stdout, res.stderr)
			}
			if tc.wantErr != "" && !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, res.stderr)
			}
			if tc.wantCode == ExitOK {
				lines := strings.Count(res.stdout, "archive:")
				if lines != tc.wantLines {
					t.Errorf("%d bodies selected, want %d:\n%s", lines, tc.wantLines, res.stdout)
				}
			}
		})
	}

	// Processing the re-delivered events after the originals changes nothing.
	state := newInboxState(t, db)
	state.process(t, firstRecs)
	before := state.snapshot(t)
	if strings.Count(before, `"MID"`) < 10 {
		t.Fatalf("nothing stored from the recorded events:\n%s", before)
	}
	state.process(t, secondRecs)
	if after := state.snapshot(t); after != before {
		t.Errorf("state changed by the re-delivery:\nbefore %s\nafter %s", before, after)
	}
}
