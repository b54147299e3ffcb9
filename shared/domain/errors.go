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
// record or the contact, with what the store returned about them (consistent as of the
// refusal). It wraps ErrConflict.
type AppendRefused struct {
	// MIDKnown: MID is the per-mid record as stored (its zero value with ChannelID and MID
	// set when none exists).
	MIDKnown bool
	MID      MIDRecord
	// ContactKnown: Contact is the contact as stored (it refused the message).
	ContactKnown bool
	Contact      Contact
}

func (e *AppendRefused) Error() string { return "append refused by its conditions" }

// Unwrap makes a refusal an ErrConflict.
func (e *AppendRefused) Unwrap() error { return ErrConflict }
