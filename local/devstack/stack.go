package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/eventbus"
	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/runtimeapi"
	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/sqspoll"
)

// Run starts the stack and blocks until ctx ends, then stops everything it started.
// onShutdown is called when shutdown begins (main uses it to restore default signal handling,
// so a second Ctrl-C is immediate).
func Run(ctx context.Context, cfg Config, out io.Writer, onShutdown func()) (err error) {
	log := newLogger(emulator.NewPrefixWriter(out, "devstack | "))
	var cleanups []func()
	defer func() {
		if onShutdown != nil {
			onShutdown()
		}
		log.Info("stopping")
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		log.Info("stopped")
	}()

	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := samtemplate.FindRoot(wd)
	if err != nil {
		return err
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(cfg.Port)

	// Fail early if the front's port is taken, before minutes of setup.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s (set PORT): %w", base, err)
	}
	cleanups = append(cleanups, func() { _ = ln.Close() })

	// Progress: every step says how long the start has taken so far.
	start := time.Now()
	step := func(msg string, args ...any) {
		log.Info(msg, append(args, "elapsed", elapsed(start))...)
	}

	fns, err := tmpl.Functions()
	if err != nil {
		return err
	}
	// The bootstraps (and the simulator) build while the emulators start.
	builds := make(chan buildResult, 1)
	go func() {
		var r buildResult
		if cfg.GraphAPIURL == "" {
			r.simulator, r.err = buildSimulator(ctx, root, log)
		}
		if r.err == nil {
			step("building bootstraps", "functions", len(fns))
			r.bins, r.err = localrun.BuildAll(ctx, root, filepath.Join(root, ".dev", "bin"), fns, true, func(f samtemplate.Function, took time.Duration) {
				step("built "+f.Name(), "took", took.Round(100*time.Millisecond).String())
			})
		}
		builds <- r
	}()

	step("starting emulators (DynamoDB Local, fauxqs; the first run installs them with npm ci)")
	emu, err := emulator.Start(ctx, emulator.Options{
		ToolsDir:     filepath.Join(root, "local", "tools"),
		DynamoDBPort: cfg.DDBPort,
		SQSPort:      cfg.SQSPort,
		Output:       out,
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = emu.Stop() })
	step("emulators ready", "dynamodb", emu.DynamoDBURL, "sqs", emu.SQSURL)

	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return err
	}
	db, sq := emu.Clients(awsCfg)

	// Parameters first without the simulator: its app secret is a parameter too.
	params := ResolveParams(tmpl, cfg.Getenv, base, cfg.GraphAPIURL)
	prov, err := samtemplate.Provision(ctx, db, sq, tmpl, samtemplate.ProvisionOptions{Params: map[string]string{"Stage": params["Stage"].Value}})
	if err != nil {
		return err
	}
	step("table and queues created from template.yaml")

	built := <-builds
	if built.err != nil {
		return built.err
	}
	bins := built.bins
	step("bootstraps built")

	graphURL := cfg.GraphAPIURL
	if graphURL == "" && built.simulator != "" {
		sim, url, err := startSimulator(built.simulator, cfg, params, base, out)
		if err != nil {
			return err
		}
		step("meta simulator started", "url", url)
		if sim != nil {
			cleanups = append(cleanups, sim)
			graphURL = url
			params = ResolveParams(tmpl, cfg.Getenv, base, graphURL)
		}
	}

	bus, err := StartEventBus(root, cfg.Getenv("LOCAL_EVENTS_URL"), log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, bus.Stop)

	resolver := &samtemplate.Resolver{Template: tmpl, Params: localrun.ParamValues(params), Resource: localrun.Resources(tmpl, prov)}
	// Secrets Manager has no local emulator: the stack serves the template's secret itself.
	sec, err := localrun.StartSecrets(resolver)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = sec.Close() })
	endpoints := append(append(emu.Env(), sec.Env()...), bus.Env())
	pools := map[string]*runtimeapi.Pool{}
	var coldMu sync.Mutex
	colds := map[string]time.Duration{}
	warm := make([]func() error, 0, len(fns))
	for _, f := range fns {
		env, err := localrun.FunctionEnv(resolver, f, endpoints, graphURL)
		if err != nil {
			return fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		timeout := time.Duration(f.Timeout) * time.Second
		pool := runtimeapi.NewPool(runtimeapi.Config{
			Name:      "iginbox-local-" + f.Name(),
			Bootstrap: bins[f.LogicalID],
			Env:       env,
			Output:    emulator.NewPrefixWriter(out, f.Name()+" | "),
			Timeout:   timeout,
			MemoryMB:  f.MemorySize,
		}, cfg.Concurrency)
		name := f.Name()
		pool.OnColdStart = func(d time.Duration) {
			coldMu.Lock()
			colds[name] = d
			coldMu.Unlock()
		}
		pools[f.LogicalID] = pool
		cleanups = append(cleanups, pool.Close)
		warm = append(warm, func() error {
			if err := pool.Warm(ctx); err != nil {
				return fmt.Errorf("function %s: %w", f.LogicalID, err)
			}
			coldMu.Lock()
			cold := colds[name]
			coldMu.Unlock()
			step("started "+name, "cold_start", cold.Round(100*time.Microsecond).String())
			return nil
		})
	}
	// Every function's first instance starts at once (each waits for its process's first
	// /invocation/next).
	werrs := make([]error, len(warm))
	var wwg sync.WaitGroup
	for i, w := range warm {
		wwg.Add(1)
		go func() { defer wwg.Done(); werrs[i] = w() }()
	}
	wwg.Wait()
	if err := errors.Join(werrs...); err != nil {
		return err
	}

	var (
		routes    []Route
		pollers   []*sqspoll.Poller
		streams   []*StreamPoller
		schedules = map[string]*Schedule{}
	)
	streamsClient := dynamodbstreams.NewFromConfig(awsCfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(emu.DynamoDBURL) })
	for _, f := range fns {
		for _, e := range f.Events {
			switch e.Type {
			case samtemplate.EventHTTPAPI:
				routes = append(routes, Route{Method: e.Method, Path: e.Path, Function: f.LogicalID, Invoker: pools[f.LogicalID]})
			case samtemplate.EventSQS:
				qid, _, ok := samtemplate.RefName(e.Queue)
				q, found := prov.Queues[qid]
				if !ok || !found {
					return fmt.Errorf("%s.%s: queue %v is not a template queue", f.LogicalID, e.Name, e.Queue)
				}
				for range cfg.Concurrency {
					pollers = append(pollers, &sqspoll.Poller{
						Function: f.Name(), QueueURL: q.URL, QueueARN: q.ARN, BatchSize: e.BatchSize,
						SQS: sq, Handler: sqspoll.Invoke(pools[f.LogicalID]), Log: log,
						ReportBatchItemFailures: containsString(e.FunctionResponseTypes, "ReportBatchItemFailures"),
					})
				}
			case samtemplate.EventDynamoDB:
				sp, err := NewStreamPoller(f, e, prov, streamsClient, sq, pools[f.LogicalID], log)
				if err != nil {
					return err
				}
				streams = append(streams, sp)
			case samtemplate.EventSchedule:
				every, err := ParseSchedule(e.Schedule)
				if err != nil {
					return fmt.Errorf("%s.%s: %w", f.LogicalID, e.Name, err)
				}
				if e.Enabled != nil && !*e.Enabled {
					every = 0 // on demand only
				}
				schedules[f.LogicalID] = &Schedule{Function: f.LogicalID, Rule: e.Name, Every: every, Invoker: pools[f.LogicalID], Log: log}
			}
		}
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	cleanups = append(cleanups, func() { cancelRun(); wg.Wait() })
	for _, p := range pollers {
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(runCtx) }()
	}
	for _, sp := range streams {
		wg.Add(1)
		go func() { defer wg.Done(); sp.Run(runCtx) }()
	}
	for _, s := range schedules {
		if s.Enabled() {
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(runCtx) }()
		}
	}

	front := NewFront(routes, log)
	front.Local = localHandler(schedules, bus.EventsHandler(), log)
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})

	coldMu.Lock()
	printBanner(out, base, front.Routes(), pollers, streams, bus, schedules, params, emu, prov, graphURL, colds)
	coldMu.Unlock()
	step("ready: serving " + base)

	if hasRoute(routes, "POST", "/api/channels/connect") && cfg.GraphAPIURL == "" && graphURL != "" {
		go connectChannel(runCtx, base, params, cfg.Getenv, log)
	}

	<-ctx.Done()
	return nil
}

// Enabled reports whether the schedule runs on its own (Enabled: false schedules only fire
// on demand).
func (s *Schedule) Enabled() bool { return s.Every > 0 }

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func hasRoute(routes []Route, method, path string) bool {
	for _, r := range routes {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// startSimulator builds and runs cmd/simulator when it exists; it returns its stop function
// and URL, or nil when there is no simulator.
// buildResult is what the build started with the emulators produced.
type buildResult struct {
	simulator string            // path of the simulator binary ("" when not built)
	bins      map[string]string // bootstraps by logical id
	err       error
}

// elapsed formats the time since start for progress lines.
func elapsed(start time.Time) string {
	return fmt.Sprintf("%.1fs", time.Since(start).Seconds())
}

// buildSimulator builds cmd/simulator ("" when the tree has none).
func buildSimulator(ctx context.Context, root string, log *slog.Logger) (string, error) {
	if _, err := os.Stat(filepath.Join(root, "cmd", "simulator", "main.go")); err != nil {
		log.Warn("no cmd/simulator and GRAPH_API_URL unset: functions will call the real Graph API")
		return "", nil
	}
	bin := filepath.Join(root, ".dev", "bin", "simulator")
	if err := localrun.GoBuild(ctx, root, "./cmd/simulator", bin, nil); err != nil {
		return "", err
	}
	return bin, nil
}

func startSimulator(bin string, cfg Config, params map[string]ParamValue, base string, out io.Writer) (func(), string, error) {
	port, err := emulator.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "-addr", addr, "-webhook-url", base+"/webhooks/instagram")
	secret := params["InstagramAppSecret"].Value
	if secret == "" {
		secret = nonEmpty(cfg.Getenv("INSTAGRAM_APP_SECRET"), "dev-app-secret")
	}
	cmd.Env = append(os.Environ(), "INSTAGRAM_APP_SECRET="+secret, "DEV_INSTAGRAM_ACCOUNT_ID="+cfg.DevAccountID)
	w := emulator.NewPrefixWriter(out, "simulator | ")
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = emulator.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start simulator: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return nil, "", errors.New("simulator exited at start")
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", fmt.Errorf("simulator not listening on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop, "http://" + addr, nil
}

func nonEmpty(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// localHandler serves /_local/...: schedule triggers, the events of the local bus, the connect
// landing page, health.
func localHandler(schedules map[string]*Schedule, events http.Handler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /_local/events", events)
	mux.HandleFunc("POST /_local/schedule/{function}", func(w http.ResponseWriter, r *http.Request) {
		s, ok := schedules[r.PathValue("function")]
		if !ok {
			names := make([]string, 0, len(schedules))
			for n := range schedules {
				names = append(names, n)
			}
			sort.Strings(names)
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "no scheduled function " + r.PathValue("function"), "scheduled": names})
			return
		}
		out, err := s.Fire(r.Context())
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"message": "invocation failed: " + err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if len(out) == 0 || !json.Valid(out) {
			out = []byte("null")
		}
		_, _ = w.Write(out)
	})
	mux.HandleFunc("GET /_local/connected", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q := r.URL.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "iginbox local frontend: connect flow finished")
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(q[k], ","))
		}
	})
	mux.HandleFunc("GET /_local/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/_local/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	})
	return mux
}

// connectChannel performs the connect flow like a browser would. getenv is the stack's
// environment (Config.Getenv).
func connectChannel(ctx context.Context, base string, params map[string]ParamValue, getenv func(string) string, log *slog.Logger) {
	token := params["ApiToken"].Value
	if token == "" {
		token = nonEmpty(getenv("API_TOKEN"), "dev-api-token")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/channels/connect", strings.NewReader("{}"))
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		log.Warn("dev channel: connect request failed", "error", redactError(err))
		return
	}
	var body struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || body.URL == "" {
		log.Warn("dev channel: POST /api/channels/connect did not return a url", "status", resp.StatusCode)
		return
	}
	hops := 0
	browser := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		hops++
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	greq, err := http.NewRequestWithContext(ctx, http.MethodGet, body.URL, nil)
	if err != nil {
		log.Warn("dev channel: bad authorize url", "error", redactError(err))
		return
	}
	gresp, err := browser.Do(greq)
	if err != nil {
		log.Warn("dev channel: following the authorize url failed", "error", redactError(err))
		return
	}
	_, _ = io.Copy(io.Discard, gresp.Body)
	gresp.Body.Close()
	final := gresp.Request.URL
	q := final.Query()
	if id := q.Get("connected"); id != "" {
		log.Info("dev channel connected", "account_id", id, "redirects", hops)
		return
	}
	log.Warn("dev channel not connected", "status", gresp.StatusCode, "landing", final.Path,
		"error_type", q.Get("error_type"), "code", q.Get("code"), "error_message", q.Get("error_message"))
}

// queryInMessage matches a URL query (up to whitespace or a quote) inside an error message.
var queryInMessage = regexp.MustCompile(`\?[^\s"']+`)

// redactError renders an error of the connect flow without any URL query or user info: a
// *url.Error carries the whole URL, and the /instagram/callback hop's query holds the OAuth code
// and state (a bad Location header is even quoted inside the cause).
func redactError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		cause := "<nil>"
		if ue.Err != nil {
			cause = queryInMessage.ReplaceAllString(ue.Err.Error(), "?(redacted)")
		}
		return ue.Op + " " + redactURL(ue.URL) + ": " + cause
	}
	return queryInMessage.ReplaceAllString(err.Error(), "?(redacted)")
}

// redactURL returns raw without its query, fragment and user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	hadQuery := u.RawQuery != "" || u.ForceQuery
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	if hadQuery {
		return u.String() + "?(redacted)"
	}
	return u.String()
}

func printBanner(out io.Writer, base string, routes []Route, pollers []*sqspoll.Poller, streams []*StreamPoller, bus *eventbus.Server, schedules map[string]*Schedule,
	params map[string]ParamValue, emu *emulator.Stack, prov *samtemplate.Provisioned, graphURL string, colds map[string]time.Duration) {
	var b strings.Builder
	line := strings.Repeat("─", 72)
	fmt.Fprintf(&b, "%s\niginbox local stack ready: %s\nagent console:  %s/ (sign in with API_TOKEN, dev-api-token by default)\n\nroutes:\n", line, base, base)
	for _, r := range routes {
		fmt.Fprintf(&b, "  %-7s %-45s → %s\n", r.Method, r.Path, r.Function)
	}
	fmt.Fprintf(&b, "  %-7s %-45s → %s\n", "POST", "/_local/schedule/<FunctionLogicalId>", "fire a schedule now")
	fmt.Fprintf(&b, "  %-7s %-45s → %s\n", "GET", "/_local/connected", "connect outcome as text")
	fmt.Fprintf(&b, "  %-7s %-45s → %s\n", "GET", "/_local/events?detail_type=&since=", "events on the local bus, oldest first")
	seen := map[string]bool{}
	if len(pollers) > 0 {
		fmt.Fprintf(&b, "\nsqs pollers:\n")
		for _, p := range pollers {
			if seen[p.Function+p.QueueURL] {
				continue
			}
			seen[p.Function+p.QueueURL] = true
			fmt.Fprintf(&b, "  %s ← %s (batch %d)\n", p.Function, p.QueueURL, p.BatchSize)
		}
	}
	if len(streams) > 0 {
		fmt.Fprintf(&b, "\nstream pollers:\n")
		for _, p := range streams {
			fmt.Fprintf(&b, "  %s ← %s (batch %d, window %s)\n", p.Function, p.StreamARN, p.BatchSize, p.BatchingWindow)
		}
	}
	fmt.Fprintf(&b, "\nevent bus (EventBridge PutEvents): AWS_ENDPOINT_URL_EVENTBRIDGE=%s\n", bus.URL)
	if len(schedules) > 0 {
		fmt.Fprintf(&b, "\nschedules:\n")
		for id, s := range schedules {
			fmt.Fprintf(&b, "  %s every %s (curl -X POST %s/_local/schedule/%s)\n", id, s.Every, base, id)
		}
	}
	fmt.Fprintf(&b, "\nparameters (env var → value):\n")
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := params[n]
		val := p.Value
		if p.Secret && p.Source == FromEnv {
			val = "(set)"
		}
		fmt.Fprintf(&b, "  %-24s %-28s %s [%s]\n", n, p.Env, val, p.Source)
	}
	if graphURL != "" {
		fmt.Fprintf(&b, "\ngraph api: %s\n", graphURL)
	}
	fmt.Fprintf(&b, "\nemulators (credentials test/test, region us-east-1):\n")
	fmt.Fprintf(&b, "  AWS_ENDPOINT_URL_DYNAMODB=%s\n  AWS_ENDPOINT_URL_SQS=%s\n", emu.DynamoDBURL, emu.SQSURL)
	for id, n := range prov.Tables {
		fmt.Fprintf(&b, "  table %s: %s\n", id, n)
	}
	qids := make([]string, 0, len(prov.Queues))
	for id := range prov.Queues {
		qids = append(qids, id)
	}
	sort.Strings(qids)
	for _, id := range qids {
		fmt.Fprintf(&b, "  queue %s: %s\n", id, prov.Queues[id].URL)
	}
	if len(qids) > 0 {
		example := prov.Queues[qids[0]].URL
		if len(pollers) > 0 {
			example = pollers[0].QueueURL
		}
		fmt.Fprintf(&b, "  e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --region us-east-1 --endpoint-url %s sqs receive-message --queue-url %s --attribute-names All\n",
			emu.SQSURL, example)
	}
	if len(colds) > 0 {
		fmt.Fprintf(&b, "\ncold starts:")
		cn := make([]string, 0, len(colds))
		for n := range colds {
			cn = append(cn, n)
		}
		sort.Strings(cn)
		for _, n := range cn {
			fmt.Fprintf(&b, " %s %.1f ms", n, float64(colds[n].Microseconds())/1000)
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "\nCtrl-C stops everything.\n%s\n", line)
	_, _ = io.WriteString(out, b.String())
}
