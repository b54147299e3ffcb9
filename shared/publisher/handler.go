package publisher

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/metrics"
)

// Putter puts events on the bus (*Bus).
type Putter interface {
	Put(ctx context.Context, evs []Event) (int, error)
}

// Handler is the publisher function: a batch of stream records in, events on the bus out.
type Handler struct {
	tr  *Translator
	bus Putter
	log *slog.Logger
	emf *metrics.Writer
}

// Option configures a Handler.
type Option func(*Handler)

// WithMetrics writes the EMF metrics EventsPublished and PublishFailedRecords (records
// reported failed) of every batch to w.
func WithMetrics(w *metrics.Writer) Option {
	return func(h *Handler) { h.emf = w }
}

// NewHandler returns the publisher's handler.
func NewHandler(tr *Translator, bus Putter, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{tr: tr, bus: bus, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Handle translates the records in stream order and puts their events on the bus. Records
// are handled in order and the first one that cannot be translated or whose events could not
// all be put is reported as the batch item failure (its sequence number): the event source
// mapping checkpoints every record before it and retries from it, so that the events of one
// item are never put out of order. Records after it are not handled in this invocation.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	began := time.Now()
	var (
		all    []Event
		owner  []int // owner[i]: index of the record of all[i]
		failAt = len(ev.Records)
		reason error
	)
	for i, rec := range ev.Records {
		evs, err := h.tr.Translate(ctx, rec)
		if err != nil {
			failAt, reason = i, err
			break
		}
		for range evs {
			owner = append(owner, i)
		}
		all = append(all, evs...)
	}
	put, err := h.bus.Put(ctx, all)
	if err != nil {
		failAt, reason = owner[put], err
	}
	// An empty list, not null: every record went through.
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	attrs := []any{"records", len(ev.Records), "events", put, "ms", time.Since(began).Milliseconds()}
	if failAt < len(ev.Records) {
		seq := ev.Records[failAt].Change.SequenceNumber
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}
		attrs = append(attrs, "failed_sequence_number", seq, "failed_event_id", ev.Records[failAt].EventID,
			"skipped_records", len(ev.Records)-failAt, "error", reason.Error())
		h.log.WarnContext(ctx, "stream batch partly published", attrs...)
	} else {
		h.log.InfoContext(ctx, "stream batch published", attrs...)
	}
	h.metrics(put, len(ev.Records)-failAt)
	return resp, nil
}

func (h *Handler) metrics(published, failedRecords int) {
	_ = h.emf.Emit(metrics.Line{
		Time: time.Now(),
		Metrics: []metrics.Metric{
			{Name: "EventsPublished", Value: float64(published)},
			{Name: "PublishFailedRecords", Value: float64(failedRecords)},
		},
	})
}
