// Package outbound sends agents' replies: the messaging window rule shared by the API and the
// sender, the sender that handles send commands in the processor (one Instagram message per
// part, the attempt persisted before Meta is called), the check of attempts whose outcome is
// unknown, and the reconciliation of their echoes. The protocol is in docs/outbound.md.
package outbound

import (
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

// LastIncomingMS is the contact's latest incoming message time known to the store: the
// conversation's own (exact: messages appended without a read move it alone) and the
// contact's mirror of its last conversation (a lower bound, as of the contact's last write;
// it counts when the reply goes to an older conversation).
func LastIncomingMS(conv domain.Conversation, contact domain.Contact) int64 {
	return max(conv.LastIncomingMS, contact.ConvLastIncomingMS)
}

// WindowError is the error recorded on a part that could not be sent because the window
// closed while it was queued: Meta's code for "outside of allowed window" (10/2534022).
func WindowError(err error) domain.SendError {
	return domain.SendError{Code: 10, Subcode: 2534022, Message: "not sent: " + err.Error()}
}
