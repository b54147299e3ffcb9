package domain

import (
	"regexp"
	"strconv"
	"time"
)

// Conversation statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// Conversation is a thread between a channel and a contact.
type Conversation struct {
	ID             string `dynamodbav:"id"`
	ChannelID      string `dynamodbav:"channel_id"`
	ContactIGSID   string `dynamodbav:"contact_igsid"`
	Status         string `dynamodbav:"status"`
	Seq            int    `dynamodbav:"seq"`
	LastActivityMS int64  `dynamodbav:"last_activity_ms"`
	LastIncomingMS int64  `dynamodbav:"last_incoming_ms,omitempty"`
	// ReadMS is the business's read mark (Meta ms): messages up to it were seen by an agent
	// (POST /api/conversations/{id}/read). It only moves forward.
	ReadMS    int64     `dynamodbav:"read_ms,omitempty"`
	Referral  *Referral `dynamodbav:"referral,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// StatusBy and StatusAt record who last resolved or reopened it, and when.
	StatusBy *Actor    `dynamodbav:"status_by,omitempty"`
	StatusAt time.Time `dynamodbav:"status_at,omitempty"`
}

// ConversationChange updates an existing conversation; zero fields are left unchanged. The
// times it sets must not be older than the stored ones: they only move forward, and messages
// appended without a read (AppendToOpenConversation) may have moved them past the contact's
// mirror. Each time set is therefore conditional on the stored one not being later, and a
// refusal returns the conversation as stored (ConversationAhead).
type ConversationChange struct {
	ID             string
	Status         string
	LastActivityMS int64
	LastIncomingMS int64
	Referral       *Referral
}

// ConversationSummary is what an inbox list shows of a conversation besides its fields.
type ConversationSummary struct {
	// Last is the conversation's newest message (Meta time, then mid; a queued reply counts),
	// nil when it has none.
	Last *Message
	// Unread counts the incoming messages (not unsent, not referral entries) after the
	// business's read mark.
	Unread int
}

// ConversationID is the id of a contact's n-th conversation (n from 1 to the contact's
// ConversationSeq): deterministic, so that re-deciding after a lost race or a redelivery
// names the same conversation.
func ConversationID(accountID, igsid string, n int) string {
	return HashID("conversation", accountID, igsid, strconv.Itoa(n))
}

var conversationIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ValidConversationID reports whether id has the shape of a conversation id (a HashID).
func ValidConversationID(id string) bool { return conversationIDPattern.MatchString(id) }

// ConversationQuery selects conversations, newest activity first.
type ConversationQuery struct {
	ChannelID string // empty: every channel
	Status    string // empty: every status
	Limit     int
	After     string // position returned as ConversationPage.Next
}

// ConversationPage is one page of conversations.
type ConversationPage struct {
	Conversations []Conversation
	Next          string // empty on the last page
}
