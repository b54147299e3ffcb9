// Package view renders stored conversations and messages as the JSON objects iginbox shows
// to the outside: the HTTP API's responses and the detail of the events on the bus use the
// same code, so the two never drift apart.
package view

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

// Channel is a channel as the API shows it. The access token is never part of it.
type Channel struct {
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
	// Status is "connected" or "disconnected" (deauthorized on Instagram, disconnected
	// through the API, or being purged): a disconnected channel has no token, ignores
	// events and refuses replies until it is connected again.
	Status         string  `json:"status"`
	DisconnectedAt *string `json:"disconnected_at,omitempty"`
	// UnsubscribedAt or UnsubscribeError is the outcome of the webhook unsubscription that
	// follows DELETE /api/channels/{id} (neither while it is pending).
	UnsubscribedAt   *string `json:"unsubscribed_at,omitempty"`
	UnsubscribeError string  `json:"unsubscribe_error,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NewChannel renders a channel.
func NewChannel(ch domain.Channel) Channel {
	out := Channel{
		ID: ch.ID, Username: ch.Username, Name: ch.Name,
		TokenExpiresAt:           rfc3339(ch.TokenExpiresAt),
		ReauthRequired:           ch.ReauthRequired,
		ReauthReason:             ch.ReauthReason,
		LockToSingleConversation: ch.LockToSingleConversation,
		Subscribed:               ch.Subscribed,
		SubscribeError:           ch.SubscribeError,
		ConnectedAt:              rfc3339(ch.ConnectedAt),
		Status:                   "connected",
	}
	if ch.Disconnected() {
		out.Status = domain.ChannelDisconnected
		if !ch.DisconnectedAt.IsZero() {
			d := rfc3339(ch.DisconnectedAt)
			out.DisconnectedAt = &d
		}
		if !ch.UnsubscribedAt.IsZero() {
			u := rfc3339(ch.UnsubscribedAt)
			out.UnsubscribedAt = &u
		}
		out.UnsubscribeError = ch.UnsubscribeError
	}
	if ch.ReauthRequired && !ch.ReauthAt.IsZero() {
		s := rfc3339(ch.ReauthAt)
		out.ReauthAt = &s
	}
	return out
}

// Contact is a conversation's contact as the API shows it.
type Contact struct {
	IGSID    string `json:"igsid"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Unknown  bool   `json:"unknown"`
}

// Conversation is a conversation as the API shows it. LastMessage and UnreadCount are
// derived from the messages when the API reads them (WithSummary): the API always has them.
type Conversation struct {
	ID             string       `json:"id"`
	ChannelID      string       `json:"channel_id"`
	Status         string       `json:"status"`
	Contact        Contact      `json:"contact"`
	LastActivityAt string       `json:"last_activity_at"`
	LastIncomingAt *string      `json:"last_incoming_at"`
	LastMessage    *LastMessage `json:"last_message,omitempty"`
	UnreadCount    *int         `json:"unread_count,omitempty"`
	ReadAt         *string      `json:"read_at,omitempty"`
	// StatusChangedBy and StatusChangedAt say who last resolved or reopened it, and when.
	StatusChangedBy *domain.Actor `json:"status_changed_by,omitempty"`
	StatusChangedAt *string       `json:"status_changed_at,omitempty"`
}

// LastMessage previews a conversation's newest message: its text (a postback's title) and
// the type of its first attachment, if any; an unsent message shows deleted and no text.
type LastMessage struct {
	ID         string `json:"id"`
	Kind       string `json:"kind,omitempty"`
	Direction  string `json:"direction"`
	Text       string `json:"text,omitempty"`
	Attachment string `json:"attachment,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
	Timestamp  string `json:"timestamp"`
}

// WithSummary adds the last message and the unread count (the store's SummarizeConversation).
func (c Conversation) WithSummary(sum domain.ConversationSummary) Conversation {
	n := sum.Unread
	c.UnreadCount = &n
	if m := sum.Last; m != nil {
		c.LastMessage = &LastMessage{ID: m.ID, Kind: m.Kind, Direction: m.Direction, Text: m.Text, Deleted: m.Deleted, Timestamp: MetaTime(m.TimestampMS)}
		if len(m.Attachments) > 0 {
			c.LastMessage.Attachment = m.Attachments[0].Type
		}
	}
	return c
}

// Attachment is a message attachment; Title is the payload's title when Meta sent one
// (shares, reels, posts).
type Attachment struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
}

// attachmentTitle reads the title of a stored attachment payload ("" when none).
func attachmentTitle(payload string) string {
	if !strings.Contains(payload, `"title"`) {
		return ""
	}
	var p struct {
		Title string `json:"title"`
	}
	_ = json.Unmarshal([]byte(payload), &p)
	return p.Title
}

// ReplyTo is {"mid"} or {"story_id","story_url"}.
type ReplyTo struct {
	MID      string `json:"mid,omitempty"`
	StoryID  string `json:"story_id,omitempty"`
	StoryURL string `json:"story_url,omitempty"`
}

// Reaction is a reaction on a message; By is "contact" (the customer) or "business" (the
// channel's account, from the Instagram app).
type Reaction struct {
	Reaction string `json:"reaction"`
	Emoji    string `json:"emoji"`
	By       string `json:"by"`
}

// Who reacted.
const (
	ByContact  = "contact"
	ByBusiness = "business"
)

// Postback is the button or ice breaker a postback message comes from.
type Postback struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

// QuickReply is the quick reply a message answers with.
type QuickReply struct {
	Payload string `json:"payload"`
}

// Edit is an earlier version of an edited message's text (num_edit 0: the original).
type Edit struct {
	Text      string `json:"text"`
	NumEdit   int    `json:"num_edit"`
	Timestamp string `json:"timestamp"`
}

// MessageError is Meta's error of a failed outgoing message, or ours: then Code is 0 and
// Reason names it (enqueue_failed: stored, never queued for sending).
type MessageError struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// Message is a message as the API shows it. Kind is "referral" for the entry of a referral
// event (an ig.me link or ad opened the thread: no mid, no text), absent for messages. MID is
// absent until Meta gave one (a queued or failed reply part). Echo: an outgoing message learnt from its webhook echo (sent from the
// Instagram app, or by another tool), not sent through this API. Postback, QuickReply,
// Referral and Edits are present when the message has them; Referral holds every field Meta
// sent (ref, source, type, ad_id, ads_context_data...).
type Message struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind,omitempty"`
	MID         string          `json:"mid,omitempty"`
	Direction   string          `json:"direction"`
	Echo        bool            `json:"echo"`
	Text        string          `json:"text"`
	Attachments []Attachment    `json:"attachments"`
	ReplyTo     *ReplyTo        `json:"reply_to,omitempty"`
	Postback    *Postback       `json:"postback,omitempty"`
	QuickReply  *QuickReply     `json:"quick_reply,omitempty"`
	Referral    json.RawMessage `json:"referral,omitempty"`
	Reactions   []Reaction      `json:"reactions"`
	Edits       []Edit          `json:"edits,omitempty"`
	Status      string          `json:"status"`
	Error       *MessageError   `json:"error,omitempty"`
	Deleted     bool            `json:"deleted"`
	Unsupported bool            `json:"unsupported"`
	Timestamp   string          `json:"timestamp"`
	// SentBy is the agent key that sent an outgoing reply (absent on echoes of messages sent
	// from the Instagram app).
	SentBy *domain.Actor `json:"sent_by,omitempty"`
}

// MetaTime renders a Meta millisecond timestamp as RFC 3339 UTC with milliseconds.
func MetaTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// NewConversation renders a conversation with its contact.
func NewConversation(c domain.Conversation, contact domain.Contact) Conversation {
	out := Conversation{
		ID: c.ID, ChannelID: c.ChannelID, Status: c.Status,
		Contact:        Contact{IGSID: c.ContactIGSID, Name: contact.Name, Username: contact.Username, Unknown: contact.Unknown},
		LastActivityAt: MetaTime(c.LastActivityMS),
	}
	if c.LastIncomingMS > 0 {
		s := MetaTime(c.LastIncomingMS)
		out.LastIncomingAt = &s
	}
	if c.ReadMS > 0 {
		s := MetaTime(c.ReadMS)
		out.ReadAt = &s
	}
	out.StatusChangedBy = c.StatusBy
	if !c.StatusAt.IsZero() {
		s := rfc3339(c.StatusAt)
		out.StatusChangedAt = &s
	}
	return out
}

// NewMessage renders a message. readWatermarkMS is the contact's read position: a sent
// outgoing message at or before it reads "read" (a failed one stays failed).
func NewMessage(m domain.Message, readWatermarkMS int64) Message {
	out := Message{
		ID: m.ID, Kind: m.Kind, MID: m.MID, Direction: m.Direction, Echo: m.Echo, Text: m.Text,
		Attachments: make([]Attachment, 0, len(m.Attachments)),
		Reactions:   make([]Reaction, 0, len(m.Reactions)),
		Status:      m.Status, Deleted: m.Deleted, Unsupported: m.Unsupported,
		Timestamp: MetaTime(m.TimestampMS), SentBy: m.SentBy,
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, Attachment{Type: a.Type, URL: a.URL, Title: attachmentTitle(a.Payload)})
	}
	for _, r := range m.Reactions {
		by := ByContact
		if r.By == m.ChannelID {
			by = ByBusiness
		}
		out.Reactions = append(out.Reactions, Reaction{Reaction: r.Reaction, Emoji: r.Emoji, By: by})
	}
	if m.Kind != "" {
		out.MID = "" // an entry's mid is internal (the key of its record)
	}
	if !m.Deleted && (m.Postback || m.PostbackPayload != "") {
		out.Postback = &Postback{Title: m.Text, Payload: m.PostbackPayload}
	}
	if m.QuickReplyPayload != "" {
		out.QuickReply = &QuickReply{Payload: m.QuickReplyPayload}
	}
	out.Referral = referralJSON(m.Referral)
	for _, e := range m.Edits {
		out.Edits = append(out.Edits, Edit{Text: e.Text, NumEdit: e.NumEdit, Timestamp: MetaTime(e.MS)})
	}
	if r := m.ReplyTo; r != nil {
		out.ReplyTo = &ReplyTo{MID: r.MID, StoryID: r.StoryID, StoryURL: r.StoryURL}
	}
	if e := m.Error; e != nil {
		out.Error = &MessageError{Code: e.Code, Subcode: e.Subcode, Message: e.Message, Reason: e.Reason}
	}
	if m.Direction == domain.DirectionOutgoing && m.Status == domain.MessageSent && m.TimestampMS <= readWatermarkMS {
		out.Status = domain.MessageRead
	}
	return out
}

// referralJSON is a referral as Meta sent it (every field), or its known fields when the raw
// object is not kept; nil when there is none.
func referralJSON(r *domain.Referral) json.RawMessage {
	if r == nil {
		return nil
	}
	if json.Valid([]byte(r.Raw)) && strings.HasPrefix(strings.TrimSpace(r.Raw), "{") {
		return json.RawMessage(r.Raw)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil
	}
	return b
}
