package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Retry is an error asking for the record to come back after After (instead of the queue's
// visibility timeout). With Isolated, only this record is reported failed and the rest of the
// batch goes on: the service promises that no later record shares its message group (send
// checks travel in a group of their own).
type Retry struct {
	Err      error
	After    time.Duration
	Isolated bool
}

func (r *Retry) Error() string {
	return fmt.Sprintf("retry in %s: %v", r.After.Round(time.Millisecond), r.Err)
}

func (r *Retry) Unwrap() error { return r.Err }

// RetryAfter asks for the record (and every later record of its group in the batch) to come back after d.
func RetryAfter(err error, d time.Duration) error { return &Retry{Err: err, After: d} }

// Defer asks for this record alone to come back after d: it changes only its own visibility,
// and the batch goes on (later records of its group still wait behind it).
func Defer(err error, d time.Duration) error { return &Retry{Err: err, After: d, Isolated: true} }

// VisibilityChanger is the part of *sqs.Client used to back records off.
type VisibilityChanger interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ VisibilityChanger = (*sqs.Client)(nil)

// Option customises a Handler.
type Option func(*Handler)

// WithVisibility lets the handler honour Retry errors by changing the failed record's
// visibility timeout on queueURL (the queue the function consumes).
func WithVisibility(api VisibilityChanger, queueURL string) Option {
	return func(h *Handler) { h.vis, h.queueURL = api, queueURL }
}

// maxVisibility is SQS's limit for a visibility timeout (12 hours).
const maxVisibility = 12 * time.Hour

// backOff applies a Retry's delay to the record; failures only make the record come back at
// the queue's visibility timeout instead, so they are logged and otherwise ignored.
func (h *Handler) backOff(ctx context.Context, rec events.SQSMessage, err error) (isolated bool) {
	var r *Retry
	if !errors.As(err, &r) {
		return false
	}
	if h.vis == nil || rec.ReceiptHandle == "" {
		return false // without a way to back off alone, keep the FIFO rule
	}
	secs := int32(math.Ceil(min(max(r.After, 0), maxVisibility).Seconds()))
	_, cerr := h.vis.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(h.queueURL),
		ReceiptHandle:     aws.String(rec.ReceiptHandle),
		VisibilityTimeout: secs,
	})
	if cerr != nil {
		h.log.WarnContext(ctx, "could not change the record's visibility", "message_id", rec.MessageId, "error", cerr.Error())
		return false
	}
	return r.Isolated
}
