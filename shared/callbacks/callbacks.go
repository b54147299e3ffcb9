// Package callbacks serves Meta's platform callbacks of Instagram Business Login, which an
// app must provide before it goes live: the Deauthorize Callback (POST /instagram/deauthorize:
// the channel is disconnected and its token deleted) and the Data Deletion Request callback
// (POST /instagram/data-deletion: everything stored for the account is purged), plus the
// public status page of a deletion request (GET /instagram/data-deletion/{code}). Both POSTs
// carry Meta's signed_request, verified with the app secret before anything changes.
package callbacks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/erasure"
)

// Routes of the callbacks.
const (
	DeauthorizePath  = "/instagram/deauthorize"
	DataDeletionPath = "/instagram/data-deletion"
)

// maxBody bounds a callback's form body.
const maxBody = 16 << 10

// Store is what the callbacks need from the table (*store.Store).
type Store interface {
	Disconnect(ctx context.Context, accountID, reason string, at time.Time) (domain.Channel, error)
	GetDeletionRequest(ctx context.Context, code string) (domain.DeletionRequest, error)
}

// Purger starts an account's purge (erasure.Starter).
type Purger interface {
	StartPurge(ctx context.Context, accountID, source string) (string, error)
}

// Config configures the Handler.
type Config struct {
	AppSecret string
	// PublicBaseURL overrides the base of the status URL (else https://<request domain>).
	PublicBaseURL string
	// PublicURL builds absolute URLs (oauth.PublicURL).
	PublicURL func(publicBaseURL, domainName, path string) (string, error)
}

// Handler serves the callbacks.
type Handler struct {
	cfg    Config
	store  Store
	purger Purger
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Handler.
func New(cfg Config, st Store, purger Purger, log *slog.Logger) (*Handler, error) {
	if cfg.AppSecret == "" || cfg.PublicURL == nil {
		return nil, errors.New("callbacks: app secret and PublicURL are required")
	}
	return &Handler{cfg: cfg, store: st, purger: purger, log: log, now: time.Now}, nil
}

// LambdaHandler is the shape of an HTTP API (payload 2.0) Lambda handler.
type LambdaHandler func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route serves the callback routes and passes every other request to next.
func (h *Handler) Route(next LambdaHandler) LambdaHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		method := ev.RequestContext.HTTP.Method
		path := ev.RawPath
		if path == "" {
			path = ev.RequestContext.HTTP.Path
		}
		switch {
		case path == DeauthorizePath:
			return h.onlyPost(ctx, method, ev, h.deauthorize), nil
		case path == DataDeletionPath:
			return h.onlyPost(ctx, method, ev, h.dataDeletion), nil
		case strings.HasPrefix(path, DataDeletionPath+"/"):
			if method != http.MethodGet && method != http.MethodHead {
				return jsonError(http.StatusMethodNotAllowed, "method_not_allowed", "use GET"), nil
			}
			return h.status(ctx, strings.TrimPrefix(path, DataDeletionPath+"/"), ev), nil
		}
		return next(ctx, ev)
	}
}

func (h *Handler) onlyPost(ctx context.Context, method string, ev events.APIGatewayV2HTTPRequest,
	f func(context.Context, SignedRequest, events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	if method != http.MethodPost {
		return jsonError(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	}
	sr, err := h.verify(ev)
	if err != nil {
		// The reason is safe to log (no secret, no payload); the caller gets a generic one.
		h.log.WarnContext(ctx, "meta callback refused", "path", ev.RawPath, "reason", err.Error())
		return jsonError(http.StatusBadRequest, "invalid_signed_request", "signed_request is missing, malformed, stale or not signed with the app secret")
	}
	return f(ctx, sr, ev)
}

// verify reads the form field signed_request and verifies it.
func (h *Handler) verify(ev events.APIGatewayV2HTTPRequest) (SignedRequest, error) {
	body := ev.Body
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return SignedRequest{}, fmt.Errorf("%w: body is not base64", ErrSignedRequest)
		}
		body = string(b)
	}
	if len(body) > maxBody {
		return SignedRequest{}, fmt.Errorf("%w: body too large", ErrSignedRequest)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		return SignedRequest{}, fmt.Errorf("%w: body is not a form", ErrSignedRequest)
	}
	return ParseSignedRequest(form.Get("signed_request"), h.cfg.AppSecret, h.now())
}

func (h *Handler) deauthorize(ctx context.Context, sr SignedRequest, _ events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	_, err := h.store.Disconnect(ctx, sr.UserID, domain.DisconnectDeauthorized, h.now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		h.log.InfoContext(ctx, "deauthorize for an unknown account ignored", "account_id", sr.UserID)
		return jsonResponse(http.StatusOK, map[string]string{"status": "unknown_account"})
	case err != nil:
		h.log.ErrorContext(ctx, "deauthorize failed", "account_id", sr.UserID, "error", err.Error())
		return jsonError(http.StatusInternalServerError, "internal", "internal error")
	}
	h.log.InfoContext(ctx, "channel deauthorized", "account_id", sr.UserID)
	return jsonResponse(http.StatusOK, map[string]string{"status": domain.ChannelDisconnected})
}

func (h *Handler) dataDeletion(ctx context.Context, sr SignedRequest, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	// Disconnected at once, so that no event is stored from now on; the purge follows.
	if _, err := h.store.Disconnect(ctx, sr.UserID, domain.DisconnectDataDeletion, h.now()); err != nil && !errors.Is(err, domain.ErrNotFound) {
		h.log.ErrorContext(ctx, "data deletion: disconnect failed", "account_id", sr.UserID, "error", err.Error())
		return jsonError(http.StatusInternalServerError, "internal", "internal error")
	}
	code, err := h.purger.StartPurge(ctx, sr.UserID, domain.DisconnectDataDeletion)
	if err != nil {
		h.log.ErrorContext(ctx, "data deletion request failed", "account_id", sr.UserID, "error", err.Error())
		return jsonError(http.StatusInternalServerError, "internal", "internal error")
	}
	u, err := h.cfg.PublicURL(h.cfg.PublicBaseURL, requestHost(ev), erasure.StatusPath(code))
	if err != nil {
		h.log.ErrorContext(ctx, "data deletion status URL", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "internal", "internal error")
	}
	h.log.InfoContext(ctx, "data deletion requested", "account_id", sr.UserID, "confirmation_code", code)
	return jsonResponse(http.StatusOK, map[string]string{"url": u, "confirmation_code": code})
}

func requestHost(ev events.APIGatewayV2HTTPRequest) string {
	if ev.RequestContext.DomainName != "" {
		return ev.RequestContext.DomainName
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, "host") {
			return v
		}
	}
	return ""
}

// StatusJSON is a deletion request as the status page shows it.
type StatusJSON struct {
	ConfirmationCode string         `json:"confirmation_code"`
	Status           string         `json:"status"`
	RequestedAt      string         `json:"requested_at"`
	StartedAt        string         `json:"started_at,omitempty"`
	CompletedAt      string         `json:"completed_at,omitempty"`
	Deleted          map[string]int `json:"deleted"`
}

func (h *Handler) status(ctx context.Context, code string, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	html := wantsHTML(ev)
	if !erasure.ValidCode(code) {
		return notFound(html)
	}
	r, err := h.store.GetDeletionRequest(ctx, code)
	if errors.Is(err, domain.ErrNotFound) {
		return notFound(html)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "data deletion status failed", "error", err.Error())
		return jsonError(http.StatusInternalServerError, "internal", "internal error")
	}
	out := StatusJSON{ConfirmationCode: r.Code, Status: r.Status, RequestedAt: rfc3339(r.RequestedAt), Deleted: r.Deleted}
	if out.Deleted == nil {
		out.Deleted = map[string]int{}
	}
	if !r.StartedAt.IsZero() {
		out.StartedAt = rfc3339(r.StartedAt)
	}
	if !r.CompletedAt.IsZero() {
		out.CompletedAt = rfc3339(r.CompletedAt)
	}
	if html {
		var b strings.Builder
		if err := statusPage.Execute(&b, out); err != nil {
			return jsonError(http.StatusInternalServerError, "internal", "internal error")
		}
		return htmlResponse(http.StatusOK, b.String())
	}
	return jsonResponse(http.StatusOK, out)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// wantsHTML: a browser (Accept: text/html) or ?format=html gets the page, anything else JSON.
func wantsHTML(ev events.APIGatewayV2HTTPRequest) bool {
	if f := ev.QueryStringParameters["format"]; f != "" {
		return f == "html"
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, "accept") {
			return strings.Contains(v, "text/html")
		}
	}
	return false
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Data deletion request {{.ConfirmationCode}}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto">
<h1>Data deletion request</h1>
<p>Confirmation code: <code>{{.ConfirmationCode}}</code></p>
<p>Status: <strong>{{.Status}}</strong></p>
<p>Requested: {{.RequestedAt}}{{if .CompletedAt}}<br>Completed: {{.CompletedAt}}{{end}}</p>
{{if .Deleted}}<table><caption>Items deleted</caption>{{range $k, $v := .Deleted}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>{{end}}
</body></html>
`))

func notFound(html bool) events.APIGatewayV2HTTPResponse {
	if html {
		return htmlResponse(http.StatusNotFound, "<!doctype html><title>Not found</title><p>No data deletion request has this confirmation code.</p>")
	}
	return jsonError(http.StatusNotFound, "not_found", "no data deletion request has this confirmation code")
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: string(b),
		Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}}
}

func jsonError(status int, code, msg string) events.APIGatewayV2HTTPResponse {
	return jsonResponse(status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func htmlResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: body,
		Headers: map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}}
}
