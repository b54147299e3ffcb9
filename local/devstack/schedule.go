package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// CronFallback is how often a cron(...) schedule fires locally.
const CronFallback = 6 * time.Hour

// ParseSchedule returns the period of rate(N unit) expressions; cron(...) expressions run every
// CronFallback.
func ParseSchedule(expr string) (time.Duration, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")") {
		return CronFallback, nil
	}
	inner, ok := strings.CutPrefix(expr, "rate(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return 0, fmt.Errorf("schedule %q is neither rate(...) nor cron(...)", expr)
	}
	fields := strings.Fields(strings.TrimSuffix(inner, ")"))
	if len(fields) != 2 {
		return 0, fmt.Errorf("schedule %q: want rate(N unit)", expr)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("schedule %q: bad number", expr)
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	u, ok := units[strings.TrimSuffix(fields[1], "s")]
	if !ok {
		return 0, fmt.Errorf("schedule %q: unit must be minute(s), hour(s) or day(s)", expr)
	}
	return time.Duration(n) * u, nil
}

// Schedule fires a function on its rate and on demand.
type Schedule struct {
	Function string // logical id
	Rule     string // event name
	Every    time.Duration
	Invoker  Invoker
	Log      *slog.Logger
}

// Event builds EventBridge's "Scheduled Event".
func (s *Schedule) Event(now time.Time) events.CloudWatchEvent {
	return events.CloudWatchEvent{
		Version:    "0",
		ID:         fmt.Sprintf("local-%d", now.UnixNano()),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  "000000000000",
		Time:       now.UTC(),
		Region:     "us-east-1",
		Resources:  []string{"arn:aws:events:us-east-1:000000000000:rule/" + s.Function + "-" + s.Rule},
		Detail:     json.RawMessage(`{}`),
	}
}

// Fire invokes the function once.
func (s *Schedule) Fire(ctx context.Context) ([]byte, error) {
	payload, err := json.Marshal(s.Event(time.Now()))
	if err != nil {
		return nil, err
	}
	began := time.Now()
	out, err := s.Invoker.Invoke(ctx, payload)
	if err != nil {
		s.Log.Error("schedule invocation failed", "function", s.Function, "rule", s.Rule, "error", err.Error())
		return nil, err
	}
	s.Log.Info("schedule fired", "function", s.Function, "rule", s.Rule, "ms", time.Since(began).Milliseconds())
	return out, nil
}

// Run fires every s.Every until ctx ends (the first time one period after start).
func (s *Schedule) Run(ctx context.Context) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = s.Fire(ctx)
		}
	}
}
