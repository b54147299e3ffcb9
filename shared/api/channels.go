package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/iginbox/iginbox/shared/store"
)

// ChannelStore is what the channel routes need from the table (implemented by *store.Store).
type ChannelStore interface {
	ListChannels(ctx context.Context) ([]store.Channel, error)
	SetLockToSingleConversation(ctx context.Context, accountID string, lock bool, now time.Time) (store.Channel, error)
}

// Connector builds Instagram authorize URLs (implemented by *oauth.Service).
type Connector interface {
	RedirectURIFor(domainName string) (string, error)
	AuthorizeURL(redirectURI string) (string, error)
}

// ChannelJSON is a channel as the API shows it. The access token is never part of it.
type ChannelJSON struct {
	ID                       string  `json:"id"`
	Username                 string  `json:"username"`
	Name                     string  `json:"name"`
	TokenExpiresAt           string  `json:"token_expires_at"`
	ReauthRequired           bool    `json:"reauth_required"`
	ReauthReason             string  `json:"reauth_reason,omitempty"`
	ReauthAt                 *string `json:"reauth_at,omitempty"`
	LockToSingleConversation bool    `json:"lock_to_single_conversation"`
	Subscribed               bool    `json:"subscribed"`
	SubscribeError           string  `json:"subscribe_error,omitempty"`
	ConnectedAt              string  `json:"connected_at"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NewChannelJSON renders a channel for the API.
func NewChannelJSON(ch store.Channel) ChannelJSON {
	out := ChannelJSON{
		ID: ch.ID, Username: ch.Username, Name: ch.Name,
		TokenExpiresAt:           rfc3339(ch.TokenExpiresAt),
		ReauthRequired:           ch.ReauthRequired,
		ReauthReason:             ch.ReauthReason,
		LockToSingleConversation: ch.LockToSingleConversation,
		Subscribed:               ch.Subscribed,
		SubscribeError:           ch.SubscribeError,
		ConnectedAt:              rfc3339(ch.ConnectedAt),
	}
	if ch.ReauthRequired && !ch.ReauthAt.IsZero() {
		s := rfc3339(ch.ReauthAt)
		out.ReauthAt = &s
	}
	return out
}

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
	redirectURI, err := h.conn.RedirectURIFor(r.DomainName)
	if err != nil {
		return Response{}, err
	}
	u, err := h.conn.AuthorizeURL(redirectURI)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusOK, Body: map[string]string{"url": u}}, nil
}

func (h channelRoutes) list(ctx context.Context, _ *Request) (Response, error) {
	chs, err := h.store.ListChannels(ctx)
	if err != nil {
		return Response{}, err
	}
	out := make([]ChannelJSON, 0, len(chs))
	for _, ch := range chs {
		out = append(out, NewChannelJSON(ch))
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
	ch, err := h.store.SetLockToSingleConversation(ctx, r.Params["id"], *in.Lock, h.now())
	if errors.Is(err, store.ErrNotFound) {
		return Response{}, Errorf(http.StatusNotFound, "channel_not_found", "no channel %s", r.Params["id"])
	}
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusOK, Body: NewChannelJSON(ch)}, nil
}
