package domain

// Tx is one decision written as a whole: the writes an event or a request decided, each with
// the condition under which it still holds. A store applies them all or none (the DynamoDB
// adapter in one TransactWriteItems); a lost condition writes nothing and returns an error
// wrapping ErrConflict, after which the caller reads again and decides again.
//
// The zero Tx is empty and ready to use. Writes are plain values (the types below), so that
// any implementation of the store, the adapter or a test fake, applies the same intents.
type Tx struct {
	writes []Write
}

// Write is one write of a Tx: PutContact, CreateConversation, UpdateConversation,
// PutMessage, EraseMessage, SetMessageText, SetMessageReactions, PutMID,
// AdvanceConversationActivity, MarkSent, MarkFailed, ReleaseAttempt, PutPendingSend or
// DeletePendingSend.
type Write interface{ write() }

// Writes returns the writes collected, in order.
func (t *Tx) Writes() []Write { return t.writes }

// Len returns the number of writes collected.
func (t *Tx) Len() int { return len(t.writes) }

func (t *Tx) add(w Write) { t.writes = append(t.writes, w) }

// PutContact writes Contact as version Contact.Ver+1, on condition that the stored contact is
// still at Contact.Ver (0: it must not exist).
type PutContact struct{ Contact Contact }

// CreateConversation writes a new conversation; it must not exist.
type CreateConversation struct{ Conversation Conversation }

// UpdateConversation applies Change to a conversation that must exist; zero fields of the
// change are left as they are (nothing is written when every field is zero). Each time it
// sets must not be older than the stored one; if it is, the transaction fails with a
// ConversationAhead that carries the conversation as stored.
type UpdateConversation struct{ Change ConversationChange }

// PutMessage writes a new message under its sort key (Message.SK); the key must be free.
type PutMessage struct{ Message Message }

// EraseMessage marks a stored message deleted and drops its content (text, attachments,
// reply, payloads, referral, edits); the message must exist.
type EraseMessage struct{ ConversationID, MessageSK string }

// SetMessageText replaces the text and previous versions of a message that must exist and
// not be deleted.
type SetMessageText struct {
	ConversationID, MessageSK, Text string
	Edits                           []Edit
}

// SetMessageReactions replaces the reactions shown on a message that must exist (none:
// the reactions are removed).
type SetMessageReactions struct {
	ConversationID, MessageSK string
	Reactions                 []MessageReaction
}

// PutMID writes Record as version Record.Ver+1, on condition that the stored per-mid record
// is still at Record.Ver (0: it must not exist).
type PutMID struct{ Record MIDRecord }

// AdvanceConversationActivity moves a conversation's last activity forward to MS, on
// condition that it exists and its last activity is older than MS: activity never moves
// back, whatever the caller read. Its last incoming time is not touched.
type AdvanceConversationActivity struct {
	ConversationID string
	MS             int64
}

// MarkSent records the mid Meta gave attempt Attempt of Part: status sent, timestamp MS, no
// error, no attempt pending. The part moves from the key it was queued under (which must
// still hold it queued at that attempt) to SentSK(MS, MID) (which must be free); its id is
// kept.
type MarkSent struct {
	Part    OutgoingPart
	Attempt int
	MID     string
	MS      int64
}

// MarkFailed records the failure of a part that must still be queued at attempt Attempt:
// status failed, Error set, no attempt pending, out of the unattempted index.
type MarkFailed struct {
	ConversationID, MessageSK string
	Attempt                   int
	Error                     SendError
}

// ReleaseAttempt clears the pending flag of a part that must still be queued at attempt
// Attempt with that attempt pending: the part can be sent again.
type ReleaseAttempt struct {
	ConversationID, MessageSK string
	Attempt                   int
}

// PutPendingSend writes the marker of a part whose attempt has an unknown outcome, unless a
// marker of a later attempt exists.
type PutPendingSend struct{ Pending PendingSend }

// DeletePendingSend removes the marker of attempt Attempt or an earlier one; a marker of a
// later attempt is kept and the transaction fails.
type DeletePendingSend struct {
	ChannelID, ContactIGSID, MessageSK string
	Attempt                            int
}

func (PutContact) write()                  {}
func (CreateConversation) write()          {}
func (UpdateConversation) write()          {}
func (PutMessage) write()                  {}
func (EraseMessage) write()                {}
func (SetMessageText) write()              {}
func (SetMessageReactions) write()         {}
func (PutMID) write()                      {}
func (AdvanceConversationActivity) write() {}
func (MarkSent) write()                    {}
func (MarkFailed) write()                  {}
func (ReleaseAttempt) write()              {}
func (PutPendingSend) write()              {}
func (DeletePendingSend) write()           {}

// PutContact adds a PutContact write.
func (t *Tx) PutContact(c Contact) { t.add(PutContact{Contact: c}) }

// CreateConversation adds a CreateConversation write.
func (t *Tx) CreateConversation(c Conversation) { t.add(CreateConversation{Conversation: c}) }

// UpdateConversation adds an UpdateConversation write.
func (t *Tx) UpdateConversation(ch ConversationChange) { t.add(UpdateConversation{Change: ch}) }

// PutMessage adds a PutMessage write.
func (t *Tx) PutMessage(m Message) { t.add(PutMessage{Message: m}) }

// EraseMessage adds an EraseMessage write.
func (t *Tx) EraseMessage(conversationID, messageSK string) {
	t.add(EraseMessage{ConversationID: conversationID, MessageSK: messageSK})
}

// SetMessageText adds a SetMessageText write.
func (t *Tx) SetMessageText(conversationID, messageSK, text string, edits []Edit) {
	t.add(SetMessageText{ConversationID: conversationID, MessageSK: messageSK, Text: text, Edits: edits})
}

// SetMessageReactions adds a SetMessageReactions write.
func (t *Tx) SetMessageReactions(conversationID, messageSK string, reactions []MessageReaction) {
	t.add(SetMessageReactions{ConversationID: conversationID, MessageSK: messageSK, Reactions: reactions})
}

// PutMID adds a PutMID write.
func (t *Tx) PutMID(r MIDRecord) { t.add(PutMID{Record: r}) }

// AdvanceConversationActivity adds an AdvanceConversationActivity write.
func (t *Tx) AdvanceConversationActivity(conversationID string, ms int64) {
	t.add(AdvanceConversationActivity{ConversationID: conversationID, MS: ms})
}

// MarkSent adds a MarkSent write and returns the part's new sort key, which the per-mid
// record of mid (PutMID, same transaction) must point at.
func (t *Tx) MarkSent(p OutgoingPart, attempt int, mid string, ms int64) string {
	t.add(MarkSent{Part: p, Attempt: attempt, MID: mid, MS: ms})
	return SentSK(ms, mid)
}

// MarkFailed adds a MarkFailed write.
func (t *Tx) MarkFailed(conversationID, messageSK string, attempt int, e SendError) {
	t.add(MarkFailed{ConversationID: conversationID, MessageSK: messageSK, Attempt: attempt, Error: e})
}

// ReleaseAttempt adds a ReleaseAttempt write.
func (t *Tx) ReleaseAttempt(conversationID, messageSK string, attempt int) {
	t.add(ReleaseAttempt{ConversationID: conversationID, MessageSK: messageSK, Attempt: attempt})
}

// PutPendingSend adds a PutPendingSend write.
func (t *Tx) PutPendingSend(p PendingSend) { t.add(PutPendingSend{Pending: p}) }

// DeletePendingSend adds a DeletePendingSend write.
func (t *Tx) DeletePendingSend(accountID, igsid, messageSK string, attempt int) {
	t.add(DeletePendingSend{ChannelID: accountID, ContactIGSID: igsid, MessageSK: messageSK, Attempt: attempt})
}
