package domain

import "time"

// Actor names the agent key behind a change (a reply, a status change).
type Actor struct {
	KeyID string `dynamodbav:"key_id" json:"key_id"`
	Name  string `dynamodbav:"name" json:"name"`
}

// APIKey is a named agent key. Only the SHA-256 of the key is stored, with a short prefix
// that identifies it to people; the key itself is shown once, when it is created.
type APIKey struct {
	ID     string `dynamodbav:"id"`
	Name   string `dynamodbav:"name"`
	Prefix string `dynamodbav:"prefix"`
	Hash   string `dynamodbav:"key_hash"`
	Admin  bool   `dynamodbav:"admin"`
	// Channels limits the key to these channels; empty = every channel.
	Channels   []string  `dynamodbav:"channels,omitempty,stringset"`
	CreatedAt  time.Time `dynamodbav:"created_at"`
	LastUsedAt time.Time `dynamodbav:"last_used_at,omitempty"`
	RevokedAt  time.Time `dynamodbav:"revoked_at,omitempty"`
}

// Revoked reports whether the key was revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Session is a browser session signed in with a key. KeyHash binds it to the exact key that
// signed in (for the bootstrap key, whose value can change without an item of its own).
type Session struct {
	ID        string    `dynamodbav:"id"`
	KeyID     string    `dynamodbav:"key_id"`
	KeyHash   string    `dynamodbav:"key_hash"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	ExpiresAt time.Time `dynamodbav:"expires_at"`
}
