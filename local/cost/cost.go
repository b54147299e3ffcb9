// Package cost measures what one event of each kind costs on AWS and turns it into dollars
// (make cost). It runs the functions' real bootstraps, built with the deploy flags, behind the
// local Lambda Runtime API, on DynamoDB Local and fauxqs created from template.yaml, with the
// Meta simulator as the Graph API, and counts, per phase of a scenario (one event kind at a
// time): DynamoDB round trips and consumed capacity (ReturnConsumedCapacity INDEXES, so index
// writes are counted), SQS requests, Lambda invocations and billed duration, HTTP API
// requests, Graph API calls and bytes of log. Everything is counted outside the functions: a
// counting proxy in front of each emulator, a wrapper around the simulator, the Runtime API
// invocations, the functions' stdout.
package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/runtimeapi"
	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/sqspoll"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

// Options configure a run.
type Options struct {
	// Events per event kind (default 40).
	Events int
	// Replies: reply requests of one text and two images each (default 10: 30 parts).
	Replies int
	// Progress receives one line per step with the elapsed time (nil: discarded).
	Progress io.Writer
	// FunctionLogs receives the functions' own output (nil: counted, then discarded).
	FunctionLogs io.Writer
}

// Phases of the scenario, in order; each is one row of the report.
const (
	PhaseNewContact = "new contact"
	PhaseText       = "text"
	PhaseAttachment = "attachment"
	PhaseEcho       = "echo"
	PhaseReaction   = "reaction"
	PhaseRead       = "read"
	PhaseDupWindow  = "duplicate (≤ 5 min)"
	PhaseDupStore   = "duplicate (> 5 min)"
	PhaseReplyPart  = "reply part"
)

// Phases lists the measured phases in report order.
var Phases = []string{PhaseNewContact, PhaseText, PhaseAttachment, PhaseEcho, PhaseReaction, PhaseRead, PhaseDupWindow, PhaseDupStore, PhaseReplyPart}

// measured functions: what a message and a reply touch (oauth and the refresher do not run
// per message).
var measured = []string{"webhook", "processor", "api"}

// Result is a finished run.
type Result struct {
	Recorder *Recorder
	Memory   map[string]int // configured MemorySize per function
	Elapsed  time.Duration
}

// Run builds and starts the stack, plays the scenario and returns what each phase used.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Events <= 0 {
		o.Events = 40
	}
	if o.Replies <= 0 {
		o.Replies = 10
	}
	start := time.Now()
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "cost [%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := samtemplate.FindRoot(wd)
	if err != nil {
		return nil, err
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}

	ddbURL, sqsURL := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), os.Getenv("AWS_ENDPOINT_URL_SQS")
	if ddbURL == "" || sqsURL == "" {
		progress("starting DynamoDB Local and fauxqs")
		emu, err := emulator.Start(ctx, emulator.Options{ToolsDir: filepath.Join(root, "local", "tools")})
		if err != nil {
			return nil, fmt.Errorf("start emulators: %w", err)
		}
		cleanups = append(cleanups, func() { _ = emu.Stop() })
		ddbURL, sqsURL = emu.DynamoDBURL, emu.SQSURL
	}
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	db, sq := (&emulator.Stack{DynamoDBURL: ddbURL, SQSURL: sqsURL}).Clients(awsCfg)

	noEnv := func(string) string { return "" }
	params := localrun.ResolveParams(tmpl, noEnv, "http://127.0.0.1:3000", "")
	prov, err := samtemplate.Provision(ctx, db, sq, tmpl, samtemplate.UniqueNames("cost", samtemplate.ProvisionOptions{
		Params: map[string]string{"Stage": params["Stage"].Value},
	}))
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	cleanups = append(cleanups, func() { prov.Delete(context.Background(), db, sq) })
	progress("table and queues created from template.yaml")

	rec := NewRecorder()
	serve := func(h http.Handler) *httptest.Server {
		s := httptest.NewServer(h)
		cleanups = append(cleanups, s.Close)
		return s
	}
	ddbProxy, err := rec.AWSProxy(ddbURL)
	if err != nil {
		return nil, err
	}
	sqsProxy, err := rec.AWSProxy(sqsURL)
	if err != nil {
		return nil, err
	}
	ddbSrv, sqsSrv := serve(ddbProxy), serve(sqsProxy)
	// The event source mapping's receives and deletes are billed SQS requests too.
	esm := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsSrv.URL) })

	// The HTTP API: webhook POSTs (ours and the simulator's echoes) and API calls.
	var webhookFn, apiFn invoker
	front := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := apiFn
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			fn = webhookFn
		}
		b, _ := io.ReadAll(r.Body)
		status, body, err := invokeHTTP(r.Context(), rec, fn, r.Method, r.URL.Path, r.Header, b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))

	account := metasim.DefaultAccountID
	secret := params["InstagramAppSecret"].Value
	sim := metasim.New(metasim.Config{AppSecret: secret, AccountID: account, WebhookURL: front.URL + "/webhooks/instagram", EchoDelay: 20 * time.Millisecond})
	simSrv := serve(rec.GraphCounter(sim))
	params = localrun.ResolveParams(tmpl, noEnv, front.URL, simSrv.URL)
	secret = params["InstagramAppSecret"].Value
	apiToken := params["ApiToken"].Value

	fns, err := tmpl.Functions()
	if err != nil {
		return nil, err
	}
	resolver := &samtemplate.Resolver{Template: tmpl, Params: localrun.ParamValues(params), Resource: localrun.Resources(tmpl, prov)}
	endpoints := []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + ddbSrv.URL, "AWS_ENDPOINT_URL_SQS=" + sqsSrv.URL,
		"AWS_REGION=" + emulator.Region, "AWS_DEFAULT_REGION=" + emulator.Region,
		"AWS_ACCESS_KEY_ID=" + emulator.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + emulator.SecretAccessKey,
	}
	// Secrets Manager has no emulator: serve the template's secret as the local stack does.
	sec, err := localrun.StartSecrets(resolver)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = sec.Close() })
	endpoints = append(endpoints, sec.Env()...)
	res := &Result{Recorder: rec, Memory: map[string]int{}}
	fnByName := map[string]samtemplate.Function{}
	for _, f := range fns {
		fnByName[f.Name()] = f
	}
	invokers := map[string]invoker{}
	var processorBatch int
	var eventsQueue samtemplate.QueueInfo
	for _, name := range measured {
		f, ok := fnByName[name]
		if !ok {
			return nil, fmt.Errorf("template has no %s function", name)
		}
		bin := filepath.Join(root, ".dev", "cost", name, "bootstrap")
		t0 := time.Now()
		if err := localrun.BuildFunction(ctx, root, f, bin, true); err != nil {
			return nil, err
		}
		progress("built %s (%s, deploy flags) in %.1fs", name, f.Dir(), time.Since(t0).Seconds())
		env, err := localrun.FunctionEnv(resolver, f, endpoints, simSrv.URL)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		pool := runtimeapi.NewPool(runtimeapi.Config{
			Name: "iginbox-cost-" + name, Bootstrap: bin, Env: env,
			Output:  rec.LogWriter(name, o.FunctionLogs),
			Timeout: time.Duration(f.Timeout) * time.Second, MemoryMB: f.MemorySize,
		}, 1)
		cleanups = append(cleanups, pool.Close)
		if err := pool.Warm(ctx); err != nil {
			return nil, fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		res.Memory[name] = f.MemorySize
		invokers[name] = invoker{name: name, memoryMB: f.MemorySize, pool: pool}
		for _, e := range f.Events {
			if e.Type == samtemplate.EventSQS {
				qid, _, _ := samtemplate.RefName(e.Queue)
				eventsQueue, processorBatch = prov.Queues[qid], e.BatchSize
			}
		}
	}
	webhookFn, apiFn = invokers["webhook"], invokers["api"]
	if eventsQueue.URL == "" {
		return nil, errors.New("the processor has no SQS event in template.yaml")
	}
	progress("functions started behind the local Runtime API: %s", strings.Join(measured, ", "))

	// The event source mapping of the processor.
	var inflight atomic.Int64
	processor := sqspoll.Invoke(recorded{invokers["processor"], rec})
	poller := &sqspoll.Poller{
		Function: "processor", QueueURL: eventsQueue.URL, QueueARN: eventsQueue.ARN, BatchSize: processorBatch,
		SQS: esm, WaitSeconds: 1, ReportBatchItemFailures: true,
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			inflight.Add(1)
			defer inflight.Add(-1)
			return processor(ctx, ev)
		},
	}
	pollCtx, stopPoll := context.WithCancel(context.Background())
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() { defer pollWG.Done(); poller.Run(pollCtx) }()
	cleanups = append(cleanups, func() { stopPoll(); pollWG.Wait() })

	st := store.New(db, prov.Tables[firstKey(prov.Tables)])
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: account, Username: "cost", AccessToken: sim.IssueToken(account),
		TokenExpiresAt: time.Now().Add(60 * 24 * time.Hour)}, time.Now()); err != nil {
		return nil, fmt.Errorf("connect channel: %w", err)
	}

	s := &scenario{
		o: o, rec: rec, account: account, secret: secret, apiToken: apiToken, front: front.URL, sim: sim, st: st,
		idle: func(ctx context.Context) error {
			return waitIdle(ctx, sq, eventsQueue.URL, &inflight, sim)
		},
		base: time.Now().Add(-time.Hour).UnixMilli(),
	}
	if err := s.play(ctx, progress); err != nil {
		return nil, err
	}
	rec.Phase("teardown", 0)
	res.Elapsed = time.Since(start)
	return res, nil
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// invoker is one function behind the Runtime API; every invocation is timed.
type invoker struct {
	name     string
	memoryMB int
	pool     *runtimeapi.Pool
}

func (in invoker) invoke(ctx context.Context, rec *Recorder, payload []byte) ([]byte, error) {
	t0 := time.Now()
	out, err := in.pool.Invoke(ctx, payload)
	rec.invocation(in.name, in.memoryMB, time.Since(t0))
	return out, err
}

// recorded is an invoker as a sqspoll.Invoker.
type recorded struct {
	in  invoker
	rec *Recorder
}

func (r recorded) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return r.in.invoke(ctx, r.rec, payload)
}

// invokeHTTP plays API Gateway (HTTP API, payload 2.0) in front of a function.
func invokeHTTP(ctx context.Context, rec *Recorder, fn invoker, method, path string, h http.Header, body []byte) (int, string, error) {
	rec.with(func(u *Usage) { u.HTTPRequests++ })
	headers := map[string]string{}
	for k, v := range h {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, Headers: headers, Body: string(body)}
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = method, path
	payload, err := json.Marshal(ev)
	if err != nil {
		return 0, "", err
	}
	out, err := fn.invoke(ctx, rec, payload)
	if err != nil {
		return 0, "", err
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return 0, "", fmt.Errorf("%s: answer: %w", fn.name, err)
	}
	return resp.StatusCode, resp.Body, nil
}

// waitIdle waits until the events queue is empty, nothing is being processed and the
// simulator posts no webhook.
func waitIdle(ctx context.Context, sq *sqs.Client, url string, inflight *atomic.Int64, sim *metasim.Simulator) error {
	quiet := 0
	for quiet < 3 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Millisecond):
		}
		sim.Wait()
		depth, err := sqspoll.Depth(ctx, sq, url)
		if err != nil {
			return err
		}
		n := inflight.Load() + int64(depth)
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return nil
}

// post signs body with the app secret and POSTs it to the webhook.
func post(ctx context.Context, url, secret string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook: %d %s", resp.StatusCode, b)
	}
	return nil
}
