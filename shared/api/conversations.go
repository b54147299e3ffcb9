package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/view"
)

// Paging limits of list routes.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// ConversationStore is what the conversation routes need (implemented by *store.Store).
type ConversationStore interface {
	ListConversations(ctx context.Context, q domain.ConversationQuery) (domain.ConversationPage, error)
	GetConversation(ctx context.Context, id string) (domain.Conversation, error)
	GetContact(ctx context.Context, accountID, igsid string) (domain.Contact, error)
	GetContacts(ctx context.Context, refs []domain.ContactRef) (map[domain.ContactRef]domain.Contact, error)
	ListMessages(ctx context.Context, conversationID, after string, limit int) (domain.MessagePage, error)
	SetConversationStatus(ctx context.Context, id, status string, by *domain.Actor, now time.Time) (domain.Conversation, error)
	SummarizeConversation(ctx context.Context, c domain.Conversation) (domain.ConversationSummary, error)
	MarkConversationRead(ctx context.Context, id string) (domain.Conversation, error)
}

// The JSON shapes of conversations and messages live in shared/view, so that the events the
// publisher puts on the bus carry exactly the objects this API returns. The names below are
// the API's names for them.
type (
	ContactJSON      = view.Contact
	ConversationJSON = view.Conversation
	AttachmentJSON   = view.Attachment
	ReplyToJSON      = view.ReplyTo
	ReactionJSON     = view.Reaction
	MessageErrorJSON = view.MessageError
	MessageJSON      = view.Message
	EditJSON         = view.Edit
)

// NewConversationJSON renders a conversation with its contact (view.NewConversation).
func NewConversationJSON(c domain.Conversation, contact domain.Contact) ConversationJSON {
	return view.NewConversation(c, contact)
}

// NewMessageJSON renders a message (view.NewMessage).
func NewMessageJSON(m domain.Message, readWatermarkMS int64) MessageJSON {
	return view.NewMessage(m, readWatermarkMS)
}

// WithConversations registers GET /api/conversations, GET /api/conversations/{id}/messages,
// POST /api/conversations/{id}/status and POST /api/conversations/{id}/read.
func WithConversations(st ConversationStore) Option {
	return func(s *Server) {
		h := conversationRoutes{st: st, now: time.Now}
		s.Handle(http.MethodGet, "/api/conversations", h.list)
		s.Handle(http.MethodGet, "/api/conversations/{id}/messages", h.messages)
		s.Handle(http.MethodPost, "/api/conversations/{id}/status", h.setStatus)
		s.Handle(http.MethodPost, "/api/conversations/{id}/read", h.markRead)
	}
}

// summaryParallel bounds the summaries read at once for a page of conversations.
const summaryParallel = 8

// withSummaries renders convs with their contacts, last message and unread count (two
// queries per conversation, run concurrently).
func (h conversationRoutes) withSummaries(ctx context.Context, convs []domain.Conversation, contacts map[domain.ContactRef]domain.Contact) ([]ConversationJSON, error) {
	out := make([]ConversationJSON, len(convs))
	errs := make([]error, len(convs))
	sem := make(chan struct{}, summaryParallel)
	var wg sync.WaitGroup
	for i, c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sum, err := h.st.SummarizeConversation(ctx, c)
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = NewConversationJSON(c, contacts[domain.ContactRef{ChannelID: c.ChannelID, IGSID: c.ContactIGSID}]).WithSummary(sum)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// one renders a single conversation with its contact and summary.
func (h conversationRoutes) one(ctx context.Context, conv domain.Conversation) (ConversationJSON, error) {
	contact, err := h.st.GetContact(ctx, conv.ChannelID, conv.ContactIGSID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return ConversationJSON{}, err
	}
	out, err := h.withSummaries(ctx, []domain.Conversation{conv}, map[domain.ContactRef]domain.Contact{{ChannelID: conv.ChannelID, IGSID: conv.ContactIGSID}: contact})
	if err != nil {
		return ConversationJSON{}, err
	}
	return out[0], nil
}

// markRead moves the business's read mark to the newest message: unread_count becomes 0
// until a newer incoming message is stored.
func (h conversationRoutes) markRead(ctx context.Context, r *Request) (Response, error) {
	id := r.Params["id"]
	if _, err := h.conversation(ctx, r, id); err != nil {
		return Response{}, err
	}
	conv, err := h.st.MarkConversationRead(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return Response{}, Errorf(http.StatusNotFound, "not_found", "no conversation %q", id)
	}
	if err != nil {
		return Response{}, err
	}
	out, err := h.one(ctx, conv)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusOK, Body: out}, nil
}

type conversationRoutes struct {
	st  ConversationStore
	now func() time.Time
}

// actor is who a change is recorded as.
func actor(r *Request) *domain.Actor {
	if r.Principal.KeyID == "" {
		return nil
	}
	return &domain.Actor{KeyID: r.Principal.KeyID, Name: r.Principal.Name}
}

// Cursors are opaque: base64url of a versioned, validated sort-key position.
const (
	conversationCursorPrefix = "c1|"
	messageCursorPrefix      = "m1|"
)

func encodeCursor(prefix, pos string) string {
	if pos == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + pos))
}

func decodeCursor(prefix, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) || len(b) == len(prefix) {
		return "", Errorf(http.StatusBadRequest, "invalid_cursor", "cursor is not valid for this list")
	}
	return string(b[len(prefix):]), nil
}

func pageLimit(q map[string]string) (int, error) {
	raw, ok := q["limit"]
	if !ok {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxPageLimit {
		return 0, Errorf(http.StatusBadRequest, "invalid_limit", "limit must be an integer between 1 and %d", MaxPageLimit)
	}
	return n, nil
}

func storeListError(err error) error {
	if errors.Is(err, domain.ErrInvalidCursor) {
		return Errorf(http.StatusBadRequest, "invalid_cursor", "cursor is not valid for this list")
	}
	return err
}

type conversationList struct {
	Conversations []ConversationJSON `json:"conversations"`
	NextCursor    string             `json:"next_cursor,omitempty"`
}

func (h conversationRoutes) list(ctx context.Context, r *Request) (Response, error) {
	limit, err := pageLimit(r.Query)
	if err != nil {
		return Response{}, err
	}
	status := r.Query["status"]
	if status != "" && status != domain.StatusOpen && status != domain.StatusResolved {
		return Response{}, Errorf(http.StatusBadRequest, "invalid_status", "status must be open or resolved")
	}
	channelID := r.Query["channel_id"]
	// The cursor is bound to its filters: a cursor of another list is rejected.
	prefix := conversationCursorPrefix + channelID + "|" + status + "|"
	after, err := decodeCursor(prefix, r.Query["cursor"])
	if err != nil {
		return Response{}, err
	}
	p := r.Principal
	if channelID != "" && !p.Allows(channelID) {
		// Another channel's conversations do not exist for this key.
		return Response{Status: http.StatusOK, Body: conversationList{Conversations: []ConversationJSON{}}}, nil
	}
	query := domain.ConversationQuery{ChannelID: channelID, Status: status, Limit: limit, After: after}
	if channelID == "" && len(p.Channels) == 1 {
		query.ChannelID = p.Channels[0]
	}
	page, err := h.st.ListConversations(ctx, query)
	if err != nil {
		return Response{}, storeListError(err)
	}
	if p.Limited() {
		// A key limited to several channels pages through all of them and keeps its own:
		// a page may then hold fewer than limit conversations (next_cursor still says whether
		// more follow).
		kept := page.Conversations[:0]
		for _, c := range page.Conversations {
			if p.Allows(c.ChannelID) {
				kept = append(kept, c)
			}
		}
		page.Conversations = kept
	}
	refs := make([]domain.ContactRef, 0, len(page.Conversations))
	for _, c := range page.Conversations {
		refs = append(refs, domain.ContactRef{ChannelID: c.ChannelID, IGSID: c.ContactIGSID})
	}
	contacts, err := h.st.GetContacts(ctx, refs)
	if err != nil {
		return Response{}, err
	}
	convs, err := h.withSummaries(ctx, page.Conversations, contacts)
	if err != nil {
		return Response{}, err
	}
	out := conversationList{Conversations: convs, NextCursor: encodeCursor(prefix, page.Next)}
	return Response{Status: http.StatusOK, Body: out}, nil
}

type messageList struct {
	Messages   []MessageJSON `json:"messages"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (h conversationRoutes) conversation(ctx context.Context, r *Request, id string) (domain.Conversation, error) {
	return visibleConversation(ctx, h.st, r, id)
}

// visibleConversation reads a conversation the principal may see: another channel's
// conversation is a 404, like one that does not exist.
func visibleConversation(ctx context.Context, st interface {
	GetConversation(ctx context.Context, id string) (domain.Conversation, error)
}, r *Request, id string) (domain.Conversation, error) {
	if !domain.ValidConversationID(id) {
		return domain.Conversation{}, Errorf(http.StatusNotFound, "not_found", "no conversation %q", id)
	}
	c, err := st.GetConversation(ctx, id)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !r.Principal.Allows(c.ChannelID)) {
		return domain.Conversation{}, Errorf(http.StatusNotFound, "not_found", "no conversation %q", id)
	}
	return c, err
}

func (h conversationRoutes) messages(ctx context.Context, r *Request) (Response, error) {
	limit, err := pageLimit(r.Query)
	if err != nil {
		return Response{}, err
	}
	id := r.Params["id"]
	prefix := messageCursorPrefix + id + "|"
	after, err := decodeCursor(prefix, r.Query["cursor"])
	if err != nil {
		return Response{}, err
	}
	conv, err := h.conversation(ctx, r, id)
	if err != nil {
		return Response{}, err
	}
	contact, err := h.st.GetContact(ctx, conv.ChannelID, conv.ContactIGSID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return Response{}, err
	}
	page, err := h.st.ListMessages(ctx, id, after, limit)
	if err != nil {
		return Response{}, storeListError(err)
	}
	out := messageList{Messages: make([]MessageJSON, 0, len(page.Messages)), NextCursor: encodeCursor(prefix, page.Next)}
	for _, m := range page.Messages {
		out.Messages = append(out.Messages, NewMessageJSON(m, contact.ReadWatermarkMS))
	}
	return Response{Status: http.StatusOK, Body: out}, nil
}

func (h conversationRoutes) setStatus(ctx context.Context, r *Request) (Response, error) {
	var body struct {
		Status string `json:"status"`
	}
	if err := r.DecodeJSON(&body); err != nil {
		return Response{}, err
	}
	if body.Status != domain.StatusOpen && body.Status != domain.StatusResolved {
		return Response{}, Errorf(http.StatusBadRequest, "invalid_status", "status must be open or resolved")
	}
	id := r.Params["id"]
	if _, err := h.conversation(ctx, r, id); err != nil {
		return Response{}, err
	}
	conv, err := h.st.SetConversationStatus(ctx, id, body.Status, actor(r), h.now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return Response{}, Errorf(http.StatusNotFound, "not_found", "no conversation %q", id)
	case errors.Is(err, domain.ErrConversationOpen):
		return Response{}, Errorf(http.StatusConflict, "conversation_open", "another conversation with this contact is open; resolve it first")
	case err != nil:
		return Response{}, err
	}
	out, err := h.one(ctx, conv)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusOK, Body: out}, nil
}
