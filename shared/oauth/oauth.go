// Package oauth implements Instagram Business Login: the authorize URL handed out by
// POST /api/channels/connect and the GET /instagram/callback flow that turns an authorization
// code into a connected channel (short-lived -> long-lived token, /me, channel upsert, webhook
// subscription) and redirects the browser to FRONTEND_URL with the outcome.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
)

// CallbackPath is the route of the OAuth redirect.
const CallbackPath = "/instagram/callback"

// DefaultStateTTL is how long an authorize URL's state stays valid.
const DefaultStateTTL = 10 * time.Minute

// Config configures the Service.
type Config struct {
	AppID     string
	AppSecret string
	// FrontendURL receives the outcome (?connected=<id> or ?error_type=&code=&error_message=).
	FrontendURL string
	// PublicBaseURL, when set, overrides the redirect base derived from the request's domain.
	PublicBaseURL string
	// StateTTL defaults to DefaultStateTTL.
	StateTTL time.Duration
	// SubscribeBackoff are the waits between subscription attempts (default 500ms, 1s).
	SubscribeBackoff []time.Duration
}

// Graph is what the flow needs from Meta (implemented by *graph.Client).
type Graph interface {
	AuthorizeURL() string
	ExchangeCode(ctx context.Context, code, redirectURI string) (graph.ShortLivedToken, error)
	ExchangeLongLived(ctx context.Context, shortToken string) (graph.Token, error)
	Me(ctx context.Context, token string) (graph.Account, error)
	Subscribe(ctx context.Context, token string) error
}

// Store is what the flow needs from the table (implemented by *store.Store).
type Store interface {
	UseOAuthState(ctx context.Context, nonce string, expiresAt, now time.Time) error
	ConnectChannel(ctx context.Context, ch domain.Channel, now time.Time) (created bool, err error)
	SetSubscription(ctx context.Context, accountID string, subscribed bool, reason string, now time.Time) error
}

// Service builds authorize URLs and runs the callback.
type Service struct {
	cfg    Config
	graph  Graph
	store  Store
	log    *slog.Logger
	signer stateSigner
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

// New returns a Service.
func New(cfg Config, g Graph, st Store, log *slog.Logger) (*Service, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("oauth: app id and app secret are required")
	}
	if u, err := url.Parse(cfg.FrontendURL); cfg.FrontendURL != "" && (err != nil || u.Scheme == "" || u.Host == "") {
		return nil, errors.New("oauth: FRONTEND_URL must be an absolute URL")
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.SubscribeBackoff == nil {
		cfg.SubscribeBackoff = []time.Duration{500 * time.Millisecond, time.Second}
	}
	return &Service{cfg: cfg, graph: g, store: st, log: log, signer: newStateSigner(cfg.AppSecret), now: time.Now, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RedirectURI derives the OAuth redirect URI: PUBLIC_BASE_URL when set, else
// https://<domain>/instagram/callback (http:// for 127.0.0.1 and localhost). Connect and
// callback use the same derivation so the code exchange presents the same redirect_uri.
func RedirectURI(publicBaseURL, domainName string) (string, error) {
	return PublicURL(publicBaseURL, domainName, CallbackPath)
}

// PublicURL is the absolute URL of path on this API: under PUBLIC_BASE_URL when set, else
// https://<domain> (http:// for 127.0.0.1 and localhost).
func PublicURL(publicBaseURL, domainName, path string) (string, error) {
	if publicBaseURL != "" {
		return strings.TrimRight(publicBaseURL, "/") + path, nil
	}
	if domainName == "" || strings.ContainsAny(domainName, "/?#@ ") {
		return "", fmt.Errorf("cannot derive a public URL from domain %q; set PUBLIC_BASE_URL", domainName)
	}
	host := domainName
	if h, _, err := net.SplitHostPort(domainName); err == nil {
		host = h
	}
	scheme := "https"
	if host == "127.0.0.1" || host == "localhost" || host == "::1" {
		scheme = "http"
	}
	return scheme + "://" + domainName + path, nil
}

// RedirectURIFor derives the redirect URI for a request's domain with the configured override.
func (s *Service) RedirectURIFor(domainName string) (string, error) {
	return RedirectURI(s.cfg.PublicBaseURL, domainName)
}

// BindingCookie holds the value a browser-bound state is bound to. It is sent on the
// top-level navigation back from Instagram (SameSite=Lax), only to the callback path.
const BindingCookie = "iginbox_oauth"

// AuthorizeURL returns the Instagram authorize URL with a fresh signed, expiring state.
func (s *Service) AuthorizeURL(redirectURI string) (string, error) {
	return s.AuthorizeURLBound(redirectURI, "")
}

// AuthorizeURLBound is AuthorizeURL with a state bound to binding (when not empty): the
// callback then succeeds only in the browser that holds binding in the BindingCookie cookie.
func (s *Service) AuthorizeURLBound(redirectURI, binding string) (string, error) {
	state, err := s.signer.issue(s.now().Add(s.cfg.StateTTL), binding)
	if err != nil {
		return "", fmt.Errorf("issue oauth state: %w", err)
	}
	q := url.Values{
		"client_id":     {s.cfg.AppID},
		"redirect_uri":  {redirectURI},
		"response_type": {"code"},
		"scope":         {strings.Join(graph.Scopes, ",")},
		"force_reauth":  {"true"},
		"state":         {state},
	}
	return s.graph.AuthorizeURL() + "?" + q.Encode(), nil
}

// Outcome is the result of a callback, rendered as the redirect to FRONTEND_URL.
type Outcome struct {
	Connected    string // account id on success
	ErrorType    string
	Code         string
	ErrorMessage string
}

// Location renders the outcome as FRONTEND_URL with its query parameters.
func (s *Service) Location(o Outcome) string {
	u, err := url.Parse(s.cfg.FrontendURL)
	if err != nil {
		return s.cfg.FrontendURL
	}
	q := u.Query()
	if o.Connected != "" {
		q.Set("connected", o.Connected)
	} else {
		q.Set("error_type", o.ErrorType)
		q.Set("code", o.Code)
		q.Set("error_message", o.ErrorMessage)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func invalidState() Outcome {
	return Outcome{ErrorType: "invalid_state", Code: "400", ErrorMessage: "The connection link is invalid, expired or already used. Start the connection again."}
}

func serverError() Outcome {
	return Outcome{ErrorType: "server_error", Code: "500", ErrorMessage: "Connecting the account failed. Try again."}
}

// metaOutcome renders a Graph/OAuth error with Meta's own type, code and message.
func metaOutcome(err error) Outcome {
	if ge, ok := graph.AsError(err); ok && !ge.Timeout && ge.Message != "" {
		typ := ge.Type
		if typ == "" {
			typ = "OAuthException"
		}
		return Outcome{ErrorType: typ, Code: strconv.Itoa(ge.Code), ErrorMessage: ge.Message}
	}
	return Outcome{ErrorType: "upstream_error", Code: "502", ErrorMessage: "Instagram could not be reached. Try again."}
}

// Callback runs the OAuth callback for the query parameters Instagram redirected with;
// binding is the browser's BindingCookie value (empty when it has none).
func (s *Service) Callback(ctx context.Context, redirectURI string, q url.Values, binding string) Outcome {
	now := s.now()
	nonce, expires, err := s.signer.verify(q.Get("state"), now, binding)
	if err != nil {
		s.log.WarnContext(ctx, "oauth callback refused", "reason", err.Error())
		return invalidState()
	}
	if e := q.Get("error"); e != "" {
		// The user cancelled (error=access_denied) or Instagram refused: nothing is stored.
		s.log.InfoContext(ctx, "oauth callback error", "error", e, "error_reason", q.Get("error_reason"))
		o := Outcome{ErrorType: e, Code: q.Get("error_reason"), ErrorMessage: q.Get("error_description")}
		if o.Code == "" {
			o.Code = "400"
		}
		if o.ErrorMessage == "" {
			o.ErrorMessage = "Instagram did not authorize the connection."
		}
		return o
	}
	code := strings.TrimSuffix(q.Get("code"), "#_")
	if code == "" {
		s.log.WarnContext(ctx, "oauth callback refused", "reason", "no code")
		return Outcome{ErrorType: "invalid_request", Code: "400", ErrorMessage: "Instagram returned no authorization code."}
	}
	if err := s.store.UseOAuthState(ctx, nonce, expires, now); err != nil {
		if errors.Is(err, domain.ErrConflict) {
			s.log.WarnContext(ctx, "oauth callback refused", "reason", "state replayed")
			return invalidState()
		}
		s.log.ErrorContext(ctx, "oauth callback failed", "step", "use state", "error", err.Error())
		return serverError()
	}
	short, err := s.graph.ExchangeCode(ctx, code, redirectURI)
	if err != nil {
		s.log.WarnContext(ctx, "oauth callback failed", "step", "exchange code", "error", err.Error())
		return metaOutcome(err)
	}
	long, err := s.graph.ExchangeLongLived(ctx, short.AccessToken)
	if err != nil {
		s.log.WarnContext(ctx, "oauth callback failed", "step", "exchange long-lived token", "error", err.Error())
		return metaOutcome(err)
	}
	acct, err := s.graph.Me(ctx, long.AccessToken)
	if err != nil {
		s.log.WarnContext(ctx, "oauth callback failed", "step", "get me", "error", err.Error())
		return metaOutcome(err)
	}
	now = s.now()
	created, err := s.store.ConnectChannel(ctx, domain.Channel{
		ID:             acct.UserID,
		Username:       acct.Username,
		Name:           acct.Name,
		AccountType:    acct.AccountType,
		AccessToken:    long.AccessToken,
		TokenExpiresAt: long.ExpiresAt(now),
	}, now)
	if err != nil {
		s.log.ErrorContext(ctx, "oauth callback failed", "step", "store channel", "account_id", acct.UserID, "error", err.Error())
		return serverError()
	}
	subscribed := s.subscribe(ctx, acct.UserID, long.AccessToken)
	s.log.InfoContext(ctx, "channel connected", "account_id", acct.UserID, "username", acct.Username,
		"created", created, "subscribed", subscribed, "token_expires_at", long.ExpiresAt(now).Format(time.RFC3339))
	return Outcome{Connected: acct.UserID}
}

// subscribe subscribes the account to webhooks, retrying transient failures, and records the
// outcome on the channel (subscribed, or not with Meta's reason): never silently swallowed.
func (s *Service) subscribe(ctx context.Context, accountID, token string) bool {
	var err error
	for attempt := 0; ; attempt++ {
		err = s.graph.Subscribe(ctx, token)
		if err == nil || !graph.IsTransient(err) || attempt >= len(s.cfg.SubscribeBackoff) {
			break
		}
		if s.sleep(ctx, s.cfg.SubscribeBackoff[attempt]) != nil {
			break
		}
	}
	reason := ""
	if err != nil {
		reason = err.Error()
		s.log.WarnContext(ctx, "webhook subscription failed", "account_id", accountID, "error", reason)
	}
	if serr := s.store.SetSubscription(ctx, accountID, err == nil, reason, s.now()); serr != nil {
		s.log.ErrorContext(ctx, "record webhook subscription failed", "account_id", accountID, "error", serr.Error())
	}
	return err == nil
}

// HandleCallback is the Lambda handler of GET /instagram/callback (API Gateway HTTP API,
// payload 2.0): it always answers a 302 to FRONTEND_URL.
func (s *Service) HandleCallback(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil || ev.RawQueryString == "" {
		q = url.Values{}
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	var o Outcome
	domain := ev.RequestContext.DomainName
	if domain == "" {
		domain = headerValue(ev.Headers, "host")
	}
	redirectURI, err := s.RedirectURIFor(domain)
	if err != nil {
		s.log.ErrorContext(ctx, "oauth callback failed", "step", "redirect uri", "error", err.Error())
		o = serverError()
	} else {
		o = s.Callback(ctx, redirectURI, q, cookieValue(ev.Cookies, headerValue(ev.Headers, "cookie"), BindingCookie))
	}
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusFound,
		Headers: map[string]string{
			"Location":        s.Location(o),
			"Cache-Control":   "no-store",
			"Referrer-Policy": "no-referrer",
		},
	}
	if cookieValue(ev.Cookies, headerValue(ev.Headers, "cookie"), BindingCookie) != "" {
		// The binding is single use, like the state.
		resp.Cookies = []string{BindingCookie + "=; Path=" + CallbackPath + "; Max-Age=0; HttpOnly; SameSite=Lax"}
	}
	return resp, nil
}

func cookieValue(list []string, header, name string) string {
	for _, cs := range [][]string{list, strings.Split(header, ";")} {
		for _, c := range cs {
			if n, v, ok := strings.Cut(strings.TrimSpace(c), "="); ok && n == name {
				return v
			}
		}
	}
	return ""
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

var (
	_ Graph = (*graph.Client)(nil)
)
