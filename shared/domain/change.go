package domain

// ItemKind is the kind of domain state a stored item holds, as a store's change stream tells
// it.
type ItemKind int

// Item kinds. Only the domain state (channels, contacts, conversations, messages) is ever
// published; every other item (OAuth states, per-mid records, idempotency records, pending
// sends, archived bodies, unknown events, and items added later) is ItemOther.
const (
	ItemOther ItemKind = iota
	ItemChannel
	ItemContact
	ItemConversation
	ItemMessage
)
