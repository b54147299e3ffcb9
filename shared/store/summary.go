package store

// Conversation summaries for inbox lists: the last message and the unread count are derived
// from the messages when read, so that they are right whatever order events came in, and
// follow unsends, edits and replies without any extra write on the event path.

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

// unreadFrom is the first message sort key after a read mark.
func unreadFrom(readMS int64) string { return fmt.Sprintf("MSG#%013d", readMS+1) }

// SummarizeConversation reads the newest message of c (one Query, 1 item) and counts its
// unread messages (one Query over the messages after the read mark, counted, not returned).
func (s *Store) SummarizeConversation(ctx context.Context, c domain.Conversation) (domain.ConversationSummary, error) {
	var sum domain.ConversationSummary
	last, err := s.lastMessage(ctx, c.ID)
	if err != nil {
		return sum, err
	}
	sum.Last = last
	if last == nil || last.TimestampMS <= c.ReadMS {
		return sum, nil // nothing after the read mark
	}
	pk, _ := conversationKey(c.ID)
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").GreaterThanEqual(expression.Value(unreadFrom(c.ReadMS))))).
		WithFilter(expression.Name("direction").Equal(expression.Value(domain.DirectionIncoming)).
			And(expression.Name("deleted").NotEqual(expression.Value(true))).
			And(expression.AttributeNotExists(expression.Name("kind")))).
		Build()
	if err != nil {
		return sum, fmt.Errorf("count unread %s: %w", c.ID, err)
	}
	var start map[string]types.AttributeValue
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    expr.KeyCondition(),
			FilterExpression:          expr.Filter(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
			ExclusiveStartKey:         start,
			Select:                    types.SelectCount,
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return sum, fmt.Errorf("count unread %s: %w", c.ID, err)
		}
		sum.Unread += int(res.Count)
		if res.LastEvaluatedKey == nil {
			return sum, nil
		}
		start = res.LastEvaluatedKey
	}
}

func (s *Store) lastMessage(ctx context.Context, conversationID string) (*domain.Message, error) {
	pk, _ := conversationKey(conversationID)
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").BeginsWith("MSG#")),
	).Build()
	if err != nil {
		return nil, fmt.Errorf("last message %s: %w", conversationID, err)
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, fmt.Errorf("last message %s: %w", conversationID, err)
	}
	if len(res.Items) == 0 {
		return nil, nil
	}
	var m domain.Message
	if err := attributevalue.UnmarshalMap(res.Items[0], &m); err != nil {
		return nil, fmt.Errorf("decode last message %s: %w", conversationID, err)
	}
	return &m, nil
}

// MarkConversationRead moves the business's read mark of a conversation to its newest message
// (never backwards) and returns the conversation (error wrapping ErrNotFound when absent).
func (s *Store) MarkConversationRead(ctx context.Context, id string) (domain.Conversation, error) {
	conv, err := s.GetConversation(ctx, id)
	if err != nil {
		return conv, err
	}
	last, err := s.lastMessage(ctx, id)
	if err != nil || last == nil || last.TimestampMS <= conv.ReadMS {
		return conv, err
	}
	ts := last.TimestampMS
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name("read_ms"), expression.Value(ts))).
		WithCondition(expression.AttributeExists(expression.Name("pk")).And(expression.Or(
			expression.AttributeNotExists(expression.Name("read_ms")),
			expression.Name("read_ms").LessThan(expression.Value(ts))))).
		Build()
	if err != nil {
		return conv, fmt.Errorf("mark read %s: %w", id, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(conversationKey(id)),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return s.GetConversation(ctx, id) // read further already (or purged meanwhile)
	}
	if err != nil {
		return conv, fmt.Errorf("mark read %s: %w", id, err)
	}
	conv.ReadMS = ts
	return conv, nil
}
