package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/webhook"
)

// recordingSender wraps the real SQS client, records every batch and makes chosen entries fail
// on their first failFor attempts (failFor < 0: always).
type recordingSender struct {
	api     BatchSender
	mu      sync.Mutex
	batches [][]types.SendMessageBatchRequestEntry
	fail    func(e types.SendMessageBatchRequestEntry) bool
	failFor int
	tries   map[string]int // dedup id → attempts seen
}

func (r *recordingSender) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	r.mu.Lock()
	r.batches = append(r.batches, in.Entries)
	if r.tries == nil {
		r.tries = map[string]int{}
	}
	var pass []types.SendMessageBatchRequestEntry
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		d := aws.ToString(e.MessageDeduplicationId)
		r.tries[d]++
		if r.fail != nil && r.fail(e) && (r.failFor < 0 || r.tries[d] <= r.failFor) {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false, Message: aws.String("injected")})
			continue
		}
		pass = append(pass, e)
	}
	r.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	if len(pass) > 0 {
		in2 := *in
		in2.Entries = pass
		real, err := r.api.SendMessageBatch(ctx, &in2, opts...)
		if err != nil {
			return nil, err
		}
		out.Successful, out.Failed = real.Successful, real.Failed
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

func (r *recordingSender) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	slices.Sort(out)
	return out
}

func testEnvelopes(n, groups, pad int) []envelope.Envelope {
	var out []envelope.Envelope
	for i := range n {
		contact := fmt.Sprintf("90000000000000%02d", i%groups)
		mid := fmt.Sprintf("mid-%04d-%s", i, strings.Repeat("x", 150))
		out = append(out, envelope.Envelope{
			V: envelope.Version, Kind: envelope.KindMessage, Source: envelope.SourceMessaging,
			AccountID: "17841400000000001", ContactID: contact, Timestamp: int64(1763802000000 + i),
			Key: "17841400000000001|message|" + mid,
			Raw: []byte(fmt.Sprintf(`{"sender":{"id":%q},"message":{"mid":%q,"text":%q}}`, contact, mid, strings.Repeat("a", pad))),
		})
	}
	return out
}

// receiveAll drains the queue (testenv.ReceiveAll: at least want messages, then until it is
// empty) and returns the decoded envelopes in receive order, checking their group ids.
func receiveAll(t *testing.T, client *sqs.Client, url string, want int) []envelope.Envelope {
	t.Helper()
	var got []envelope.Envelope
	for _, m := range testenv.ReceiveAll(t, client, url, want) {
		env, err := envelope.Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatalf("decode queued envelope: %v", err)
		}
		if g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; g != env.GroupID() {
			t.Errorf("message group %q, envelope group %q", g, env.GroupID())
		}
		got = append(got, env)
	}
	return got
}

// groupOrder lists the keys of each message group in order.
func groupOrder(envs []envelope.Envelope) map[string][]string {
	m := map[string][]string{}
	for _, e := range envs {
		m[e.GroupID()] = append(m[e.GroupID()], e.Key)
	}
	return m
}

func keys(envs []envelope.Envelope) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.Key)
	}
	slices.Sort(out)
	return out
}

func TestPublish(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	tests := []struct {
		name      string
		envs      []envelope.Envelope
		fail      func(types.SendMessageBatchRequestEntry) bool
		failFor   int
		wantErr   bool
		wantSizes []int // sorted SendMessageBatch sizes (nil: not checked)
	}{
		{name: "25 events in 3 batches", envs: testEnvelopes(25, 7, 10), wantSizes: []int{5, 10, 10}},
		{name: "size-based split", envs: testEnvelopes(10, 10, 60<<10), wantSizes: []int{2, 4, 4}},
		{name: "partial failure then success", envs: testEnvelopes(12, 3, 10),
			fail: func(e types.SendMessageBatchRequestEntry) bool {
				return strings.HasSuffix(aws.ToString(e.MessageGroupId), "01")
			},
			failFor: 2},
		{name: "still failing", envs: testEnvelopes(12, 3, 10),
			fail: func(e types.SendMessageBatchRequestEntry) bool {
				return strings.HasSuffix(aws.ToString(e.MessageGroupId), "01")
			},
			failFor: -1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := testenv.FIFOQueues(t, client, 30, 5)
			rec := &recordingSender{api: client, fail: tc.fail, failFor: tc.failFor}
			pub := NewPublisher(rec, q.URL, Options{Backoff: time.Millisecond})
			err := pub.Publish(context.Background(), tc.envs)
			if tc.wantErr {
				if !errors.Is(err, ErrNotAccepted) {
					t.Fatalf("Publish = %v, want ErrNotAccepted", err)
				}
				if strings.Contains(err.Error(), "aaaaaaaa") {
					t.Error("error carries message content")
				}
				return
			}
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if tc.wantSizes != nil && !slices.Equal(rec.sizes(), tc.wantSizes) {
				t.Errorf("batch sizes %v, want %v", rec.sizes(), tc.wantSizes)
			}
			for _, b := range rec.batches {
				total := 0
				for _, e := range b {
					total += len(aws.ToString(e.MessageBody))
					if n := len(aws.ToString(e.MessageDeduplicationId)); n != 64 {
						t.Errorf("dedup id of %d characters", n)
					}
				}
				if len(b) > MaxBatchEntries || total > MaxBatchBytes {
					t.Errorf("batch of %d entries, %d bytes", len(b), total)
				}
			}
			got := receiveAll(t, client, q.URL, len(tc.envs))
			if !slices.Equal(keys(got), keys(tc.envs)) {
				t.Errorf("received %d events, want the %d published", len(got), len(tc.envs))
			}
			if tc.fail == nil { // chunks run in parallel, yet every group keeps its order
				wantOrder, gotOrder := groupOrder(tc.envs), groupOrder(got)
				for g, ks := range wantOrder {
					if !slices.Equal(gotOrder[g], ks) {
						t.Errorf("group %s received in order %v, want %v", g, gotOrder[g], ks)
					}
				}
			}
		})
	}
}

func readMeta(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "meta", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(body []byte, secret string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Body: string(body), Headers: map[string]string{"x-hub-signature-256": webhook.Sign([]byte(secret), body)}}
	req.RequestContext.HTTP.Method = "POST"
	return req
}

// TestWebhookThroughFIFO posts the same signed batch twice through the real handler and
// publisher: the queue holds one copy of each event, each group in body order.
func TestWebhookThroughFIFO(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	q := testenv.FIFOQueues(t, client, 30, 5)
	const secret = "fifo-test-secret"
	var logs bytes.Buffer
	h := webhook.NewHandler(secret, "verify-token", NewPublisher(client, q.URL, Options{}), slog.New(slog.NewJSONHandler(&logs, nil)))
	body := readMeta(t, "batch-mixed.json")
	for range 2 {
		resp, err := h.Handle(context.Background(), post(body, secret))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Handle = %d, %v (log %s)", resp.StatusCode, err, logs.String())
		}
	}
	want, err := webhook.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, client, q.URL, len(want.Events))
	if !slices.Equal(keys(got), keys(want.Events)) {
		t.Fatalf("received %d events (%v), want one copy of each of %d", len(got), keys(got), len(want.Events))
	}
	wantOrder, gotOrder := groupOrder(want.Events), groupOrder(got)
	for g, ks := range wantOrder {
		if !slices.Equal(gotOrder[g], ks) {
			t.Errorf("group %s received in order %v, want %v", g, gotOrder[g], ks)
		}
	}
}

// TestWebhookSQSFailure: entries SQS keeps refusing make the webhook answer 500 (Meta retries).
func TestWebhookSQSFailure(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	q := testenv.FIFOQueues(t, client, 30, 5)
	const secret = "fifo-test-secret"
	tests := []struct {
		name    string
		failFor int
		status  int
	}{
		{"retried then accepted", 2, 200},
		{"still failing", -1, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingSender{api: client, failFor: tc.failFor,
				fail: func(e types.SendMessageBatchRequestEntry) bool {
					return aws.ToString(e.MessageGroupId) == "17841400000000001:7712093845120987"
				}}
			h := webhook.NewHandler(secret, "verify-token", NewPublisher(rec, q.URL, Options{Backoff: time.Millisecond}), slog.New(slog.NewJSONHandler(io.Discard, nil)))
			resp, err := h.Handle(context.Background(), post(readMeta(t, "batch-mixed.json"), secret))
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("Handle = %d, %v; want %d", resp.StatusCode, err, tc.status)
			}
			if tc.status == 500 && strings.Contains(resp.Body, "InternalError") {
				t.Errorf("500 body leaks the SQS error: %q", resp.Body)
			}
			receiveAll(t, client, q.URL, 0) // drain for the next case
		})
	}
}

func TestPlanDependencies(t *testing.T) {
	t.Parallel()
	disjoint := append(testEnvelopes(10, 1, 10), testEnvelopes(10, 1, 10)...)
	for i := 10; i < 20; i++ {
		disjoint[i].ContactID = "9999999999999999"
		disjoint[i].Key += "-b"
	}
	tests := []struct {
		name     string
		envs     []envelope.Envelope
		wantDeps [][]int // per chunk, indexes of the chunks it waits for
	}{
		{"shared groups chain", testEnvelopes(25, 7, 10), [][]int{nil, {0}, {1}}},
		{"disjoint groups run in parallel", disjoint, [][]int{nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			chunks, err := plan(tc.envs)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != len(tc.wantDeps) {
				t.Fatalf("%d chunks, want %d", len(chunks), len(tc.wantDeps))
			}
			for i, c := range chunks {
				var deps []int
				for _, d := range c.deps {
					deps = append(deps, slices.Index(chunks, d))
				}
				if !slices.Equal(deps, tc.wantDeps[i]) {
					t.Errorf("chunk %d waits for %v, want %v", i, deps, tc.wantDeps[i])
				}
			}
		})
	}
}

// TestEveryCharacterThroughFIFO posts webhook bodies holding characters SQS refuses raw (and
// the emulator refuses above U+FFFD), escaped as Meta writes them and as raw UTF-8, through the
// real handler, publisher and queue: every body is accepted (200), each event queued once
// (the raw twin has the same keys), and the texts come back exactly.
func TestEveryCharacterThroughFIFO(t *testing.T) {
	t.Parallel()
	client := testenv.SQS(t)
	q := testenv.FIFOQueues(t, client, 30, 5)
	const secret = "fifo-test-secret"
	var logs bytes.Buffer
	h := webhook.NewHandler(secret, "verify-token", NewPublisher(client, q.URL, Options{}), slog.New(slog.NewJSONHandler(&logs, nil)))
	texts := []string{"😂 👍 😮 😢 😡 👋", "👨‍👩‍👧‍👦 🇧🇷 👍🏿", "\ufffe\uffff\u0000\u0001\u007f", "مرحبا\u200f", strings.Repeat("é😂", 500)}
	var items []string
	for i, s := range texts {
		items = append(items, fmt.Sprintf(`{"sender":{"id":"111"},"recipient":{"id":"17841400000000001"},"timestamp":%d,"message":{"mid":"m%d","text":%s}}`, 1763802000000+i, i, jsonString(s, true)),
			fmt.Sprintf(`{"sender":{"id":"111"},"recipient":{"id":"17841400000000001"},"timestamp":%d,"reaction":{"mid":"m%d","action":"react","reaction":"other","emoji":%s}}`, 1763802000100+i, i, jsonString(s, true)))
	}
	escaped := `{"object":"instagram","entry":[{"id":"17841400000000001","time":1763802000500,"messaging":[` + strings.Join(items, ",") + `]}]}`
	var rawItems []string
	for i, s := range texts {
		rawItems = append(rawItems, fmt.Sprintf(`{"sender":{"id":"111"},"recipient":{"id":"17841400000000001"},"timestamp":%d,"message":{"mid":"m%d","text":%s}}`, 1763802000000+i, i, jsonString(s, false)),
			fmt.Sprintf(`{"sender":{"id":"111"},"recipient":{"id":"17841400000000001"},"timestamp":%d,"reaction":{"mid":"m%d","action":"react","reaction":"other","emoji":%s}}`, 1763802000100+i, i, jsonString(s, false)))
	}
	rawBody := `{"object":"instagram","entry":[{"id":"17841400000000001","time":1763802000500,"messaging":[` + strings.Join(rawItems, ",") + `]}]}`
	for _, body := range []string{escaped, rawBody} {
		resp, err := h.Handle(context.Background(), post([]byte(body), secret))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Handle = %d, %v (log %s)", resp.StatusCode, err, logs.String())
		}
	}
	got := receiveAll(t, client, q.URL, 2*len(texts))
	if len(got) != 2*len(texts) {
		t.Fatalf("received %d events, want %d (the raw UTF-8 twin deduplicated)", len(got), 2*len(texts))
	}
	for _, e := range got {
		var it struct {
			Message  struct{ MID, Text string }
			Reaction struct{ MID, Emoji string }
		}
		if err := json.Unmarshal(e.Raw, &it); err != nil {
			t.Fatal(err)
		}
		var n int
		s := it.Message.Text
		if e.Kind == envelope.KindReaction {
			s = it.Reaction.Emoji
			fmt.Sscanf(it.Reaction.MID, "m%d", &n)
		} else {
			fmt.Sscanf(it.Message.MID, "m%d", &n)
		}
		if s != texts[n] {
			t.Errorf("%s m%d: text %+q, want %+q", e.Kind, n, s, texts[n])
		}
	}
}

// jsonString writes s as a JSON string: every non-ASCII character escaped like Meta does
// (escape), or raw UTF-8.
func jsonString(s string, escape bool) string {
	b, _ := json.Marshal(s)
	if escape {
		return string(envelope.ASCII(b))
	}
	return string(b)
}
