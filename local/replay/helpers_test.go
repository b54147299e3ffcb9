package replay

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/webhook"
)

// testSecret is distinctive so that a leak into any output is easy to spot.
const testSecret = "s3cr3t-app-secret-do-not-print-7f1c"

// hook is a webhook endpoint that verifies signatures with testSecret using the real
// webhook's verifier, and records what it accepted.
type hook struct {
	srv *httptest.Server
	// status decides the answer to the n-th (1-based) delivery of body; nil: 200.
	status func(body string, n int) int
	// onRequest runs for every request before it is answered.
	onRequest func()

	mu       sync.Mutex
	bodies   []string // every correctly signed request, in arrival order
	attempts map[string]int
	badSig   int
	badType  int
}

func newHook(t *testing.T, status func(body string, n int) int) *hook {
	t.Helper()
	h := &hook{status: status, attempts: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) URL() string { return h.srv.URL + "/webhooks/instagram" }

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	if h.onRequest != nil {
		h.onRequest()
	}
	raw, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	if r.Method != http.MethodPost || r.URL.Path != "/webhooks/instagram" {
		h.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		h.badType++
	}
	if webhook.VerifySignature([]byte(testSecret), raw, r.Header.Get("X-Hub-Signature-256")) != nil {
		h.badSig++
		h.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	body := string(raw)
	h.attempts[body]++
	n := h.attempts[body]
	h.bodies = append(h.bodies, body)
	h.mu.Unlock()
	code := http.StatusOK
	if h.status != nil {
		code = h.status(body, n)
	}
	w.WriteHeader(code)
	if code >= 300 {
		_, _ = io.WriteString(w, "internal\nerror")
	}
}

func (h *hook) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// fakeClock advances only when slept on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	return ctx.Err()
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type runResult struct {
	code           int
	stdout, stderr string
}

// run runs the command with testSecret in the environment, a fake clock and stdin.
func run(t *testing.T, clock *fakeClock, stdin string, args ...string) runResult {
	t.Helper()
	if clock == nil {
		clock = newFakeClock()
	}
	var out, errOut bytes.Buffer
	cli := CLI{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string {
			if k == SecretEnv {
				return testSecret
			}
			return ""
		},
		Now:   clock.Now,
		Sleep: clock.Sleep,
	}
	code := cli.Run(context.Background(), args)
	res := runResult{code: code, stdout: out.String(), stderr: errOut.String()}
	if strings.Contains(res.stdout+res.stderr, testSecret) {
		t.Errorf("the app secret appears in the output:\n%s\n%s", res.stdout, res.stderr)
	}
	return res
}
