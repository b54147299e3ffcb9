package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/erasure"
)

// DisconnectStore is what the disconnect and erasure routes need (*store.Store).
type DisconnectStore interface {
	GetChannel(ctx context.Context, accountID string) (domain.Channel, error)
	MarkDisconnected(ctx context.Context, accountID, reason string, at time.Time) (domain.Channel, error)
	DeleteToken(ctx context.Context, accountID string) error
	GetConversation(ctx context.Context, id string) (domain.Conversation, error)
}

// Eraser starts unsubscriptions, purges and contact erasures (erasure.Starter).
type Eraser interface {
	StartUnsubscribe(ctx context.Context, accountID string) error
	StartPurge(ctx context.Context, accountID, source string) (string, error)
	StartContactErasure(ctx context.Context, accountID, igsid string) error
}

// ErasureConfig configures the disconnect and erasure routes.
type ErasureConfig struct {
	// PublicBaseURL overrides the base of status URLs (else https://<request domain>).
	PublicBaseURL string
	// StatusURL builds a status page URL from the base override, the request's domain and
	// the path (oauth.PublicURL).
	StatusURL func(publicBaseURL, domainName, path string) (string, error)
}

// WithErasure registers DELETE /api/channels/{id}[?purge=true] and
// DELETE /api/conversations/{id}/contact.
func WithErasure(st DisconnectStore, eraser Eraser, cfg ErasureConfig) Option {
	return func(s *Server) {
		h := erasureRoutes{st: st, eraser: eraser, cfg: cfg, log: s.log, now: time.Now}
		s.Handle(http.MethodDelete, "/api/channels/{id}", h.disconnect)
		s.Handle(http.MethodDelete, "/api/conversations/{id}/contact", h.eraseContact)
	}
}

type erasureRoutes struct {
	st     DisconnectStore
	eraser Eraser
	cfg    ErasureConfig
	log    *slog.Logger
	now    func() time.Time
}

// disconnectResponse is the answer of DELETE /api/channels/{id}.
type disconnectResponse struct {
	Channel ChannelJSON `json:"channel"`
	// Unsubscribe is "pending" when the unsubscription was queued (the processor, which may
	// read the token, runs it; the channel shows the outcome) and "failed" when it could not
	// be queued (UnsubscribeError says why; the token is deleted all the same).
	Unsubscribe      string     `json:"unsubscribe"`
	UnsubscribeError string     `json:"unsubscribe_error,omitempty"`
	Purge            *purgeJSON `json:"purge,omitempty"`
}

type purgeJSON struct {
	URL              string `json:"url"`
	ConfirmationCode string `json:"confirmation_code"`
}

func (h erasureRoutes) disconnect(ctx context.Context, r *Request) (Response, error) {
	id := r.Params["id"]
	purge := false
	switch r.Query["purge"] {
	case "", "false", "0":
	case "true", "1":
		purge = true
	default:
		return Response{}, Errorf(http.StatusBadRequest, "invalid_purge", "purge must be true or false")
	}
	ch, err := h.st.GetChannel(ctx, id)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !r.Principal.Allows(id)) {
		return Response{}, Errorf(http.StatusNotFound, "channel_not_found", "no channel %s", id)
	}
	if err != nil {
		return Response{}, err
	}
	ch, err = h.st.MarkDisconnected(ctx, id, domain.DisconnectAPI, h.now())
	if errors.Is(err, domain.ErrNotFound) {
		return Response{}, Errorf(http.StatusNotFound, "channel_not_found", "no channel %s", id)
	}
	if err != nil {
		return Response{}, err
	}
	// The api function may not read tokens: the processor unsubscribes the account's webhooks
	// on Meta (best effort) and deletes the token. Queued before the purge, in its group.
	out := disconnectResponse{Unsubscribe: "pending"}
	if err := h.eraser.StartUnsubscribe(ctx, id); err != nil {
		h.log.WarnContext(ctx, "webhook unsubscription not queued", "account_id", id, "error", err.Error())
		out.Unsubscribe, out.UnsubscribeError = "failed", "not unsubscribed: the unsubscription could not be queued"
		if err := h.st.DeleteToken(ctx, id); err != nil {
			return Response{}, err
		}
	}
	out.Channel = NewChannelJSON(ch)
	if purge {
		code, err := h.eraser.StartPurge(ctx, id, domain.DisconnectAPI)
		if err != nil {
			return Response{}, err
		}
		u, err := h.cfg.StatusURL(h.cfg.PublicBaseURL, r.DomainName, erasure.StatusPath(code))
		if err != nil {
			return Response{}, err
		}
		out.Purge = &purgeJSON{URL: u, ConfirmationCode: code}
	}
	h.log.InfoContext(ctx, "channel disconnected", "account_id", id, "unsubscribe", out.Unsubscribe, "purge", purge)
	return Response{Status: http.StatusOK, Body: out}, nil
}

func (h erasureRoutes) eraseContact(ctx context.Context, r *Request) (Response, error) {
	id := r.Params["id"]
	conv, err := visibleConversation(ctx, h.st, r, id)
	if err != nil {
		return Response{}, err
	}
	if err := h.eraser.StartContactErasure(ctx, conv.ChannelID, conv.ContactIGSID); err != nil {
		return Response{}, Errorf(http.StatusServiceUnavailable, "enqueue_failed", "the erasure could not be queued; retry")
	}
	h.log.InfoContext(ctx, "contact erasure queued", "account_id", conv.ChannelID, "conversation_id", id)
	return Response{Status: http.StatusAccepted, Body: map[string]any{
		"status": "erasing", "channel_id": conv.ChannelID, "contact": map[string]string{"igsid": conv.ContactIGSID},
	}}, nil
}
