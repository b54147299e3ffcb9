package domain

import "time"

// Deletion request states.
const (
	DeletionPending   = "pending"
	DeletionCompleted = "completed"
)

// DeletionRequest is the status record of a data-deletion request or an API purge, looked up
// by its unguessable confirmation code. It never names the account: once the purge is done,
// nothing in the table refers to the account.
type DeletionRequest struct {
	Code        string         `dynamodbav:"code"`
	Status      string         `dynamodbav:"status"`
	Source      string         `dynamodbav:"source"`
	RequestedAt time.Time      `dynamodbav:"requested_at"`
	StartedAt   time.Time      `dynamodbav:"started_at,omitempty"`
	CompletedAt time.Time      `dynamodbav:"completed_at,omitempty"`
	Steps       int            `dynamodbav:"steps"`
	Deleted     map[string]int `dynamodbav:"deleted,omitempty"`
	TTL         int64          `dynamodbav:"ttl,omitempty"`
}

// Kinds of deleted items, as counted by a purge or an erasure.
const (
	KindChannel       = "channel"
	KindContact       = "contacts"
	KindConversation  = "conversations"
	KindMessage       = "messages"
	KindMIDRecord     = "mid_records"
	KindIdempotency   = "idempotency_records"
	KindPendingSend   = "pending_sends"
	KindUnknownEvent  = "unknown_events"
	KindArchivedBody  = "archived_bodies"
	KindMIDTombstones = "tombstones"
)

// Budget bounds one step of a purge or an erasure: at most Items deletions, and no new chunk
// is started after Deadline. The next step (a new queue message) goes on from what is left:
// every step queries what still exists, so a crash or timeout leaves nothing orphaned.
type Budget struct {
	Items    int
	Deadline time.Time
}

// StepResult is what one step of a purge or an erasure did.
type StepResult struct {
	// Deleted counts the items deleted (or, for erased mids, tombstoned) per kind.
	Deleted map[string]int
	// Done: nothing of the job is left.
	Done bool
	// Calls is the number of DynamoDB requests the step made (retries of unprocessed items
	// included).
	Calls int
}
