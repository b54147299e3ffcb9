// Package outbound sends agents' replies: the messaging window rule shared by the API and the
// sender, the sender that handles send commands in the processor (one Instagram message per
// part, the attempt persisted before Meta is called), the check of attempts whose outcome is
// unknown, and the reconciliation of their echoes. The protocol is in docs/outbound.md.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
)

// Messaging window lengths of Meta's Send API.
const (
	StandardWindow   = 24 * time.Hour
	HumanAgentWindow = 7 * 24 * time.Hour
)

// ErrOutsideWindow: the contact's last message is too old for any reply.
var ErrOutsideWindow = errors.New("outside the messaging window")

// Window is how a reply may be sent: plain (empty fields) or tagged HUMAN_AGENT.
type Window struct {
	MessagingType string
	Tag           string
}

// Decide applies the messaging window to a reply at now, for a contact whose last incoming
// message is at lastIncomingMS (0: never wrote). Within 24 h: plain, never tagged. From 24 h
// to 7 days: MESSAGE_TAG/HUMAN_AGENT when humanAgent is enabled. Otherwise ErrOutsideWindow.
func Decide(lastIncomingMS int64, now time.Time, humanAgent bool) (Window, error) {
	if lastIncomingMS <= 0 {
		return Window{}, fmt.Errorf("%w: the contact has never written", ErrOutsideWindow)
	}
	age := now.Sub(time.UnixMilli(lastIncomingMS))
	switch {
	case age <= StandardWindow:
		return Window{}, nil
	case age <= HumanAgentWindow && humanAgent:
		return Window{MessagingType: graph.MessagingTypeTag, Tag: graph.TagHumanAgent}, nil
	case age <= HumanAgentWindow:
		return Window{}, fmt.Errorf("%w: the contact's last message is older than 24 hours and HUMAN_AGENT replies are disabled", ErrOutsideWindow)
	default:
		return Window{}, fmt.Errorf("%w: the contact's last message is older than 7 days", ErrOutsideWindow)
	}
}

// ConversationsReader reads conversations by id (*store.Store).
type ConversationsReader interface {
	GetConversations(ctx context.Context, ids []string) ([]domain.Conversation, error)
}

// windowReads bounds how many of a contact's conversations, newest first, the window reads.
const windowReads = 100

// ContactLastIncomingMS is the time of the contact's latest incoming message, which the
// window of a reply in conv at now is counted from. The contact may have written last in
// another of its conversations than conv: its last conversation, whose times the contact's
// mirror only bounds from below (messages appended without a read move their conversation
// alone), or a newer one when conv is an older conversation reopened. conv's own time and
// the mirror are used alone when they already allow a plain reply (a later time only widens
// the window); otherwise the contact's other conversations (the 100 newest) are read with one
// BatchGetItem and the latest of their last incoming times counts.
func ContactLastIncomingMS(ctx context.Context, r ConversationsReader, conv domain.Conversation, contact domain.Contact, now time.Time) (int64, error) {
	last := max(conv.LastIncomingMS, contact.ConvLastIncomingMS)
	if now.Sub(time.UnixMilli(last)) <= StandardWindow {
		return last, nil
	}
	var ids []string
	for n := contact.ConversationSeq; n >= 1 && len(ids) < windowReads; n-- {
		if id := domain.ConversationID(contact.ChannelID, contact.IGSID, n); id != conv.ID {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return last, nil
	}
	convs, err := r.GetConversations(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("conversations of the contact: %w", err)
	}
	for _, c := range convs {
		last = max(last, c.LastIncomingMS)
	}
	return last, nil
}

// WindowError is the error recorded on a part that could not be sent because the window
// closed while it was queued: Meta's code for "outside of allowed window" (10/2534022).
func WindowError(err error) domain.SendError {
	return domain.SendError{Code: 10, Subcode: 2534022, Message: "not sent: " + err.Error()}
}
