package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/sqspoll"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/outbound"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

const (
	acct        = metasim.DefaultAccountID
	contact     = "1287461239847612"
	appSecret   = "app-secret-for-outbound-tests"
	verifyToken = "verify-token-for-tests"
	apiToken    = "api-token-for-outbound-tests"
)

// world is the whole system of one test, wired like the deployed one with real emulators:
// API handler → events.fifo (fauxqs) → processor handler (sender + inbox) → Meta simulator →
// signed echo webhook → webhook handler → events.fifo → processor.
type world struct {
	t       *testing.T
	st      *store.Store
	meter   *store.Meter
	sqs     *sqs.Client
	queues  testenv.Queues
	pub     *flakyPublisher
	sim     *metasim.Simulator
	simURL  string
	meta    *messenger
	sender  *outbound.Sender
	handler *processor.Handler
	api     *api.Server
	logs    *syncBuffer
	metrics *syncBuffer // the sender's embedded-metric-format lines
	token   string

	clockMu sync.Mutex
	offset  time.Duration // the API's and sender's clock: real time + offset
}

type worldOpts struct {
	graphTimeout time.Duration
	echoDelay    time.Duration
	humanAgent   bool
	grace        time.Duration
}

func defaultOpts() worldOpts {
	return worldOpts{graphTimeout: 3 * time.Second, echoDelay: 50 * time.Millisecond, humanAgent: true, grace: time.Second}
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	w := &world{t: t, meter: store.NewMeter(), logs: &syncBuffer{}, metrics: &syncBuffer{}}
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t), func(opt *dynamodb.Options) {
		opt.APIOptions = append(opt.APIOptions, w.meter.APIOption)
	})
	w.st = store.New(db, testenv.Table(t, db))
	w.sqs = testenv.SQS(t)
	w.queues = testenv.FIFOQueues(t, w.sqs, 2, 5)
	w.pub = &flakyPublisher{next: queue.NewPublisher(w.sqs, w.queues.URL, queue.Options{})}
	log := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	hook := webhook.NewHandler(appSecret, verifyToken, w.pub, log)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		resp, _ := hook.Handle(r.Context(), toAPIGateway(r))
		rw.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(rw, resp.Body)
	}))
	t.Cleanup(hookSrv.Close)
	w.sim = metasim.New(metasim.Config{AppSecret: appSecret, WebhookURL: hookSrv.URL, EchoDelay: o.echoDelay})
	simSrv := httptest.NewServer(w.sim)
	t.Cleanup(func() { w.sim.Wait(); simSrv.Close() })
	w.simURL = simSrv.URL

	gc := graph.New(graph.Config{BaseURL: simSrv.URL, Timeout: o.graphTimeout})
	w.meta = &messenger{next: gc}
	w.sender = outbound.NewSender(w.st, w.st, w.meta, w.pub, outbound.Config{
		HumanAgent: o.humanAgent, Grace: o.grace, RetryBase: time.Second, RetryMax: 2 * time.Second, MaxReceiveCount: 5,
	}, log, outbound.WithClock(w.now), outbound.WithMetrics(metrics.NewWriter(w.metrics, "test", "processor")))
	svc := inbox.New(w.st, w.st, gc, inbox.Config{}, log, inbox.WithEchoReconciler(w.sender))
	w.handler = processor.NewHandler(outbound.Router{Sender: w.sender, Next: svc}, log, processor.WithVisibility(w.sqs, w.queues.URL))
	w.api = api.New(apiToken, log, api.WithConversations(w.st),
		api.WithReplies(w.st, w.pub, api.ReplyConfig{HumanAgent: o.humanAgent, Now: w.now}))

	w.token = w.sim.IssueToken(acct)
	now := time.Now()
	if _, err := w.st.ConnectChannel(context.Background(), domain.Channel{ID: acct, Username: "shop", AccessToken: w.token,
		TokenExpiresAt: now.Add(60 * 24 * time.Hour)}, now); err != nil {
		t.Fatalf("connect channel: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", w.logs.String())
		}
	})
	return w
}

func (w *world) now() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	return time.Now().Add(w.offset)
}

func (w *world) setOffset(d time.Duration) {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	w.offset = d
}

// incoming stores a message from contact at Meta time ts (through the processor, as the
// webhook would queue it) and returns its conversation id.
func (w *world) incoming(igsid string, ts time.Time, text string) string {
	w.t.Helper()
	ctx := context.Background()
	item := map[string]any{"sender": map[string]any{"id": igsid}, "recipient": map[string]any{"id": acct},
		"timestamp": ts.UnixMilli(), "message": map[string]any{"mid": fmt.Sprintf("in-%s-%d", igsid, ts.UnixNano()), "text": text}}
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": acct, "time": 1, "messaging": []any{item}}}})
	b, err := webhook.Parse(body)
	if err != nil || len(b.Events) != 1 {
		w.t.Fatalf("parse: %v", err)
	}
	if resp, err := w.handler.Handle(ctx, sqsEvent(w.t, b.Events...)); err != nil || len(resp.BatchItemFailures) > 0 {
		w.t.Fatalf("incoming message not stored: %v %+v", err, resp)
	}
	c, err := w.st.GetContact(ctx, acct, igsid)
	if err != nil || c.OpenConversationID == "" {
		w.t.Fatalf("contact %s: %+v %v", igsid, c, err)
	}
	return c.OpenConversationID
}

// reply calls POST /api/conversations/{id}/messages.
func (w *world) reply(conv, key string, body any) (int, map[string]any) {
	w.t.Helper()
	b, _ := json.Marshal(body)
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/conversations/" + conv + "/messages", Body: string(b),
		Headers: map[string]string{"authorization": "Bearer " + apiToken}}
	if key != "" {
		ev.Headers["idempotency-key"] = key
	}
	ev.RequestContext.HTTP.Method = http.MethodPost
	resp, err := w.api.HandleRequest(metrics.WithLabel(context.Background(), "api"), ev)
	if err != nil {
		w.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		w.t.Fatalf("reply body %q: %v", resp.Body, err)
	}
	return resp.StatusCode, out
}

// messages lists a conversation through the API.
func (w *world) messages(conv string) []api.MessageJSON {
	w.t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/conversations/" + conv + "/messages",
		Headers: map[string]string{"authorization": "Bearer " + apiToken}}
	ev.RequestContext.HTTP.Method = http.MethodGet
	resp, err := w.api.HandleRequest(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusOK {
		w.t.Fatalf("list messages: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var out struct {
		Messages []api.MessageJSON `json:"messages"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		w.t.Fatal(err)
	}
	return out.Messages
}

func outgoing(ms []api.MessageJSON) []api.MessageJSON {
	var out []api.MessageJSON
	for _, m := range ms {
		if m.Direction == domain.DirectionOutgoing {
			out = append(out, m)
		}
	}
	return out
}

// pump runs `workers` concurrent receive loops on the events queue, like Lambda's event
// source mapping (batch ≤ 10, partial batch failures, the function's panics fail the batch),
// until cond holds or the timeout passes.
func (w *world) pump(workers int, timeout time.Duration, cond func() bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &sqspoll.Poller{Function: "processor", QueueURL: w.queues.URL, QueueARN: w.queues.ARN, SQS: w.sqs,
				WaitSeconds: 1, ReportBatchItemFailures: true,
				// The batch finishes when the pump stops (a cancelled batch would come back).
				Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					return w.handler.Handle(context.Background(), ev)
				}}
			for ctx.Err() == nil {
				_, _ = p.Poll(ctx)
			}
		}()
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			w.t.Fatalf("condition not reached within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
}

// drain runs the processor until the simulator posted every webhook and the queue is empty
// (nothing visible, nothing in flight, nothing delayed).
func (w *world) drain(timeout time.Duration) {
	w.t.Helper()
	w.pump(2, timeout, func() bool {
		w.sim.Wait()
		n, err := sqspoll.Depth(context.Background(), w.sqs, w.queues.URL)
		return err == nil && n == 0
	})
}

// logCount counts log lines holding every one of the fragments.
func (w *world) logCount(fragments ...string) int {
	n := 0
	for _, line := range strings.Split(w.logs.String(), "\n") {
		ok := true
		for _, f := range fragments {
			if !strings.Contains(line, f) {
				ok = false
				break
			}
		}
		if ok && line != "" {
			n++
		}
	}
	return n
}

// part reads one stored outgoing part by message id.
func (w *world) part(conv, id string) api.MessageJSON {
	w.t.Helper()
	for _, m := range w.messages(conv) {
		if m.ID == id {
			return m
		}
	}
	w.t.Fatalf("no message %s in %s", id, conv)
	return api.MessageJSON{}
}

func (w *world) allStatus(conv string, n int, status string) func() bool {
	return func() bool {
		out := outgoing(w.messages(conv))
		if len(out) != n {
			return false
		}
		for _, m := range out {
			if m.Status != status {
				return false
			}
		}
		return true
	}
}

// crash is the panic value of a simulated crash.
type crash struct{}

// messenger wraps the Graph client to simulate what the network can do to a send.
type messenger struct {
	next outbound.Messenger

	mu sync.Mutex
	// crashAfterAccept: the next send reaches Meta, then the function dies before recording.
	crashAfterAccept int
	// lose: the next sends never reach Meta and time out (outcome unknown, no echo).
	lose int
	// delayAfterAccept holds the answer of every send this long (the echo races the record).
	delayAfterAccept time.Duration
	calls            int
}

// callCount is the number of SendMessage calls made.
func (m *messenger) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *messenger) SendMessage(ctx context.Context, token string, req graph.SendRequest) (graph.SendResult, error) {
	m.mu.Lock()
	m.calls++
	lose := m.lose > 0
	if lose {
		m.lose--
	}
	crashNow := m.crashAfterAccept > 0
	if crashNow {
		m.crashAfterAccept--
	}
	delay := m.delayAfterAccept
	m.mu.Unlock()
	if lose {
		return graph.SendResult{}, &graph.Error{Op: "send message", Timeout: true, Message: "timeout"}
	}
	res, err := m.next.SendMessage(ctx, token, req)
	if crashNow && err == nil {
		panic(crash{})
	}
	time.Sleep(delay)
	return res, err
}

func (m *messenger) set(f func(m *messenger)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// flakyPublisher fails the next `fail` publishes, then delegates to the real queue; it keeps
// every envelope it published.
type flakyPublisher struct {
	next      *queue.Publisher
	mu        sync.Mutex
	fail      int
	published []envelope.Envelope
}

func (p *flakyPublisher) Publish(ctx context.Context, envs []envelope.Envelope) error {
	p.mu.Lock()
	fail := p.fail > 0
	if fail {
		p.fail--
	}
	p.mu.Unlock()
	if fail {
		return fmt.Errorf("simulated SQS outage")
	}
	if err := p.next.Publish(ctx, envs); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, envs...)
	return nil
}

// commands returns the published envelopes of a kind.
func (p *flakyPublisher) commands(kind envelope.Kind) []envelope.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []envelope.Envelope
	for _, e := range p.published {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (p *flakyPublisher) failNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = n
}

func toAPIGateway(r *http.Request) events.APIGatewayV2HTTPRequest {
	body, _ := io.ReadAll(r.Body)
	h := map[string]string{}
	for k, v := range r.Header {
		h[strings.ToLower(k)] = v[0]
	}
	ev := events.APIGatewayV2HTTPRequest{RawPath: r.URL.Path, Headers: h, Body: string(body), QueryStringParameters: map[string]string{}}
	for k, v := range r.URL.Query() {
		ev.QueryStringParameters[k] = v[0]
	}
	ev.RequestContext.HTTP.Method = r.Method
	ev.RequestContext.HTTP.Path = r.URL.Path
	return ev
}

func sqsEvent(t *testing.T, envs ...envelope.Envelope) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for i, e := range envs {
		b, err := envelope.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("m", i), Body: string(b),
			Attributes: map[string]string{"MessageGroupId": e.GroupID(), "ApproximateReceiveCount": "1"}})
	}
	return ev
}

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer
