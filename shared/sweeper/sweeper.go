// Package sweeper fails the reply parts that were stored but never queued for sending: the
// API creates every part queued, then enqueues one send command per part; if enqueueing
// failed and the client never retried with the same Idempotency-Key, nothing would ever send
// them. On every scheduled run the sweeper reads the index of never-attempted parts (never a
// scan) and marks those older than After failed with the reason enqueue_failed. A conditional
// write (still queued, no attempt) leaves alone any part the sender began meanwhile.
package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/metrics"
)

// DefaultAfter is how long a part may wait for its first attempt (SWEEP_AFTER): as long as the
// events queue's age alarm, so that a command merely waiting in a busy queue is not failed.
const DefaultAfter = time.Hour

// pageSize: parts read per Query.
const pageSize = 100

// Store is what the sweeper needs from the table (implemented by *store.Store).
type Store interface {
	UnattemptedParts(ctx context.Context, shard string, beforeMS int64, limit int32) ([]domain.OutgoingPart, error)
	FailUnattempted(ctx context.Context, conversationID, messageSK string, e domain.SendError) error
}

// Summary is the outcome of a run.
type Summary struct {
	Failed    int `json:"failed"`    // parts marked failed (enqueue_failed)
	Conflicts int `json:"conflicts"` // parts the sender began (or that left) meanwhile: untouched
}

// Sweeper runs sweeps.
type Sweeper struct {
	after time.Duration
	store Store
	log   *slog.Logger
	emf   *metrics.Writer
	now   func() time.Time
}

// New returns a Sweeper failing parts not attempted within after (DefaultAfter when <= 0).
// emf receives the run's metrics (nil: none).
func New(after time.Duration, st Store, log *slog.Logger, emf *metrics.Writer) *Sweeper {
	if after <= 0 {
		after = DefaultAfter
	}
	return &Sweeper{after: after, store: st, log: log, emf: emf, now: time.Now}
}

// WithClock replaces the clock (tests).
func (s *Sweeper) WithClock(now func() time.Time) *Sweeper {
	s.now = now
	return s
}

// EnqueueFailedError is the error a swept part shows.
func EnqueueFailedError(after time.Duration) domain.SendError {
	return domain.SendError{
		Reason:  domain.ReasonEnqueueFailed,
		Message: fmt.Sprintf("not sent: the reply was stored but could not be queued for sending, and was not retried within %s", after),
	}
}

// Run sweeps every shard once. The event (a schedule event) is ignored.
func (s *Sweeper) Run(ctx context.Context, _ any) (Summary, error) {
	now := s.now()
	before := now.Add(-s.after).UnixMilli()
	e := EnqueueFailedError(s.after)
	var sum Summary
	var errs []error
	for _, shard := range domain.UnattemptedShards {
		if err := s.sweepShard(ctx, shard, before, e, &sum); err != nil {
			errs = append(errs, err)
		}
	}
	_ = s.emf.Emit(metrics.Line{
		Time:    now,
		Metrics: []metrics.Metric{{Name: "PartsSweptEnqueueFailed", Value: float64(sum.Failed)}},
	})
	s.log.InfoContext(ctx, "sweep done", "failed", sum.Failed, "conflicts", sum.Conflicts)
	if err := errors.Join(errs...); err != nil {
		return sum, fmt.Errorf("sweep: %w", err)
	}
	return sum, nil
}

// sweepShard fails the shard's due parts, page by page. The index is eventually consistent: a
// page that fails nothing (only parts already handled) ends the shard until the next run.
func (s *Sweeper) sweepShard(ctx context.Context, shard string, before int64, e domain.SendError, sum *Summary) error {
	for {
		parts, err := s.store.UnattemptedParts(ctx, shard, before, pageSize)
		if err != nil {
			return err
		}
		failed := 0
		for _, p := range parts {
			err := s.store.FailUnattempted(ctx, p.ConversationID, p.SK(), e)
			switch {
			case errors.Is(err, domain.ErrConflict):
				sum.Conflicts++
			case err != nil:
				return err
			default:
				failed++
				s.log.WarnContext(ctx, "reply part never queued: marked failed", "conversation_id", p.ConversationID,
					"message_id", p.ID, "created_at", p.CreatedAt.UTC().Format(time.RFC3339))
			}
		}
		sum.Failed += failed
		if len(parts) < pageSize || failed == 0 {
			return nil
		}
	}
}
