package store

// Outgoing parts (replies sent through the API), their idempotency records and the markers of
// sends whose outcome is unknown. The protocol is documented in docs/outbound.md.

import (
	"context"
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

func idempotencyKey(conversationID, keyHash string) (string, string) {
	return "IDEM#" + conversationID + "#" + keyHash, "IDEM"
}

func pendingKey(accountID, igsid, messageSK string) (string, string) {
	return "OUTPEND#" + accountID + "#" + igsid, messageSK
}

// CreateOutgoing writes every part of a reply and, when not nil, its idempotency record in one
// transaction: all or nothing. A lost condition (the idempotency key was used already) returns
// an error wrapping ErrConflict.
func (s *Store) CreateOutgoing(ctx context.Context, parts []domain.OutgoingPart, idem *domain.IdempotencyRecord) error {
	tx := s.newTxn()
	for _, p := range parts {
		pk, _ := conversationKey(p.ConversationID)
		item, err := marshalItem(p, pk, p.SK())
		if err != nil {
			return fmt.Errorf("marshal outgoing part: %w", err)
		}
		item["type"] = &types.AttributeValueMemberS{Value: "message"}
		tx.setMessageTTL(item, p.CreatedAt.UnixMilli())
		if p.Status == domain.MessageQueued && p.SendAttempt == 0 {
			item["gsi1pk"] = &types.AttributeValueMemberS{Value: unattemptedPK(p.ConversationID)}
			item["gsi1sk"] = &types.AttributeValueMemberS{Value: unattemptedSK(p.TimestampMS, p.ConversationID)}
		}
		tx.put(item, expression.AttributeNotExists(expression.Name("pk")))
	}
	if idem != nil {
		pk, sk := idempotencyKey(idem.ConversationID, idem.KeyHash)
		item, err := marshalItem(idem, pk, sk)
		if err != nil {
			return fmt.Errorf("marshal idempotency record: %w", err)
		}
		item["type"] = &types.AttributeValueMemberS{Value: "idempotency"}
		item["gsi1pk"] = &types.AttributeValueMemberS{Value: idempotencyIndexPK(idem.ConversationID)}
		item["gsi1sk"] = &types.AttributeValueMemberS{Value: idem.KeyHash}
		tx.put(item, expression.AttributeNotExists(expression.Name("pk")))
	}
	if err := s.commit(ctx, tx); err != nil {
		return fmt.Errorf("create %d outgoing parts: %w", len(parts), err)
	}
	return nil
}

// GetIdempotency reads the record of an idempotency key (ErrNotFound when unused).
func (s *Store) GetIdempotency(ctx context.Context, conversationID, keyHash string) (domain.IdempotencyRecord, error) {
	var r domain.IdempotencyRecord
	if err := s.getItem(ctx, key(idempotencyKey(conversationID, keyHash)), &r); err != nil {
		return r, fmt.Errorf("idempotency record: %w", err)
	}
	return r, nil
}

// parseOutgoingSK splits an OutgoingSK into its creation time, request id and part index.
func parseOutgoingSK(sk string) (createdMS int64, requestID string, part int, ok bool) {
	var rest string
	if n, err := fmt.Sscanf(sk, "MSG#%13d#~out.%s", &createdMS, &rest); n != 2 || err != nil {
		return 0, "", 0, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 {
		return 0, "", 0, false
	}
	part, err := strconv.Atoi(rest[dot+1:])
	if err != nil {
		return 0, "", 0, false
	}
	return createdMS, rest[:dot], part, true
}

// movedPartsMargin: how far before its creation time a sent part's key may lie (the time of
// a reconciled part is Meta's echo timestamp, another clock than the API's).
const movedPartsMargin = time.Hour

// GetOutgoingParts reads parts of a conversation by the sort keys they were created with
// (OutgoingSK), in the order asked; missing parts are skipped. A sent part has moved to
// SentSK (MarkSent): parts not found at their creation key are looked for with one Query of
// the conversation from the earliest creation time (less movedPartsMargin) on, filtered by
// request id. That read only happens for replies with sent parts (an Idempotency-Key
// replayed after the send), never on the send path.
func (s *Store) GetOutgoingParts(ctx context.Context, conversationID string, sks []string) ([]domain.OutgoingPart, error) {
	pk, _ := conversationKey(conversationID)
	keys := make([]map[string]types.AttributeValue, 0, len(sks))
	for _, sk := range sks {
		keys = append(keys, key(pk, sk))
	}
	if len(keys) == 0 {
		return nil, nil
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("get outgoing parts: %w", err)
	}
	type partRef struct {
		requestID string
		part      int
	}
	byRef := map[partRef]domain.OutgoingPart{}
	decode := func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			var p domain.OutgoingPart
			if err := attributevalue.UnmarshalMap(it, &p); err != nil {
				return fmt.Errorf("decode outgoing part: %w", err)
			}
			byRef[partRef{p.RequestID, p.Part}] = p
		}
		return nil
	}
	if err := decode(items); err != nil {
		return nil, err
	}
	refs := make([]partRef, len(sks))
	var missing []string // request ids of parts not at their creation key
	from := int64(-1)
	for i, sk := range sks {
		created, rid, part, ok := parseOutgoingSK(sk)
		if !ok {
			return nil, fmt.Errorf("get outgoing parts: %q is not an outgoing part key", sk)
		}
		refs[i] = partRef{rid, part}
		if _, found := byRef[refs[i]]; !found {
			missing = append(missing, rid)
			if from < 0 || created < from {
				from = created
			}
		}
	}
	if len(missing) > 0 {
		moved, err := s.queryParts(ctx, pk, max(from-movedPartsMargin.Milliseconds(), 0), missing)
		if err != nil {
			return nil, err
		}
		if err := decode(moved); err != nil {
			return nil, err
		}
	}
	out := make([]domain.OutgoingPart, 0, len(sks))
	for _, r := range refs {
		if p, ok := byRef[r]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// queryParts reads the messages of a conversation partition keyed at or after fromMS whose
// request id is one of requestIDs (consistent Query, every page).
func (s *Store) queryParts(ctx context.Context, pk string, fromMS int64, requestIDs []string) ([]map[string]types.AttributeValue, error) {
	var ids []expression.OperandBuilder
	seen := map[string]bool{}
	for _, id := range requestIDs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, expression.Value(id))
		}
	}
	filter := expression.Name("request_id").In(ids[0], ids[1:]...)
	if len(ids) == 1 {
		filter = expression.Name("request_id").Equal(ids[0])
	}
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("pk").Equal(expression.Value(pk)).
			And(expression.Key("sk").Between(expression.Value(fmt.Sprintf("MSG#%013d", fromMS)), expression.Value("MSG#\uffff"))),
	).WithFilter(filter).Build()
	if err != nil {
		return nil, fmt.Errorf("query moved parts: %w", err)
	}
	var out []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    expr.KeyCondition(),
			FilterExpression:          expr.Filter(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, fmt.Errorf("query moved parts: %w", err)
		}
		out = append(out, res.Items...)
		if res.LastEvaluatedKey == nil {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// LoadSendState reads the channel with its token, the contact, the part and its conversation
// with one consistent BatchGetItem.
func (s *Store) LoadSendState(ctx context.Context, accountID, igsid, conversationID, messageSK string) (domain.SendState, error) {
	var st domain.SendState
	var tok tokenItem
	pk, _ := conversationKey(conversationID)
	st.Contact = domain.Contact{ChannelID: accountID, IGSID: igsid}
	err := s.batchGetInto(ctx, []map[string]types.AttributeValue{
		channelKey(accountID), tokenKey(accountID), key(contactKey(accountID, igsid)), key(pk, messageSK), key(conversationKey(conversationID)),
	}, func(sk string) any {
		switch {
		case sk == channelSK:
			st.ChannelFound = true
			return &st.Channel
		case sk == tokenSK:
			return &tok
		case strings.HasPrefix(sk, "CONTACT#"):
			return &st.Contact
		case sk == messageSK:
			st.PartFound = true
			return &st.Part
		case sk == "CONV":
			st.ConversationFound = true
			return &st.Conversation
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("load send state %s: %w", messageSK, err)
	}
	st.Channel.AccessToken = tok.AccessToken
	return st, nil
}

// LoadSentState reads the contact, the conversation and the per-mid record of mid with one
// consistent BatchGetItem.
func (s *Store) LoadSentState(ctx context.Context, accountID, igsid, conversationID, mid string) (domain.SentState, error) {
	var st domain.SentState
	st.Contact = domain.Contact{ChannelID: accountID, IGSID: igsid}
	st.MID = domain.MIDRecord{ChannelID: accountID, MID: mid}
	err := s.batchGetInto(ctx, []map[string]types.AttributeValue{
		key(contactKey(accountID, igsid)), key(conversationKey(conversationID)), key(midKey(accountID, mid)),
	}, func(sk string) any {
		switch {
		case strings.HasPrefix(sk, "CONTACT#"):
			return &st.Contact
		case sk == "CONV":
			st.ConversationFound = true
			return &st.Conversation
		case sk == "MID":
			return &st.MID
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("load sent state %s: %w", conversationID, err)
	}
	return st, nil
}

// AdvanceConversationActivity moves a conversation's last activity (and its activity sort
// keys in gsi1/gsi2) forward to ts, on condition that it is still older than ts: activity
// never moves back, whatever the caller read. last_incoming_ms is not touched.
func (t *txn) AdvanceConversationActivity(conversationID string, ts int64) {
	ask := ActivitySK(ts, conversationID)
	upd := expression.Set(expression.Name("last_activity_ms"), expression.Value(ts)).
		Set(expression.Name("gsi1sk"), expression.Value(ask)).
		Set(expression.Name("gsi2sk"), expression.Value(ask))
	cond := expression.AttributeExists(expression.Name("pk")).
		And(expression.Name("last_activity_ms").LessThan(expression.Value(ts)))
	t.update(key(conversationKey(conversationID)), upd, cond)
}

// outgoingCondition: the part is still queued at attempt n (pending as given when not nil).
func outgoingCondition(attempt int, pending *bool) expression.ConditionBuilder {
	c := expression.Name("status").Equal(expression.Value(domain.MessageQueued)).
		And(expression.Name("send_attempt").Equal(expression.Value(attempt)))
	if pending != nil {
		c = c.And(expression.Name("send_pending").Equal(expression.Value(*pending)))
	}
	return c
}

// BeginAttempt persists attempt p.SendAttempt+1 before Meta is called: the part must still
// be queued, at attempt p.SendAttempt, with no attempt pending (ErrConflict otherwise). A
// re-send (SendAttempt > 0) also removes the pending-send marker of the earlier attempt in
// the same transaction: from then on, a late echo of that attempt is a message of its own.
func (s *Store) BeginAttempt(ctx context.Context, p domain.OutgoingPart, nowMS int64) error {
	pk, _ := conversationKey(p.ConversationID)
	no := false
	upd := expression.Set(expression.Name("send_attempt"), expression.Value(p.SendAttempt+1)).
		Set(expression.Name("send_pending"), expression.Value(true)).
		Set(expression.Name("send_attempt_ms"), expression.Value(nowMS)).
		Remove(expression.Name("gsi1pk")).Remove(expression.Name("gsi1sk"))
	if p.SendAttempt > 0 {
		tx := s.newTxn()
		tx.update(key(pk, p.SK()), upd, outgoingCondition(p.SendAttempt, &no))
		tx.DeletePendingSend(p.ChannelID, p.ContactIGSID, p.SK(), p.SendAttempt)
		if err := s.commit(ctx, tx); err != nil {
			return fmt.Errorf("begin attempt %d of %s: %w", p.SendAttempt+1, p.ID, err)
		}
		return nil
	}
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(outgoingCondition(p.SendAttempt, &no)).Build()
	if err != nil {
		return fmt.Errorf("begin attempt: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk, p.SK()),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("begin attempt %d of %s: %w", p.SendAttempt+1, p.ID, domain.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("begin attempt %d of %s: %w", p.SendAttempt+1, p.ID, err)
	}
	return nil
}

// MarkSent records the mid Meta gave attempt `attempt` of part p (as read, with its attempt
// begun): status sent, ts = Meta's (or our) time of the send. The part moves from the key
// it was queued under to SentSK(ts, mid): a Delete of the queued item (condition: still
// queued at that attempt) and a Put of the sent one (condition: the key is free) in this
// transaction; its id is kept. MarkSent returns the new sort key, which the caller's per-mid
// record (PutMID, same transaction) must point at.
func (t *txn) MarkSent(p domain.OutgoingPart, attempt int, mid string, ts int64) string {
	pk, _ := conversationKey(p.ConversationID)
	queuedSK := p.SK()
	p.Status, p.MID, p.TimestampMS, p.Error = domain.MessageSent, mid, ts, nil
	p.SendAttempt, p.SendPending = attempt, false
	p.StoredSK = domain.SentSK(ts, mid)
	item, err := marshalItem(p, pk, p.StoredSK)
	if err != nil {
		t.fail(fmt.Errorf("marshal sent part: %w", err))
		return p.StoredSK
	}
	item["type"] = &types.AttributeValueMemberS{Value: "message"}
	t.setMessageTTL(item, ts)
	t.delete(key(pk, queuedSK), outgoingCondition(attempt, nil))
	t.put(item, expression.AttributeNotExists(expression.Name("pk")))
	return p.StoredSK
}

// MarkFailed records a part's failure (Meta's error, or the window reason).
func (t *txn) MarkFailed(conversationID, messageSK string, attempt int, e domain.SendError) {
	pk, _ := conversationKey(conversationID)
	av, err := attributevalue.MarshalMap(e)
	if err != nil {
		t.fail(err)
		return
	}
	upd := expression.Set(expression.Name("status"), expression.Value(domain.MessageFailed)).
		Set(expression.Name("error"), expression.Value(&types.AttributeValueMemberM{Value: av})).
		Set(expression.Name("send_pending"), expression.Value(false)).
		Remove(expression.Name("gsi1pk")).Remove(expression.Name("gsi1sk"))
	t.update(key(pk, messageSK), upd, outgoingCondition(attempt, nil))
}

// ReleaseAttempt clears the pending flag of attempt `attempt` (it is known not to have been
// accepted, or its grace period ended without an echo): the part can be sent again.
func (t *txn) ReleaseAttempt(conversationID, messageSK string, attempt int) {
	pk, _ := conversationKey(conversationID)
	yes := true
	t.update(key(pk, messageSK), expression.Set(expression.Name("send_pending"), expression.Value(false)),
		outgoingCondition(attempt, &yes))
}

// PutPendingSend writes the marker of a part whose attempt has an unknown outcome.
func (t *txn) PutPendingSend(p domain.PendingSend) {
	pk, sk := pendingKey(p.ChannelID, p.ContactIGSID, p.MessageSK)
	item, err := marshalItem(p, pk, sk)
	if err != nil {
		t.fail(fmt.Errorf("marshal pending send: %w", err))
		return
	}
	item["type"] = &types.AttributeValueMemberS{Value: "pending_send"}
	t.put(item, expression.AttributeNotExists(expression.Name("pk")).
		Or(expression.Name("attempt").LessThanEqual(expression.Value(p.Attempt))))
}

// DeletePendingSend removes the marker of attempt `attempt` or an earlier one (a marker of a
// later attempt is kept: the transaction fails).
func (t *txn) DeletePendingSend(accountID, igsid, messageSK string, attempt int) {
	pk, sk := pendingKey(accountID, igsid, messageSK)
	t.delete(key(pk, sk), expression.AttributeNotExists(expression.Name("pk")).
		Or(expression.Name("attempt").LessThanEqual(expression.Value(attempt))))
}

// PendingSends lists a contact's parts whose last attempt has an unknown outcome, oldest first.
func (s *Store) PendingSends(ctx context.Context, accountID, igsid string) ([]domain.PendingSend, error) {
	pk, _ := pendingKey(accountID, igsid, "")
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("pk").Equal(expression.Value(pk))).Build()
	if err != nil {
		return nil, fmt.Errorf("pending sends: %w", err)
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, fmt.Errorf("pending sends %s/%s: %w", accountID, igsid, err)
	}
	var out []domain.PendingSend
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &out); err != nil {
		return nil, fmt.Errorf("decode pending sends: %w", err)
	}
	return out, nil
}
