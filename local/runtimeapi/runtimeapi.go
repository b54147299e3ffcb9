// Package runtimeapi runs a Lambda `bootstrap` binary locally behind an implementation of the
// Lambda Runtime API (2018-06-01): GET /runtime/invocation/next, POST
// /runtime/invocation/{id}/response, POST /runtime/invocation/{id}/error and POST
// /runtime/init/error. It is what `make dev` and `make coldstart` use to run the very binaries
// that deploy.
//
// An Instance is one sandbox: one process, one invocation at a time, its own Runtime API
// endpoint on 127.0.0.1. A Pool grows instances on demand up to a limit, like Lambda's
// concurrency.
package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// Config describes a function.
type Config struct {
	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME, logs).
	Name string
	// Bootstrap is the path of the executable.
	Bootstrap string
	// Env is added to the process environment (KEY=value), after the Lambda variables.
	Env []string
	// Output receives the process's stdout and stderr (nil: discarded).
	Output io.Writer
	// Timeout is the invocation timeout (default 30 s); an invocation running longer is
	// failed with Sandbox.Timedout and the process is restarted.
	Timeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	MemoryMB int
	// InitTimeout bounds the wait for the first /invocation/next (default 10 s).
	InitTimeout time.Duration
}

// FunctionError is an error the function reported (/invocation/{id}/error, /init/error) or a
// failure of its sandbox (exit, timeout).
type FunctionError struct {
	Type    string          `json:"errorType"`
	Message string          `json:"errorMessage"`
	Stack   json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ErrNotDelivered is wrapped when the runtime exited before it took the invocation (for
// example right after a panic of the previous one); the function did not run it. Pool retries
// such invocations on a fresh instance.
var ErrNotDelivered = errors.New("invocation not delivered")

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	result   chan result
}

type result struct {
	body []byte
	err  error
}

// Instance is one running bootstrap process with its Runtime API endpoint.
type Instance struct {
	cfg      Config
	ln       net.Listener
	srv      *http.Server
	cmd      *exec.Cmd
	started  time.Time
	ready    chan struct{} // closed at the first /invocation/next
	initErr  chan *FunctionError
	exited   chan struct{}
	exitErr  error
	next     chan *invocation // handed to the runtime by /invocation/next
	mu       sync.Mutex
	inflight map[string]*invocation
	coldOnce sync.Once
	cold     time.Duration
	invokeMu sync.Mutex // one invocation at a time
}

// Start launches the bootstrap and waits until it asks for its first invocation. The cold
// start (process start to first /invocation/next) is available from ColdStart.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 128
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "function"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime api listen: %w", err)
	}
	in := &Instance{
		cfg:      cfg,
		ln:       ln,
		ready:    make(chan struct{}),
		initErr:  make(chan *FunctionError, 1),
		exited:   make(chan struct{}),
		next:     make(chan *invocation),
		inflight: map[string]*invocation{},
	}
	in.srv = &http.Server{Handler: in, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.srv.Serve(ln) }()

	cmd := exec.Command(cfg.Bootstrap)
	cmd.Env = append(baseEnv(), lambdaEnv(cfg, ln.Addr().String())...)
	cmd.Env = append(cmd.Env, cfg.Env...)
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	in.cmd = cmd
	in.mu.Lock()
	in.started = time.Now()
	err = cmd.Start()
	in.mu.Unlock()
	if err != nil {
		_ = in.srv.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Bootstrap, err)
	}
	go func() {
		in.exitErr = cmd.Wait()
		close(in.exited)
	}()
	timer := time.NewTimer(cfg.InitTimeout)
	defer timer.Stop()
	select {
	case <-in.ready:
		return in, nil
	case fe := <-in.initErr:
		in.Stop()
		return nil, fmt.Errorf("init %s: %w", cfg.Name, fe)
	case <-in.exited:
		in.Stop()
		return nil, fmt.Errorf("init %s: %w", cfg.Name, &FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("process exited before its first invocation: %v", in.exitErr)})
	case <-timer.C:
		in.Stop()
		return nil, fmt.Errorf("init %s: no /invocation/next within %s", cfg.Name, cfg.InitTimeout)
	case <-ctx.Done():
		in.Stop()
		return nil, ctx.Err()
	}
}

func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func lambdaEnv(cfg Config, addr string) []string {
	return []string{
		"AWS_LAMBDA_RUNTIME_API=" + addr,
		"AWS_LAMBDA_FUNCTION_NAME=" + cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + cfg.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=local",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"_HANDLER=bootstrap",
	}
}

// Addr is the Runtime API address (host:port) given to the process.
func (in *Instance) Addr() string { return in.ln.Addr().String() }

// PID is the process id of the bootstrap (also its process group id).
func (in *Instance) PID() int { return in.cmd.Process.Pid }

// ColdStart is the time from process start to its first /invocation/next.
func (in *Instance) ColdStart() time.Duration { return in.cold }

// Alive reports whether the process is still running.
func (in *Instance) Alive() bool {
	select {
	case <-in.exited:
		return false
	default:
		return true
	}
}

// Invoke runs one invocation and returns the function's response body. A function error is
// returned as *FunctionError; a timeout kills the process (the instance is then dead).
func (in *Instance) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	in.invokeMu.Lock()
	defer in.invokeMu.Unlock()
	if !in.Alive() {
		return nil, fmt.Errorf("%w: %w", ErrNotDelivered, &FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("runtime exited: %v", in.exitErr)})
	}
	inv := &invocation{id: newID(), payload: payload, deadline: time.Now().Add(in.cfg.Timeout), result: make(chan result, 1)}
	in.mu.Lock()
	in.inflight[inv.id] = inv
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.inflight, inv.id)
		in.mu.Unlock()
	}()
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case in.next <- inv:
	case <-in.exited:
		return nil, fmt.Errorf("%w: %w", ErrNotDelivered, &FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("runtime exited: %v", in.exitErr)})
	case <-timer.C:
		in.kill()
		return nil, &FunctionError{Type: "Sandbox.Timedout", Message: "runtime did not ask for the invocation in time"}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-inv.result:
		return r.body, r.err
	case <-in.exited:
		return nil, &FunctionError{Type: "Runtime.ExitError", Message: fmt.Sprintf("runtime exited during the invocation: %v", in.exitErr)}
	case <-timer.C:
		in.kill()
		return nil, &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("task timed out after %s", in.cfg.Timeout)}
	case <-ctx.Done():
		// The caller gave up; like Lambda, the sandbox is not reused mid-invocation.
		in.kill()
		return nil, ctx.Err()
	}
}

func (in *Instance) kill() {
	if in.cmd.Process != nil {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Stop terminates the process group (SIGTERM, SIGKILL after 2 s) and the Runtime API server.
func (in *Instance) Stop() {
	if in.cmd.Process != nil && in.Alive() {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(2 * time.Second):
			in.kill()
			<-in.exited
		}
	}
	if in.cmd.Process != nil {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	}
	_ = in.srv.Close()
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ServeHTTP implements the Runtime API.
func (in *Instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case path == "invocation/next" && r.Method == http.MethodGet:
		in.coldOnce.Do(func() {
			in.mu.Lock()
			in.cold = time.Since(in.started)
			in.mu.Unlock()
			close(in.ready)
		})
		select {
		case inv := <-in.next:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:"+in.cfg.Name)
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+strings.ReplaceAll(inv.id, "-", "")[:24]+";Parent=0000000000000000;Sampled=0")
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		}
	case path == "init/error" && r.Method == http.MethodPost:
		fe := readError(r)
		select {
		case in.initErr <- fe:
		default:
		}
		writeAccepted(w)
	case strings.HasPrefix(path, "invocation/") && r.Method == http.MethodPost:
		rest := strings.TrimPrefix(path, "invocation/")
		id, kind, found := strings.Cut(rest, "/")
		if !found || (kind != "response" && kind != "error") {
			http.NotFound(w, r)
			return
		}
		in.mu.Lock()
		inv := in.inflight[id]
		in.mu.Unlock()
		if inv == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`)
			return
		}
		var res result
		if kind == "response" {
			body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
			if err != nil {
				res.err = fmt.Errorf("read response: %w", err)
			} else if len(body) > 6<<20 {
				res.err = &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "response is larger than 6 MB"}
			} else {
				res.body = body
			}
		} else {
			res.err = readError(r)
		}
		select {
		case inv.result <- res:
		default:
		}
		writeAccepted(w)
	default:
		http.NotFound(w, r)
	}
}

func readError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil || (fe.Type == "" && fe.Message == "") {
		fe = &FunctionError{Type: r.Header.Get("Lambda-Runtime-Function-Error-Type"), Message: string(body)}
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

// Pool runs up to Max instances of one function and starts them on demand (Lambda's
// concurrency); an instance whose process died is replaced on the next invocation.
type Pool struct {
	cfg  Config
	max  int
	mu   sync.Mutex
	idle []*Instance
	all  map[*Instance]bool
	sem  chan struct{}
	// OnColdStart, when set, is called after each instance start.
	OnColdStart func(d time.Duration)
	closed      bool
}

// NewPool returns a pool of at most max instances of cfg (max < 1 means 1).
func NewPool(cfg Config, max int) *Pool {
	if max < 1 {
		max = 1
	}
	return &Pool{cfg: cfg, max: max, all: map[*Instance]bool{}, sem: make(chan struct{}, max)}
}

// Warm starts one instance now, so that configuration errors show at startup.
func (p *Pool) Warm(ctx context.Context) error {
	in, err := p.get(ctx)
	if err != nil {
		return err
	}
	p.put(in)
	return nil
}

// Invoke runs payload on an idle instance, starting one when none is idle and fewer than max
// run; otherwise it waits.
func (p *Pool) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	for attempt := 0; ; attempt++ {
		in, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		body, err := in.Invoke(ctx, payload)
		p.put(in)
		if errors.Is(err, ErrNotDelivered) && attempt < 2 {
			continue
		}
		return body, err
	}
}

func (p *Pool) get(ctx context.Context) (*Instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("pool closed")
	}
	for len(p.idle) > 0 {
		in := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if in.Alive() {
			p.mu.Unlock()
			return in, nil
		}
		delete(p.all, in)
		in.Stop()
	}
	p.mu.Unlock()
	in, err := Start(ctx, p.cfg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		in.Stop()
		return nil, errors.New("pool closed")
	}
	p.all[in] = true
	if p.OnColdStart != nil {
		p.OnColdStart(in.ColdStart())
	}
	return in, nil
}

func (p *Pool) put(in *Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !in.Alive() {
		delete(p.all, in)
		in.Stop()
		return
	}
	p.idle = append(p.idle, in)
}

// PIDs returns the process ids of the running instances.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for in := range p.all {
		out = append(out, in.PID())
	}
	return out
}

// Close stops every instance.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	all := make([]*Instance, 0, len(p.all))
	for in := range p.all {
		all = append(all, in)
	}
	p.all = map[*Instance]bool{}
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.Stop()
		}()
	}
	wg.Wait()
}
