// Package webhook receives Meta's Instagram webhooks behind API Gateway (HTTP API, payload
// format 2.0): the GET verification handshake, and signed POST bodies that it splits into one
// envelope.Envelope per event and hands to a Publisher (the events FIFO queue). It answers 200
// only once every event is accepted, so Meta retries anything that was not.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
)

// MaxBodyBytes bounds a webhook body (after base64 decoding). Meta batches up to 1000 updates.
const MaxBodyBytes = 1 << 20

// Publisher accepts envelopes durably (the events FIFO queue). Publish returns nil only when
// every envelope has been accepted.
type Publisher interface {
	Publish(ctx context.Context, envs []envelope.Envelope) error
}

// Config is the webhook function's configuration, read once from the environment.
type Config struct {
	AppSecret   string // INSTAGRAM_APP_SECRET: signs every POST
	VerifyToken string // INSTAGRAM_VERIFY_TOKEN: answers the GET handshake
	QueueURL    string // EVENTS_QUEUE_URL: the events FIFO queue
}

// LoadConfig reads Config with getenv (os.Getenv in main) and reports every missing variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		AppSecret:   getenv("INSTAGRAM_APP_SECRET"),
		VerifyToken: getenv("INSTAGRAM_VERIFY_TOKEN"),
		QueueURL:    getenv("EVENTS_QUEUE_URL"),
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"INSTAGRAM_APP_SECRET", c.AppSecret},
		{"INSTAGRAM_VERIFY_TOKEN", c.VerifyToken},
		{"EVENTS_QUEUE_URL", c.QueueURL},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("webhook config: missing %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// LogValue keeps the secrets out of logs should a Config ever be logged.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("queue_url", c.QueueURL), slog.String("app_secret", "[redacted]"), slog.String("verify_token", "[redacted]"))
}

// Handler is the webhook's Lambda handler.
type Handler struct {
	secret      []byte
	verifyToken [sha256.Size]byte
	pub         Publisher
	log         *slog.Logger
	now         func() time.Time
}

// NewHandler returns a handler verifying with appSecret and verifyToken and publishing to pub.
func NewHandler(appSecret, verifyToken string, pub Publisher, log *slog.Logger) *Handler {
	return &Handler{
		secret:      []byte(appSecret),
		verifyToken: sha256.Sum256([]byte(verifyToken)),
		pub:         pub,
		log:         log,
		now:         time.Now,
	}
}

// outcome is what the one log line of a request reports.
type outcome struct {
	status  int
	name    string
	entries int
	events  int
	err     error  // internal detail for the log only; never returned to the caller
	object  string // ignored objects
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
		o = h.receive(ctx, req)
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

// receive verifies, splits and publishes one webhook POST.
func (h *Handler) receive(ctx context.Context, req events.APIGatewayV2HTTPRequest) outcome {
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
	if err := VerifySignature(h.secret, body, header(req.Headers, SignatureHeader)); err != nil {
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
