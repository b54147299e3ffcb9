package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MessagePage is one page of messages.
type MessagePage struct {
	Messages []Message
	Next     string // empty on the last page
}

// KindReferral marks a conversation entry that records a referral event.
const KindReferral = "referral"

// Message directions and statuses.
const (
	DirectionIncoming = "incoming"
	DirectionOutgoing = "outgoing"

	MessageReceived = "received"
	MessageQueued   = "queued"
	MessageSent     = "sent"
	MessageRead     = "read"
	MessageFailed   = "failed"
)

// Attachment is one message attachment: its type, its URL when it has one, and Meta's whole
// payload as JSON so that no type (known or not) loses data.
type Attachment struct {
	Type    string `dynamodbav:"type"`
	URL     string `dynamodbav:"url,omitempty"`
	Payload string `dynamodbav:"payload,omitempty"`
}

// ReplyTo is what a message replies to: another message or a story.
type ReplyTo struct {
	MID      string `dynamodbav:"mid,omitempty"`
	StoryID  string `dynamodbav:"story_id,omitempty"`
	StoryURL string `dynamodbav:"story_url,omitempty"`
}

// MessageReaction is a reaction shown on a message.
type MessageReaction struct {
	By       string `dynamodbav:"by"`
	Reaction string `dynamodbav:"reaction"`
	Emoji    string `dynamodbav:"emoji,omitempty"`
}

// SendError is Meta's error for a failed outgoing message.
type SendError struct {
	Code    int    `dynamodbav:"code"`
	Subcode int    `dynamodbav:"subcode,omitempty"`
	Message string `dynamodbav:"message"`
	// Reason names a failure of ours rather than Meta's (Code 0), e.g. ReasonEnqueueFailed.
	Reason string `dynamodbav:"reason,omitempty"`
}

// ReasonEnqueueFailed: the part was stored but never queued for sending (SendError.Reason).
const ReasonEnqueueFailed = "enqueue_failed"

// Message is one Instagram message (one mid) of a conversation.
type Message struct {
	ID             string `dynamodbav:"id"`
	ConversationID string `dynamodbav:"conversation_id"`
	ChannelID      string `dynamodbav:"channel_id"`
	ContactIGSID   string `dynamodbav:"contact_igsid"`
	MID            string `dynamodbav:"mid,omitempty"`
	// Kind is empty for messages; KindReferral for a referral entry (an ig.me link or ad
	// opened the thread: no mid, no text, Referral set).
	Kind              string       `dynamodbav:"kind,omitempty"`
	Direction         string       `dynamodbav:"direction"`
	Echo              bool         `dynamodbav:"echo"`
	Text              string       `dynamodbav:"text,omitempty"`
	Attachments       []Attachment `dynamodbav:"attachments,omitempty"`
	ReplyTo           *ReplyTo     `dynamodbav:"reply_to,omitempty"`
	QuickReplyPayload string       `dynamodbav:"quick_reply_payload,omitempty"`
	PostbackPayload   string       `dynamodbav:"postback_payload,omitempty"`
	// Postback: the message is a postback (a button or ice breaker: Text is its title).
	Postback  bool              `dynamodbav:"postback,omitempty"`
	Referral  *Referral         `dynamodbav:"referral,omitempty"`
	Reactions []MessageReaction `dynamodbav:"reactions,omitempty"`
	// Edits are the versions the text had before the current one, oldest first: the original
	// (num_edit 0, the message's timestamp) and every edit but the latest (see ApplyEdits).
	Edits       []Edit     `dynamodbav:"edits,omitempty"`
	Status      string     `dynamodbav:"status"`
	Error       *SendError `dynamodbav:"error,omitempty"`
	Deleted     bool       `dynamodbav:"deleted"`
	Unsupported bool       `dynamodbav:"unsupported"`
	TimestampMS int64      `dynamodbav:"ts"`
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	// SentBy is the agent key that sent an outgoing reply (absent on echoes of messages
	// sent from the Instagram app).
	SentBy *Actor `dynamodbav:"sent_by,omitempty"`
	// StoredSK is the sort key as stored, when it is not MessageSK(ts, mid): an outgoing part
	// is keyed when it is queued, before Meta gives it a mid (see docs/outbound.md).
	StoredSK string `dynamodbav:"sk,omitempty"`
}

// SK returns the message's sort key in its conversation partition.
func (m Message) SK() string {
	if m.StoredSK != "" {
		return m.StoredSK
	}
	return MessageSK(m.TimestampMS, m.MID)
}

// ReactionState is the last reaction event of one reactor on a message (react or unreact),
// kept so that the event with the later Meta timestamp wins whatever the arrival order.
type ReactionState struct {
	Action   string `dynamodbav:"action"`
	Reaction string `dynamodbav:"reaction,omitempty"`
	Emoji    string `dynamodbav:"emoji,omitempty"`
	MS       int64  `dynamodbav:"ms"`
}

// Edit is one version of a message's text: an edit (message_edit: num_edit ≥ 1, Meta's
// timestamp of the edit event) or the original text (num_edit 0, the message's timestamp).
type Edit struct {
	Text    string `dynamodbav:"text"`
	NumEdit int    `dynamodbav:"num_edit"`
	MS      int64  `dynamodbav:"ms"`
}

// editLess orders edits: by num_edit, then Meta time, then text, so that every delivery order
// picks the same latest version.
func editLess(a, b Edit) bool {
	if a.NumEdit != b.NumEdit {
		return a.NumEdit < b.NumEdit
	}
	if a.MS != b.MS {
		return a.MS < b.MS
	}
	return a.Text < b.Text
}

// AddEdit returns edits (sorted by editLess) with e inserted, and whether e was new.
func AddEdit(edits []Edit, e Edit) ([]Edit, bool) {
	out := make([]Edit, 0, len(edits)+1)
	added := false
	for _, x := range edits {
		if x == e {
			return edits, false
		}
		if !added && editLess(e, x) {
			out = append(out, e)
			added = true
		}
		out = append(out, x)
	}
	if !added {
		out = append(out, e)
	}
	return out, true
}

// OriginalText is the text a stored message had before any edit.
func (m Message) OriginalText() string {
	if len(m.Edits) > 0 {
		return m.Edits[0].Text
	}
	return m.Text
}

// ApplyEdits sets the message's text to the latest of edits (sorted by editLess; the highest
// num_edit wins) and Edits to the versions before it, starting with original.
func (m *Message) ApplyEdits(original string, edits []Edit) {
	if len(edits) == 0 {
		m.Text, m.Edits = original, nil
		return
	}
	last := edits[len(edits)-1]
	m.Text = last.Text
	m.Edits = append([]Edit{{Text: original, NumEdit: 0, MS: m.TimestampMS}}, edits[:len(edits)-1]...)
}

// MIDRecord is the per-mid idempotency record (MID#<account>#<mid>): where the message is
// stored once it is, and the state of events that may arrive before it (an unsend, reactions,
// edits).
type MIDRecord struct {
	ChannelID      string                   `dynamodbav:"channel_id"`
	MID            string                   `dynamodbav:"mid"`
	ConversationID string                   `dynamodbav:"conversation_id,omitempty"`
	MessageSK      string                   `dynamodbav:"message_sk,omitempty"`
	Deleted        bool                     `dynamodbav:"deleted,omitempty"`
	DeletedMS      int64                    `dynamodbav:"deleted_ms,omitempty"`
	Reactions      map[string]ReactionState `dynamodbav:"reactions,omitempty"`
	// Edits are the message_edit events of the mid (sorted by num_edit), kept so that edits
	// converge whatever the order, also before their message; dropped by an unsend.
	Edits []Edit `dynamodbav:"edits,omitempty"`
	// EditedBy is the contact whose edits are kept while the message is not stored (so that
	// erasing the contact reaches them).
	EditedBy string `dynamodbav:"edited_by,omitempty"`
	// Erased: the message of this mid was erased with its contact; the content-free record
	// stays until TTL so that a late redelivery stores nothing.
	Erased bool `dynamodbav:"erased,omitempty"`
	// TTL expires tombstone-only records (an unsend or reaction whose message never came).
	TTL int64 `dynamodbav:"ttl,omitempty"`
	Ver int64 `dynamodbav:"ver"`
}

// Stored reports whether the message of this mid is stored.
func (r MIDRecord) Stored() bool { return r.MessageSK != "" }

// Active reports whether the account's events are to be applied: its channel exists and is
// not disconnected.
func (st EventState) Active() bool { return st.ChannelFound && !st.Channel.Disconnected() }

// MessageSK is the sort key of a message: Meta's timestamp (13 digits) then the mid, so that
// messages are ordered by Meta time with ties broken by mid.
func MessageSK(ts int64, mid string) string { return fmt.Sprintf("MSG#%013d#%s", ts, mid) }

// EventState is what the processor reads, in one round trip, before handling an event.
type EventState struct {
	Channel      Channel
	ChannelFound bool
	Contact      Contact // Ver == 0 when absent
	MID          MIDRecord
}

// MessageSKTime is the Meta timestamp in a message sort key (MSG#<13 digits>#...); 0 if none.
func MessageSKTime(sk string) int64 {
	if len(sk) < 17 || !strings.HasPrefix(sk, "MSG#") {
		return 0
	}
	ms, err := strconv.ParseInt(sk[4:17], 10, 64)
	if err != nil {
		return 0
	}
	return ms
}

// UnknownEvent is a webhook item of a shape iginbox does not know, kept for inspection for
// UNKNOWN_EVENT_RETENTION_DAYS (a later version may know how to apply them).
type UnknownEvent struct {
	ChannelID   string `dynamodbav:"channel_id"`
	ContactID   string `dynamodbav:"contact_igsid,omitempty"`
	Key         string `dynamodbav:"key"`
	TimestampMS int64  `dynamodbav:"ts"`
	Raw         string `dynamodbav:"raw"`
}
