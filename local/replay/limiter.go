package replay

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket: it refills rate tokens per second up to burst, and each Wait
// takes one token, waiting for it when the bucket is empty. Safe for concurrent use.
type Limiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewLimiter returns a full bucket of burst tokens refilled at rate per second. now and sleep
// are the clock (nil: the real one).
func NewLimiter(rate float64, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *Limiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	b := float64(max(burst, 1))
	return &Limiter{rate: rate, burst: b, now: now, sleep: sleep, tokens: b, last: now()}
}

// Wait takes a token, sleeping until one is available or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		l.last = now
	}
	// Reserve the token now (the bucket may go negative) so that concurrent waiters queue up.
	l.tokens--
	var wait time.Duration
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if wait <= 0 {
		return ctx.Err()
	}
	return l.sleep(ctx, wait)
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
