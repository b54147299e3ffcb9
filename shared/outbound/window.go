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

// ConversationReader reads a conversation (*store.Store).
type ConversationReader interface {
	GetConversation(ctx context.Context, id string) (domain.Conversation, error)
}

// ContactLastIncomingMS is the time of the contact's latest incoming message, which the
// window of a reply in conv at now is counted from. conv's own time is exact (messages
// appended without a read move their conversation alone); the contact's mirror of its last
// conversation is only a lower bound (as of the contact's last write). So when conv is not
// the contact's last conversation and these times do not already allow a plain reply, the
// last conversation is read for its own time (a later time only widens the window: no read
// is needed otherwise, nor for a reply in the last conversation).
func ContactLastIncomingMS(ctx context.Context, r ConversationReader, conv domain.Conversation, contact domain.Contact, now time.Time) (int64, error) {
	last := max(conv.LastIncomingMS, contact.ConvLastIncomingMS)
	if contact.LastConversationID == "" || contact.LastConversationID == conv.ID || now.Sub(time.UnixMilli(last)) <= StandardWindow {
		return last, nil
	}
	lc, err := r.GetConversation(ctx, contact.LastConversationID)
	if errors.Is(err, domain.ErrNotFound) {
		return last, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last conversation of the contact: %w", err)
	}
	return max(last, lc.LastIncomingMS), nil
}

// WindowError is the error recorded on a part that could not be sent because the window
// closed while it was queued: Meta's code for "outside of allowed window" (10/2534022).
func WindowError(err error) domain.SendError {
	return domain.SendError{Code: 10, Subcode: 2534022, Message: "not sent: " + err.Error()}
}
