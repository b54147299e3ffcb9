package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/identity"
	"github.com/iginbox/iginbox/shared/view"
)

// ChannelStore is what the channel routes need from the table (implemented by *store.Store).
type ChannelStore interface {
	ListChannels(ctx context.Context) ([]domain.Channel, error)
	SetLockToSingleConversation(ctx context.Context, accountID string, lock bool, now time.Time) (domain.Channel, error)
}

// Connector builds Instagram authorize URLs (implemented by *oauth.Service).
type Connector interface {
	RedirectURIFor(domainName string) (string, error)
	AuthorizeURL(redirectURI string) (string, error)
	AuthorizeURLBound(redirectURI, binding string) (string, error)
}

// ChannelJSON is a channel as the API shows it (view.Channel: the events on the bus carry the
// same object). The access token is never part of it.
type ChannelJSON = view.Channel

// NewChannelJSON renders a channel for the API (view.NewChannel).
func NewChannelJSON(ch domain.Channel) ChannelJSON { return view.NewChannel(ch) }

// The browser binding of a connect started from a session (see oauth.BindingCookie): the
// cookie reaches only the callback and lives as long as the state.
const (
	oauthBindingCookie = "iginbox_oauth"
	oauthCallbackPath  = "/instagram/callback"
	oauthBindingTTL    = 10 * time.Minute
)

// WithChannels registers POST /api/channels/connect, GET /api/channels and
// PATCH /api/channels/{id}.
func WithChannels(st ChannelStore, conn Connector) Option {
	return func(s *Server) {
		h := channelRoutes{store: st, conn: conn, now: time.Now}
		s.Handle(http.MethodPost, "/api/channels/connect", h.connect)
		s.Handle(http.MethodGet, "/api/channels", h.list)
		s.Handle(http.MethodPatch, "/api/channels/{id}", h.patch)
	}
}

type channelRoutes struct {
	store ChannelStore
	conn  Connector
	now   func() time.Time
}

func (h channelRoutes) connect(_ context.Context, r *Request) (Response, error) {
	if r.Principal.Limited() {
		return Response{}, Errorf(http.StatusForbidden, "forbidden", "a key limited to channels cannot connect accounts")
	}
	redirectURI, err := h.conn.RedirectURIFor(r.DomainName)
	if err != nil {
		return Response{}, err
	}
	if r.Principal.SessionID == "" {
		u, err := h.conn.AuthorizeURL(redirectURI)
		if err != nil {
			return Response{}, err
		}
		return Response{Status: http.StatusOK, Body: map[string]string{"url": u}}, nil
	}
	// From a browser session: the state is bound to this browser by a cookie that only the
	// callback path receives, so a leaked URL cannot connect an account elsewhere.
	binding, err := identity.NewSessionID()
	if err != nil {
		return Response{}, fmt.Errorf("oauth binding: %w", err)
	}
	u, err := h.conn.AuthorizeURLBound(redirectURI, binding)
	if err != nil {
		return Response{}, err
	}
	cookie := Cookie(oauthBindingCookie, binding, oauthCallbackPath, "Lax", int(oauthBindingTTL/time.Second), r.HTTPS)
	return Response{Status: http.StatusOK, Body: map[string]string{"url": u}, Cookies: []string{cookie}}, nil
}

func (h channelRoutes) list(ctx context.Context, r *Request) (Response, error) {
	chs, err := h.store.ListChannels(ctx)
	if err != nil {
		return Response{}, err
	}
	out := make([]ChannelJSON, 0, len(chs))
	for _, ch := range chs {
		if r.Principal.Allows(ch.ID) {
			out = append(out, NewChannelJSON(ch))
		}
	}
	return Response{Status: http.StatusOK, Body: map[string]any{"channels": out}}, nil
}

func (h channelRoutes) patch(ctx context.Context, r *Request) (Response, error) {
	var in struct {
		Lock *bool `json:"lock_to_single_conversation"`
	}
	if err := r.DecodeJSON(&in); err != nil {
		return Response{}, err
	}
	if in.Lock == nil {
		return Response{}, Errorf(http.StatusBadRequest, "invalid_request", "lock_to_single_conversation (boolean) is required")
	}
	if !r.Principal.Allows(r.Params["id"]) {
		return Response{}, Errorf(http.StatusNotFound, "channel_not_found", "no channel %s", r.Params["id"])
	}
	ch, err := h.store.SetLockToSingleConversation(ctx, r.Params["id"], *in.Lock, h.now())
	if errors.Is(err, domain.ErrNotFound) {
		return Response{}, Errorf(http.StatusNotFound, "channel_not_found", "no channel %s", r.Params["id"])
	}
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusOK, Body: NewChannelJSON(ch)}, nil
}
