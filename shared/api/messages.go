package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/outbound"
)

// Reply limits of Meta's Send API.
const (
	MaxTextBytes      = 1000
	MaxAttachments    = 10
	MaxURLLength      = 2048
	MaxIdempotencyKey = 255
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	IdempotencyTTL = 7 * 24 * time.Hour
)

// ReplyStore is what the reply route needs (implemented by *store.Store).
type ReplyStore interface {
	GetConversation(ctx context.Context, id string) (domain.Conversation, error)
	GetConversations(ctx context.Context, ids []string) ([]domain.Conversation, error)
	GetChannel(ctx context.Context, accountID string) (domain.Channel, error)
	GetContact(ctx context.Context, accountID, igsid string) (domain.Contact, error)
	CreateOutgoing(ctx context.Context, parts []domain.OutgoingPart, idem *domain.IdempotencyRecord) error
	GetIdempotency(ctx context.Context, conversationID, keyHash string) (domain.IdempotencyRecord, error)
	GetOutgoingParts(ctx context.Context, conversationID string, sks []string) ([]domain.OutgoingPart, error)
	Commit(ctx context.Context, tx *domain.Tx) error
}

// CommandPublisher enqueues send commands in the events FIFO queue (*queue.Publisher).
type CommandPublisher interface {
	Publish(ctx context.Context, envs []envelope.Envelope) error
}

// ReplyConfig configures the reply route.
type ReplyConfig struct {
	// HumanAgent allows replies from 24 h to 7 days after the contact's last message, tagged
	// HUMAN_AGENT (HUMAN_AGENT_ENABLED, default true).
	HumanAgent bool
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// WithReplies registers POST /api/conversations/{id}/messages.
func WithReplies(st ReplyStore, pub CommandPublisher, cfg ReplyConfig) Option {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return func(s *Server) {
		h := replyRoutes{st: st, pub: pub, cfg: cfg, log: s.log}
		s.Handle(http.MethodPost, "/api/conversations/{id}/messages", h.reply)
	}
}

type replyRoutes struct {
	st  ReplyStore
	pub CommandPublisher
	cfg ReplyConfig
	log *slog.Logger
}

// ReplyRequest is the body of a reply.
type ReplyRequest struct {
	Text        string           `json:"text"`
	Attachments []AttachmentJSON `json:"attachments"`
}

var attachmentTypes = map[string]bool{"image": true, "video": true, "audio": true, "file": true}

// validate checks a reply and returns a clear 400 for the first problem.
func (b ReplyRequest) validate() error {
	switch {
	case !utf8.ValidString(b.Text):
		return Errorf(http.StatusBadRequest, "invalid_text", "text is not valid UTF-8")
	case len(b.Text) > MaxTextBytes:
		return Errorf(http.StatusBadRequest, "text_too_long", "text is %d bytes; at most %d bytes (UTF-8) are allowed", len(b.Text), MaxTextBytes)
	case b.Text != "" && strings.TrimSpace(b.Text) == "":
		return Errorf(http.StatusBadRequest, "invalid_text", "text is blank")
	case len(b.Attachments) > MaxAttachments:
		return Errorf(http.StatusBadRequest, "too_many_attachments", "%d attachments; at most %d are allowed", len(b.Attachments), MaxAttachments)
	case b.Text == "" && len(b.Attachments) == 0:
		return Errorf(http.StatusBadRequest, "empty_message", "a reply needs text or at least one attachment")
	}
	for i, a := range b.Attachments {
		if !attachmentTypes[a.Type] {
			return Errorf(http.StatusBadRequest, "invalid_attachment", "attachments[%d].type must be image, video, audio or file", i)
		}
		u, err := url.Parse(a.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(a.URL) > MaxURLLength {
			return Errorf(http.StatusBadRequest, "invalid_attachment", "attachments[%d].url must be an https URL of at most %d characters", i, MaxURLLength)
		}
	}
	return nil
}

// hash is the canonical hash of a reply: the same text and attachments give the same hash
// whatever the JSON formatting.
func (b ReplyRequest) hash() string {
	canon, _ := json.Marshal(struct {
		Text        string           `json:"text"`
		Attachments []AttachmentJSON `json:"attachments"`
	}{b.Text, b.Attachments})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

type replyResponse struct {
	Messages []MessageJSON `json:"messages"`
}

func (h replyRoutes) reply(ctx context.Context, r *Request) (Response, error) {
	var body ReplyRequest
	if err := r.DecodeJSON(&body); err != nil {
		return Response{}, err
	}
	if err := body.validate(); err != nil {
		return Response{}, err
	}
	idemKey := r.Header("Idempotency-Key")
	if len(idemKey) > MaxIdempotencyKey {
		return Response{}, Errorf(http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is longer than %d characters", MaxIdempotencyKey)
	}
	conv, err := visibleConversation(ctx, h.st, r, r.Params["id"])
	if err != nil {
		return Response{}, err
	}
	ch, err := h.st.GetChannel(ctx, conv.ChannelID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && ch.Disconnected()) {
		return Response{}, Errorf(http.StatusConflict, "channel_disconnected", "channel %s is disconnected: connect it again to reply", conv.ChannelID)
	}
	if err != nil {
		return Response{}, err
	}
	contact, err := h.st.GetContact(ctx, conv.ChannelID, conv.ContactIGSID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return Response{}, err
	}
	bodyHash := body.hash()
	var idem *domain.IdempotencyRecord
	requestID := randomID()
	now := h.cfg.Now().UTC()
	if idemKey != "" {
		sum := sha256.Sum256([]byte(idemKey))
		keyHash := hex.EncodeToString(sum[:16])
		if resp, done, err := h.replay(ctx, conv, contact, keyHash, bodyHash); done || err != nil {
			return resp, err
		}
		requestID = domain.HashID("request", conv.ID, keyHash)
		idem = &domain.IdempotencyRecord{
			ConversationID: conv.ID, KeyHash: keyHash, BodyHash: bodyHash, RequestID: requestID,
			CreatedAt: now, TTL: now.Add(IdempotencyTTL).Unix(),
		}
	}
	lastIncoming, err := outbound.ContactLastIncomingMS(ctx, h.st, conv, contact, now)
	if err != nil {
		return Response{}, err
	}
	if _, err := outbound.Decide(lastIncoming, now, h.cfg.HumanAgent); err != nil {
		return Response{}, Errorf(http.StatusUnprocessableEntity, "outside_window", "%s", windowMessage(err))
	}
	parts := buildParts(conv, body, requestID, now, actor(r))
	if idem != nil {
		for _, p := range parts {
			idem.MessageSKs = append(idem.MessageSKs, p.SK())
		}
	}
	if err := h.st.CreateOutgoing(ctx, parts, idem); err != nil {
		if idem != nil && errors.Is(err, domain.ErrConflict) {
			// The same key was used concurrently: answer like a replay.
			if resp, done, rerr := h.replay(ctx, conv, contact, idem.KeyHash, bodyHash); done || rerr != nil {
				return resp, rerr
			}
		}
		return Response{}, err
	}
	if err := h.enqueue(ctx, parts); err != nil {
		if idem == nil {
			h.abandon(ctx, parts)
		}
		h.log.WarnContext(ctx, "reply stored but not enqueued", "conversation_id", conv.ID, "error", err.Error())
		return Response{}, Errorf(http.StatusServiceUnavailable, "enqueue_failed",
			"the reply could not be queued; retry (with the same Idempotency-Key to finish this one)")
	}
	return Response{Status: http.StatusAccepted, Body: partsJSON(parts, contact)}, nil
}

// replay answers a reused Idempotency-Key: the same body returns the records it created (and
// enqueues again the parts still waiting, so an earlier failed enqueue is finished); another
// body is a 409. done is false when the key is unused.
func (h replyRoutes) replay(ctx context.Context, conv domain.Conversation, contact domain.Contact, keyHash, bodyHash string) (Response, bool, error) {
	rec, err := h.st.GetIdempotency(ctx, conv.ID, keyHash)
	if errors.Is(err, domain.ErrNotFound) {
		return Response{}, false, nil
	}
	if err != nil {
		return Response{}, true, err
	}
	if rec.BodyHash != bodyHash {
		return Response{}, true, Errorf(http.StatusConflict, "idempotency_conflict", "this Idempotency-Key was used with another body")
	}
	parts, err := h.st.GetOutgoingParts(ctx, conv.ID, rec.MessageSKs)
	if err != nil {
		return Response{}, true, err
	}
	var waiting []domain.OutgoingPart
	for _, p := range parts {
		if p.Status == domain.MessageQueued && !p.SendPending {
			waiting = append(waiting, p)
		}
	}
	if err := h.enqueue(ctx, waiting); err != nil {
		h.log.WarnContext(ctx, "replayed reply not enqueued", "conversation_id", conv.ID, "error", err.Error())
		return Response{}, true, Errorf(http.StatusServiceUnavailable, "enqueue_failed", "the reply could not be queued; retry with the same Idempotency-Key")
	}
	return Response{Status: http.StatusAccepted, Body: partsJSON(parts, contact)}, true, nil
}

// enqueue publishes one send command per part, in part order, in the conversation's group.
// Commands of the same part and attempt share a deduplication id, so enqueueing again is safe.
func (h replyRoutes) enqueue(ctx context.Context, parts []domain.OutgoingPart) error {
	if len(parts) == 0 {
		return nil
	}
	envs := make([]envelope.Envelope, 0, len(parts))
	for _, p := range parts {
		env, err := envelope.NewSend(p.ChannelID, p.ContactIGSID, p.CreatedAt.UnixMilli(), envelope.SendCommand{
			ConversationID: p.ConversationID, MessageID: p.ID, MessageSK: p.SK(), Attempt: p.SendAttempt,
		})
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	return h.pub.Publish(ctx, envs)
}

// abandon marks the parts of a request without an Idempotency-Key failed when they could not
// be enqueued (the client cannot finish that request; a retry creates a new one). A part the
// sender has started is left alone (the conditions fail).
func (h replyRoutes) abandon(ctx context.Context, parts []domain.OutgoingPart) {
	for _, p := range parts {
		tx := new(domain.Tx)
		tx.MarkFailed(p.ConversationID, p.SK(), 0, domain.SendError{Message: "not sent: the reply could not be queued"})
		if err := h.st.Commit(ctx, tx); err != nil {
			h.log.WarnContext(ctx, "could not mark an unqueued part failed", "message_id", p.ID, "error", err.Error())
		}
	}
}

// buildParts splits a reply into one queued record per part: text first, then attachments.
func buildParts(conv domain.Conversation, body ReplyRequest, requestID string, now time.Time, by *domain.Actor) []domain.OutgoingPart {
	var parts []domain.OutgoingPart
	add := func(text string, att []domain.Attachment) {
		i := len(parts)
		p := domain.OutgoingPart{
			Message: domain.Message{
				ID: domain.HashID("outgoing", requestID, fmt.Sprint(i)), ConversationID: conv.ID,
				ChannelID: conv.ChannelID, ContactIGSID: conv.ContactIGSID,
				Direction: domain.DirectionOutgoing, Text: text, Attachments: att,
				Status: domain.MessageQueued, TimestampMS: now.UnixMilli(), CreatedAt: now,
				SentBy: by,
			},
			Part: i, RequestID: requestID,
		}
		p.StoredSK = domain.OutgoingSK(now.UnixMilli(), requestID, i)
		parts = append(parts, p)
	}
	if body.Text != "" {
		add(body.Text, nil)
	}
	for _, a := range body.Attachments {
		add("", []domain.Attachment{{Type: a.Type, URL: a.URL}})
	}
	return parts
}

func partsJSON(parts []domain.OutgoingPart, contact domain.Contact) replyResponse {
	out := replyResponse{Messages: make([]MessageJSON, 0, len(parts))}
	for _, p := range parts {
		out.Messages = append(out.Messages, NewMessageJSON(p.Message, contact.ReadWatermarkMS))
	}
	return out
}

func windowMessage(err error) string {
	return "cannot reply: " + strings.TrimPrefix(err.Error(), outbound.ErrOutsideWindow.Error()+": ")
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
