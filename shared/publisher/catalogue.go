// Package publisher turns the table's stream into domain events on an EventBridge bus: every
// committed change of a channel, contact, conversation or message becomes zero or more events
// of the catalogue below (docs/events.md), put on the bus in stream order and never dropped:
// a record whose events could not all be put is reported as a batch item failure, and the
// event source mapping retries it (then sends it to its on-failure destination).
package publisher

import (
	"github.com/iginbox/iginbox/shared/view"
)

// Source is the source of every event iginbox puts on its bus.
const Source = "iginbox"

// SchemaVersion is the detail's schema_version. Adding a field keeps it; removing or
// changing the meaning of one raises it (docs/events/*.schema.json describe version 1).
const SchemaVersion = 1

// Detail types (the catalogue).
const (
	MessageReceived           = "message.received"
	MessageEcho               = "message.echo"
	MessageStatusChanged      = "message.status_changed"
	MessageDeleted            = "message.deleted"
	MessageEdited             = "message.edited"
	ReactionChanged           = "reaction.changed"
	ConversationCreated       = "conversation.created"
	ConversationStatusChanged = "conversation.status_changed"
	ContactUpdated            = "contact.updated"
	ChannelConnected          = "channel.connected"
	ChannelReauthRequired     = "channel.reauth_required"
	ChannelDisconnected       = "channel.disconnected"
	ChannelTokenRefreshed     = "channel.token_refreshed"
)

// DetailTypes lists the catalogue (schemas exist for exactly these).
var DetailTypes = []string{
	MessageReceived, MessageEcho, MessageStatusChanged, MessageDeleted, MessageEdited, ReactionChanged,
	ConversationCreated, ConversationStatusChanged, ContactUpdated,
	ChannelConnected, ChannelReauthRequired, ChannelDisconnected, ChannelTokenRefreshed,
}

// Common is the part every detail starts with.
type Common struct {
	SchemaVersion int `json:"schema_version"`
	// EventID is stable across redeliveries of the same change (consumers dedupe by it).
	EventID string `json:"event_id"`
	// OccurredAt is Meta's timestamp of the change when there is one, else when the table
	// changed (RFC 3339 UTC, milliseconds).
	OccurredAt string `json:"occurred_at"`
	ChannelID  string `json:"channel_id"`
}

// MessageDetail is the detail of message.received, message.echo, message.deleted,
// message.edited and reaction.changed: the message as GET /api/conversations/{id}/messages
// shows it after the change.
type MessageDetail struct {
	Common
	ConversationID string       `json:"conversation_id"`
	Message        view.Message `json:"message"`
}

// StatusDetail is the detail of message.status_changed. PreviousStatus is empty for a reply
// just queued.
type StatusDetail struct {
	Common
	ConversationID string       `json:"conversation_id"`
	MessageID      string       `json:"message_id"`
	Status         string       `json:"status"`
	PreviousStatus string       `json:"previous_status,omitempty"`
	Message        view.Message `json:"message"`
}

// ConversationDetail is the detail of conversation.created and conversation.status_changed
// (PreviousStatus is set by the latter only).
type ConversationDetail struct {
	Common
	ConversationID string            `json:"conversation_id"`
	Status         string            `json:"status"`
	PreviousStatus string            `json:"previous_status,omitempty"`
	Conversation   view.Conversation `json:"conversation"`
}

// ContactDetail is the detail of contact.updated. ConversationID is the contact's latest
// conversation (empty when it has none yet).
type ContactDetail struct {
	Common
	ConversationID string       `json:"conversation_id,omitempty"`
	Contact        view.Contact `json:"contact"`
}

// ChannelDetail is the detail of the channel.* events: the channel as GET /api/channels shows
// it (never a token).
type ChannelDetail struct {
	Common
	Channel view.Channel `json:"channel"`
}

// Event is one domain event: an EventBridge entry's detail-type and detail.
type Event struct {
	DetailType string
	Detail     any
	// Common is the detail's common part (also inside Detail).
	Common Common
}
