package domain

import "time"

// ContactRef names a contact.
type ContactRef struct{ ChannelID, IGSID string }

// Contact profile states.
const (
	ProfileOK       = "ok"               // fetched from the Graph API
	ProfileUnknown  = "unknown"          // 9010 / 100: "Unknown (IG: <IGSID>)"
	ProfileConsent  = "consent_required" // 230: known by IGSID only until a later event
	ProfileMinimal  = "minimal"          // not fetched (token dead, retries exhausted)
	ProfileNotFetch = ""                 // never attempted (contact created by a read/reaction)
)

// Contact is a customer (IGSID) of a channel. It is also the concurrency anchor of its
// conversations: OpenConversationID is set only while one conversation is open (at most one,
// and it is the one whose status is open: every status change writes both). The Conv* fields
// mirror the times of LastConversationID as of the contact's last write: a lower bound, since
// messages appended without a read (AppendToOpenConversation) move the conversation's times
// without writing the contact. The conversation's own times are the exact ones.
type Contact struct {
	ChannelID            string    `dynamodbav:"channel_id"`
	IGSID                string    `dynamodbav:"igsid"`
	Name                 string    `dynamodbav:"name,omitempty"`
	Username             string    `dynamodbav:"username,omitempty"`
	ProfilePic           string    `dynamodbav:"profile_pic,omitempty"`
	FollowerCount        int64     `dynamodbav:"follower_count,omitempty"`
	IsUserFollowBusiness bool      `dynamodbav:"is_user_follow_business,omitempty"`
	IsBusinessFollowUser bool      `dynamodbav:"is_business_follow_user,omitempty"`
	IsVerifiedUser       bool      `dynamodbav:"is_verified_user,omitempty"`
	Unknown              bool      `dynamodbav:"unknown,omitempty"`
	ProfileStatus        string    `dynamodbav:"profile_status,omitempty"`
	ProfileFetchedAt     time.Time `dynamodbav:"profile_fetched_at,omitempty"`
	OpenConversationID   string    `dynamodbav:"open_conversation_id,omitempty"`
	LastConversationID   string    `dynamodbav:"last_conversation_id,omitempty"`
	ConversationSeq      int       `dynamodbav:"conversation_seq,omitempty"`
	ConvLastActivityMS   int64     `dynamodbav:"conv_last_activity_ms,omitempty"`
	ConvLastIncomingMS   int64     `dynamodbav:"conv_last_incoming_ms,omitempty"`
	ReadWatermarkMS      int64     `dynamodbav:"read_watermark_ms,omitempty"`
	Referral             *Referral `dynamodbav:"referral,omitempty"`
	CreatedAt            time.Time `dynamodbav:"created_at,omitempty"`
	// Ver is the optimistic-locking version; 0 means the item does not exist yet.
	Ver int64 `dynamodbav:"ver"`
}

// Referral is an ig.me link or ad referral (ref, source, type) with Meta's timestamp.
type Referral struct {
	Ref    string `dynamodbav:"ref,omitempty" json:"ref,omitempty"`
	Source string `dynamodbav:"source,omitempty" json:"source,omitempty"`
	Type   string `dynamodbav:"type,omitempty" json:"type,omitempty"`
	// Raw keeps every field Meta sent (ads carry more), as JSON.
	Raw string `dynamodbav:"raw,omitempty" json:"-"`
	MS  int64  `dynamodbav:"ms,omitempty" json:"-"`
}
