// Package envelope defines the message that travels through the events FIFO queue: one
// envelope per Instagram webhook event (and, later, per outbound send command). The webhook
// function produces envelopes and the processor consumes them, so this package is the
// contract between the two.
package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the envelope schema version written by this code.
const Version = 1

// Kind names what an envelope carries.
type Kind string

// Kinds of webhook events. A message with is_echo is KindEcho; every other message
// (including unsends, is_deleted) is KindMessage.
const (
	KindMessage  Kind = "message"
	KindEcho     Kind = "echo"
	KindReaction Kind = "reaction"
	KindRead     Kind = "read"
	KindPostback Kind = "postback"
	KindReferral Kind = "referral"
	KindChange   Kind = "change"  // entry[].changes[] item (dashboard test events)
	KindUnknown  Kind = "unknown" // a messaging item of a shape we do not know: kept, never dropped
)

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
	// Raw is the webhook item exactly as Meta sent it.
	Raw json.RawMessage `json:"raw"`
}

// ErrInvalid is wrapped by every validation error of Decode and Validate.
var ErrInvalid = errors.New("invalid envelope")

// GroupID is the SQS FIFO message group: one group per conversation (account, contact).
func (e Envelope) GroupID() string {
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
	case KindMessage, KindEcho, KindReaction, KindRead, KindPostback, KindReferral, KindUnknown:
		if e.ContactID == "" {
			problems = append(problems, "missing contact_id")
		}
	case KindChange:
	case "":
		problems = append(problems, "missing kind")
	default:
		problems = append(problems, fmt.Sprintf("unknown kind %q", e.Kind))
	}
	if e.AccountID == "" {
		problems = append(problems, "missing account_id")
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
