package store

import (
	"log/slog"
	"time"
)

// Channel is a connected Instagram professional account. Its ID is the account's `user_id`
// (the id webhooks carry as entry[].id / recipient.id). AccessToken never leaves the store
// and the processes that call Meta with it: the API does not return it, logs never show it.
type Channel struct {
	ID                       string    `dynamodbav:"id"`
	Username                 string    `dynamodbav:"username"`
	Name                     string    `dynamodbav:"name"`
	AccountType              string    `dynamodbav:"account_type,omitempty"`
	AccessToken              string    `dynamodbav:"access_token" json:"-"`
	TokenExpiresAt           time.Time `dynamodbav:"token_expires_at"`
	TokenRefreshedAt         time.Time `dynamodbav:"token_refreshed_at"`
	ReauthRequired           bool      `dynamodbav:"reauth_required"`
	ReauthReason             string    `dynamodbav:"reauth_reason,omitempty"`
	ReauthAt                 time.Time `dynamodbav:"reauth_at,omitempty"`
	LockToSingleConversation bool      `dynamodbav:"lock_to_single_conversation"`
	Subscribed               bool      `dynamodbav:"subscribed"`
	SubscribeError           string    `dynamodbav:"subscribe_error,omitempty"`
	ConnectedAt              time.Time `dynamodbav:"connected_at"`
	UpdatedAt                time.Time `dynamodbav:"updated_at"`
}

// LogValue keeps the access token out of logs should a Channel ever be logged.
func (c Channel) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("username", c.Username),
		slog.Time("token_expires_at", c.TokenExpiresAt),
		slog.Bool("reauth_required", c.ReauthRequired),
		slog.String("access_token", "[redacted]"),
	)
}
