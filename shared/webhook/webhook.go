// Package webhook receives Meta's Instagram webhooks behind API Gateway (HTTP API, payload
// format 2.0): the GET verification handshake, and signed POST bodies that it splits into one
// envelope.Envelope per event and hands to a Publisher (the events FIFO queue). It answers 200
// only once every event is accepted, so Meta retries anything that was not.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/secrets"
)

// MaxBodyBytes bounds a webhook body (after base64 decoding). Meta batches up to 1000 updates.
const MaxBodyBytes = 1 << 20

// Publisher accepts envelopes durably (the events FIFO queue). Publish returns nil only when
// every envelope has been accepted.
type Publisher interface {
	Publish(ctx context.Context, envs []envelope.Envelope) error
}

// Archiver records accepted bodies (shared/archive.Writer): Prepare does the CPU work (keys,
// item) on the caller's goroutine and returns the write, which runs concurrently with the
// publish. Both must be safe for concurrent use.
type Archiver interface {
	Prepare(r archive.Record) func(context.Context) error
}

// ArchiveTimeout bounds the archive write of one request, so that a slow table cannot push the
// answer past Meta's 5 s limit.
const ArchiveTimeout = 2 * time.Second

// Config is the webhook function's configuration, read once from the environment.
type Config struct {
	// Secrets locates the secret holding the app secret (signs every POST) and the verify
	// token (answers the GET handshake): SECRETS_ARN, SECRETS_CACHE_TTL.
	Secrets  secrets.Config
	QueueURL string // EVENTS_QUEUE_URL: the events FIFO queue
	// ArchiveDays is WEBHOOK_ARCHIVE_DAYS: how long accepted bodies are kept in the table
	// (default 7; 0 turns the archive off).
	ArchiveDays int
	// TableName is TABLE_NAME, required while the archive is on.
	TableName string
	// Stage is STAGE, the Stage dimension of the metrics.
	Stage string
}

// LoadConfig reads Config with getenv (os.Getenv in main) and reports every problem.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := config.NewEnv(getenv)
	days, daysErr := archive.ParseDays(e.String("WEBHOOK_ARCHIVE_DAYS")) // trims; 0 turns the archive off
	e.Add(daysErr)
	c := Config{
		Secrets:     secrets.LoadConfig(e),
		QueueURL:    e.Required("EVENTS_QUEUE_URL"),
		ArchiveDays: days,
		TableName:   e.String("TABLE_NAME"),
		Stage:       e.String("STAGE"),
	}
	if c.ArchiveDays > 0 && c.TableName == "" {
		e.Add(errors.New("TABLE_NAME is required while the archive is on (or set WEBHOOK_ARCHIVE_DAYS=0)"))
	}
	if err := e.Err("webhook config"); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogValue is what a log line shows of a Config.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("queue_url", c.QueueURL), slog.Int("archive_days", c.ArchiveDays),
		slog.String("secrets_arn", c.Secrets.ID))
}

// Handler is the webhook's Lambda handler.
type Handler struct {
	secret      []byte
	verifyToken [sha256.Size]byte
	pub         Publisher
	log         *slog.Logger
	now         func() time.Time
	archive     Archiver
	archiveFail atomic.Int64
	emf         *metrics.Writer
	// macs holds HMAC-SHA256 states keyed with secret (hash.Hash), reset and reused across
	// requests: hmac.New costs about as much as hashing a one-event body.
	macs sync.Pool
}

// Option configures a Handler.
type Option func(*Handler)

// WithArchive records every accepted body with a (nil: no archive).
func WithArchive(a Archiver) Option { return func(h *Handler) { h.archive = a } }

// WithMetrics sets the writer of the handler's metrics (default: none).
func WithMetrics(w *metrics.Writer) Option { return func(h *Handler) { h.emf = w } }

// WithClock replaces time.Now (receive times of archived bodies, durations).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns a handler verifying with appSecret and verifyToken and publishing to pub.
func NewHandler(appSecret, verifyToken string, pub Publisher, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{
		secret:      []byte(appSecret),
		verifyToken: sha256.Sum256([]byte(verifyToken)),
		pub:         pub,
		log:         log,
		now:         time.Now,
	}
	h.macs.New = func() any { return hmac.New(sha256.New, h.secret) }
	for _, o := range opts {
		o(h)
	}
	return h
}

// ArchiveFailures returns how many archive writes failed since the handler was created (each
// one is also counted by the metric WebhookArchiveFailures).
func (h *Handler) ArchiveFailures() int64 { return h.archiveFail.Load() }

// outcome is what the one log line of a request reports.
type outcome struct {
	status  int
	name    string
	entries int
	events  int
	err     error  // internal detail for the log only; never returned to the caller
	object  string // ignored objects
	archive string // "archived", "failed" or "" (archive off, or nothing to archive)
	archErr error  // why the archive write failed (log only)
}

// Handle serves one API Gateway v2 request.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := h.now()
	method := req.RequestContext.HTTP.Method
	var o outcome
	switch method {
	case http.MethodGet:
		o = h.verify(req)
	case http.MethodPost:
		o = h.receive(ctx, req, start)
	default:
		o = outcome{status: http.StatusMethodNotAllowed, name: "method_not_allowed"}
	}

	attrs := []slog.Attr{
		slog.String("method", method),
		slog.Int("status", o.status),
		slog.Int("entries", o.entries),
		slog.Int("events", o.events),
		slog.String("outcome", o.name),
		slog.Duration("duration", h.now().Sub(start)),
	}
	level := slog.LevelInfo
	if o.object != "" {
		attrs = append(attrs, slog.String("object", o.object))
	}
	if o.err != nil {
		attrs = append(attrs, slog.String("error", o.err.Error()))
	}
	if o.archive != "" {
		attrs = append(attrs, slog.String("archive", o.archive))
	}
	if o.archErr != nil {
		// The archive is a recovery aid, not part of accepting a body: a failed write is
		// logged and counted (an embedded metric for an alarm), never answered with a 5xx.
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("archive_error", o.archErr.Error()))
		_ = h.emf.Emit(metrics.Line{Time: start, Metrics: []metrics.Metric{{Name: "WebhookArchiveFailures", Value: 1}}})
	}
	switch {
	case o.status >= 500:
		level = slog.LevelError
	case o.status >= 400:
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, "webhook", attrs...)

	if o.status == http.StatusOK && method == http.MethodGet {
		return textResponse(o.status, req.QueryStringParameters["hub.challenge"]), nil
	}
	resp := textResponse(o.status, http.StatusText(o.status))
	if o.status == http.StatusMethodNotAllowed {
		resp.Headers["Allow"] = "GET, POST"
	}
	return resp, nil
}

// verify answers Meta's subscription handshake.
func (h *Handler) verify(req events.APIGatewayV2HTTPRequest) outcome {
	q := req.QueryStringParameters
	mode, okMode := q["hub.mode"]
	token, okToken := q["hub.verify_token"]
	challenge, okChallenge := q["hub.challenge"]
	if !okMode || !okToken || !okChallenge || mode == "" || token == "" || challenge == "" {
		return outcome{status: http.StatusBadRequest, name: "missing_parameter"}
	}
	sum := sha256.Sum256([]byte(token))
	tokenOK := subtle.ConstantTimeCompare(sum[:], h.verifyToken[:]) == 1
	if mode != "subscribe" || !tokenOK {
		return outcome{status: http.StatusForbidden, name: "verify_rejected"}
	}
	return outcome{status: http.StatusOK, name: "verified"}
}

// receive verifies, splits and publishes one webhook POST, archiving it (when on) at the same
// time as it is published.
func (h *Handler) receive(ctx context.Context, req events.APIGatewayV2HTTPRequest, received time.Time) outcome {
	var body []byte
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(req.Body)) > MaxBodyBytes+3 {
			return outcome{status: http.StatusRequestEntityTooLarge, name: "too_large"}
		}
		var err error
		body, err = base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return outcome{status: http.StatusBadRequest, name: "bad_base64"}
		}
	} else {
		if len(req.Body) > MaxBodyBytes {
			return outcome{status: http.StatusRequestEntityTooLarge, name: "too_large"}
		}
		body = []byte(req.Body)
	}
	if len(body) > MaxBodyBytes {
		return outcome{status: http.StatusRequestEntityTooLarge, name: "too_large"}
	}
	mac := h.macs.Get().(hash.Hash)
	mac.Reset()
	digest, err := verifyMAC(mac, body, header(req.Headers, SignatureHeader))
	h.macs.Put(mac)
	if err != nil {
		name := "bad_signature"
		if errors.Is(err, ErrSignatureMissing) {
			name = "missing_signature"
		}
		return outcome{status: http.StatusUnauthorized, name: name}
	}
	batch, err := Parse(body)
	if err != nil {
		return outcome{status: http.StatusBadRequest, name: "malformed", err: err}
	}
	write := h.startArchive(ctx, archive.Record{Body: body, Digest: digest, ReceivedAt: received, SignatureValid: true, AccountIDs: accountIDs(batch.Events), ContactIDs: contactIDs(batch.Events)})
	o := h.publish(ctx, batch)
	if write != nil {
		o.archive = "archived"
		if o.archErr = write.wait(ctx); o.archErr != nil {
			h.archiveFail.Add(1)
			o.archive = "failed"
		}
	}
	return o
}

// startArchive starts the archive write (one PutItem, almost always) so that it overlaps the
// publish: the answer waits for the slower of the two rather than their sum. A failure does
// not change the answer: once every event is in the queue the body is safe, and a 500 would
// only make Meta deliver it again (and couple ingestion to an optional feature); it is logged
// and counted instead. The write is bounded by the DynamoDB client (functions/webhook:
// ArchiveTimeout per attempt, two attempts), which keeps a timer out of every request. Nil
// when the archive is off.
func (h *Handler) startArchive(ctx context.Context, r archive.Record) *archiving {
	if h.archive == nil {
		return nil
	}
	a := &archiving{write: h.archive.Prepare(r)}
	a.done.Add(1)
	go a.run(ctx)
	return a
}

// archiving is one archive write, run exactly once by whichever claims it first: its own
// goroutine (run), normally, as the publish takes a network round trip; or the request's
// goroutine (wait) when the publish returned before that goroutine even started. Then there
// is nothing left to overlap, and writing inline costs less than handing the request over to
// another thread and back (BenchmarkWebhook: about 0.5× the floor for a one-event body).
type archiving struct {
	claimed atomic.Bool
	write   func(context.Context) error
	done    sync.WaitGroup // run has returned
	err     error          // run's write error, read after done
}

func (a *archiving) run(ctx context.Context) {
	defer a.done.Done()
	if a.claimed.CompareAndSwap(false, true) {
		a.err = a.write(ctx)
	}
}

// wait returns the write's error, writing inline if run has not claimed the write yet.
func (a *archiving) wait(ctx context.Context) error {
	if a.claimed.CompareAndSwap(false, true) {
		return a.write(ctx)
	}
	a.done.Wait()
	return a.err
}

// accountIDs returns the distinct account ids of envs in first-seen order (almost always one).
func accountIDs(envs []envelope.Envelope) []string {
	var ids []string
	for i := range envs {
		id := envs[i].AccountID
		if id == "" || (len(ids) > 0 && ids[len(ids)-1] == id) || slices.Contains(ids, id) {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

// contactIDs returns the distinct contact IGSIDs of the events, so that erasing one customer
// finds the archived bodies that mention them.
func contactIDs(envs []envelope.Envelope) []string {
	var ids []string
	for i := range envs {
		id := envs[i].ContactID
		if id == "" || (len(ids) > 0 && ids[len(ids)-1] == id) || slices.Contains(ids, id) {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

// publish queues the events of a verified, parsed body.
func (h *Handler) publish(ctx context.Context, batch Batch) outcome {
	o := outcome{entries: batch.Entries, events: len(batch.Events)}
	if batch.Object != ObjectInstagram {
		o.status, o.name, o.object = http.StatusOK, "ignored_object", truncate(batch.Object, 64)
		return o
	}
	if len(batch.Events) == 0 {
		o.status, o.name = http.StatusOK, "empty"
		return o
	}
	if err := h.pub.Publish(ctx, batch.Events); err != nil {
		o.status, o.name, o.err = http.StatusInternalServerError, "publish_failed", err
		return o
	}
	o.status, o.name = http.StatusOK, "queued"
	return o
}

// header looks a header up case-insensitively (API Gateway v2 lower-cases names already).
func header(headers map[string]string, name string) string {
	if v, ok := headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func textResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "text/plain; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
		},
		Body: body,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
