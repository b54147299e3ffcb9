package store

// Conversation state items: contacts, conversations, messages and per-mid records. The layout
// is documented in docs/data-model.md. Every processor write is one TransactWriteItems whose
// conditions make it idempotent (a mid is stored once) and safe against concurrent writers
// (the contact and the per-mid record carry a version, compared on write).

import (
	"context"
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
	"github.com/iginbox/iginbox/shared/domain"
)

// Keys (channel keys are in channels.go).
func contactKey(accountID, igsid string) (string, string) {
	return "CH#" + accountID, "CONTACT#" + igsid
}

func conversationKey(id string) (string, string) { return "CONV#" + id, "CONV" }

func midKey(accountID, mid string) (string, string) { return "MID#" + accountID + "#" + mid, "MID" }

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

// LoadEventState reads the channel with its token, the contact and (when mid is not empty)
// the per-mid record with one strongly consistent BatchGetItem.
func (s *Store) LoadEventState(ctx context.Context, accountID, igsid, mid string) (domain.EventState, error) {
	var st domain.EventState
	keys := []map[string]types.AttributeValue{channelKey(accountID), tokenKey(accountID)}
	if igsid != "" {
		keys = append(keys, key(contactKey(accountID, igsid)))
	}
	if mid != "" {
		keys = append(keys, key(midKey(accountID, mid)))
	}
	st.Contact = domain.Contact{ChannelID: accountID, IGSID: igsid}
	st.MID = domain.MIDRecord{ChannelID: accountID, MID: mid}
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

// txn collects the items of one TransactWriteItems: Commit translates a domain.Tx into one,
// and the store's own multi-item writes build theirs directly.
type txn struct {
	table      string
	messageTTL time.Duration // message retention (0: forever)
	items      []types.TransactWriteItem
	err        error
	convAt     int // 1 + the index of the UpdateConversation item (0: none)
}

// newTxn starts an empty transaction on the store's table.
func (s *Store) newTxn() *txn { return &txn{table: s.table, messageTTL: s.messageTTL} }

func (t *txn) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

func (t *txn) put(item map[string]types.AttributeValue, cond expression.ConditionBuilder) {
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

func (t *txn) update(k map[string]types.AttributeValue, upd expression.UpdateBuilder, cond expression.ConditionBuilder) {
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

func (t *txn) delete(k map[string]types.AttributeValue, cond expression.ConditionBuilder) {
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
func (t *txn) PutContact(c domain.Contact) {
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
func (t *txn) CreateConversation(c domain.Conversation) {
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

// UpdateConversation applies ch to an existing conversation. Each time it sets is
// conditional on the stored one not being later (see domain.ConversationChange); a refusal
// returns the conversation (commit: domain.ConversationAhead).
func (t *txn) UpdateConversation(ch domain.ConversationChange) {
	var upd expression.UpdateBuilder
	cond := expression.AttributeExists(expression.Name("pk"))
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
		cond = cond.And(notLater("last_activity_ms", ch.LastActivityMS))
	}
	if ch.LastIncomingMS > 0 {
		set("last_incoming_ms", ch.LastIncomingMS)
		cond = cond.And(notLater("last_incoming_ms", ch.LastIncomingMS))
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
	t.update(key(conversationKey(ch.ID)), upd, cond)
	t.returnOnRefusal()
	if t.err == nil {
		t.convAt = len(t.items)
	}
}

// conversationAhead reads a cancelled transaction's reasons for its UpdateConversation's
// refusal; nil when it did not refuse, or the conversation no longer exists.
func (t *txn) conversationAhead(reasons []types.CancellationReason) *domain.ConversationAhead {
	i := t.convAt - 1
	if i < 0 || i >= len(reasons) || aws.ToString(reasons[i].Code) != "ConditionalCheckFailed" || len(reasons[i].Item) == 0 {
		return nil
	}
	e := &domain.ConversationAhead{Alone: true}
	if attributevalue.UnmarshalMap(reasons[i].Item, &e.Conversation) != nil {
		return nil
	}
	for j, r := range reasons {
		if j != i && aws.ToString(r.Code) != "None" {
			e.Alone = false
		}
	}
	return e
}

// PutMessage writes a new message (its key must not exist).
func (t *txn) PutMessage(m domain.Message) {
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
func (t *txn) setMessageTTL(item map[string]types.AttributeValue, tsMS int64) {
	if exp := messageExpiry(t.messageTTL, tsMS); exp > 0 {
		item["ttl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp, 10)}
	}
}

// EraseMessage marks a stored message deleted and drops its content.
func (t *txn) EraseMessage(conversationID, messageSK string) {
	pk, _ := conversationKey(conversationID)
	upd := expression.Set(expression.Name("deleted"), expression.Value(true))
	for _, a := range []string{"text", "attachments", "reply_to", "quick_reply_payload", "postback_payload", "referral", "edits"} {
		upd = upd.Remove(expression.Name(a))
	}
	t.update(key(pk, messageSK), upd, expression.AttributeExists(expression.Name("pk")))
}

// SetMessageText replaces the text of a stored message that is not deleted, and its previous
// versions.
func (t *txn) SetMessageText(conversationID, messageSK, text string, edits []domain.Edit) {
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
func (t *txn) SetMessageReactions(conversationID, messageSK string, reactions []domain.MessageReaction) {
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
func (t *txn) PutMID(r domain.MIDRecord) {
	expected := r.Ver
	r.Ver++
	if r.Stored() && r.TTL == 0 {
		if exp := messageExpiry(t.messageTTL, domain.MessageSKTime(r.MessageSK)); exp > 0 {
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

// Commit writes the domain transaction t in one TransactWriteItems, each write with the
// condition its type documents. A lost condition (a concurrent writer, or a duplicate)
// returns an error wrapping ErrConflict: the caller re-reads and decides again.
func (s *Store) Commit(ctx context.Context, t *domain.Tx) error {
	tx := s.newTxn()
	for _, w := range t.Writes() {
		tx.apply(w)
	}
	return s.commit(ctx, tx)
}

// apply adds the items of one domain write.
func (t *txn) apply(w domain.Write) {
	switch w := w.(type) {
	case domain.PutContact:
		t.PutContact(w.Contact)
	case domain.CreateConversation:
		t.CreateConversation(w.Conversation)
	case domain.UpdateConversation:
		t.UpdateConversation(w.Change)
	case domain.PutMessage:
		t.PutMessage(w.Message)
	case domain.EraseMessage:
		t.EraseMessage(w.ConversationID, w.MessageSK)
	case domain.SetMessageText:
		t.SetMessageText(w.ConversationID, w.MessageSK, w.Text, w.Edits)
	case domain.SetMessageReactions:
		t.SetMessageReactions(w.ConversationID, w.MessageSK, w.Reactions)
	case domain.PutMID:
		t.PutMID(w.Record)
	case domain.AdvanceConversationActivity:
		t.AdvanceConversationActivity(w.ConversationID, w.MS)
	case domain.MarkSent:
		t.MarkSent(w.Part, w.Attempt, w.MID, w.MS)
	case domain.MarkFailed:
		t.MarkFailed(w.ConversationID, w.MessageSK, w.Attempt, w.Error)
	case domain.ReleaseAttempt:
		t.ReleaseAttempt(w.ConversationID, w.MessageSK, w.Attempt)
	case domain.PutPendingSend:
		t.PutPendingSend(w.Pending)
	case domain.DeletePendingSend:
		t.DeletePendingSend(w.ChannelID, w.ContactIGSID, w.MessageSK, w.Attempt)
	default:
		t.fail(fmt.Errorf("unknown write %T", w))
	}
}

// commit writes t in one TransactWriteItems (see Commit).
func (s *Store) commit(ctx context.Context, t *txn) error {
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
		if ahead := t.conversationAhead(tce.CancellationReasons); ahead != nil {
			return fmt.Errorf("transaction: %w", ahead)
		}
		for _, r := range tce.CancellationReasons {
			// TransactionConflict: another transaction held one of the items; like a lost
			// condition, re-reading and deciding again is the way out.
			if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return fmt.Errorf("transaction: %w", domain.ErrConflict)
			}
		}
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("transaction: %w", domain.ErrConflict)
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

// PutUnknownEvent keeps an unknown event (idempotent: one item per event key hash).
func (s *Store) PutUnknownEvent(ctx context.Context, id string, e domain.UnknownEvent) error {
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
//   - the conversation's activity (both activity index keys) and, for an incoming message,
//     its last incoming time, on condition that the conversation is open (an open conversation
//     is its contact's open conversation: every status change writes both in one transaction)
//     and that m is not older than the times it moves: they only move forward;
//   - a check that the channel exists and is not disconnected (its events are then ignored).
//
// The contact is not written: its open conversation does not change, and its mirror of the
// conversation's times (Contact.ConvLastActivityMS, ConvLastIncomingMS) is then a lower bound
// (see domain.ConversationAhead).
//
// seen, when not nil, is the conversation as a refusal returned it: times m is older than are
// left alone (they only move forward, so no condition is needed on them), which appends an
// out-of-order message to the still-open conversation without a read.
//
// Any lost condition cancels everything and returns an error wrapping ErrConflict: a
// duplicate, an early unsend, a resolved conversation, an out-of-order message or a concurrent
// writer. The caller then reads and decides as for any event.
func (s *Store) AppendToOpenConversation(ctx context.Context, m domain.Message, seen *domain.Conversation) error {
	if m.ConversationID == "" || m.MID == "" {
		return fmt.Errorf("append message: conversation and mid are required")
	}
	tx := s.newTxn()
	tx.PutMID(domain.MIDRecord{ChannelID: m.ChannelID, MID: m.MID, ConversationID: m.ConversationID, MessageSK: m.SK()})
	tx.PutMessage(m)
	tx.appendToConversation(m, seen)
	tx.checkChannelActive(m.ChannelID)
	if tx.err != nil {
		return fmt.Errorf("append message %s: %w", m.MID, tx.err)
	}
	// A refusal returns the per-mid record and the conversation as stored, so that the caller
	// can often decide without reading them.
	tx.items[0].Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          tx.items,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		if r := appendRefusal(m, tce.CancellationReasons); r != nil {
			return fmt.Errorf("append message %s: %w", m.MID, r)
		}
		return fmt.Errorf("append message %s: %w", m.MID, domain.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("append message %s: %w", m.MID, err)
	}
	return nil
}

// appendToConversation adds AppendToOpenConversation's conversation write: an Update of the
// times m moves forward, or, when it moves none (seen says both are later), a ConditionCheck
// that the conversation is still open. Either returns the conversation when it refuses.
func (t *txn) appendToConversation(m domain.Message, seen *domain.Conversation) {
	var known domain.Conversation
	if seen != nil {
		known = *seen
	}
	ts := expression.Value(m.TimestampMS)
	cond := expression.Name("status").Equal(expression.Value(domain.StatusOpen))
	var upd expression.UpdateBuilder
	n := 0
	if m.TimestampMS >= known.LastActivityMS {
		ask := ActivitySK(m.TimestampMS, m.ConversationID)
		upd = upd.Set(expression.Name("last_activity_ms"), ts).
			Set(expression.Name("gsi1sk"), expression.Value(ask)).
			Set(expression.Name("gsi2sk"), expression.Value(ask))
		cond = cond.And(notLater("last_activity_ms", m.TimestampMS))
		n++
	}
	if m.Direction == domain.DirectionIncoming && m.TimestampMS >= known.LastIncomingMS {
		upd = upd.Set(expression.Name("last_incoming_ms"), ts)
		cond = cond.And(notLater("last_incoming_ms", m.TimestampMS))
		n++
	}
	k := key(conversationKey(m.ConversationID))
	if n > 0 {
		t.update(k, upd, cond)
		t.returnOnRefusal()
		return
	}
	t.check(k, cond)
	t.returnOnRefusal()
}

// notLater: the time attribute name is absent or not later than ts.
func notLater(name string, ts int64) expression.ConditionBuilder {
	return expression.Or(expression.AttributeNotExists(expression.Name(name)), expression.Name(name).LessThanEqual(expression.Value(ts)))
}

// returnOnRefusal makes the last item return the stored item when its condition refuses it.
func (t *txn) returnOnRefusal() {
	if t.err != nil || len(t.items) == 0 {
		return
	}
	switch it := t.items[len(t.items)-1]; {
	case it.Put != nil:
		it.Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	case it.Update != nil:
		it.Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	case it.ConditionCheck != nil:
		it.ConditionCheck.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
}

// check adds a ConditionCheck of the item at k.
func (t *txn) check(k map[string]types.AttributeValue, cond expression.ConditionBuilder) {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		t.fail(err)
		return
	}
	t.items = append(t.items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(t.table),
		Key:                       k,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}})
}

// checkChannelActive adds a ConditionCheck: the channel exists and is not disconnected.
func (t *txn) checkChannelActive(accountID string) {
	t.check(channelKey(accountID), expression.AttributeExists(expression.Name("pk")).And(expression.Or(
		expression.AttributeNotExists(expression.Name("status")),
		expression.Name("status").NotEqual(expression.Value(domain.ChannelDisconnected)))))
}

// appendRefusal reads the cancellation reasons of AppendToOpenConversation's transaction
// (per-mid record, message, conversation, channel check); nil when something else refused it
// (a concurrent transaction, a conversation that no longer exists, the channel).
func appendRefusal(m domain.Message, reasons []types.CancellationReason) *domain.AppendRefused {
	if len(reasons) < 3 {
		return nil
	}
	code := func(i int) string { return aws.ToString(reasons[i].Code) }
	r := &domain.AppendRefused{MID: domain.MIDRecord{ChannelID: m.ChannelID, MID: m.MID}}
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
			return nil // the channel is disconnected or gone: read
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
	if code(2) == "ConditionalCheckFailed" {
		if len(reasons[2].Item) == 0 || attributevalue.UnmarshalMap(reasons[2].Item, &r.Conversation) != nil {
			return nil // the conversation is gone (erased): read
		}
		r.ConversationKnown = true
	}
	if !r.MIDKnown && !r.ConversationKnown {
		return nil
	}
	return r
}
