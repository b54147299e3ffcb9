// Package eventbus is the local stand-in for Amazon EventBridge: it serves the PutEvents API
// (JSON 1.1, X-Amz-Target AWSEvents.PutEvents) on loopback so that the real SDK client of the
// publisher, pointed at it with AWS_ENDPOINT_URL_EVENTBRIDGE, puts events exactly as it does
// on AWS. It keeps the recent events in memory (GET /_local/events), can check each against
// the catalogue's JSON Schemas, and forwards each, as EventBridge would deliver it to a
// target, to a URL (LOCAL_EVENTS_URL).
package eventbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits of PutEvents that the local bus enforces like EventBridge does.
const (
	MaxEntries    = 10
	MaxEntryBytes = 256 * 1024
)

// Event is an event as EventBridge delivers it to targets.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`

	// received is when the local bus accepted it (the ?since= filter).
	received time.Time
}

// Options configure a Bus.
type Options struct {
	// Keep is how many recent events are kept in memory (default 10,000).
	Keep int
	// ForwardURL receives every event as a JSON POST (LOCAL_EVENTS_URL), in order.
	ForwardURL string
	// Validate checks an event's detail against its detail-type's schema; a failure is
	// logged and remembered (SchemaErrors), the event is still accepted.
	Validate func(detailType string, detail []byte) error
	Log      *slog.Logger
}

// Bus is the local event bus.
type Bus struct {
	opts    Options
	mu      sync.Mutex
	events  []Event
	invalid []error
	fwd     chan Event
	done    chan struct{}
	closeMu sync.Once
	// failNext entries are refused with failCode (fault injection: FailNext).
	failNext int
	failCode string
}

// FailNext makes the bus refuse the next n entries with the per-entry error code (for
// example "ThrottlingException"), as EventBridge does under throttling or an internal
// failure: the call succeeds with FailedEntryCount > 0.
func (b *Bus) FailNext(n int, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext, b.failCode = n, code
}

func (b *Bus) takeFailure() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext <= 0 {
		return ""
	}
	b.failNext--
	return b.failCode
}

// New returns a Bus; Close stops its forwarder.
func New(o Options) *Bus {
	if o.Keep <= 0 {
		o.Keep = 10000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{opts: o, done: make(chan struct{})}
	if o.ForwardURL != "" {
		b.fwd = make(chan Event, 4096)
		go b.forward()
	} else {
		close(b.done)
	}
	return b
}

// Close stops forwarding (events still queued are sent first, for up to 5 seconds).
func (b *Bus) Close() {
	b.closeMu.Do(func() {
		if b.fwd != nil {
			close(b.fwd)
			select {
			case <-b.done:
			case <-time.After(5 * time.Second):
			}
		}
	})
}

// ServeHTTP serves the EventBridge API: PutEvents only.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || target != "AWSEvents.PutEvents" {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "the local bus serves AWSEvents.PutEvents only, not "+strconv.Quote(target))
		return
	}
	var in struct {
		Entries []struct {
			Source       string
			DetailType   string
			Detail       string
			EventBusName string
			Resources    []string
			Time         *float64 // epoch seconds, as the JSON 1.1 protocol sends timestamps
		}
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 2<<20)).Decode(&in); err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", "body is not a PutEvents request")
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > MaxEntries {
		awsError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 to %d entries per call, got %d", MaxEntries, len(in.Entries)))
		return
	}
	type result struct {
		EventID      string `json:"EventId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: make([]result, 0, len(in.Entries))}
	now := time.Now().UTC()
	total := 0
	for _, e := range in.Entries {
		total += 14 + len(e.Source) + len(e.DetailType) + len(e.Detail)
	}
	if total > MaxEntryBytes {
		awsError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("total entry size %d exceeds %d bytes", total, MaxEntryBytes))
		return
	}
	for _, e := range in.Entries {
		var obj map[string]json.RawMessage
		switch {
		case e.Source == "" || e.DetailType == "" || e.Detail == "":
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "InvalidArgument", ErrorMessage: "Source, DetailType and Detail are required"})
			continue
		case json.Unmarshal([]byte(e.Detail), &obj) != nil:
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is not a JSON object"})
			continue
		}
		if code := b.takeFailure(); code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "injected failure"})
			continue
		}
		t := now
		if e.Time != nil {
			t = time.UnixMilli(int64(*e.Time * 1000)).UTC()
		}
		ev := Event{
			Version: "0", ID: newID(), DetailType: e.DetailType, Source: e.Source,
			Account: "000000000000", Region: "us-east-1", Time: t.Format(time.RFC3339),
			Resources: append([]string{}, e.Resources...), Detail: json.RawMessage(e.Detail),
			received: now,
		}
		b.add(ev)
		out.Entries = append(out.Entries, result{EventID: ev.ID})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (b *Bus) add(ev Event) {
	var invalid error
	if b.opts.Validate != nil {
		if err := b.opts.Validate(ev.DetailType, ev.Detail); err != nil {
			invalid = fmt.Errorf("%s %s: %w", ev.DetailType, ev.ID, err)
			b.opts.Log.Warn("event does not match its schema", "detail_type", ev.DetailType, "id", ev.ID, "error", err.Error())
		}
	}
	b.mu.Lock()
	b.events = append(b.events, ev)
	if over := len(b.events) - b.opts.Keep; over > 0 {
		b.events = append(b.events[:0:0], b.events[over:]...)
	}
	if invalid != nil {
		b.invalid = append(b.invalid, invalid)
	}
	b.mu.Unlock()
	if b.fwd != nil {
		b.fwd <- ev
	}
}

// Events returns the kept events of detailType ("" = all) received after since (zero = all),
// oldest first.
func (b *Bus) Events(detailType string, since time.Time) []Event {
	return b.list(detailType, func(e Event) bool { return e.received.After(since) })
}

// EventsAfter returns the kept events of detailType ("" = all) put after the event with this
// id, oldest first; ok is false when no kept event has it.
func (b *Bus) EventsAfter(detailType, id string) (evs []Event, ok bool) {
	found := false
	evs = b.list(detailType, func(e Event) bool {
		was := found
		found = found || e.ID == id
		return was
	})
	return evs, found
}

// list returns the kept events of detailType that keep accepts, in order (keep sees every
// kept event, of any type, in order).
func (b *Bus) list(detailType string, keep func(Event) bool) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []Event{}
	for _, e := range b.events {
		if keep(e) && (detailType == "" || e.DetailType == detailType) {
			out = append(out, e)
		}
	}
	return out
}

// SchemaErrors returns every schema mismatch seen so far (with Options.Validate).
func (b *Bus) SchemaErrors() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.invalid...)
}

// EventsHandler serves GET /_local/events?detail_type=&since=: the kept events as a JSON
// array, oldest first. since is an RFC 3339 time (events the bus received after it) or the id
// of an event (the events put after that one).
func (b *Bus) EventsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		dt, since := q.Get("detail_type"), q.Get("since")
		evs := b.Events(dt, time.Time{})
		if since != "" {
			if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
				evs = b.Events(dt, t)
			} else if after, ok := b.EventsAfter(dt, since); ok {
				evs = after
			} else {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "since must be an RFC 3339 time or the id of a kept event"})
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(evs)
	})
}

// forward POSTs every event to ForwardURL in order; a failed delivery is retried 3 times,
// then logged and skipped (the event stays listed at /_local/events).
func (b *Bus) forward() {
	defer close(b.done)
	client := &http.Client{Timeout: 5 * time.Second}
	for ev := range b.fwd {
		body, _ := json.Marshal(ev)
		var err error
		for attempt := range 4 {
			if attempt > 0 {
				time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
			}
			if err = post(client, b.opts.ForwardURL, body); err == nil {
				break
			}
		}
		if err != nil {
			b.opts.Log.Warn("event not forwarded to LOCAL_EVENTS_URL", "detail_type", ev.DetailType, "id", ev.ID, "error", err.Error())
		}
	}
}

func post(client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// newID returns an id shaped like EventBridge's (a UUID).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
