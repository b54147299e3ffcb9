// Package envelope defines the message that travels through the events FIFO queue: one
// envelope per Instagram webhook event, per outbound send command or check, and per erasure,
// purge or unsubscription step. The webhook, api and oauth functions and the processor itself
// produce envelopes and the processor consumes them, so this package is the contract between
// them.
package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is the envelope schema version written by this code.
const Version = 1

// Kind names what an envelope carries.
type Kind string

// Kinds of webhook events. A message with is_echo is KindEcho; every other message
// (including unsends, is_deleted) is KindMessage. An unsend has a key of its own (never the
// key of the message it erases), an echo with is_deleted (a business unsend) too.
const (
	KindMessage  Kind = "message"
	KindEcho     Kind = "echo"
	KindReaction Kind = "reaction"
	KindRead     Kind = "read"
	KindPostback Kind = "postback"
	KindReferral Kind = "referral"
	KindEdit     Kind = "edit"    // message_edit: the new text of an earlier message
	KindChange   Kind = "change"  // entry[].changes[] item (dashboard test events)
	KindUnknown  Kind = "unknown" // a messaging item of a shape we do not know: kept, never dropped

	// KindSend is an outbound send command (API → processor): Raw is a SendCommand. It travels
	// in the conversation's group, so the echo of the send is processed after it.
	KindSend Kind = "send"
	// KindSendCheck checks, after a grace period, a send whose outcome was unknown (timeout,
	// crash): Raw is a SendCommand. It travels in its own group (Group), so that waiting for
	// the echo never blocks the conversation.
	KindSendCheck Kind = "send_check"
)

// SendCommand is the payload (Raw) of KindSend and KindSendCheck envelopes: one outgoing part.
type SendCommand struct {
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	// MessageSK is the part's sort key in its conversation partition.
	MessageSK string `json:"message_sk"`
	// Attempt: for a send, the number of attempts already made when it was enqueued (0 for
	// the first send, n for a re-send after attempt n's outcome stayed unknown); for a check,
	// the attempt whose outcome is checked.
	Attempt int `json:"attempt"`
}

func (c SendCommand) validate() []string {
	var problems []string
	if c.ConversationID == "" {
		problems = append(problems, "send command without conversation_id")
	}
	if c.MessageID == "" {
		problems = append(problems, "send command without message_id")
	}
	if !strings.HasPrefix(c.MessageSK, "MSG#") {
		problems = append(problems, "send command without a message_sk")
	}
	if c.Attempt < 0 {
		problems = append(problems, "send command with a negative attempt")
	}
	return problems
}

// NewSend builds a send command envelope in the conversation's group. ts is the command's
// creation time (ms); the key names the part and the attempt, so a re-enqueue of the same
// attempt is deduplicated by SQS.
func NewSend(accountID, contactID string, ts int64, cmd SendCommand) (Envelope, error) {
	return newCommand(KindSend, accountID, contactID, "", ts, cmd)
}

// NewSendCheck builds a check command for attempt cmd.Attempt of a part, in a message group
// of its own.
func NewSendCheck(accountID, contactID string, ts int64, cmd SendCommand) (Envelope, error) {
	group := GroupID(accountID, contactID) + ":check:" + cmd.MessageID + ":" + strconv.Itoa(cmd.Attempt)
	return newCommand(KindSendCheck, accountID, contactID, group, ts, cmd)
}

func newCommand(kind Kind, accountID, contactID, group string, ts int64, cmd SendCommand) (Envelope, error) {
	raw, err := json.Marshal(cmd)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s command: %w", kind, err)
	}
	e := Envelope{
		V: Version, Kind: kind, AccountID: accountID, ContactID: contactID, Timestamp: ts,
		Key:   accountID + "|" + string(kind) + "|" + cmd.MessageID + "|" + strconv.Itoa(cmd.Attempt),
		Raw:   raw,
		Group: group,
	}
	return e, e.Validate()
}

// Command decodes the SendCommand of a KindSend / KindSendCheck envelope.
func (e Envelope) Command() (SendCommand, error) {
	var c SendCommand
	if e.Kind != KindSend && e.Kind != KindSendCheck {
		return c, fmt.Errorf("%w: %s envelope carries no send command", ErrInvalid, e.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: send command: %v", ErrInvalid, err)
	}
	if p := c.validate(); len(p) > 0 {
		return c, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(p, ", "))
	}
	return c, nil
}

// Source names the part of a webhook entry an event came from.
type Source string

// Webhook entry fields that carry events.
const (
	SourceMessaging Source = "messaging"
	SourceStandby   Source = "standby"
	SourceChanges   Source = "changes"
)

// Envelope is the queue message body.
type Envelope struct {
	V         int    `json:"v"`
	Kind      Kind   `json:"kind"`
	Source    Source `json:"source,omitempty"`
	AccountID string `json:"account_id"`
	// ContactID is the customer's IGSID: the recipient of an echo, the sender otherwise.
	// Empty for change events, which have no contact.
	ContactID string `json:"contact_id,omitempty"`
	// Timestamp is Meta's event time in milliseconds since the Unix epoch.
	Timestamp int64 `json:"timestamp"`
	// Key is the stable event key the deduplication id is derived from.
	Key string `json:"key"`
	// Raw is the webhook item exactly as Meta sent it (a SendCommand for send kinds).
	Raw json.RawMessage `json:"raw"`
	// Group overrides the message group (send checks only: they must not block the
	// conversation's group).
	Group string `json:"group,omitempty"`
}

// ErrInvalid is wrapped by every validation error of Decode and Validate.
var ErrInvalid = errors.New("invalid envelope")

// GroupID is the SQS FIFO message group: one group per conversation (account, contact).
func (e Envelope) GroupID() string {
	if e.Group != "" {
		return e.Group
	}
	return GroupID(e.AccountID, e.ContactID)
}

// GroupID builds the message group id of a conversation. Events without a contact
// (dashboard test events) share one group per account.
func GroupID(accountID, contactID string) string {
	if contactID == "" {
		contactID = "-"
	}
	return accountID + ":" + contactID
}

// DedupID is the SQS MessageDeduplicationId: hex SHA-256 of the stable event key, so that
// mids longer than SQS's 128-character limit still fit.
func (e Envelope) DedupID() string {
	return DedupID(e.Key)
}

// DedupID hashes a stable event key into an SQS deduplication id (64 hex characters).
func DedupID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Validate reports whether the envelope can be processed.
func (e Envelope) Validate() error {
	var problems []string
	if e.V != Version {
		problems = append(problems, fmt.Sprintf("unsupported version %d", e.V))
	}
	switch e.Kind {
	case KindMessage, KindEcho, KindReaction, KindRead, KindPostback, KindReferral, KindEdit:
		if e.ContactID == "" {
			problems = append(problems, "missing contact_id")
		}
	case KindSend, KindSendCheck:
		if e.ContactID == "" {
			problems = append(problems, "missing contact_id")
		}
		if _, err := e.Command(); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	case KindPurge, KindUnsubscribe:
		if _, err := e.Job(); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	case KindEraseContact:
		if e.ContactID == "" {
			problems = append(problems, "missing contact_id")
		}
		if _, err := e.Job(); err != nil {
			problems = append(problems, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	case KindChange, KindUnknown:
		// No contact needed: change events have none, and an item of unknown shape may lack
		// one; both are kept rather than dropped (group "<account>:-").
	case "":
		problems = append(problems, "missing kind")
	default:
		problems = append(problems, fmt.Sprintf("unknown kind %q", e.Kind))
	}
	if e.AccountID == "" {
		problems = append(problems, "missing account_id")
	}
	if e.Group != "" && e.Kind != KindSendCheck && e.Kind != KindPurge && e.Kind != KindUnsubscribe {
		problems = append(problems, fmt.Sprintf("group override on a %s envelope", e.Kind))
	}
	if e.Group != "" && len(e.Group) > 128 {
		problems = append(problems, "group longer than 128 characters")
	}
	if e.Key == "" {
		problems = append(problems, "missing key")
	}
	if len(e.Raw) == 0 || !json.Valid(e.Raw) {
		problems = append(problems, "raw is not JSON")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, ", "))
	}
	return nil
}

// Decode parses and validates a queue message body.
func Decode(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}
