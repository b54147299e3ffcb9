package store

// Conversation state items: contacts, conversations, messages and per-mid records. The layout
// is documented in docs/data-model.md. Every processor write is one TransactWriteItems whose
// conditions make it idempotent (a mid is stored once) and safe against concurrent writers
// (the contact and the per-mid record carry a version, compared on write).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Conversation statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// KindReferral marks a conversation entry that records a referral event.
const KindReferral = "referral"

// Message directions and statuses.
const (
	DirectionIncoming = "incoming"
	DirectionOutgoing = "outgoing"

	MessageReceived = "received"
	MessageQueued   = "queued"
	MessageSent     = "sent"
	MessageRead     = "read"
	MessageFailed   = "failed"
)

// Contact profile states.
const (
	ProfileOK       = "ok"               // fetched from the Graph API
	ProfileUnknown  = "unknown"          // 9010 / 100: "Unknown (IG: <IGSID>)"
	ProfileConsent  = "consent_required" // 230: known by IGSID only until a later event
	ProfileMinimal  = "minimal"          // not fetched (token dead, retries exhausted)
	ProfileNotFetch = ""                 // never attempted (contact created by a read/reaction)
)

// Contact is a customer (IGSID) of a channel. It is also the concurrency anchor of its
// conversations: OpenConversationID is set only while one conversation is open (at most one),
// and the Conv* fields mirror the timestamps of LastConversationID so that one read of the
// contact is enough to append a message.
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

// Conversation is a thread between a channel and a contact.
type Conversation struct {
	ID             string `dynamodbav:"id"`
	ChannelID      string `dynamodbav:"channel_id"`
	ContactIGSID   string `dynamodbav:"contact_igsid"`
	Status         string `dynamodbav:"status"`
	Seq            int    `dynamodbav:"seq"`
	LastActivityMS int64  `dynamodbav:"last_activity_ms"`
	LastIncomingMS int64  `dynamodbav:"last_incoming_ms,omitempty"`
	// ReadMS is the business's read mark (Meta ms): messages up to it were seen by an agent
	// (POST /api/conversations/{id}/read). It only moves forward.
	ReadMS    int64     `dynamodbav:"read_ms,omitempty"`
	Referral  *Referral `dynamodbav:"referral,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// StatusBy and StatusAt record who last resolved or reopened it, and when.
	StatusBy *Actor    `dynamodbav:"status_by,omitempty"`
	StatusAt time.Time `dynamodbav:"status_at,omitempty"`
}

// Attachment is one message attachment: its type, its URL when it has one, and Meta's whole
// payload as JSON so that no type (known or not) loses data.
type Attachment struct {
	Type    string `dynamodbav:"type"`
	URL     string `dynamodbav:"url,omitempty"`
	Payload string `dynamodbav:"payload,omitempty"`
}

// ReplyTo is what a message replies to: another message or a story.
type ReplyTo struct {
	MID      string `dynamodbav:"mid,omitempty"`
	StoryID  string `dynamodbav:"story_id,omitempty"`
	StoryURL string `dynamodbav:"story_url,omitempty"`
}

// MessageReaction is a reaction shown on a message.
type MessageReaction struct {
	By       string `dynamodbav:"by"`
	Reaction string `dynamodbav:"reaction"`
	Emoji    string `dynamodbav:"emoji,omitempty"`
}

// SendError is Meta's error for a failed outgoing message.
type SendError struct {
	Code    int    `dynamodbav:"code"`
	Subcode int    `dynamodbav:"subcode,omitempty"`
	Message string `dynamodbav:"message"`
	// Reason names a failure of ours rather than Meta's (Code 0), e.g. ReasonEnqueueFailed.
	Reason string `dynamodbav:"reason,omitempty"`
}

// ReasonEnqueueFailed: the part was stored but never queued for sending (SendError.Reason).
const ReasonEnqueueFailed = "enqueue_failed"

// Message is one Instagram message (one mid) of a conversation.
type Message struct {
	ID             string `dynamodbav:"id"`
	ConversationID string `dynamodbav:"conversation_id"`
	ChannelID      string `dynamodbav:"channel_id"`
	ContactIGSID   string `dynamodbav:"contact_igsid"`
	MID            string `dynamodbav:"mid,omitempty"`
	// Kind is empty for messages; KindReferral for a referral entry (an ig.me link or ad
	// opened the thread: no mid, no text, Referral set).
	Kind              string       `dynamodbav:"kind,omitempty"`
	Direction         string       `dynamodbav:"direction"`
	Echo              bool         `dynamodbav:"echo"`
	Text              string       `dynamodbav:"text,omitempty"`
	Attachments       []Attachment `dynamodbav:"attachments,omitempty"`
	ReplyTo           *ReplyTo     `dynamodbav:"reply_to,omitempty"`
	QuickReplyPayload string       `dynamodbav:"quick_reply_payload,omitempty"`
	PostbackPayload   string       `dynamodbav:"postback_payload,omitempty"`
	// Postback: the message is a postback (a button or ice breaker: Text is its title).
	Postback  bool              `dynamodbav:"postback,omitempty"`
	Referral  *Referral         `dynamodbav:"referral,omitempty"`
	Reactions []MessageReaction `dynamodbav:"reactions,omitempty"`
	// Edits are the versions the text had before the current one, oldest first: the original
	// (num_edit 0, the message's timestamp) and every edit but the latest (see ApplyEdits).
	Edits       []Edit     `dynamodbav:"edits,omitempty"`
	Status      string     `dynamodbav:"status"`
	Error       *SendError `dynamodbav:"error,omitempty"`
	Deleted     bool       `dynamodbav:"deleted"`
	Unsupported bool       `dynamodbav:"unsupported"`
	TimestampMS int64      `dynamodbav:"ts"`
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	// SentBy is the agent key that sent an outgoing reply (absent on echoes of messages
	// sent from the Instagram app).
	SentBy *Actor `dynamodbav:"sent_by,omitempty"`
	// StoredSK is the sort key as stored, when it is not MessageSK(ts, mid): an outgoing part
	// is keyed when it is queued, before Meta gives it a mid (see docs/outbound.md).
	StoredSK string `dynamodbav:"sk,omitempty"`
}

// SK returns the message's sort key in its conversation partition.
func (m Message) SK() string {
	if m.StoredSK != "" {
		return m.StoredSK
	}
	return MessageSK(m.TimestampMS, m.MID)
}

// ReactionState is the last reaction event of one reactor on a message (react or unreact),
// kept so that the event with the later Meta timestamp wins whatever the arrival order.
type ReactionState struct {
	Action   string `dynamodbav:"action"`
	Reaction string `dynamodbav:"reaction,omitempty"`
	Emoji    string `dynamodbav:"emoji,omitempty"`
	MS       int64  `dynamodbav:"ms"`
}

// Edit is one version of a message's text: an edit (message_edit: num_edit ≥ 1, Meta's
// timestamp of the edit event) or the original text (num_edit 0, the message's timestamp).
type Edit struct {
	Text    string `dynamodbav:"text"`
	NumEdit int    `dynamodbav:"num_edit"`
	MS      int64  `dynamodbav:"ms"`
}

// editLess orders edits: by num_edit, then Meta time, then text, so that every delivery order
// picks the same latest version.
func editLess(a, b Edit) bool {
	if a.NumEdit != b.NumEdit {
		return a.NumEdit < b.NumEdit
	}
	if a.MS != b.MS {
		return a.MS < b.MS
	}
	return a.Text < b.Text
}

// AddEdit returns edits (sorted by editLess) with e inserted, and whether e was new.
func AddEdit(edits []Edit, e Edit) ([]Edit, bool) {
	out := make([]Edit, 0, len(edits)+1)
	added := false
	for _, x := range edits {
		if x == e {
			return edits, false
		}
		if !added && editLess(e, x) {
			out = append(out, e)
			added = true
		}
		out = append(out, x)
	}
	if !added {
		out = append(out, e)
	}
	return out, true
}

// OriginalText is the text a stored message had before any edit.
func (m Message) OriginalText() string {
	if len(m.Edits) > 0 {
		return m.Edits[0].Text
	}
	return m.Text
}

// ApplyEdits sets the message's text to the latest of edits (sorted by editLess; the highest
// num_edit wins) and Edits to the versions before it, starting with original.
func (m *Message) ApplyEdits(original string, edits []Edit) {
	if len(edits) == 0 {
		m.Text, m.Edits = original, nil
		return
	}
	last := edits[len(edits)-1]
	m.Text = last.Text
	m.Edits = append([]Edit{{Text: original, NumEdit: 0, MS: m.TimestampMS}}, edits[:len(edits)-1]...)
}

// MIDRecord is the per-mid idempotency record (MID#<account>#<mid>): where the message is
// stored once it is, and the state of events that may arrive before it (an unsend, reactions,
// edits).
type MIDRecord struct {
	ChannelID      string                   `dynamodbav:"channel_id"`
	MID            string                   `dynamodbav:"mid"`
	ConversationID string                   `dynamodbav:"conversation_id,omitempty"`
	MessageSK      string                   `dynamodbav:"message_sk,omitempty"`
	Deleted        bool                     `dynamodbav:"deleted,omitempty"`
	DeletedMS      int64                    `dynamodbav:"deleted_ms,omitempty"`
	Reactions      map[string]ReactionState `dynamodbav:"reactions,omitempty"`
	// Edits are the message_edit events of the mid (sorted by num_edit), kept so that edits
	// converge whatever the order, also before their message; dropped by an unsend.
	Edits []Edit `dynamodbav:"edits,omitempty"`
	// EditedBy is the contact whose edits are kept while the message is not stored (so that
	// erasing the contact reaches them).
	EditedBy string `dynamodbav:"edited_by,omitempty"`
	// Erased: the message of this mid was erased with its contact; the content-free record
	// stays until TTL so that a late redelivery stores nothing.
	Erased bool `dynamodbav:"erased,omitempty"`
	// TTL expires tombstone-only records (an unsend or reaction whose message never came).
	TTL int64 `dynamodbav:"ttl,omitempty"`
	Ver int64 `dynamodbav:"ver"`
}

// Stored reports whether the message of this mid is stored.
func (r MIDRecord) Stored() bool { return r.MessageSK != "" }

// Active reports whether the account's events are to be applied: its channel exists and is
// not disconnected.
func (st EventState) Active() bool { return st.ChannelFound && !st.Channel.Disconnected() }

// Keys (channel keys are in channels.go).
func contactKey(accountID, igsid string) (string, string) {
	return "CH#" + accountID, "CONTACT#" + igsid
}

func conversationKey(id string) (string, string) { return "CONV#" + id, "CONV" }

func midKey(accountID, mid string) (string, string) { return "MID#" + accountID + "#" + mid, "MID" }

// HashID is the 24-hex id of its parts: SHA-256 over each part followed by a NUL byte,
// truncated. Conversation, message, reply part and reply request ids are HashIDs, so that
// re-deciding names the same item; stored ids depend on it byte for byte.
func HashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// MessageSK is the sort key of a message: Meta's timestamp (13 digits) then the mid, so that
// messages are ordered by Meta time with ties broken by mid.
func MessageSK(ts int64, mid string) string { return fmt.Sprintf("MSG#%013d#%s", ts, mid) }

// ActivitySK is the conversation's sort key in the activity indexes.
func ActivitySK(lastActivityMS int64, id string) string {
	return fmt.Sprintf("%013d#%s", lastActivityMS, id)
}

func channelConvsPK(accountID string) string { return "CH#" + accountID + "#CONVS" }

// ConversationShards is the number of gsi2 partitions the conversations of all channels are
// spread over: CONVS#0 … CONVS#f, the first hex digit of the conversation id (a hash, so
// uniform). Every conversation update writes its activity key; with one partition for
// everything, every channel's traffic would land on the same index partition.
const ConversationShards = 16

// allConvsPK is the gsi2 partition of conversation id (see ConversationShards).
func allConvsPK(id string) string { return "CONVS#" + id[:1] }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

// EventState is what the processor reads, in one round trip, before handling an event.
type EventState struct {
	Channel      Channel
	ChannelFound bool
	Contact      Contact // Ver == 0 when absent
	MID          MIDRecord
}

// LoadEventState reads the channel with its token, the contact and (when mid is not empty)
// the per-mid record with one strongly consistent BatchGetItem.
func (s *Store) LoadEventState(ctx context.Context, accountID, igsid, mid string) (EventState, error) {
	var st EventState
	keys := []map[string]types.AttributeValue{channelKey(accountID), tokenKey(accountID)}
	if igsid != "" {
		keys = append(keys, key(contactKey(accountID, igsid)))
	}
	if mid != "" {
		keys = append(keys, key(midKey(accountID, mid)))
	}
	st.Contact = Contact{ChannelID: accountID, IGSID: igsid}
	st.MID = MIDRecord{ChannelID: accountID, MID: mid}
	var tok tokenItem
	err := s.batchGetInto(ctx, keys, func(sk string) any {
		switch {
		case sk == channelSK:
			st.ChannelFound = true
			return &st.Channel
		case sk == tokenSK:
			return &tok
		case strings.HasPrefix(sk, "CONTACT#"):
			return &st.Contact
		case sk == "MID":
			return &st.MID
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("load event state %s/%s: %w", accountID, igsid, err)
	}
	st.Channel.AccessToken = tok.AccessToken
	return st, nil
}

// batchGetInto reads keys with one consistent BatchGetItem (batchGet) and decodes each item
// found into what into returns for its sort key (nil: the item is skipped). into runs once
// per item found, so it can also record that the item exists.
func (s *Store) batchGetInto(ctx context.Context, keys []map[string]types.AttributeValue, into func(sk string) any) error {
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return err
	}
	for _, it := range items {
		sk := stringAttr(it, "sk")
		dst := into(sk)
		if dst == nil {
			continue
		}
		if err := attributevalue.UnmarshalMap(it, dst); err != nil {
			return fmt.Errorf("decode %s: %w", sk, err)
		}
	}
	return nil
}

func stringAttr(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// batchGet reads keys (at most 100) consistently, following UnprocessedKeys.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		if attempt > 8 {
			return nil, errors.New("batch get: unprocessed keys after retries")
		}
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems:           req,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, fmt.Errorf("batch get: %w", err)
		}
		out = append(out, res.Responses[s.table]...)
		req = res.UnprocessedKeys
	}
	return out, nil
}

// Tx collects the writes of one event; Commit writes them in one transaction.
type Tx struct {
	table      string
	messageTTL time.Duration // message retention (0: forever)
	items      []types.TransactWriteItem
	err        error
}

// NewTx starts an empty transaction on the store's table.
func (s *Store) NewTx() *Tx { return &Tx{table: s.table, messageTTL: s.messageTTL} }

// Len returns the number of writes collected.
func (t *Tx) Len() int { return len(t.items) }

func (t *Tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

func (t *Tx) put(item map[string]types.AttributeValue, cond expression.ConditionBuilder) {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		t.fail(err)
		return
	}
	t.items = append(t.items, types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(t.table),
		Item:                      item,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}})
}

func (t *Tx) update(k map[string]types.AttributeValue, upd expression.UpdateBuilder, cond expression.ConditionBuilder) {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		t.fail(err)
		return
	}
	t.items = append(t.items, types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(t.table),
		Key:                       k,
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}})
}

func (t *Tx) delete(k map[string]types.AttributeValue, cond expression.ConditionBuilder) {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		t.fail(err)
		return
	}
	t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(t.table),
		Key:                       k,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}})
}

func marshalItem(v any, pk, sk string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return nil, err
	}
	item["pk"] = &types.AttributeValueMemberS{Value: pk}
	item["sk"] = &types.AttributeValueMemberS{Value: sk}
	return item, nil
}

// versionCondition: the item is still at version ver (0: it does not exist).
func versionCondition(ver int64) expression.ConditionBuilder {
	if ver == 0 {
		return expression.AttributeNotExists(expression.Name("pk"))
	}
	return expression.Name("ver").Equal(expression.Value(ver))
}

// PutContact writes c as version c.Ver+1, on condition that the stored contact is still at c.Ver.
func (t *Tx) PutContact(c Contact) {
	expected := c.Ver
	c.Ver++
	pk, sk := contactKey(c.ChannelID, c.IGSID)
	item, err := marshalItem(c, pk, sk)
	if err != nil {
		t.fail(fmt.Errorf("marshal contact: %w", err))
		return
	}
	item["type"] = &types.AttributeValueMemberS{Value: "contact"}
	t.put(item, versionCondition(expected))
}

// CreateConversation writes a new conversation (it must not exist).
func (t *Tx) CreateConversation(c Conversation) {
	pk, sk := conversationKey(c.ID)
	item, err := marshalItem(c, pk, sk)
	if err != nil {
		t.fail(fmt.Errorf("marshal conversation: %w", err))
		return
	}
	ask := ActivitySK(c.LastActivityMS, c.ID)
	item["type"] = &types.AttributeValueMemberS{Value: "conversation"}
	item["gsi1pk"] = &types.AttributeValueMemberS{Value: channelConvsPK(c.ChannelID)}
	item["gsi1sk"] = &types.AttributeValueMemberS{Value: ask}
	item["gsi2pk"] = &types.AttributeValueMemberS{Value: allConvsPK(c.ID)}
	item["gsi2sk"] = &types.AttributeValueMemberS{Value: ask}
	t.put(item, expression.AttributeNotExists(expression.Name("pk")))
}

// ConversationChange updates an existing conversation; zero fields are left unchanged.
type ConversationChange struct {
	ID             string
	Status         string
	LastActivityMS int64
	LastIncomingMS int64
	Referral       *Referral
}

// UpdateConversation applies ch to an existing conversation.
func (t *Tx) UpdateConversation(ch ConversationChange) {
	var upd expression.UpdateBuilder
	n := 0
	set := func(name string, v any) {
		upd = upd.Set(expression.Name(name), expression.Value(v))
		n++
	}
	if ch.Status != "" {
		set("status", ch.Status)
	}
	if ch.LastActivityMS > 0 {
		ask := ActivitySK(ch.LastActivityMS, ch.ID)
		set("last_activity_ms", ch.LastActivityMS)
		set("gsi1sk", ask)
		set("gsi2sk", ask)
	}
	if ch.LastIncomingMS > 0 {
		set("last_incoming_ms", ch.LastIncomingMS)
	}
	if ch.Referral != nil {
		av, err := attributevalue.Marshal(ch.Referral)
		if err != nil {
			t.fail(err)
			return
		}
		set("referral", av)
	}
	if n == 0 {
		return
	}
	t.update(key(conversationKey(ch.ID)), upd, expression.AttributeExists(expression.Name("pk")))
}

// PutMessage writes a new message (its key must not exist).
func (t *Tx) PutMessage(m Message) {
	pk, _ := conversationKey(m.ConversationID)
	item, err := marshalItem(m, pk, m.SK())
	if err != nil {
		t.fail(fmt.Errorf("marshal message: %w", err))
		return
	}
	item["type"] = &types.AttributeValueMemberS{Value: "message"}
	t.setMessageTTL(item, m.TimestampMS)
	t.put(item, expression.AttributeNotExists(expression.Name("pk")))
}

// setMessageTTL puts the retention ttl on a message item (none when retention is off).
func (t *Tx) setMessageTTL(item map[string]types.AttributeValue, tsMS int64) {
	if exp := messageExpiry(t.messageTTL, tsMS); exp > 0 {
		item["ttl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp, 10)}
	}
}

// MessageSKTime is the Meta timestamp in a message sort key (MSG#<13 digits>#...); 0 if none.
func MessageSKTime(sk string) int64 {
	if len(sk) < 17 || !strings.HasPrefix(sk, "MSG#") {
		return 0
	}
	ms, err := strconv.ParseInt(sk[4:17], 10, 64)
	if err != nil {
		return 0
	}
	return ms
}

// EraseMessage marks a stored message deleted and drops its content.
func (t *Tx) EraseMessage(conversationID, messageSK string) {
	pk, _ := conversationKey(conversationID)
	upd := expression.Set(expression.Name("deleted"), expression.Value(true))
	for _, a := range []string{"text", "attachments", "reply_to", "quick_reply_payload", "postback_payload", "referral", "edits"} {
		upd = upd.Remove(expression.Name(a))
	}
	t.update(key(pk, messageSK), upd, expression.AttributeExists(expression.Name("pk")))
}

// SetMessageText replaces the text of a stored message that is not deleted, and its previous
// versions.
func (t *Tx) SetMessageText(conversationID, messageSK, text string, edits []Edit) {
	pk, _ := conversationKey(conversationID)
	av, err := attributevalue.Marshal(edits)
	if err != nil {
		t.fail(err)
		return
	}
	upd := expression.Set(expression.Name("text"), expression.Value(text)).Set(expression.Name("edits"), expression.Value(av))
	cond := expression.AttributeExists(expression.Name("pk")).And(expression.Name("deleted").NotEqual(expression.Value(true)))
	t.update(key(pk, messageSK), upd, cond)
}

// SetMessageReactions replaces the reactions shown on a stored message.
func (t *Tx) SetMessageReactions(conversationID, messageSK string, reactions []MessageReaction) {
	pk, _ := conversationKey(conversationID)
	var upd expression.UpdateBuilder
	if len(reactions) == 0 {
		upd = upd.Remove(expression.Name("reactions"))
	} else {
		av, err := attributevalue.Marshal(reactions)
		if err != nil {
			t.fail(err)
			return
		}
		upd = upd.Set(expression.Name("reactions"), expression.Value(av))
	}
	t.update(key(pk, messageSK), upd, expression.AttributeExists(expression.Name("pk")))
}

// PutMID writes r as version r.Ver+1, on condition that the stored record is still at r.Ver.
func (t *Tx) PutMID(r MIDRecord) {
	expected := r.Ver
	r.Ver++
	if r.Stored() && r.TTL == 0 {
		if exp := messageExpiry(t.messageTTL, MessageSKTime(r.MessageSK)); exp > 0 {
			r.TTL = exp + int64(midTTLMargin/time.Second)
		}
	}
	pk, sk := midKey(r.ChannelID, r.MID)
	item, err := marshalItem(r, pk, sk)
	if err != nil {
		t.fail(fmt.Errorf("marshal mid record: %w", err))
		return
	}
	item["type"] = &types.AttributeValueMemberS{Value: "mid"}
	if !r.Stored() {
		// A record without its message (an early unsend or reaction) is reachable by account
		// for a purge; once the message is stored, the message leads to it.
		item["gsi1pk"] = &types.AttributeValueMemberS{Value: orphanMIDsPK(r.ChannelID)}
		item["gsi1sk"] = &types.AttributeValueMemberS{Value: r.MID}
	}
	t.put(item, versionCondition(expected))
}

// Commit writes the transaction. A lost condition (a concurrent writer, or a duplicate)
// returns an error wrapping ErrConflict: the caller re-reads and decides again.
func (s *Store) Commit(ctx context.Context, t *Tx) error {
	if t.err != nil {
		return fmt.Errorf("build transaction: %w", t.err)
	}
	if len(t.items) == 0 {
		return nil
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          t.items,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			// TransactionConflict: another transaction held one of the items; like a lost
			// condition, re-reading and deciding again is the way out.
			if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return fmt.Errorf("transaction: %w", ErrConflict)
			}
		}
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("transaction: %w", ErrConflict)
	}
	return fmt.Errorf("transaction: %w", err)
}

// AdvanceReadWatermark records that the contact read everything sent at or before ts. The
// watermark only moves forward; the contact item is created if it does not exist yet.
func (s *Store) AdvanceReadWatermark(ctx context.Context, accountID, igsid string, ts int64) error {
	upd := expression.Set(expression.Name("read_watermark_ms"), expression.Value(ts)).
		Set(expression.Name("channel_id"), expression.Value(accountID)).
		Set(expression.Name("igsid"), expression.Value(igsid)).
		Set(expression.Name("type"), expression.Value("contact")).
		Add(expression.Name("ver"), expression.Value(1))
	cond := expression.Or(
		expression.AttributeNotExists(expression.Name("read_watermark_ms")),
		expression.Name("read_watermark_ms").LessThan(expression.Value(ts)),
	)
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("advance read watermark: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(contactKey(accountID, igsid)),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // an equal or later read is already recorded
	}
	if err != nil {
		return fmt.Errorf("advance read watermark %s/%s: %w", accountID, igsid, err)
	}
	return nil
}

// UnknownEvent is a webhook item of a shape iginbox does not know, kept for inspection for
// UNKNOWN_EVENT_RETENTION_DAYS (a later version may know how to apply them).
type UnknownEvent struct {
	ChannelID   string `dynamodbav:"channel_id"`
	ContactID   string `dynamodbav:"contact_igsid,omitempty"`
	Key         string `dynamodbav:"key"`
	TimestampMS int64  `dynamodbav:"ts"`
	Raw         string `dynamodbav:"raw"`
}

// PutUnknownEvent keeps an unknown event (idempotent: one item per event key hash).
func (s *Store) PutUnknownEvent(ctx context.Context, id string, e UnknownEvent) error {
	item, err := marshalItem(e, "EVT#"+e.ChannelID+"#"+id, "UNKNOWN")
	if err != nil {
		return fmt.Errorf("marshal unknown event: %w", err)
	}
	item["type"] = &types.AttributeValueMemberS{Value: "unknown_event"}
	if s.unknownTTL > 0 {
		item["ttl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(s.unknownTTL).Unix(), 10)}
	}
	item["gsi1pk"] = &types.AttributeValueMemberS{Value: unknownEventsPK(e.ChannelID)}
	item["gsi1sk"] = &types.AttributeValueMemberS{Value: id}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:              aws.String(s.table),
		Item:                   item,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("put unknown event: %w", err)
	}
	return nil
}

// AppendToOpenConversation stores m in its conversation (m.ConversationID) without reading
// first, as a reader would have decided it for a known contact whose conversation is open. One
// TransactWriteItems writes:
//   - the per-mid record, which must not exist (no earlier delivery of this mid, and no unsend,
//     reaction or edit waiting for it);
//   - the message, which must not exist;
//   - the contact's mirror of the conversation's times and its version, on condition that the
//     contact still has this conversation open and that m is not older than the conversation's
//     last activity (nor, for an incoming message, its last incoming message): the activity
//     only moves forward;
//   - the conversation's activity (both activity index keys) and last incoming time;
//   - a check that the channel exists and is not disconnected (its events are then ignored).
//
// Any lost condition cancels everything and returns an error wrapping ErrConflict: a
// duplicate, an early unsend, a resolved or replaced conversation, an out-of-order message or
// a concurrent writer. The caller then reads and decides as for any event.
func (s *Store) AppendToOpenConversation(ctx context.Context, m Message) error {
	if m.ConversationID == "" || m.MID == "" {
		return fmt.Errorf("append message: conversation and mid are required")
	}
	incoming := m.Direction == DirectionIncoming
	tx := s.NewTx()
	tx.PutMID(MIDRecord{ChannelID: m.ChannelID, MID: m.MID, ConversationID: m.ConversationID, MessageSK: m.SK()})
	tx.PutMessage(m)
	ts := expression.Value(m.TimestampMS)
	notOlder := func(name string) expression.ConditionBuilder {
		return expression.Or(expression.AttributeNotExists(expression.Name(name)), expression.Name(name).LessThanEqual(ts))
	}
	upd := expression.Set(expression.Name("conv_last_activity_ms"), ts).Add(expression.Name("ver"), expression.Value(1))
	cond := expression.Name("open_conversation_id").Equal(expression.Value(m.ConversationID)).And(notOlder("conv_last_activity_ms"))
	change := ConversationChange{ID: m.ConversationID, LastActivityMS: m.TimestampMS}
	if incoming {
		upd = upd.Set(expression.Name("conv_last_incoming_ms"), ts)
		cond = cond.And(notOlder("conv_last_incoming_ms"))
		change.LastIncomingMS = m.TimestampMS
	}
	tx.update(key(contactKey(m.ChannelID, m.ContactIGSID)), upd, cond)
	tx.UpdateConversation(change)
	tx.checkChannelActive(m.ChannelID)
	if tx.err != nil {
		return fmt.Errorf("append message %s: %w", m.MID, tx.err)
	}
	// A refusal returns the per-mid record and the contact as stored, so that the caller can
	// often decide without reading them.
	tx.items[0].Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	tx.items[2].Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          tx.items,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		if r := appendRefusal(m, tce.CancellationReasons); r != nil {
			return fmt.Errorf("append message %s: %w", m.MID, r)
		}
		return fmt.Errorf("append message %s: %w", m.MID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("append message %s: %w", m.MID, err)
	}
	return nil
}

// checkChannelActive adds a ConditionCheck: the channel exists and is not disconnected.
func (t *Tx) checkChannelActive(accountID string) {
	cond := expression.AttributeExists(expression.Name("pk")).And(expression.Or(
		expression.AttributeNotExists(expression.Name("status")),
		expression.Name("status").NotEqual(expression.Value(ChannelDisconnected))))
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		t.fail(err)
		return
	}
	t.items = append(t.items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(t.table),
		Key:                       channelKey(accountID),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}})
}

// AppendRefused is an AppendToOpenConversation that lost a condition on the per-mid record
// or the contact, with what DynamoDB returned about them (consistent as of the refusal). It
// wraps ErrConflict.
type AppendRefused struct {
	// MIDKnown: MID is the per-mid record as stored (its zero value with ChannelID and MID
	// set when none exists).
	MIDKnown bool
	MID      MIDRecord
	// ContactKnown: Contact is the contact as stored (it refused the message).
	ContactKnown bool
	Contact      Contact
}

func (e *AppendRefused) Error() string { return "append refused by its conditions" }

// Unwrap makes a refusal an ErrConflict.
func (e *AppendRefused) Unwrap() error { return ErrConflict }

// appendRefusal reads the cancellation reasons of AppendToOpenConversation's transaction
// (per-mid record, message, contact, conversation, channel check); nil when something else
// refused it (a concurrent transaction, the conversation, the channel).
func appendRefusal(m Message, reasons []types.CancellationReason) *AppendRefused {
	if len(reasons) < 3 {
		return nil
	}
	code := func(i int) string { return aws.ToString(reasons[i].Code) }
	r := &AppendRefused{MID: MIDRecord{ChannelID: m.ChannelID, MID: m.MID}}
	for _, i := range []int{0, 1, 2} {
		if c := code(i); c != "None" && c != "ConditionalCheckFailed" {
			return nil // a concurrent transaction
		}
	}
	if code(1) != "None" && code(0) == "None" {
		return nil // a message without its per-mid record: read
	}
	for i := 3; i < len(reasons); i++ {
		if code(i) != "None" {
			return nil // the conversation is gone, or the channel disconnected: read
		}
	}
	switch code(0) {
	case "None":
		r.MIDKnown = true
	case "ConditionalCheckFailed":
		if len(reasons[0].Item) > 0 && attributevalue.UnmarshalMap(reasons[0].Item, &r.MID) == nil {
			r.MIDKnown = true
		}
	}
	if code(2) == "ConditionalCheckFailed" && len(reasons[2].Item) > 0 && attributevalue.UnmarshalMap(reasons[2].Item, &r.Contact) == nil {
		r.ContactKnown = true
	}
	if !r.MIDKnown && !r.ContactKnown {
		return nil
	}
	return r
}
