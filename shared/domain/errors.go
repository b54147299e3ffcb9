package domain

import "errors"

// Sentinel errors callers branch on (with errors.Is, at the edge).
var (
	// ErrNotFound: the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost against a concurrent or earlier write.
	ErrConflict = errors.New("conflict")
	// ErrInvalidCursor: a paging position that the store did not produce.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrConversationOpen: another conversation with the same contact is open.
	ErrConversationOpen = errors.New("another conversation with this contact is open")
)

// AppendRefused is a store's AppendToOpenConversation that lost a condition on the per-mid
// record or the conversation, with what the store returned about them (consistent as of the
// refusal). It wraps ErrConflict.
type AppendRefused struct {
	// MIDKnown: MID is the per-mid record as stored (its zero value with ChannelID and MID
	// set when none exists).
	MIDKnown bool
	MID      MIDRecord
	// ConversationKnown: Conversation is the conversation as stored (it refused the message:
	// resolved, or with a later activity or last incoming time than the message).
	ConversationKnown bool
	Conversation      Conversation
}

func (e *AppendRefused) Error() string { return "append refused by its conditions" }

// Unwrap makes a refusal an ErrConflict.
func (e *AppendRefused) Unwrap() error { return ErrConflict }

// ConversationAhead is a commit refused by an UpdateConversation's conditions: the stored
// conversation has a later activity or last incoming time than the change sets (messages
// appended without a read moved it past the contact's mirror). It wraps ErrConflict.
type ConversationAhead struct {
	// Conversation is the conversation as stored when it refused.
	Conversation Conversation
	// Alone: no other write of the transaction lost its condition, so deciding again with
	// the conversation's times needs no read.
	Alone bool
}

func (e *ConversationAhead) Error() string {
	return "conversation " + e.Conversation.ID + " is ahead of the change"
}

// Unwrap makes it an ErrConflict.
func (e *ConversationAhead) Unwrap() error { return ErrConflict }
