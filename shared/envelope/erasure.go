package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Erasure commands (API, Meta's data-deletion callback → processor). They carry identifiers
// only, never content.
const (
	// KindPurge deletes everything stored for an account, one bounded step per message; a
	// step that leaves work enqueues the next one. It travels in a group of its own
	// ("purge:<account>"), so it never blocks a conversation.
	KindPurge Kind = "purge"
	// KindEraseContact erases one customer of a channel, in the conversation's group, so that
	// it is ordered with that customer's events.
	KindEraseContact Kind = "erase_contact"
	// KindUnsubscribe removes a disconnected account's webhook subscription on Meta and
	// deletes its token (DELETE /api/channels/{id}: the api function may not read tokens). It
	// travels in the account's purge group, so a purge asked with it runs after it.
	KindUnsubscribe Kind = "unsubscribe"
)

// Job is the payload (Raw) of KindPurge, KindEraseContact and KindUnsubscribe envelopes.
type Job struct {
	// Code is the data-deletion request whose status the steps update (purges only; may be
	// empty for a purge without a status page).
	Code string `json:"code,omitempty"`
	// Step numbers the steps of one job from 0; each step's key is distinct, so that SQS
	// deduplicates only a re-enqueue of the same step.
	Step int `json:"step"`
	// RequestedMS is when the job was requested (ms; tombstone window and settle time).
	RequestedMS int64 `json:"requested_ms"`
}

// PurgeGroup is the message group of an account's purge.
func PurgeGroup(accountID string) string { return "purge:" + accountID }

// NewPurge builds step job.Step of an account's purge.
func NewPurge(accountID string, job Job) (Envelope, error) {
	return newJob(KindPurge, accountID, "", PurgeGroup(accountID), job)
}

// NewEraseContact builds step job.Step of a contact's erasure.
func NewEraseContact(accountID, igsid string, job Job) (Envelope, error) {
	return newJob(KindEraseContact, accountID, igsid, "", job)
}

// NewUnsubscribe builds the unsubscription of a disconnected account (step 0 only).
func NewUnsubscribe(accountID string, requestedMS int64) (Envelope, error) {
	return newJob(KindUnsubscribe, accountID, "", PurgeGroup(accountID), Job{RequestedMS: requestedMS})
}

func newJob(kind Kind, accountID, contactID, group string, job Job) (Envelope, error) {
	raw, err := json.Marshal(job)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s job: %w", kind, err)
	}
	e := Envelope{
		V: Version, Kind: kind, AccountID: accountID, ContactID: contactID, Timestamp: job.RequestedMS,
		Key:   accountID + "|" + string(kind) + "|" + contactID + "|" + strconv.FormatInt(job.RequestedMS, 10) + "|" + strconv.Itoa(job.Step),
		Raw:   raw,
		Group: group,
	}
	return e, e.Validate()
}

// Job decodes the Job of a KindPurge / KindEraseContact / KindUnsubscribe envelope.
func (e Envelope) Job() (Job, error) {
	var j Job
	if e.Kind != KindPurge && e.Kind != KindEraseContact && e.Kind != KindUnsubscribe {
		return j, fmt.Errorf("%w: %s envelope carries no job", ErrInvalid, e.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return j, fmt.Errorf("%w: job: %v", ErrInvalid, err)
	}
	if j.Step < 0 || j.RequestedMS <= 0 {
		return j, fmt.Errorf("%w: job needs a step >= 0 and requested_ms", ErrInvalid)
	}
	return j, nil
}
