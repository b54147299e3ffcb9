package store

// Read side of conversation state (the API) and the conversation status change.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

var (
	activitySKPattern = regexp.MustCompile(`^[0-9]{13}#[0-9a-f]{24}$`)
	messageSKPattern  = regexp.MustCompile(`^MSG#[0-9]{13}#.+$`)
)

// GetConversation reads a conversation (error wrapping ErrNotFound when absent).
func (s *Store) GetConversation(ctx context.Context, id string) (domain.Conversation, error) {
	var c domain.Conversation
	if !domain.ValidConversationID(id) {
		return c, fmt.Errorf("conversation %q: %w", id, domain.ErrNotFound)
	}
	if err := s.getItem(ctx, key(conversationKey(id)), &c); err != nil {
		return c, fmt.Errorf("conversation %s: %w", id, err)
	}
	return c, nil
}

// GetConversations reads the conversations of ids (at most 100, each once) with one
// consistent BatchGetItem; those that do not exist are left out.
func (s *Store) GetConversations(ctx context.Context, ids []string) ([]domain.Conversation, error) {
	if len(ids) > 100 {
		return nil, fmt.Errorf("get %d conversations: at most 100", len(ids))
	}
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, key(conversationKey(id)))
	}
	if len(keys) == 0 {
		return nil, nil
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("get %d conversations: %w", len(ids), err)
	}
	out := make([]domain.Conversation, 0, len(items))
	for _, it := range items {
		var c domain.Conversation
		if err := attributevalue.UnmarshalMap(it, &c); err != nil {
			return nil, fmt.Errorf("decode conversation: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// GetContact reads a contact (error wrapping ErrNotFound when absent).
func (s *Store) GetContact(ctx context.Context, accountID, igsid string) (domain.Contact, error) {
	var c domain.Contact
	if err := s.getItem(ctx, key(contactKey(accountID, igsid)), &c); err != nil {
		return c, fmt.Errorf("contact %s/%s: %w", accountID, igsid, err)
	}
	return c, nil
}

func (s *Store) getItem(ctx context.Context, k map[string]types.AttributeValue, out any) error {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:              aws.String(s.table),
		Key:                    k,
		ConsistentRead:         aws.Bool(true),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("get item: %w", err)
	}
	if res.Item == nil {
		return domain.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("decode item: %w", err)
	}
	return nil
}

// GetContacts reads several contacts at once; absent ones are missing from the map.
func (s *Store) GetContacts(ctx context.Context, refs []domain.ContactRef) (map[domain.ContactRef]domain.Contact, error) {
	out := make(map[domain.ContactRef]domain.Contact, len(refs))
	seen := map[domain.ContactRef]bool{}
	var keys []map[string]types.AttributeValue
	for _, r := range refs {
		if seen[r] {
			continue
		}
		seen[r] = true
		keys = append(keys, key(contactKey(r.ChannelID, r.IGSID)))
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		items, err := s.batchGet(ctx, keys[:n])
		if err != nil {
			return nil, fmt.Errorf("get contacts: %w", err)
		}
		keys = keys[n:]
		for _, it := range items {
			var c domain.Contact
			if err := attributevalue.UnmarshalMap(it, &c); err != nil {
				return nil, fmt.Errorf("decode contact: %w", err)
			}
			out[domain.ContactRef{ChannelID: c.ChannelID, IGSID: c.IGSID}] = c
		}
	}
	return out, nil
}

// ListConversations pages through conversations by last activity, newest first. With a
// channel it reads that channel's gsi1 partition; without, it merges the ConversationShards
// partitions of gsi2 (see listAllConversations).
func (s *Store) ListConversations(ctx context.Context, q domain.ConversationQuery) (domain.ConversationPage, error) {
	var page domain.ConversationPage
	if q.After != "" && !activitySKPattern.MatchString(q.After) {
		return page, domain.ErrInvalidCursor
	}
	limit := max(q.Limit, 1)
	var (
		got []domain.Conversation
		err error
	)
	if q.ChannelID != "" {
		it := s.activityIterator(IndexGSI1, "gsi1pk", "gsi1sk", channelConvsPK(q.ChannelID), q, limit)
		got, err = mergeActivity(ctx, []*activityIterator{it}, limit+1)
	} else {
		got, err = s.listAllConversations(ctx, q, limit)
	}
	if err != nil {
		return page, fmt.Errorf("list conversations: %w", err)
	}
	if len(got) > limit {
		got = got[:limit]
		last := got[limit-1]
		page.Next = ActivitySK(last.LastActivityMS, last.ID)
	}
	page.Conversations = got
	return page, nil
}

// listAllConversations reads every shard's partition from the cursor on, concurrently, and
// merges them newest first. A page of n costs one Query of up to n+1 items per shard (more
// only when a status filter leaves a shard's first page short).
func (s *Store) listAllConversations(ctx context.Context, q domain.ConversationQuery, limit int) ([]domain.Conversation, error) {
	its := make([]*activityIterator, ConversationShards)
	errs := make([]error, ConversationShards)
	var wg sync.WaitGroup
	for i := range its {
		its[i] = s.activityIterator(IndexGSI2, "gsi2pk", "gsi2sk", allConvsPK(strconv.FormatInt(int64(i), 16)), q, limit)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = its[i].head(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return mergeActivity(ctx, its, limit+1)
}

// activityIterator walks one activity partition newest first, from the cursor on.
type activityIterator struct {
	s     *Store
	index string
	expr  expression.Expression
	err   error
	page  int32
	start map[string]types.AttributeValue
	buf   []domain.Conversation
	done  bool
}

func (s *Store) activityIterator(index, pkName, skName, pk string, q domain.ConversationQuery, limit int) *activityIterator {
	kc := expression.Key(pkName).Equal(expression.Value(pk))
	if q.After != "" {
		// The position is the last conversation's activity key, unique (ms#id): everything
		// after it in this order sorts strictly below it.
		kc = kc.And(expression.Key(skName).LessThan(expression.Value(q.After)))
	}
	b := expression.NewBuilder().WithKeyCondition(kc)
	if q.Status != "" {
		b = b.WithFilter(expression.Name("status").Equal(expression.Value(q.Status)))
	}
	expr, err := b.Build()
	return &activityIterator{s: s, index: index, expr: expr, err: err, page: int32(limit + 1)}
}

// head returns the next conversation without consuming it (nil at the end).
func (it *activityIterator) head(ctx context.Context) (*domain.Conversation, error) {
	if it.err != nil {
		return nil, it.err
	}
	for len(it.buf) == 0 && !it.done {
		res, err := it.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(it.s.table),
			IndexName:                 aws.String(it.index),
			KeyConditionExpression:    it.expr.KeyCondition(),
			FilterExpression:          it.expr.Filter(),
			ExpressionAttributeNames:  it.expr.Names(),
			ExpressionAttributeValues: it.expr.Values(),
			ExclusiveStartKey:         it.start,
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(it.page),
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, err
		}
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &it.buf); err != nil {
			return nil, fmt.Errorf("decode conversations: %w", err)
		}
		it.start, it.done = res.LastEvaluatedKey, res.LastEvaluatedKey == nil
	}
	if len(it.buf) == 0 {
		return nil, nil
	}
	return &it.buf[0], nil
}

// newerActivity orders conversations as their activity keys do, newest first.
func newerActivity(a, b *domain.Conversation) bool {
	if a.LastActivityMS != b.LastActivityMS {
		return a.LastActivityMS > b.LastActivityMS
	}
	return a.ID > b.ID
}

// mergeActivity takes up to n conversations from the iterators, newest activity first.
func mergeActivity(ctx context.Context, its []*activityIterator, n int) ([]domain.Conversation, error) {
	var out []domain.Conversation
	for len(out) < n {
		var best *activityIterator
		var bestHead *domain.Conversation
		for _, it := range its {
			h, err := it.head(ctx)
			if err != nil {
				return nil, err
			}
			if h != nil && (bestHead == nil || newerActivity(h, bestHead)) {
				best, bestHead = it, h
			}
		}
		if best == nil {
			break
		}
		out = append(out, *bestHead)
		best.buf = best.buf[1:]
	}
	return out, nil
}

// ListMessages pages through a conversation's messages, oldest first (Meta time, then mid).
func (s *Store) ListMessages(ctx context.Context, conversationID, after string, limit int) (domain.MessagePage, error) {
	var page domain.MessagePage
	pk, _ := conversationKey(conversationID)
	var start map[string]types.AttributeValue
	if after != "" {
		if !messageSKPattern.MatchString(after) {
			return page, domain.ErrInvalidCursor
		}
		start = key(pk, after)
	}
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").BeginsWith("MSG#")),
	).Build()
	if err != nil {
		return page, fmt.Errorf("list messages: %w", err)
	}
	limit = max(limit, 1)
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ExclusiveStartKey:         start,
		ScanIndexForward:          aws.Bool(true),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return page, fmt.Errorf("list messages %s: %w", conversationID, err)
	}
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &page.Messages); err != nil {
		return page, fmt.Errorf("decode messages: %w", err)
	}
	if len(page.Messages) > limit {
		page.Messages = page.Messages[:limit]
		page.Next = page.Messages[limit-1].SK()
	}
	return page, nil
}

// GetMessage reads a message by its key (error wrapping ErrNotFound when absent).
func (s *Store) GetMessage(ctx context.Context, conversationID, messageSK string) (domain.Message, error) {
	var m domain.Message
	pk, _ := conversationKey(conversationID)
	if err := s.getItem(ctx, key(pk, messageSK), &m); err != nil {
		return m, fmt.Errorf("message %s/%s: %w", conversationID, messageSK, err)
	}
	return m, nil
}

// GetMessageByMID reads the message of a mid through its per-mid record (ErrNotFound when
// the message is not stored).
func (s *Store) GetMessageByMID(ctx context.Context, accountID, mid string) (domain.Message, error) {
	var m domain.Message
	var r domain.MIDRecord
	if err := s.getItem(ctx, key(midKey(accountID, mid)), &r); err != nil {
		return m, fmt.Errorf("mid %s: %w", mid, err)
	}
	if !r.Stored() {
		return m, fmt.Errorf("mid %s: %w", mid, domain.ErrNotFound)
	}
	pk, _ := conversationKey(r.ConversationID)
	if err := s.getItem(ctx, key(pk, r.MessageSK), &m); err != nil {
		return m, fmt.Errorf("message %s: %w", mid, err)
	}
	return m, nil
}

// SetConversationStatus opens or resolves a conversation and returns it. Resolving clears the
// contact's open conversation; opening requires that no other conversation of the contact is
// open (error wrapping ErrConversationOpen). Setting the current status changes nothing. by
// (optional) is recorded as who changed it, at now.
func (s *Store) SetConversationStatus(ctx context.Context, id, status string, by *domain.Actor, now time.Time) (domain.Conversation, error) {
	if status != domain.StatusOpen && status != domain.StatusResolved {
		return domain.Conversation{}, fmt.Errorf("set status %q: invalid status", status)
	}
	for attempt := 0; attempt < 5; attempt++ {
		conv, err := s.GetConversation(ctx, id)
		if err != nil {
			return conv, err
		}
		if conv.Status == status {
			return conv, nil
		}
		contact, err := s.GetContact(ctx, conv.ChannelID, conv.ContactIGSID)
		if err != nil {
			return conv, fmt.Errorf("set status %s: %w", id, err)
		}
		switch status {
		case domain.StatusResolved:
			if contact.OpenConversationID == id {
				contact.OpenConversationID = ""
			}
		case domain.StatusOpen:
			if contact.OpenConversationID != "" && contact.OpenConversationID != id {
				return conv, fmt.Errorf("open %s: %w", id, domain.ErrConversationOpen)
			}
			contact.OpenConversationID = id
			contact.LastConversationID = id
			contact.ConvLastActivityMS = conv.LastActivityMS
			contact.ConvLastIncomingMS = conv.LastIncomingMS
		}
		tx := s.newTxn()
		tx.PutContact(contact)
		upd := expression.Set(expression.Name("status"), expression.Value(status)).
			Set(expression.Name("status_at"), expression.Value(now.UTC().Format(time.RFC3339Nano)))
		if by != nil {
			upd = upd.Set(expression.Name("status_by"), expression.Value(*by))
		} else {
			upd = upd.Remove(expression.Name("status_by"))
		}
		tx.update(key(conversationKey(id)), upd, expression.Name("status").Equal(expression.Value(conv.Status)))
		err = s.commit(ctx, tx)
		if errors.Is(err, domain.ErrConflict) {
			continue // the contact or the conversation moved: decide again
		}
		if err != nil {
			return conv, fmt.Errorf("set status %s: %w", id, err)
		}
		conv.Status, conv.StatusBy, conv.StatusAt = status, by, now.UTC()
		return conv, nil
	}
	return domain.Conversation{}, fmt.Errorf("set status %s: %w", id, domain.ErrConflict)
}
