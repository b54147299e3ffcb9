package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/sqspoll"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/processor"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

const (
	acct        = metasim.DefaultAccountID
	appSecret   = "app-secret-for-fault-tests"
	verifyToken = "verify-token-for-fault-tests"
	apiToken    = "api-token-for-fault-tests"
	// maxReceives is the test queue's maxReceiveCount (and the service's MaxReceiveCount).
	maxReceives = 3
)

// rig is the inbound path of one test with its injection points.
type rig struct {
	t      *testing.T
	st     *store.Store
	sqs    *sqs.Client
	queues testenv.Queues
	hook   *webhook.Handler
	sim    *metasim.Simulator
	api    *api.Server
	logs   *syncBuffer

	sqsFaults *faultySender  // around SendMessageBatch
	dbFaults  *dynamoFaults  // around every DynamoDB HTTP call
	svc       *faultyService // around processor.Service
	handler   *processor.Handler
	slowGraph atomic.Int64 // profile requests still to answer too late
	batches   batchAudit   // FIFO partial-batch rule, checked on every invocation
	token     string
}

// rigVisibility is the rig queue's visibility timeout in seconds.
const rigVisibility = 3

type rigOpts struct {
	graphTimeout time.Duration
	// maxReceives overrides the queue's maxReceiveCount (default maxReceives).
	maxReceives int
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	if o.graphTimeout == 0 {
		o.graphTimeout = 2 * time.Second
	}
	if o.maxReceives == 0 {
		o.maxReceives = maxReceives
	}
	r := &rig{t: t, logs: &syncBuffer{}}
	r.dbFaults = &dynamoFaults{next: awshttp.NewBuildableClient()}
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t), func(opt *dynamodb.Options) {
		opt.HTTPClient = r.dbFaults
		// The SDK's own retry decisions, with shorter waits so the suite stays fast.
		opt.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 50 * time.Millisecond })
	})
	r.st = store.New(db, testenv.Table(t, db))
	r.sqs = testenv.SQS(t)
	// A visibility timeout of a few seconds: short enough for a quick suite, long enough that a
	// batch slowed down by a busy machine (-race, parallel packages) is not received again while
	// it is still being handled, which would count receives against healthy records.
	r.queues = testenv.FIFOQueues(t, r.sqs, rigVisibility, o.maxReceives)
	r.sqsFaults = &faultySender{next: r.sqs}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	r.hook = webhook.NewHandler(appSecret, verifyToken, queue.NewPublisher(r.sqsFaults, r.queues.URL, queue.Options{Backoff: time.Millisecond}), log)
	r.sim = metasim.New(metasim.Config{AppSecret: appSecret})
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/"+graph.Version+"/") && req.URL.Path != "/"+graph.Version+"/me" {
			if r.slowGraph.Add(-1) >= 0 {
				time.Sleep(o.graphTimeout + 200*time.Millisecond) // answer after the client gave up
			}
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(simSrv.Close)
	gc := graph.New(graph.Config{BaseURL: simSrv.URL, Timeout: o.graphTimeout})
	svc := inbox.New(r.st, r.st, gc, inbox.Config{MaxReceiveCount: o.maxReceives}, log)
	r.svc = &faultyService{next: svc, handled: map[string][]string{}, attempts: map[string]int{}, fail: map[string]int{}}
	r.handler = processor.NewHandler(r.svc, log, processor.WithVisibility(r.sqs, r.queues.URL))
	r.api = api.New(apiToken, log, api.WithConversations(r.st))

	r.token = r.sim.IssueToken(acct)
	now := time.Now()
	if _, err := r.st.ConnectChannel(context.Background(), domain.Channel{ID: acct, Username: "shop", AccessToken: r.token,
		TokenExpiresAt: now.Add(60 * 24 * time.Hour)}, now); err != nil {
		t.Fatalf("connect channel: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", r.logs.String())
		}
		if strings.Contains(r.logs.String(), r.token) || strings.Contains(r.logs.String(), appSecret) {
			t.Error("a secret reached the logs")
		}
	})
	return r
}

// ---------------------------------------------------------------- webhook bodies

type obj = map[string]any

// event is one inbound text message of the scenario.
type event struct {
	igsid, mid string
	ts         int64
}

// scenario returns n text messages spread over contacts (each contact's in timestamp order).
func scenario(prefix string, contacts, n int) []event {
	base := time.Now().Add(-time.Hour).UnixMilli()
	out := make([]event, n)
	for i := range n {
		out[i] = event{igsid: fmt.Sprintf("9%03d%012d", contacts, i%contacts), mid: fmt.Sprintf("aWdf%s_%04d", prefix, i), ts: base + int64(i)*1000}
	}
	return out
}

func body(evs []event) []byte {
	items := make([]obj, len(evs))
	for i, e := range evs {
		items[i] = obj{"sender": obj{"id": e.igsid}, "recipient": obj{"id": acct}, "timestamp": e.ts,
			"message": obj{"mid": e.mid, "text": "message " + e.mid}}
	}
	b, _ := json.Marshal(obj{"object": "instagram", "entry": []obj{{"id": acct, "time": time.Now().UnixMilli(), "messaging": items}}})
	return b
}

// post delivers one signed webhook body and returns the status.
func (r *rig) post(b []byte) int {
	resp, err := r.hook.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		Headers:        map[string]string{strings.ToLower(webhook.SignatureHeader): webhook.Sign([]byte(appSecret), b)},
		Body:           string(b),
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: "/webhooks/instagram"}},
	})
	if err != nil {
		r.t.Fatalf("webhook handler error: %v", err)
	}
	return resp.StatusCode
}

// deliverLikeMeta posts the body until it is answered 200, as Meta retries a 5xx, and
// returns the statuses seen.
func (r *rig) deliverLikeMeta(b []byte, attempts int) []int {
	r.t.Helper()
	var statuses []int
	for range attempts {
		s := r.post(b)
		statuses = append(statuses, s)
		if s == http.StatusOK {
			return statuses
		}
	}
	r.t.Fatalf("webhook never answered 200: %v", statuses)
	return nil
}

// ---------------------------------------------------------------- event source mapping

type crash struct{}

// pump runs `workers` receive loops like Lambda's event source mapping (batch ≤ 10, partial
// batch failures, a crash fails the whole batch) until cond holds.
func (r *rig) pump(workers int, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	// Stopping waits for the receives in flight instead of cancelling them: a cancelled long
	// poll would leave its messages invisible, counted as received, like a lost Lambda batch.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := r.poller()
			for !stop.Load() {
				_, _ = p.Poll(context.Background())
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("condition not reached within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poller is the local event source mapping over the rig's queue and handler.
func (r *rig) poller() *sqspoll.Poller {
	return &sqspoll.Poller{Function: "processor", QueueURL: r.queues.URL, QueueARN: r.queues.ARN, SQS: r.sqs,
		WaitSeconds: 1, ReportBatchItemFailures: true, Handler: r.handle}
}

// handle runs the processor on one batch and audits its response; a crash (a panic) fails the
// whole batch in the poller, which leaves it for the visibility timeout.
func (r *rig) handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp, err := r.handler.Handle(context.Background(), ev)
	r.batches.check(ev, resp)
	return resp, err
}

// queueDepth returns visible + in flight + delayed messages of a queue (-1 on error).
func (r *rig) queueDepth(url string) int {
	n, err := sqspoll.Depth(context.Background(), r.sqs, url)
	if err != nil {
		return -1
	}
	return n
}

// drain pumps until the events queue is empty.
func (r *rig) drain(timeout time.Duration) {
	r.t.Helper()
	r.pump(2, timeout, func() bool { return r.queueDepth(r.queues.URL) == 0 })
}

// batchAudit checks the FIFO partial-batch rule on every response: after a record of a group
// is reported failed, every later record of that group is reported failed too.
type batchAudit struct {
	mu         sync.Mutex
	violations []string
	failures   int
}

func (a *batchAudit) check(ev events.SQSEvent, resp events.SQSEventResponse) {
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures += len(failed)
	broken := map[string]bool{}
	for _, rec := range ev.Records {
		g := rec.Attributes["MessageGroupId"]
		if broken[g] && !failed[rec.MessageId] {
			a.violations = append(a.violations, fmt.Sprintf("record %s of group %s succeeded after an earlier failure of its group", rec.MessageId, g))
		}
		if failed[rec.MessageId] {
			broken[g] = true
		}
	}
}

// ---------------------------------------------------------------- state through the read API

func (r *rig) call(path string, query map[string]string, out any) {
	r.t.Helper()
	resp, _ := r.api.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: path, Headers: map[string]string{"authorization": "Bearer " + apiToken}, QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: path}},
	})
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Body)
	}
	if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
}

// state is what the read API shows.
type state struct {
	mids     map[string]int               // mid → stored messages
	byIGSID  map[string][]api.MessageJSON // contact → its messages, as listed (oldest first)
	contacts map[string]api.ContactJSON   // contact → as shown
	open     map[string]int               // contact → open conversations
}

func (r *rig) state() state {
	r.t.Helper()
	s := state{mids: map[string]int{}, byIGSID: map[string][]api.MessageJSON{}, contacts: map[string]api.ContactJSON{}, open: map[string]int{}}
	q := map[string]string{"channel_id": acct, "limit": "200"}
	for {
		var page struct {
			Conversations []api.ConversationJSON `json:"conversations"`
			NextCursor    string                 `json:"next_cursor"`
		}
		r.call("/api/conversations", q, &page)
		for _, c := range page.Conversations {
			s.contacts[c.Contact.IGSID] = c.Contact
			if c.Status == domain.StatusOpen {
				s.open[c.Contact.IGSID]++
			}
			mq := map[string]string{"limit": "200"}
			for {
				var mp struct {
					Messages   []api.MessageJSON `json:"messages"`
					NextCursor string            `json:"next_cursor"`
				}
				r.call("/api/conversations/"+c.ID+"/messages", mq, &mp)
				for _, m := range mp.Messages {
					s.mids[m.MID]++
					s.byIGSID[c.Contact.IGSID] = append(s.byIGSID[c.Contact.IGSID], m)
				}
				if mp.NextCursor == "" {
					break
				}
				mq["cursor"] = mp.NextCursor
			}
		}
		if page.NextCursor == "" {
			return s
		}
		q["cursor"] = page.NextCursor
	}
}

// assertExactlyOnce checks that every event is stored once, in Meta's order per contact, with
// at most one open conversation per contact, and that nothing else is stored.
func (r *rig) assertExactlyOnce(evs []event) {
	r.t.Helper()
	s := r.state()
	want := map[string]bool{}
	for _, e := range evs {
		want[e.mid] = true
		if n := s.mids[e.mid]; n != 1 {
			r.t.Errorf("mid %s stored %d times, want 1", e.mid, n)
		}
	}
	for mid, n := range s.mids {
		if !want[mid] {
			r.t.Errorf("unexpected mid %s stored %d times", mid, n)
		}
	}
	for igsid, ms := range s.byIGSID {
		if !sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].Timestamp < ms[j].Timestamp }) {
			r.t.Errorf("contact %s: messages out of Meta's order", igsid)
		}
	}
	for igsid, n := range s.open {
		if n > 1 {
			r.t.Errorf("contact %s has %d open conversations", igsid, n)
		}
	}
	if v := r.batches.violations; len(v) > 0 {
		r.t.Errorf("FIFO partial-batch rule broken: %v", v)
	}
}

// ---------------------------------------------------------------- SQS SendMessageBatch faults

type sqsMode int

const (
	sqsPass         sqsMode = iota
	sqsCallFails            // the call returns an error (the SDK's retries are exhausted)
	sqsSomeFail             // odd entries are reported Failed (not sent), the rest is sent
	sqsAcceptedLost         // SQS accepts everything but the answer is lost (error returned)
)

// faultySender wraps the real SQS client: the next `budget` calls behave as mode.
type faultySender struct {
	next   queue.BatchSender
	mu     sync.Mutex
	mode   sqsMode
	budget int
	calls  int
}

func (f *faultySender) set(mode sqsMode, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.budget = mode, calls
}

func (f *faultySender) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.calls++
	mode := sqsPass
	if f.budget > 0 {
		mode = f.mode
		f.budget--
	}
	f.mu.Unlock()
	switch mode {
	case sqsCallFails:
		return nil, errors.New("injected: ServiceUnavailable after the SDK's retries")
	case sqsSomeFail:
		var send []sqstypes.SendMessageBatchRequestEntry
		var failed []sqstypes.BatchResultErrorEntry
		for _, e := range in.Entries {
			if id, _ := strconv.Atoi(aws.ToString(e.Id)); id%2 == 1 { // the same entries on every attempt
				failed = append(failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false, Message: aws.String("injected")})
				continue
			}
			send = append(send, e)
		}
		out := &sqs.SendMessageBatchOutput{}
		if len(send) > 0 {
			cp := *in
			cp.Entries = send
			var err error
			if out, err = f.next.SendMessageBatch(ctx, &cp, opts...); err != nil {
				return nil, err
			}
		}
		out.Failed = append(out.Failed, failed...)
		return out, nil
	case sqsAcceptedLost:
		if _, err := f.next.SendMessageBatch(ctx, in, opts...); err != nil {
			return nil, err
		}
		return nil, errors.New("injected: connection reset after SQS accepted the batch")
	}
	return f.next.SendMessageBatch(ctx, in, opts...)
}

// ---------------------------------------------------------------- DynamoDB faults

// dynamoFault is an error DynamoDB answers, as it answers it on the wire.
type dynamoFault struct {
	status int
	typ    string
	extra  string // more JSON members, e.g. CancellationReasons
}

var (
	throughputExceeded  = dynamoFault{400, "ProvisionedThroughputExceededException", ""}
	throttling          = dynamoFault{400, "ThrottlingException", ""}
	internalServerError = dynamoFault{500, "InternalServerError", ""}
	transactionConflict = dynamoFault{400, "TransactionCanceledException",
		`,"CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]`}
)

// dynamoFaults is the DynamoDB client's HTTP client: it answers scripted faults for chosen
// operations and passes everything else to the emulator.
type dynamoFaults struct {
	next     *awshttp.BuildableClient
	mu       sync.Mutex
	script   map[string][]dynamoFault // operation → faults to answer, in order
	injected map[string]int
	calls    map[string]int
}

func (d *dynamoFaults) inject(op string, faults ...dynamoFault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.script == nil {
		d.script = map[string][]dynamoFault{}
	}
	d.script[op] = append(d.script[op], faults...)
}

func (d *dynamoFaults) count(op string) (calls, injected int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op], d.injected[op]
}

func (d *dynamoFaults) Do(req *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	d.mu.Lock()
	if d.calls == nil {
		d.calls, d.injected = map[string]int{}, map[string]int{}
	}
	d.calls[op]++
	var f *dynamoFault
	if s := d.script[op]; len(s) > 0 {
		f = &s[0]
		d.script[op] = s[1:]
		d.injected[op]++
	}
	d.mu.Unlock()
	if f == nil {
		return d.next.Do(req)
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	b := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected %s"%s}`, f.typ, f.typ, f.extra)
	return &http.Response{
		StatusCode: f.status, Status: fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(b))), ContentLength: int64(len(b)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
	}, nil
}

// ---------------------------------------------------------------- processor crashes

// faultyService wraps the inbox service: it crashes (panics, like a killed Lambda) or errors
// on chosen event keys, and records the first successful handling order per group.
type faultyService struct {
	next     processor.Service
	mu       sync.Mutex
	fail     map[string]int // key → failures still to inject (-1: until cleared)
	crash    map[string]bool
	handled  map[string][]string // group → keys, in order of successful handling
	attempts map[string]int
	done     map[string]bool
}

func (f *faultyService) failKey(key string, times int, asCrash bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[key] = times
	if f.crash == nil {
		f.crash = map[string]bool{}
	}
	f.crash[key] = asCrash
}

func (f *faultyService) Handle(ctx context.Context, env envelope.Envelope) error {
	f.mu.Lock()
	f.attempts[env.Key]++
	n := f.fail[env.Key]
	if n > 0 {
		f.fail[env.Key] = n - 1
	}
	asCrash := f.crash[env.Key]
	f.mu.Unlock()
	if n != 0 {
		if asCrash {
			panic(crash{})
		}
		return errors.New("injected processing error")
	}
	if err := f.next.Handle(ctx, env); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = map[string]bool{}
	}
	if !f.done[env.Key] {
		f.done[env.Key] = true
		f.handled[env.GroupID()] = append(f.handled[env.GroupID()], env.Key)
	}
	return nil
}

func (f *faultyService) attemptsOf(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[key]
}

// ---------------------------------------------------------------- logs

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer
