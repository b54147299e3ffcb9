package domain

import (
	"log/slog"
	"time"
)

// Channel is a connected Instagram professional account. Its ID is the account's `user_id`
// (the id webhooks carry as entry[].id / recipient.id). AccessToken never leaves the store
// and the processes that call Meta with it: it is kept in an item of its own, which the API
// may not read, and logs never show it. Reads that need it say so (LoadEventState,
// LoadSendState, DueChannels, GetChannelToken); GetChannel and ListChannels leave it empty.
type Channel struct {
	ID                       string    `dynamodbav:"id"`
	Username                 string    `dynamodbav:"username"`
	Name                     string    `dynamodbav:"name"`
	AccountType              string    `dynamodbav:"account_type,omitempty"`
	AccessToken              string    `dynamodbav:"-" json:"-"` // the store keeps it in an item of its own
	TokenExpiresAt           time.Time `dynamodbav:"token_expires_at"`
	TokenRefreshedAt         time.Time `dynamodbav:"token_refreshed_at"`
	ReauthRequired           bool      `dynamodbav:"reauth_required"`
	ReauthReason             string    `dynamodbav:"reauth_reason,omitempty"`
	ReauthAt                 time.Time `dynamodbav:"reauth_at,omitempty"`
	LockToSingleConversation bool      `dynamodbav:"lock_to_single_conversation"`
	Subscribed               bool      `dynamodbav:"subscribed"`
	SubscribeError           string    `dynamodbav:"subscribe_error,omitempty"`
	// Status is ChannelDisconnected after a deauthorization or a disconnect (absent while
	// connected); DisconnectedAt and DisconnectReason say when and why.
	Status           string    `dynamodbav:"status,omitempty"`
	DisconnectedAt   time.Time `dynamodbav:"disconnected_at,omitempty"`
	DisconnectReason string    `dynamodbav:"disconnect_reason,omitempty"`
	// UnsubscribedAt or UnsubscribeError is the outcome of the webhook unsubscription that
	// follows a disconnect through the API (neither: pending, or not asked).
	UnsubscribedAt   time.Time `dynamodbav:"unsubscribed_at,omitempty"`
	UnsubscribeError string    `dynamodbav:"unsubscribe_error,omitempty"`
	ConnectedAt      time.Time `dynamodbav:"connected_at"`
	// ReconnectedAt is set by every re-connect of an existing channel (connected_at keeps the
	// first connection): the stream tells a re-connect from a token refresh by it.
	ReconnectedAt time.Time `dynamodbav:"reconnected_at,omitempty"`
	UpdatedAt     time.Time `dynamodbav:"updated_at"`
}

// Disconnected reports whether the channel was disconnected (deauthorized, disconnected
// through the API, or being purged): its events are ignored and replies refused.
func (c Channel) Disconnected() bool { return c.Status == ChannelDisconnected }

// LogValue keeps the access token out of logs should a Channel ever be logged.
func (c Channel) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("username", c.Username),
		slog.Time("token_expires_at", c.TokenExpiresAt),
		slog.Bool("reauth_required", c.ReauthRequired),
		slog.String("status", c.Status),
		slog.String("access_token", "[redacted]"),
	)
}

// ReadStats reports what a query consumed.
type ReadStats struct {
	// ItemsRead is the number of items DynamoDB evaluated (ScannedCount, before filters).
	ItemsRead int
	// ReadCapacityUnits is the consumed capacity DynamoDB reported (0 when it reports none).
	ReadCapacityUnits float64
	// Pages is the number of Query calls.
	Pages int
}

// Channel statuses (attribute `status`; absent = connected).
const (
	ChannelConnected    = ""
	ChannelDisconnected = "disconnected"
)

// Reasons of a disconnect (attribute `disconnect_reason`).
const (
	DisconnectDeauthorized = "deauthorized" // Meta's deauthorize callback
	DisconnectAPI          = "api"          // DELETE /api/channels/{id}
	DisconnectDataDeletion = "data_deletion"
)
