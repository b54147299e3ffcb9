package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEvents limits.
const (
	MaxEntriesPerCall = 10
	// MaxCallBytes is PutEvents' limit on the total entry size of one call (256 KB).
	MaxCallBytes = 256 * 1024
)

// EventsAPI is what the bus needs from EventBridge (*eventbridge.Client).
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Bus puts events on one EventBridge bus.
type Bus struct {
	api  EventsAPI
	name string
	// Attempts is how often an entry is tried before Put gives up (default 5); Backoff is the
	// first wait between attempts, doubled each time (default 100ms).
	Attempts int
	Backoff  time.Duration
}

// NewBus returns a Bus putting on the bus named name.
func NewBus(api EventsAPI, name string) *Bus {
	return &Bus{api: api, name: name, Attempts: 5, Backoff: 100 * time.Millisecond}
}

// ErrNotPut wraps the reason why events could not be put.
var ErrNotPut = errors.New("events not put on the bus")

// Put puts evs in order, at most MaxEntriesPerCall (and MaxCallBytes) per call, retrying the
// entries EventBridge reports failed. It returns how many leading events are on the bus: n ==
// len(evs) unless err != nil (later events may be on the bus too; they are put again when the
// caller retries, with the same event_id).
func (b *Bus) Put(ctx context.Context, evs []Event) (int, error) {
	entries := make([]ebtypes.PutEventsRequestEntry, len(evs))
	sizes := make([]int, len(evs))
	for i, ev := range evs {
		e, size, err := b.entry(ev)
		if err != nil {
			return i, err
		}
		entries[i], sizes[i] = e, size
	}
	for start := 0; start < len(entries); {
		end, bytes := start, 0
		for end < len(entries) && end-start < MaxEntriesPerCall && (end == start || bytes+sizes[end] <= MaxCallBytes) {
			bytes += sizes[end]
			end++
		}
		if failed, err := b.putChunk(ctx, entries[start:end]); err != nil {
			return start + failed, err
		}
		start = end
	}
	return len(evs), nil
}

// entry renders an event as a PutEvents entry and returns its size as EventBridge counts it.
func (b *Bus) entry(ev Event) (ebtypes.PutEventsRequestEntry, int, error) {
	detail, err := json.Marshal(ev.Detail)
	if err != nil {
		return ebtypes.PutEventsRequestEntry{}, 0, fmt.Errorf("%w: marshal %s detail: %w", ErrNotPut, ev.DetailType, err)
	}
	e := ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(b.name),
		Source:       aws.String(Source),
		DetailType:   aws.String(ev.DetailType),
		Detail:       aws.String(string(detail)),
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.Common.OccurredAt); err == nil {
		e.Time = aws.Time(t)
	}
	return e, 14 + len(Source) + len(ev.DetailType) + len(detail), nil
}

// putChunk puts one call's entries, retrying failed entries (and failed calls) with backoff.
// On failure it returns the index of the first entry not put.
func (b *Bus) putChunk(ctx context.Context, entries []ebtypes.PutEventsRequestEntry) (int, error) {
	pending := make([]int, len(entries)) // indexes still to put
	for i := range pending {
		pending[i] = i
	}
	wait := b.Backoff
	var lastErr error
	for attempt := 1; ; attempt++ {
		batch := make([]ebtypes.PutEventsRequestEntry, len(pending))
		for i, idx := range pending {
			batch[i] = entries[idx]
		}
		out, err := b.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
		switch {
		case err != nil:
			lastErr = err
		case len(out.Entries) != len(batch):
			lastErr = fmt.Errorf("PutEvents answered %d entries for %d", len(out.Entries), len(batch))
		default:
			var still []int
			for i, r := range out.Entries {
				if r.ErrorCode != nil {
					still = append(still, pending[i])
					lastErr = fmt.Errorf("entry %s: %s: %s", aws.ToString(batch[i].DetailType), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				}
			}
			pending = still
		}
		if len(pending) == 0 {
			return 0, nil
		}
		if attempt >= b.Attempts {
			return pending[0], fmt.Errorf("%w after %d attempts: %w", ErrNotPut, attempt, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return pending[0], fmt.Errorf("%w: %w (last error: %w)", ErrNotPut, ctx.Err(), lastErr)
		case <-t.C:
		}
		wait *= 2
	}
}
