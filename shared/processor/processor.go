// Package processor consumes batches of the events FIFO queue. It decodes every envelope and
// hands it to a Service, applying the FIFO partial-batch rule: at the first record of a message
// group that fails, that record and every later record of the same group are reported as
// failures, so no record is processed ahead of an earlier one of its group.
package processor

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
)

// Service handles one decoded envelope. Returning an error makes the record (and every later
// record of its group in the batch) come back after the queue's visibility timeout; after maxReceiveCount
// receives SQS moves it to the dead-letter queue.
type Service interface {
	Handle(ctx context.Context, env envelope.Envelope) error
}

// DefaultMaxReceiveCount is the events queue's maxReceiveCount (template.yaml RedrivePolicy,
// MAX_RECEIVE_COUNT): the delivery with this receive count is the last before the DLQ, so
// services give up gracefully on it (a minimal contact, a failed send) instead.
const DefaultMaxReceiveCount = 5

// DeadlineMargin is added to the Graph timeout to bound one record's work: the DynamoDB round
// trips around its (at most one) Graph call.
const DeadlineMargin = 3 * time.Second

// Handler is the processor's Lambda handler.
type Handler struct {
	svc      Service
	log      *slog.Logger
	vis      VisibilityChanger // optional: backs off records that return a *Retry
	queueURL string
	budget   time.Duration // worst-case time of one record; 0 = the deadline is not consulted
}

// WithRecordBudget makes the handler start a record only while the invocation has at least
// budget left (the Graph timeout plus DeadlineMargin): the rest of the batch is reported failed
// unprocessed, so a slow Graph API cannot run the function into its timeout, which would return
// the whole batch, records already done included.
func WithRecordBudget(budget time.Duration) Option {
	return func(h *Handler) { h.budget = budget }
}

// NewHandler returns a handler feeding svc.
func NewHandler(svc Service, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{svc: svc, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Handle processes an SQS batch and reports the failed records.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	handled := 0
	// Groups with a failed record: their later records are failed unprocessed, so no record
	// overtakes an earlier one of its group. Records of other groups go on: failing them too
	// would count a receive against them each time, and a poison record batched ahead of a
	// healthy group would drag it to the DLQ. A record without a group fails all the rest.
	failedGroups := map[string]bool{}
	fail := func(rec events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	for i, rec := range ev.Records {
		if left, short := h.shortOfTime(ctx); short {
			// Every later record comes back after the visibility timeout, in order: a suffix
			// of the batch keeps every group's order.
			h.log.WarnContext(ctx, "deadline near: returning the rest of the batch unprocessed",
				"time_left_ms", left.Milliseconds(), "record_budget_ms", h.budget.Milliseconds(), "returned", len(ev.Records)-i)
			for _, rest := range ev.Records[i:] {
				fail(rest)
			}
			break
		}
		group := rec.Attributes["MessageGroupId"]
		if failedGroups[group] {
			fail(rec)
			continue
		}
		if err := h.handleRecord(ctx, rec); err != nil {
			// A deferred record (backed off alone: send checks, one group per part and attempt)
			// holds back the later records of its group like any failure; without a group, a
			// failure that was not deferred fails everything after it.
			if deferred := h.backOff(ctx, rec, err); !deferred && group == "" {
				for _, rest := range ev.Records[i:] {
					fail(rest)
				}
				break
			}
			if group != "" {
				failedGroups[group] = true
			}
			fail(rec)
			continue
		}
		handled++
	}
	h.log.InfoContext(ctx, "batch processed", "records", len(ev.Records), "handled", handled, "failed", len(resp.BatchItemFailures))
	return resp, nil
}

// shortOfTime reports whether the invocation has less than one record's budget left.
func (h *Handler) shortOfTime(ctx context.Context) (time.Duration, bool) {
	deadline, ok := ctx.Deadline()
	if !ok || h.budget <= 0 {
		return 0, false
	}
	left := time.Until(deadline)
	return left, left < h.budget
}

func (h *Handler) handleRecord(ctx context.Context, rec events.SQSMessage) error {
	group := rec.Attributes["MessageGroupId"]
	env, err := envelope.Decode([]byte(rec.Body))
	if err != nil {
		// A malformed envelope fails only its own group (its later records are retried); the
		// poison record reaches the DLQ after maxReceiveCount receives.
		h.log.ErrorContext(ctx, "malformed envelope", "message_id", rec.MessageId, "group", group,
			"receive_count", rec.Attributes["ApproximateReceiveCount"], "error", err.Error())
		return err
	}
	ctx = WithReceiveCount(ctx, receiveCount(rec))
	if err := h.svc.Handle(ctx, env); err != nil {
		level := slog.LevelWarn
		if errors.Is(err, context.DeadlineExceeded) {
			level = slog.LevelError
		}
		h.log.Log(ctx, level, "event failed", "message_id", rec.MessageId, "group", group, "kind", env.Kind,
			"receive_count", rec.Attributes["ApproximateReceiveCount"], "error", err.Error())
		return err
	}
	return nil
}

type receiveCountKey struct{}

// WithReceiveCount returns a context carrying how many times SQS has delivered the record
// being handled (its ApproximateReceiveCount).
func WithReceiveCount(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, receiveCountKey{}, n)
}

// ReceiveCount returns the delivery count of the record being handled, or 0 when unknown.
// A service compares it with the queue's maxReceiveCount to know the last attempt before
// the record moves to the dead-letter queue.
func ReceiveCount(ctx context.Context) int {
	n, _ := ctx.Value(receiveCountKey{}).(int)
	return n
}

func receiveCount(rec events.SQSMessage) int {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 0 {
		return 0
	}
	return n
}
