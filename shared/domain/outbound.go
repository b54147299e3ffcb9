package domain

import (
	"fmt"
	"time"
)

// OutgoingPart is one part (text or one attachment) of a reply: a message record (status
// queued → sent | failed) plus the state of its send attempts. While SendPending is true an
// attempt was made whose outcome is not known yet; the API shows it as queued.
type OutgoingPart struct {
	Message
	// Part is the part's index in its request (text first, then attachments in order).
	Part int `dynamodbav:"part"`
	// RequestID names the API request that created the part.
	RequestID string `dynamodbav:"request_id"`
	// SendAttempt counts the attempts made (each persisted before calling Meta).
	SendAttempt int `dynamodbav:"send_attempt"`
	// SendPending: attempt SendAttempt was made and its outcome is not known yet.
	SendPending bool `dynamodbav:"send_pending"`
	// AttemptMS is when the last attempt started (our clock, ms).
	AttemptMS int64 `dynamodbav:"send_attempt_ms,omitempty"`
}

// OutgoingSK is the sort key of an outgoing part: keyed when queued (the mid comes later),
// ordered by creation time then part index.
func OutgoingSK(createdMS int64, requestID string, part int) string {
	return fmt.Sprintf("MSG#%013d#~out.%s.%02d", createdMS, requestID, part)
}

// IdempotencyRecord remembers what an Idempotency-Key of a conversation created.
type IdempotencyRecord struct {
	ConversationID string    `dynamodbav:"conversation_id"`
	KeyHash        string    `dynamodbav:"key_hash"`
	BodyHash       string    `dynamodbav:"body_hash"`
	RequestID      string    `dynamodbav:"request_id"`
	MessageSKs     []string  `dynamodbav:"message_sks"`
	CreatedAt      time.Time `dynamodbav:"created_at"`
	TTL            int64     `dynamodbav:"ttl"`
}

// PendingSend marks a part whose last attempt has an unknown outcome, under its contact, so
// that the echo of that attempt (same contact, same content) can be attached to it.
type PendingSend struct {
	ChannelID      string `dynamodbav:"channel_id"`
	ContactIGSID   string `dynamodbav:"contact_igsid"`
	ConversationID string `dynamodbav:"conversation_id"`
	MessageSK      string `dynamodbav:"message_sk"`
	MessageID      string `dynamodbav:"message_id"`
	Attempt        int    `dynamodbav:"attempt"`
	AttemptMS      int64  `dynamodbav:"attempt_ms"`
	Text           string `dynamodbav:"text,omitempty"`
	AttachmentType string `dynamodbav:"attachment_type,omitempty"`
}

// SendState is what the sender reads, in one round trip, before an attempt.
type SendState struct {
	Channel      Channel
	ChannelFound bool
	Contact      Contact // Ver == 0 when absent
	Part         OutgoingPart
	PartFound    bool
	// Conversation is the part's conversation: a sent part moves its activity forward.
	Conversation      Conversation
	ConversationFound bool
}

// SentState is what recording a sent part reads again after a lost condition: the contact,
// the part's conversation and the per-mid record of the mid Meta gave the part.
type SentState struct {
	Contact           Contact // Ver == 0 when absent
	Conversation      Conversation
	ConversationFound bool
	MID               MIDRecord // Ver == 0 when absent
}

// SentSK is the sort key of a part once it is sent: the key of any message, Meta's (or our)
// time of the send then the mid, so that a reply sent late lists after the messages that
// arrived while it waited, never at the time it was queued.
func SentSK(ts int64, mid string) string { return MessageSK(ts, mid) }

// UnattemptedShards are the shards the never-attempted parts are listed in, by the first hex
// digit of their conversation id (the store keeps one index partition per shard).
var UnattemptedShards = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"}
