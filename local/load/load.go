// Package load replays a large synthetic Instagram webhook load through iginbox and checks
// the result: ≥ 10,000 events across ≥ 500 conversations, with duplicate deliveries, signed
// and POSTed concurrently to the webhook; then it waits for the processor to drain the events
// FIFO queue and verifies through the read API that no event was lost or stored twice.
//
// By default it runs the stack in this process on the local emulators (DynamoDB Local and
// fauxqs, started if AWS_ENDPOINT_URL_DYNAMODB/_SQS are unset): the same webhook, processor
// and API handlers the bootstraps run, behind a loopback HTTP server (webhook) and an SQS
// poller per worker (batch ≤ 10, partial batch failures: Lambda's event source mapping), with
// profiles from the Meta simulator. In that mode it also counts the processor's DynamoDB round
// trips with the store's meter (an SDK middleware on the processor's client).
//
// With -url (or LOAD_URL) it targets a running `make dev` (or a deployed stack) instead:
// webhook POSTs to <url>/webhooks/instagram signed with INSTAGRAM_APP_SECRET and the check
// through <url>/api with API_TOKEN; round trips are not measured there.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/sqspoll"
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

type options struct {
	events, conversations, perBody, concurrency, workers int
	dupRate                                              float64
	url, secret, apiToken, account                       string
	timeout                                              time.Duration
}

// Run parses the command line (see -help) and runs the scenario; it returns an error when an
// event was lost or stored twice.
func Run(args []string) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&o.events, "events", 10000, "distinct events (text messages) to deliver")
	fs.IntVar(&o.conversations, "conversations", 500, "conversations (contacts) they are spread over")
	fs.IntVar(&o.perBody, "per-body", 5, "events per webhook body (Meta batches)")
	fs.Float64Var(&o.dupRate, "dup", 0.1, "fraction of bodies delivered a second time (Meta's retries)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent webhook POSTs")
	fs.IntVar(&o.workers, "workers", 4, "concurrent processor invocations (in-process mode)")
	fs.StringVar(&o.url, "url", os.Getenv("LOAD_URL"), "base URL of a running stack (empty: in-process)")
	fs.StringVar(&o.secret, "secret", envOr("INSTAGRAM_APP_SECRET", "local-app-secret"), "app secret signing the webhooks")
	fs.StringVar(&o.apiToken, "api-token", envOr("API_TOKEN", "local-api-token"), "API token for the final check")
	fs.StringVar(&o.account, "account", envOr("DEV_INSTAGRAM_ACCOUNT_ID", metasim.DefaultAccountID), "connected Instagram account id")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return run(o)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// stack is what a run talks to.
type stack struct {
	webhookURL string
	api        func(ctx context.Context, path string, q map[string]string, out any) error
	depth      func(ctx context.Context) (int, error) // events still queued (in-process only)
	meter      *store.Meter
	handled    *atomic.Int64
	stop       func()
}

func run(o options) error {
	if o.events < 1 || o.conversations < 1 || o.perBody < 1 || o.concurrency < 1 || o.workers < 1 {
		return errors.New("every count must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var (
		st  *stack
		err error
	)
	if o.url != "" {
		st = remote(o)
	} else if st, err = inProcess(ctx, o); err != nil {
		return err
	}
	defer st.stop()

	bodies, mids := generate(o)
	fmt.Printf("load: %d events over %d conversations in %d webhook deliveries (%d duplicates), %d concurrent POSTs, %d processor workers, GOMAXPROCS %d\n",
		len(mids), o.conversations, len(bodies), len(bodies)-(o.events+o.perBody-1)/o.perBody, o.concurrency, o.workers, runtime.GOMAXPROCS(0))

	// Phase 1 (warm-up): the first message of every conversation (profile + new conversation).
	warm, rest := split(bodies, o)
	if st.meter != nil {
		st.meter.Reset() // provisioning and the channel connection are not the processor's
	}
	if _, err := deliver(ctx, st, o, warm); err != nil {
		return err
	}
	if err := drain(ctx, st, o, len(mids)); err != nil {
		return err
	}
	var warmUsage store.Usage
	if st.meter != nil {
		warmUsage = total(st.meter)
		st.meter.Reset()
	}
	warmHandled := st.handled.Swap(0)

	// Phase 2 (steady state): everything else, duplicates included.
	start := time.Now()
	lat, err := deliver(ctx, st, o, rest)
	if err != nil {
		return err
	}
	posted := time.Since(start)
	if err := drain(ctx, st, o, len(mids)); err != nil {
		return err
	}
	elapsed := time.Since(start)
	restEvents := 0
	for _, b := range rest {
		restEvents += b.events
	}
	fmt.Printf("steady state: %d event deliveries in %d POSTs: posted in %s, processed end to end in %s: %.0f events/s end to end (%.0f events/s accepted by the webhook)\n",
		restEvents, len(rest), posted.Round(time.Millisecond), elapsed.Round(time.Millisecond),
		float64(restEvents)/elapsed.Seconds(), float64(restEvents)/posted.Seconds())
	slices.Sort(lat)
	fmt.Printf("webhook latency: median %s, p99 %s, max %s\n", pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1))
	if st.meter != nil {
		u := total(st.meter)
		h := st.handled.Load()
		fmt.Printf("DynamoDB round trips (processor): warm-up %.2f per event (%d events: %s); steady state %.2f per event (%d events incl. duplicates: %s)\n",
			float64(warmUsage.RoundTrips)/float64(max(warmHandled, 1)), warmHandled, ops(warmUsage),
			float64(u.RoundTrips)/float64(max(h, 1)), h, ops(u))
	}
	return check(ctx, st, o, mids)
}

// body is one webhook delivery.
type body struct {
	raw    []byte
	events int
	first  bool // holds the first message of some conversation
}

// generate builds the bodies: event i goes to contact i % conversations, with Meta timestamps
// increasing with i; dupRate of the bodies are appended again (a retry after a lost answer).
func generate(o options) ([]body, []string) {
	base := time.Now().Add(-time.Hour).UnixMilli()
	var out []body
	var mids []string
	for i := 0; i < o.events; i += o.perBody {
		var items []map[string]any
		first := false
		for j := i; j < min(i+o.perBody, o.events); j++ {
			c := j % o.conversations
			mid := fmt.Sprintf("aWdfbG9hZF8%08d", j)
			mids = append(mids, mid)
			first = first || j < o.conversations
			items = append(items, map[string]any{
				"sender": map[string]any{"id": fmt.Sprintf("77%013d1", c)}, "recipient": map[string]any{"id": o.account},
				"timestamp": base + int64(j), "message": map[string]any{"mid": mid, "text": "load message " + strconv.Itoa(j)},
			})
		}
		raw, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": o.account, "time": base, "messaging": items}}})
		out = append(out, body{raw: raw, events: len(items), first: first})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := len(out)
	for i := range n {
		if rng.Float64() < o.dupRate {
			out = append(out, out[i])
		}
	}
	return out, mids
}

// split separates the warm-up bodies (first message of a conversation) from the rest, which
// is shuffled (duplicates land anywhere).
func split(bodies []body, o options) (warm, rest []body) {
	for i, b := range bodies {
		if b.first && i < (o.events+o.perBody-1)/o.perBody {
			warm = append(warm, b)
		} else {
			rest = append(rest, b)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return warm, rest
}

// deliver POSTs the bodies with o.concurrency workers, retrying a non-200 like Meta does.
func deliver(ctx context.Context, st *stack, o options, bodies []body) ([]time.Duration, error) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}
	next := make(chan body)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				for attempt := 1; ; attempt++ {
					t0 := time.Now()
					status, err := post(ctx, client, st.webhookURL, o.secret, b.raw)
					d := time.Since(t0)
					if err == nil && status == http.StatusOK {
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
						break
					}
					if attempt == 5 || ctx.Err() != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("webhook: status %d, %v", status, err))
						mu.Unlock()
						break
					}
					time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
				}
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	return lat, errors.Join(errs...)
}

func post(ctx context.Context, c *http.Client, url, secret string, b []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(secret), b))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// drain waits until the queue is empty (in-process) or the API shows every message (remote).
func drain(ctx context.Context, st *stack, o options, want int) error {
	last := time.Now()
	for {
		if st.depth != nil {
			n, err := st.depth(ctx)
			if err == nil && n == 0 {
				return nil
			}
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "load: %d events still queued (%d handled)\n", n, st.handled.Load())
			}
		} else if counts, err := stored(ctx, st, o); err == nil && len(counts) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the processor: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stored counts the messages per mid through the read API.
func stored(ctx context.Context, st *stack, o options) (map[string]int, error) {
	counts := map[string]int{}
	q := map[string]string{"channel_id": o.account, "limit": "200"}
	for {
		var page struct {
			Conversations []api.ConversationJSON `json:"conversations"`
			NextCursor    string                 `json:"next_cursor"`
		}
		if err := st.api(ctx, "/api/conversations", q, &page); err != nil {
			return nil, err
		}
		for _, c := range page.Conversations {
			mq := map[string]string{"limit": "200"}
			for {
				var mp struct {
					Messages   []api.MessageJSON `json:"messages"`
					NextCursor string            `json:"next_cursor"`
				}
				if err := st.api(ctx, "/api/conversations/"+c.ID+"/messages", mq, &mp); err != nil {
					return nil, err
				}
				for _, m := range mp.Messages {
					counts[m.MID]++
				}
				if mp.NextCursor == "" {
					break
				}
				mq["cursor"] = mp.NextCursor
			}
		}
		if page.NextCursor == "" {
			return counts, nil
		}
		q["cursor"] = page.NextCursor
	}
}

// check verifies the final state: every mid exactly once.
func check(ctx context.Context, st *stack, o options, mids []string) error {
	counts, err := stored(ctx, st, o)
	if err != nil {
		return fmt.Errorf("final check: %w", err)
	}
	lost, dup := 0, 0
	for _, m := range mids {
		switch n := counts[m]; {
		case n == 0:
			lost++
		case n > 1:
			dup++
		}
	}
	fmt.Printf("final state through the read API: %d events expected, %d stored, %d lost, %d duplicated\n", len(mids), len(counts), lost, dup)
	if lost > 0 || dup > 0 {
		return fmt.Errorf("%d lost, %d duplicated", lost, dup)
	}
	return nil
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s)-1)*p+0.5))].Round(10 * time.Microsecond)
}

func total(m *store.Meter) store.Usage {
	t := store.Usage{Ops: map[string]int{}}
	for _, u := range m.Snapshot() {
		t.RoundTrips += u.RoundTrips
		for op, n := range u.Ops {
			t.Ops[op] += n
		}
	}
	return t
}

func ops(u store.Usage) string {
	var parts []string
	for op, n := range u.Ops {
		parts = append(parts, fmt.Sprintf("%s×%d", op, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// ---------------------------------------------------------------- targets

func remote(o options) *stack {
	base := strings.TrimRight(o.url, "/")
	client := &http.Client{Timeout: 30 * time.Second}
	return &stack{
		webhookURL: base + "/webhooks/instagram",
		handled:    &atomic.Int64{},
		stop:       func() {},
		api: func(ctx context.Context, path string, q map[string]string, out any) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return err
			}
			qs := req.URL.Query()
			for k, v := range q {
				qs.Set(k, v)
			}
			req.URL.RawQuery = qs.Encode()
			req.Header.Set("Authorization", "Bearer "+o.apiToken)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			}
			return json.NewDecoder(resp.Body).Decode(out)
		},
	}
}

// counting wraps the processor's service to count handled events.
type counting struct {
	next processor.Service
	n    *atomic.Int64
}

func (c counting) Handle(ctx context.Context, env envelope.Envelope) error {
	if err := c.next.Handle(ctx, env); err != nil {
		return err
	}
	c.n.Add(1)
	return nil
}

func inProcess(ctx context.Context, o options) (*stack, error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" || os.Getenv("AWS_ENDPOINT_URL_SQS") == "" {
		fmt.Println("load: starting DynamoDB Local and fauxqs")
		emu, err := emulator.Start(ctx, emulator.Options{})
		if err != nil {
			return nil, fmt.Errorf("start emulators: %w", err)
		}
		stops = append(stops, func() { _ = emu.Stop() })
		for _, kv := range emu.Env()[:2] {
			k, v, _ := strings.Cut(kv, "=")
			_ = os.Setenv(k, v)
		}
	}
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		stop()
		return nil, err
	}
	meter := store.NewMeter()
	db := dynamodb.NewFromConfig(awsCfg, func(opt *dynamodb.Options) { opt.APIOptions = append(opt.APIOptions, meter.APIOption) })
	sq := sqs.NewFromConfig(awsCfg)
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		stop()
		return nil, err
	}
	prov, err := samtemplate.Provision(ctx, db, sq, tmpl, samtemplate.UniqueNames("load", samtemplate.ProvisionOptions{
		Params: map[string]string{"Stage": "load"},
	}))
	if err != nil {
		stop()
		return nil, fmt.Errorf("provision: %w", err)
	}
	stops = append(stops, func() { prov.Delete(context.Background(), db, sq) })
	var queueURL string
	for id, q := range prov.Queues {
		if strings.HasSuffix(q.Name, ".fifo") && tmpl.Resources[id].Properties["RedrivePolicy"] != nil {
			queueURL = q.URL
		}
	}
	table := ""
	for _, t := range prov.Tables {
		table = t
	}
	if queueURL == "" || table == "" {
		stop()
		return nil, errors.New("template has no events FIFO queue or no table")
	}
	st := store.New(db, table)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})) // warnings only: the run prints its summary

	sim := metasim.New(metasim.Config{AppSecret: o.secret})
	simSrv := httptest.NewServer(sim)
	stops = append(stops, simSrv.Close)
	token := sim.IssueToken(o.account)
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: o.account, Username: "load", AccessToken: token, TokenExpiresAt: time.Now().Add(60 * 24 * time.Hour)}, time.Now()); err != nil {
		stop()
		return nil, fmt.Errorf("connect channel: %w", err)
	}

	hook := webhook.NewHandler(o.secret, "verify", queue.NewPublisher(sq, queueURL, queue.Options{}), log)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k, v := range r.Header {
			h[strings.ToLower(k)] = v[0]
		}
		ev := events.APIGatewayV2HTTPRequest{RawPath: r.URL.Path, Headers: h, Body: string(b)}
		ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = r.Method, r.URL.Path
		resp, _ := hook.Handle(r.Context(), ev)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	stops = append(stops, hookSrv.Close)

	handled := &atomic.Int64{}
	gc := graph.New(graph.Config{BaseURL: simSrv.URL})
	svc := inbox.New(st, st, gc, inbox.Config{}, log)
	handler := processor.NewHandler(counting{next: svc, n: handled}, log, processor.WithVisibility(sq, queueURL))
	pollCtx, pollCancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Lambda's event source mapping; the long poll is not cancelled (stopping waits ≤ 1 s).
	poller := &sqspoll.Poller{Function: "processor", QueueURL: queueURL, SQS: sq, Handler: handler.Handle, WaitSeconds: 1, ReportBatchItemFailures: true}
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				_, _ = poller.Poll(context.Background())
			}
		}()
	}
	stops = append(stops, func() { pollCancel(); wg.Wait() })

	apiSrv := api.New(o.apiToken, log, api.WithConversations(st))
	return &stack{
		webhookURL: hookSrv.URL + "/webhooks/instagram",
		meter:      meter,
		handled:    handled,
		stop:       stop,
		depth:      func(ctx context.Context) (int, error) { return sqspoll.Depth(ctx, sq, queueURL) },
		api: func(ctx context.Context, path string, q map[string]string, out any) error {
			resp, _ := apiSrv.HandleRequest(ctx, events.APIGatewayV2HTTPRequest{
				RawPath: path, QueryStringParameters: q, Headers: map[string]string{"authorization": "Bearer " + o.apiToken},
				RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: path}},
			})
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			}
			return json.Unmarshal([]byte(resp.Body), out)
		},
	}, nil
}
