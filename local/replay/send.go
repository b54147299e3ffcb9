package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of a Sender.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// maxReasonBody caps how much of a failed response's body a failure reason quotes.
const maxReasonBody = 200

// Sender POSTs signed webhook bodies to a URL.
type Sender struct {
	URL    string
	Secret []byte
	Client *http.Client // nil: a client with its own transport
	// Timeout bounds each attempt (0: DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times a body is retried after a 5xx, a 429 or a transport error.
	Retries int
	// Backoff is the wait before the first retry, doubled for every later one up to
	// MaxBackoff (0: the defaults).
	Backoff, MaxBackoff time.Duration
	// Concurrency is the number of bodies in flight (at least 1). With 1, bodies are
	// delivered strictly in plan order.
	Concurrency int
	// Limiter, when set, paces the start of every delivery.
	Limiter *Limiter
	// Sleep waits between retries (nil: a real, cancellable sleep).
	Sleep func(context.Context, time.Duration) error
	// Progress is told about every finished delivery (nil: nothing).
	Progress Progress
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	Status  int    // HTTP status; 0 when the request failed before a response
	Err     string // transport error
	Body    string // start of the response body, for failure reasons
	Latency time.Duration
}

// Result is the outcome of one delivery.
type Result struct {
	Delivery Delivery
	Attempts []Attempt
	OK       bool
	// Reason says why the delivery failed; empty when OK.
	Reason string
}

// Progress follows a run.
type Progress interface {
	Start(total int)
	Done(r Result)
	Finish()
}

var errInterrupted = errors.New("interrupted")

// Send delivers plan and returns one result per delivery, in plan order. It stops starting
// deliveries when ctx ends; those not sent are failed with reason "interrupted".
func (s *Sender) Send(ctx context.Context, plan []Delivery) []Result {
	client := s.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: max(s.Concurrency, 2),
		}}
	}
	progress := s.Progress
	if progress == nil {
		progress = noProgress{}
	}
	progress.Start(len(plan))
	defer progress.Finish()

	results := make([]Result, len(plan))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(s.Concurrency, 1) {
		wg.Go(func() {
			for i := range jobs {
				results[i] = s.deliver(ctx, client, plan[i])
				progress.Done(results[i])
			}
		})
	}
	for i := range plan {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

// deliver sends one body, retrying like Meta does.
func (s *Sender) deliver(ctx context.Context, client *http.Client, d Delivery) Result {
	res := Result{Delivery: d}
	if s.Limiter != nil {
		if err := s.Limiter.Wait(ctx); err != nil {
			res.Reason = errInterrupted.Error()
			return res
		}
	}
	if ctx.Err() != nil {
		res.Reason = errInterrupted.Error()
		return res
	}
	sig := sign(s.Secret, d.Body.Data)
	sleep := s.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for n := 0; ; n++ {
		a := s.post(ctx, client, d.Body.Data, sig)
		res.Attempts = append(res.Attempts, a)
		if a.Status >= 200 && a.Status < 300 {
			res.OK = true
			return res
		}
		if ctx.Err() != nil {
			res.Reason = fmt.Sprintf("%s after %s", errInterrupted, attempts(len(res.Attempts)))
			return res
		}
		if !retryable(a) || n >= s.Retries {
			res.Reason = reason(a, len(res.Attempts))
			return res
		}
		if err := sleep(ctx, s.backoff(n)); err != nil {
			res.Reason = fmt.Sprintf("%s after %s (last: %s)", errInterrupted, attempts(len(res.Attempts)), describe(a))
			return res
		}
	}
}

func (s *Sender) post(ctx context.Context, client *http.Client, body []byte, sig string) Attempt {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: fmt.Sprintf("build request: %v", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a := Attempt{Err: err.Error(), Latency: time.Since(start)}
		if errors.Is(err, context.DeadlineExceeded) {
			a.Err = fmt.Sprintf("no answer within %s", timeout)
		}
		return a
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxReasonBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return Attempt{Status: resp.StatusCode, Body: strings.Join(strings.Fields(string(head)), " "), Latency: time.Since(start)}
}

func (s *Sender) backoff(retry int) time.Duration {
	base, ceiling := s.Backoff, s.MaxBackoff
	if base <= 0 {
		base = DefaultBackoff
	}
	if ceiling <= 0 {
		ceiling = DefaultMaxBackoff
	}
	d := base
	for range retry {
		d *= 2
		if d >= ceiling {
			return ceiling
		}
	}
	return min(d, ceiling)
}

// retryable reports whether Meta would deliver the body again: after a transport error, a
// server error or throttling.
func retryable(a Attempt) bool {
	return a.Status == 0 || a.Status >= 500 || a.Status == http.StatusTooManyRequests
}

func describe(a Attempt) string {
	if a.Status == 0 {
		return a.Err
	}
	text := fmt.Sprintf("HTTP %d", a.Status)
	if a.Body != "" {
		text += ": " + a.Body
	}
	return text
}

func reason(a Attempt, n int) string {
	if n == 1 {
		return describe(a)
	}
	return fmt.Sprintf("%s (after %s)", describe(a), attempts(n))
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

type noProgress struct{}

func (noProgress) Start(int)   {}
func (noProgress) Done(Result) {}
func (noProgress) Finish()     {}
